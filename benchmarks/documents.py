"""Documents and screenshots filling the frame: private lines large, or small and many.

Users photograph documents and send screenshots for an MLLM to read. Five sets, drawn in
every TrueType font of the real-photo check's pool (:func:`veil.realcheck.font_pool`, none
used in training), each read after protection by RapidOCR and Tesseract (when installed):

* ``cards``: business cards at 640x400 and 1280x800, tilted up to 4 degrees, on a paper
  tint. Private: name, phone number, e-mail, ID number; public: company and job title.
  Private lines are large and sit in rows and blocks with public ones.
* ``idcards``: member and payment cards (856x540, ID-1 size at 10 px/mm), tilted: an
  issuer (public), then labelled fields ("Surname: ...", "Given names: ...", "Card
  number: ..."), or a payment card's number in four groups and "Card holder: A. SURNAME".
  The private kinds are the surname, the given name (the holder line on payment cards)
  and the card number.
* ``receipts``: till receipts (576 px wide, a thermal roll): the shop, five items with
  their prices and the total are public, what a user asks an MLLM to add up or split; the
  cashier's given name ("Cashier: Grace", "CASHIER RUBY", "Served by Joy"; half of them
  English words), the loyalty member's name and card number are private.
* ``notifications``: a phone's lock screen (720x1280 and 1080x1920) with six apps'
  notifications: a caller ("Missed call from Grace"), a sender ("Tom sent you a photo"), a
  ride's driver ("Your driver Grace is arriving ..."), a parcel's recipient
  ("Delivered to Tom at the front door"), a coffee order's customer ("Order #4411 for KEVIN
  is ready to collect") and a forum's poster ("Posted by u/grace_hill42 in r/cycling") are
  private; the apps, titles and the rest of each line public.
* ``chats``: chat-app screenshots at 720x1280 and 1080x1920: the contact's name in the
  title bar, four public messages in bubbles, then a phone number and an e-mail address
  written in messages ("My number: ...", "mail me at ..."). Small UI text on flat colour.

Per set and anonymizer: the share of private strings read exactly by either engine (per
kind) and of public words read. ``--camera`` first photographs every document as a phone
does (:func:`photographed`: perspective, darkening, noise, JPEG quality 45). ``--orient``
turns every document (90, 180 or 270 degrees counter-clockwise: a photo whose orientation
tag was lost) or mirrors it (a selfie camera, a document seen in a mirror), or both
(``mirror90``, ``mirror270``: mirrored, then turned) before protection; the engines then
read the protected image as it is and turned back. ``--dark`` draws the chats in a messaging
app's dark theme (light text on dark bubbles) and prints the cards light on dark stock (each
card's negative), as dark mode and black cards show them.

    .venv/bin/python benchmarks/documents.py --anonymizer runs/demo/train/model
    .venv/bin/python benchmarks/documents.py --anonymizer runs/demo/train/model --camera

Writes ``--out`` (default ``runs/bench/documents.json``) atomically, and a contact sheet of
protected examples per set and anonymizer beside it.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path

COMPANIES = ("NORTHWIND TRADERS", "BLUE HARBOR CAFE", "ACME LOGISTICS", "VERTEX DENTAL CARE", "ORION PRINT SHOP",
             "ALPINE BIKE RENTAL")
TITLES = ("Sales Manager", "Head of Design", "Office Assistant", "Senior Engineer", "Store Director", "Chief Baker")
SIZES = ((640, 400), (1280, 800))
CHAT_SIZES = ((720, 1280, 22), (1080, 1920, 30))  # width, height, text size
MESSAGES = ("Are we still on for lunch tomorrow?", "The meeting moved to room 4B", "Sounds good, see you there!",
            "Can you send me the slides", "Running ten minutes late, sorry", "Happy birthday!! Have a great day")


def _turned(k: int):  # noqa: ANN202
    import numpy as np

    return lambda im: np.ascontiguousarray(np.rot90(im, k))


def _mirrored(im):  # noqa: ANN001, ANN202
    import numpy as np

    return np.ascontiguousarray(im[:, ::-1])


#: ``--orient``: how a document is shown to the anonymizer, and how the attacker undoes it.
ORIENTS = {"upright": (lambda im: im, lambda im: im), "90": (_turned(1), _turned(3)), "180": (_turned(2), _turned(2)),
           "270": (_turned(3), _turned(1)), "mirror": (_mirrored, _mirrored),
           # a selfie camera's mirror image, sideways: mirrored, then turned
           "mirror90": (lambda im: _turned(1)(_mirrored(im)), lambda im: _mirrored(_turned(3)(im))),
           "mirror270": (lambda im: _turned(3)(_mirrored(im)), lambda im: _mirrored(_turned(1)(im)))}


def _norm(text: str) -> str:
    return re.sub(r"[^A-Z0-9@.]", "", text.upper())


def read_in(private: str, joined: str, public: list[str]) -> bool:
    """``private`` read in ``joined`` (every line the engines read, run together), not counting
    where it is only part of a public word: the cashier "Mark" in "GREENLEAF MARKET"."""
    target = _norm(private)
    for word in {_norm(w) for w in public}:
        if target in word and word != target:
            joined = joined.replace(word, "|")
    return target in joined


def _fonts() -> list[tuple[str, object]]:
    from veil.realcheck import font_pool

    _, pool = font_pool()
    return [(key, path) for key, (_, path) in pool.items() if path is not None]


def _cards(seed: int) -> list[dict[str, object]]:
    import cv2
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    from veil.realcheck import _rng, make_email, make_id, make_name, make_phone

    rng = _rng(seed, "business-cards")
    cards = []
    for key, path in _fonts():
        for w, h in SIZES:
            u = h / 400
            name = make_name(rng)
            private = {"name": name, "phone": make_phone(rng), "email": make_email(rng, name), "id": make_id(rng)}
            company, title = COMPANIES[int(rng.integers(len(COMPANIES)))], TITLES[int(rng.integers(len(TITLES)))]
            paper = tuple(int(v) for v in rng.integers(225, 256, 3))
            im = Image.new("RGB", (w, h), paper)
            d = ImageDraw.Draw(im)
            ink, grey, blue = (15, 15, 15), (70, 70, 70), (20, 60, 120)
            layout = [((40, 24), company, 34, blue), ((40, 100), private["name"], 44, ink),
                      ((40, 156), title, 26, grey), ((40, 220), "Tel. " + private["phone"], 30, ink),
                      ((40, 270), private["email"], 28, ink), ((40, 322), "ID " + private["id"], 26, ink)]
            for (x, y), s, size, fill in layout:
                font = ImageFont.truetype(str(path), int(size * u))
                d.text((int(x * u), int(y * u)), s, font=font, fill=fill)
            arr = np.asarray(im)
            angle = float(rng.uniform(-4, 4))
            m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
            arr = cv2.warpAffine(arr, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
            public = [*company.split(), *title.split()]
            cards.append({"font": key, "size": [w, h], "image": arr, "private": private, "public": public})
    return cards


def _idcards(seed: int) -> list[dict[str, object]]:
    """Member and payment cards, 856x540 (ID-1 at 10 px/mm): labelled fields."""
    import cv2
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    from veil.realcheck import FIRST_NAMES, LAST_NAMES, _d, _pick, _rng

    rng = _rng(seed, "id-cards")
    issuers = ("CITY LIBRARY", "HARBOR CREDIT UNION", "NORDIC RAIL PASS", "UNIVERSITY OF EXAMPLE", "METRO GYM CLUB")
    cards = []
    for key, path in _fonts():
        for style in ("member", "payment"):
            w, h = 856, 540
            first, last = _pick(rng, FIRST_NAMES), _pick(rng, LAST_NAMES).upper()
            number = " ".join(_d(rng, 4) for _ in range(4))
            issuer = issuers[int(rng.integers(len(issuers)))]
            if style == "member":
                fields = [("Surname: " + last, 34), ("Given names: " + first, 34), ("Card number: " + number, 30)]
                private = {"surname": last, "given": first, "number": number}
            else:
                fields = [(number, 46), ("Card holder: " + f"{first[0]}. {last}", 32), ("VALID THRU 09/29", 28)]
                private = {"surname": last, "given": f"{first[0]}. {last}", "number": number}
            im = Image.new("RGB", (w, h), tuple(int(v) for v in rng.integers(200, 246, 3)))
            d = ImageDraw.Draw(im)
            d.text((50, 40), issuer, font=ImageFont.truetype(str(path), 44), fill=(20, 40, 110))
            y = 170
            for text, size in fields:
                d.text((50, y), text, font=ImageFont.truetype(str(path), size), fill=(15, 15, 15))
                y += int(size * 2.4)
            tilt = cv2.getRotationMatrix2D((w / 2, h / 2), float(rng.uniform(-4, 4)), 1.0)
            arr = cv2.warpAffine(np.asarray(im), tilt, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
            cards.append({"font": key, "size": [w, h], "style": style, "image": arr, "private": private,
                          "public": issuer.split()})
    return cards


#: The sets, as the summary names them.
SETS = {"cards": "business cards", "chats": "chat screenshots", "idcards": "member and payment cards",
        "receipts": "till receipts", "notifications": "app notifications"}
STORES = ("GREENLEAF MARKET", "CORNER GROCER", "HARBOR PHARMACY", "CITY HARDWARE", "SUNRISE BAKERY")
ITEMS = ("Milk", "Bread", "Eggs", "Coffee beans", "Apples", "Rice", "Tomatoes", "Cheddar", "Pasta", "Orange juice",
         "Bananas", "Yogurt", "Butter", "Olive oil", "Batteries", "Tea")
#: How a receipt names the cashier.
CASHIER_LINES = ("Cashier: {}", "CASHIER {}", "Served by {}", "Server: {}", "Your cashier: {}", "Cashier {}")
#: Given names that are English words too (alone on a sign they are public words).
WORD_GIVEN = ("Grace", "Rose", "Mark", "Hope", "Ruby", "Victor", "Frank", "Iris", "Dean", "Joy")


def _receipts(seed: int) -> list[dict[str, object]]:
    """Till receipts, 576 px wide (a 72 mm thermal roll at 203 dpi): the shop and every item,
    price and the total are public (what a user asks an MLLM to add up or split); the
    cashier's given name (half of them English words; "Cashier: Grace", "CASHIER GRACE",
    "Served by Grace", ...: :data:`CASHIER_LINES`), the loyalty member's name and the member
    card's number are private."""
    import cv2
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    from veil.realcheck import FIRST_NAMES, _d, _pick, _rng, make_name

    rng = _rng(seed, "till-receipts")
    receipts = []
    for key, path in _fonts():
        for size in (24, 30):
            store = _pick(rng, STORES)
            cashier = _pick(rng, WORD_GIVEN if rng.integers(2) else FIRST_NAMES)
            member, card = make_name(rng), f"{_d(rng, 4)} {_d(rng, 4)} {_d(rng, 4)}"
            picks = rng.choice(len(ITEMS), size=5, replace=False)
            prices = [f"{int(rng.integers(0, 10))}.{_d(rng, 2)}" for _ in picks]
            total = f"{sum(float(p) for p in prices):.2f}"
            served = _pick(rng, CASHIER_LINES)
            served = served.format(cashier.upper() if served.isupper() else cashier)  # "CASHIER RUBY"
            lines = [(store, 1.3), (served, 1.0), ("", 1.0),
                     *((ITEMS[i], 1.0, price) for i, price in zip(picks, prices, strict=True)),
                     ("", 1.0), ("TOTAL", 1.2, total), ("", 1.0), (f"Member: {member}", 1.0),
                     (f"Card no. {card}", 1.0), ("Thank you for shopping!", 1.0)]
            w, h = 576, int(size * 1.6 * (len(lines) + 2))
            im = Image.new("RGB", (w, h), tuple(int(v) for v in rng.integers(238, 256, 3)))
            d = ImageDraw.Draw(im)
            y = size
            for text, scale, *right in lines:
                font = ImageFont.truetype(str(path), int(size * scale))
                d.text((24, y), text, font=font, fill=(40, 40, 40))
                if right:
                    d.text((w - 24 - int(d.textlength(right[0], font=font)), y), right[0], font=font, fill=(40, 40, 40))
                y += int(size * scale * 1.6)
            tilt = cv2.getRotationMatrix2D((w / 2, h / 2), float(rng.uniform(-3, 3)), 1.0)
            arr = cv2.warpAffine(np.asarray(im), tilt, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
            public = [*store.split(), *(word for i in picks for word in ITEMS[i].split()), *prices, "TOTAL", total]
            receipts.append({"font": key, "size": [w, h], "image": arr, "public": public,
                             "private": {"cashier": cashier, "member": member, "card": card}})
    return receipts


#: A phone's notifications from six apps: the app, a title, and a line that names a person
#: (``{user}``: a forum user name; the others given names).
NOTIFICATIONS = (("PHONE", "Missed call", "Missed call from {caller}"),
                 ("MESSAGES", "New photo", "{sender} sent you a photo"),
                 ("RIDES", "Your ride is arriving", "Your driver {driver} is arriving in a grey Toyota Prius"),
                 ("PARCELS", "Delivered today", "Delivered to {recipient} at the front door"),
                 ("COFFEE", "Order ready", "Order #{number} for {customer} is ready to collect"),
                 ("FORUM", "New reply", "Posted by u/{user} in r/cycling"))


def _notifications(seed: int) -> list[dict[str, object]]:
    """A phone's lock screen at 720x1280 and 1080x1920 with six notification cards
    (:data:`NOTIFICATIONS`): the apps, titles and the rest of each line are public; the
    caller's, the sender's, the driver's, the parcel's recipient's and the coffee order's
    given names (half of them English words; the order's in capitals, as cups print them)
    and the forum user's name ("u/grace_hill42") are private. Dark text on light cards
    over a dark wallpaper."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    from veil.realcheck import FIRST_NAMES, LAST_NAMES, _d, _pick, _rng

    rng = _rng(seed, "app-notifications")
    shots = []
    for key, path in _fonts():
        for w, h, fs in CHAT_SIZES:
            given = [_pick(rng, WORD_GIVEN if rng.integers(2) else FIRST_NAMES) for _ in range(5)]
            user = f"{_pick(rng, FIRST_NAMES).lower()}_{_pick(rng, LAST_NAMES).lower()}{_d(rng, 2)}"
            private = {"caller": given[0], "sender": given[1], "driver": given[2], "recipient": given[3],
                       "customer": given[4].upper(), "user": user}
            top, bottom = rng.integers(20, 70, 3), rng.integers(60, 130, 3)
            ramp = np.linspace(0.0, 1.0, h)[:, None, None]
            im = Image.fromarray(np.broadcast_to(top + ramp * (bottom - top), (h, w, 3)).astype(np.uint8))
            d = ImageDraw.Draw(im)
            small, font = ImageFont.truetype(str(path), int(0.8 * fs)), ImageFont.truetype(str(path), fs)
            d.text((w // 2 - 3 * fs, 3 * fs), "09:41", font=ImageFont.truetype(str(path), 3 * fs), fill=(245, 245, 245))
            y, public = 9 * fs, ["09:41"]
            for app, title, line in NOTIFICATIONS:
                body = line.format(number=_d(rng, 4), **private)
                d.rounded_rectangle([fs // 2, y, w - fs // 2, y + int(5.2 * fs)], radius=fs, fill=(236, 236, 236))
                d.text((int(1.3 * fs), y + fs // 2), app, font=small, fill=(90, 90, 90))
                d.text((int(1.3 * fs), y + int(1.7 * fs)), title, font=font, fill=(20, 20, 20))
                d.text((int(1.3 * fs), y + int(3.2 * fs)), body, font=font, fill=(20, 20, 20))
                public += [app, *title.split(), *(word for word in line.split() if "{" not in word)]
                y += int(6 * fs)
            shots.append({"font": key, "size": [w, h], "image": np.asarray(im), "private": private,
                          "public": public})
    return shots


#: A chat app's colours: page, title bar, its text, the two bubbles, message text.
CHAT_THEMES = {"light": ((255, 255, 255), (7, 94, 84), (255, 255, 255), (240, 240, 240), (220, 248, 198),
                         (20, 20, 20)),
               "dark": ((11, 20, 26), (31, 44, 52), (233, 237, 239), (32, 44, 51), (0, 92, 75), (233, 237, 239))}


def _chats(seed: int, theme: str = "light") -> list[dict[str, object]]:
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    from veil.realcheck import _rng, make_email, make_name, make_phone

    rng = _rng(seed, "chat-screenshots")
    shots = []
    for key, path in _fonts():
        for w, h, fs in CHAT_SIZES:
            name = make_name(rng)
            private = {"name": name, "phone": make_phone(rng), "email": make_email(rng, name)}
            page, bar, bar_ink, bubble, own_bubble, ink = CHAT_THEMES[theme]
            im = Image.new("RGB", (w, h), page)
            d = ImageDraw.Draw(im)
            d.rectangle([0, 0, w, 4 * fs], fill=bar)
            d.text((int(1.5 * fs), int(1.2 * fs)), name, font=ImageFont.truetype(str(path), int(1.3 * fs)),
                   fill=bar_ink)
            font = ImageFont.truetype(str(path), fs)
            y, public = 6 * fs, []
            for i in range(4):
                message = MESSAGES[int(rng.integers(len(MESSAGES)))]
                public += message.split()
                x = fs if i % 2 == 0 else int(0.3 * w)
                d.rounded_rectangle([x - 10, y - 10, x + int(0.6 * w), y + int(1.6 * fs)], radius=12,
                                    fill=own_bubble if i % 2 else bubble)
                d.text((x, y), message, font=font, fill=ink)
                y += int(3.2 * fs)
            d.text((fs, y), "My number: " + private["phone"], font=font, fill=ink)
            d.text((fs, y + int(2.5 * fs)), "mail me at " + private["email"], font=font, fill=ink)
            shots.append({"font": key, "size": [w, h], "image": np.asarray(im), "private": private,
                          "public": public})
    return shots


def photographed(image: object, rng: object) -> object:
    """``image`` as a phone camera takes a document lying on a table: on a dark border, a
    perspective warp (each corner moved up to 12 % of the long side), darker (0.6-1.0),
    sensor noise (σ 4 grey levels) and JPEG quality 45."""
    import cv2
    import numpy as np

    assert isinstance(image, np.ndarray) and isinstance(rng, np.random.Generator)
    h, w = image.shape[:2]
    pad = int(0.25 * max(h, w))
    canvas = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(90, 80, 70))
    src = np.float32([[pad, pad], [pad + w, pad], [pad + w, pad + h], [pad, pad + h]])
    dst = src + rng.uniform(-0.12 * max(h, w), 0.12 * max(h, w), src.shape).astype(np.float32)
    warped = cv2.warpPerspective(canvas, cv2.getPerspectiveTransform(src, dst), canvas.shape[1::-1],
                                 flags=cv2.INTER_LINEAR, borderValue=(90, 80, 70))
    shot = warped.astype(np.float32) * rng.uniform(0.6, 1.0) + rng.normal(0.0, 4.0, warped.shape)
    ok, jpg = cv2.imencode(".jpg", cv2.cvtColor(np.clip(shot, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, 45])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return cv2.cvtColor(cv2.imdecode(jpg, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def attack_engines() -> dict[str, object]:
    """The OCR attackers: RapidOCR, and Tesseract when installed (said on stderr when not)."""
    from veil.privacy.pretrained import get_ocr_engine

    engines = {"rapidocr": get_ocr_engine("rapidocr")}
    if shutil.which("tesseract"):
        engines["tesseract"] = get_ocr_engine("tesseract")
    else:
        print("tesseract is not installed: RapidOCR only", file=sys.stderr)
    return engines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--anonymizer", action="append", help="anonymizer spec or model folder (repeatable)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="default: runs/bench/documents.json (documents_dark_camera.json with "
                    "--dark --camera)")
    ap.add_argument("--camera", action="store_true",
                    help="photograph every document first: perspective, darkening, noise, JPEG 45 (photographed())")
    ap.add_argument("--sets", nargs="+", choices=sorted(SETS), help="the sets to run (default: all)")
    ap.add_argument("--dark", action="store_true",
                    help="dark mode: chats in a dark theme, cards printed light on dark stock (their negative)")
    ap.add_argument("--orient", choices=sorted(ORIENTS), default="upright",
                    help="turn or mirror every document before protection (the attacker turns it back)")
    args = ap.parse_args(argv)
    suffix = (("_dark" if args.dark else "") + ("_camera" if args.camera else "")
              + ("" if args.orient == "upright" else f"_{args.orient}"))
    args.out = args.out or f"runs/bench/documents{suffix}.json"
    specs = ["identity", *(args.anonymizer or ["faceblur"])]

    import cv2
    import numpy as np

    from veil.anonymizers.base import create_anonymizer
    from veil.fsutil import atomic_write_bytes, atomic_write_text
    from veil.protect import with_runtime
    from veil.threads import limit_threads

    limit_threads(2)
    engines = attack_engines()
    sets = {"cards": _cards(args.seed), "chats": _chats(args.seed, "dark" if args.dark else "light"),
            "idcards": _idcards(args.seed), "receipts": _receipts(args.seed),
            "notifications": _notifications(args.seed)}
    if args.dark:  # black business and member cards: the same print, light on dark
        sets.update({name: [dict(doc, image=np.ascontiguousarray(255 - doc["image"])) for doc in sets[name]]
                     for name in ("cards", "idcards")})
    if args.camera:
        rng = np.random.default_rng(args.seed)
        sets = {name: [dict(doc, image=photographed(doc["image"], rng)) for doc in docs] for name, docs in sets.items()}
    turn, undo = ORIENTS[args.orient]
    sets = {name: [dict(doc, image=turn(doc["image"])) for doc in docs] for name, docs in sets.items()}
    sets = {name: docs for name, docs in sets.items() if name in (args.sets or SETS)}  # the same images as in full
    print(", ".join(f"{len(docs)} {SETS[name]}" for name, docs in sets.items())
          + f" ({len(_fonts())} fonts); engines: {', '.join(engines)}")
    rows = []
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for set_name, docs in sets.items():
        kinds = tuple(docs[0]["private"])
        print(f"\n{set_name}\n{'anonymizer':36s} " + " ".join(f"{k:>6s}" for k in kinds)
              + f" {'private':>8s} {'public':>7s}")
        for spec in specs:
            anon = with_runtime(create_anonymizer(spec), "auto", threads=2)
            read = dict.fromkeys(kinds, 0)
            public_read = public_total = 0
            leaks = []
            sheet = []
            for doc in docs:
                protected = anon(doc["image"])
                if len(sheet) < 4 and doc["size"] == docs[0]["size"]:
                    sheet.append(protected)
                views = [protected] if args.orient == "upright" else [protected, undo(protected)]
                texts = [line.text for e in engines.values() for view in views for line in e.read(view)]
                joined = _norm("".join(texts))
                words = {_norm(w) for t in texts for w in t.split()}
                for k in kinds:
                    hit = read_in(doc["private"][k], joined, doc["public"])
                    read[k] += hit
                    if hit:
                        leaks.append({"font": doc["font"], "size": doc["size"], "kind": k})
                public_total += len(doc["public"])
                public_read += sum(_norm(w) in words or _norm(w) in joined for w in doc["public"])
            n = len(docs)
            row = {"set": set_name, "anonymizer": spec, "documents": n,
                   "private_read": {k: read[k] / n for k in kinds},
                   "private_read_all": sum(read.values()) / (n * len(kinds)),
                   "public_words_read": public_read / public_total, "leaks": leaks}
            rows.append(row)
            print(f"{spec:36s} " + " ".join(f"{read[k] / n:6.2f}" for k in kinds)
                  + f" {row['private_read_all']:8.3f} {row['public_words_read']:7.3f}")
            if spec != "identity" and len(sheet) == 4:
                grid = np.concatenate([np.concatenate(sheet[:2], axis=1), np.concatenate(sheet[2:], axis=1)], axis=0)
                ok, png = cv2.imencode(".png", cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
                if ok:
                    slug = re.sub(r"[^A-Za-z0-9._=-]+", "_", spec).strip("_")
                    atomic_write_bytes(out.with_name(f"{out.stem}_{set_name}_{slug}.png"), png.tobytes())
    atomic_write_text(out, json.dumps({"seed": args.seed, "camera": args.camera, "dark": args.dark,
                                       "orient": args.orient, "engines": list(engines), "rows": rows}, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
