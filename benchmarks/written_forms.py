"""Private text written as letters, forms and web pages write it, on real photos.

A name is not always "Given Surname" on a line of its own: envelopes and door plates say
"Dr. Ingeborg Wood" or "Mrs. Hill", forms and lists "Bergstrom, Radek", notes and parcels
"Signed by Radek Hill", Chinese and Japanese names come romanized ("Wang Fang", "LI NA"),
sticky notes carry passwords ("Wi-Fi password: maple42"), web pages spell e-mail addresses out
against scrapers ("radek.hill [at] posteo.de") and invoices carry IBANs in groups of four
("DE44 5001 0517 5407 3249 31"). Each string is drawn on a paper label on the real photos of
the real-photo check (OpenCV's scene-text photos, messi5, basketball) in a font of the
real-photo check's pool (none used in training), beside a public sign line, then read by
RapidOCR and Tesseract (when installed) on the whole image and on a crop around it
upscaled 2x, unprotected and protected. The names mix given names of many countries with
surnames that are English words ("Wood", "Hill", "Baker"), the hardest case for word lists;
forms of address include two the classifier had no rule for when this check was written
("Pastor", "Coach"; they leaked until a role before a surname became a name cue, a rule
written from a wider list of roles, kinship words and public phrases than these two). Names also come inside sentences,
dedications and address lines ("Signed by Radek Hill", "Parcel for Mei Fox, 14 Elm Road"), and
after phrases that introduce, greet, thank or sign off a person ("Hello my name is Grace",
"Happy Birthday Oliver!", "Love, Radek"), where the given name is often a word too, and as
user names after the service they are on ("Snapchat: radek.h42", "My insta is the.real.mei"), and
on badges, where the words that introduce the name ("HELLO my name is", "Name:") are a line of
their own above it and the name alone is a word ("STORM", "River"), and on envelopes and
parcel labels, where the street address is written under the name ("Radek Hill" / "14 Elm
Road" / "Leeds LS6 2AB"; the secret is the street line), and after a person's role on forms,
bed boards and parcels ("Tenant: Marsh"), beside a number on lockers, cups and tables
("Locker 14 - Robin", "Hazel, 7") and on memorials ("In loving memory of Grant"), where the
name alone is a word too.

    .venv/bin/python benchmarks/written_forms.py --anonymizer runs/demo/train/model
    .venv/bin/python benchmarks/written_forms.py --anonymizer runs/demo/train/model --public places
    .venv/bin/python benchmarks/written_forms.py --anonymizer runs/demo/train/model --kinds badge envelope
    .venv/bin/python benchmarks/written_forms.py --anonymizer runs/demo/train/model --kinds labelled

With ``--public places`` the public line beside each private one names a place after a given
name of the same list ("Keziah Street", "RADEK STATION", "Aoife Cafe"): the names a badge must
hide, on signs that must stay readable.

Prints, per anonymizer, the share of private strings read per kind and of public words
read; writes ``--out`` (default ``runs/bench/written_forms.json``) atomically.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

GIVEN = ("Ingeborg", "Radek", "Ximena", "Thandiwe", "Grace", "Rose", "Keziah", "Anselm", "Yevgenia", "Tomasz",
         "Aoife", "Henrike", "Rajesh", "Mei", "Olusegun", "Carmen")
SURNAMES = ("Wood", "Hill", "Baker", "Fox", "Bell", "Marsh", "Frost", "Lindgren", "Okoye", "Bergstrom", "Moreau",
            "Kaczmarek", "Castellano", "Iwasaki")
ADDRESS = ("Dr.", "Mr.", "Mrs.", "Ms.", "Prof.", "Herr", "Mme", "Dr", "MR", "Pastor", "Coach")
PUBLIC = ("CITY LIBRARY", "FRESH BREAD DAILY", "NO PARKING", "PLATFORM 2", "MUSEUM SHOP", "OPEN SUNDAYS")
#: With ``--public places``: the public line names a street, a station or a shop after one of
#: the given names above ("Keziah Street", "RADEK STATION"), as real signs do.
PLACES = ("Street", "Road", "Avenue", "Station", "Square", "Cafe", "Bakery", "Hospital")
PHOTOS = ("text/scenetext01.jpg", "text/scenetext02.jpg", "text/scenetext03.jpg", "text/scenetext04.jpg",
          "text/scenetext05.jpg", "text/scenetext06.jpg", "data/messi5.jpg", "data/basketball1.png")
KINDS = ("address", "reversed", "in_sentence", "romanized", "secret", "spelled_email", "iban", "greeting", "handle",
         "badge", "envelope", "labelled")
#: Phrases that introduce, greet or sign off a person before a given name (kind ``greeting``).
GREETINGS = ("Hello my name is {}", "HELLO my name is {}", "Your server today is {}", "Happy Birthday {}!",
             "Welcome back, {}", "Thank you {}", "Best wishes, {}", "Love, {}", "Ich heiße {}", "Je m'appelle {}")
#: Given names that are English words too (kind ``greeting``, beside :data:`GIVEN`).
WORD_GIVEN = ("Oliver", "Grace", "Rose", "Mark", "Frank", "Victor", "Ruby", "Violet")
#: A person's user name after the service it is on, as stickers, cards and selfies write it (kind ``handle``).
HANDLE_LINES = ("Snapchat: {}", "IG: {}", "Insta: @{}", "Skype: {}", "My insta is {}", "Add me on Snapchat: {}",
                "Kik: {}", "tiktok.com/@{}", "fb.com/{}", "LINE ID: {}")
HANDLE_FORMS = ("{first}.{l}{n}", "{first}_{last}", "{first}{n}", "the.real.{first}", "{first}.{last}{n}")
#: Words above a badge's or a form's name, on lines of their own (kind ``badge``; "\n" parts lines).
BADGE_CUES = ("HELLO\nmy name is", "Hello, my name is", "NAME:", "Name", "Your server today is", "I'm", "Call me",
              "Vorname:", "Me llamo", "HELLO\nI am")
#: Given names that are English words, read as public alone (kind ``badge``): the badge's cue,
#: on the line above, is what says a person is meant. Two that read as names alone beside them.
BADGE_GIVEN = ("Storm", "River", "Colt", "Stone", "Bishop", "Cash", "Reed", "Robin", "Hazel", "Grant", "Oliver",
               "Victor")
#: An envelope's or parcel label's address under the name (kind ``envelope``): street, town.
STREETS = ("Elm", "Station", "Church", "Mill", "Victoria", "Kingsley", "Linden", "Harbour")
STREET_TYPES = ("Road", "Street", "Lane", "Avenue", "Close", "Drive", "Rd.", "St")
TOWNS = ("Leeds LS6 2AB", "10115 Berlin", "Springfield, IL 62704", "75011 Paris", "Bristol BS1 4DJ",
         "Utrecht 3511 AB", "Portland, OR 97205", "8001 Zurich")
#: A name after a person's role, beside a number, or on a memorial (kind ``labelled``): the
#: name is a word too, so the label, the number's place or the memorial's words say whose.
LABELLED = ("Resident: {surname}", "Customer: {surname}", "Recipient: {surname}", "Tenant: {surname}",
            "Patient: {surname}", "Locker 14 - {given}", "{given}, 7", "Order 2231 {given}", "Table 6 {surname}",
            "In loving memory of {given}", "In memory of {given}", "Guest: {surname}")
LABELLED_GIVEN = ("Hazel", "Robin", "Grant", "Oliver", "Violet", "Ruby", "Mark", "Frank")
LABELLED_SURNAMES = ("Marsh", "Frost", "Baker", "Stone", "Brook", "Lamb", "Reed", "Bishop")
ROMANIZED = (("Wang", "Fang"), ("Li", "Na"), ("Zhang", "Wei"), ("Chen", "Jing"), ("Liu", "Yang"), ("Sato", "Yuki"),
             ("Tanaka", "Akira"), ("Lin", "Mei-Ling"))
SECRET_WORDS = ("sunflower", "bluefox", "harbour", "violet", "tango", "maple")
MONTHS = ("January", "March", "May", "July", "September", "November")
SENTENCES = ("Property of {}", "Signed by {}", "In loving memory of {}", "Parcel for {}, 14 Elm Road",
             "Meeting with {} at 3pm", "Congratulations {} on your retirement")
PER_KIND = 12


def make_string(kind: str, rng) -> tuple[str, str]:  # noqa: ANN001
    """One line of ``kind`` and the private string in it (the name in a sentence, else the line)."""
    given, surname = GIVEN[int(rng.integers(len(GIVEN)))], SURNAMES[int(rng.integers(len(SURNAMES)))]
    if kind == "address":
        title = ADDRESS[int(rng.integers(len(ADDRESS)))]
        line = f"{title} {given} {surname}" if rng.random() < 0.6 else f"{title} {surname}"
        return line, line
    if kind == "reversed":
        line = f"{surname}, {given}" if rng.random() < 0.5 else f"{surname.upper()}, {given.upper()}"
        return line, line
    if kind == "in_sentence":
        return SENTENCES[int(rng.integers(len(SENTENCES)))].format(f"{given} {surname}"), f"{given} {surname}"
    if kind == "romanized":
        surname, given = ROMANIZED[int(rng.integers(len(ROMANIZED)))]
        line = f"{surname} {given}" if rng.random() < 0.5 else f"{surname.upper()} {given.upper()}"
        return line, line
    if kind == "secret":
        word = SECRET_WORDS[int(rng.integers(len(SECRET_WORDS)))] + str(int(rng.integers(10, 99)))
        day, year = int(rng.integers(1, 29)), int(rng.integers(1950, 2005))
        month = MONTHS[int(rng.integers(len(MONTHS)))]
        return [(f"Password: {word}", word), (f"Wi-Fi password: {word}", word), (f"PASSWORD {word}", word),
                (f"Born {day} {month} {year}", f"{day} {month} {year}")][int(rng.integers(4))]
    if kind == "spelled_email":
        local = f"{given.lower()}.{surname.lower()}"
        host = ("posteo", "gmx", "fastmail", "proton")[int(rng.integers(4))]
        tld = ("de", "net", "org", "me")[int(rng.integers(4))]
        line = f"{local} [at] {host}.{tld}" if rng.random() < 0.5 else f"{local} (at) {host} dot {tld}"
        return line, line
    if kind == "greeting":
        names = (*GIVEN, *WORD_GIVEN)
        name = names[int(rng.integers(len(names)))]
        return GREETINGS[int(rng.integers(len(GREETINGS)))].format(name), name
    if kind == "badge":
        name = BADGE_GIVEN[int(rng.integers(len(BADGE_GIVEN)))]
        name = name.upper() if rng.random() < 0.4 else name
        return f"{BADGE_CUES[int(rng.integers(len(BADGE_CUES)))]}\n{name}", name
    if kind == "envelope":
        street = f"{int(rng.integers(1, 240))} {STREETS[int(rng.integers(len(STREETS)))]} " \
                 f"{STREET_TYPES[int(rng.integers(len(STREET_TYPES)))]}"
        town = TOWNS[int(rng.integers(len(TOWNS)))]
        return f"{given} {surname}\n{street}\n{town}", street
    if kind == "labelled":
        template = LABELLED[int(rng.integers(len(LABELLED)))]
        name = (LABELLED_SURNAMES if "{surname}" in template else LABELLED_GIVEN)[int(rng.integers(8))]
        return template.format(given=name, surname=name), name
    if kind == "handle":
        form = HANDLE_FORMS[int(rng.integers(len(HANDLE_FORMS)))]
        handle = form.format(first=given.lower(), last=surname.lower(), l=surname[0].lower(),
                             n=int(rng.integers(10, 99)))
        return HANDLE_LINES[int(rng.integers(len(HANDLE_LINES)))].format(handle), handle
    digits = "".join(str(int(d)) for d in rng.integers(0, 10, size=20))
    country = ("DE", "FR", "NL", "ES", "IT", "AT")[int(rng.integers(6))]
    code = f"{country}{digits[:2]}{digits[2:]}"
    line = " ".join(code[i:i + 4] for i in range(0, len(code), 4)) if rng.random() < 0.7 else code
    return line, line


def public_line(public_kind: str, text: str, rng) -> str:  # noqa: ANN001
    """The public line: a sign of :data:`PUBLIC`, or (``public_kind`` "places") a place named
    after a given name that the private line ``text`` beside it does not hold."""
    if public_kind != "places":
        return PUBLIC[int(rng.integers(len(PUBLIC)))]
    given = [g for g in GIVEN if g.lower() not in text.lower()]
    line = f"{given[int(rng.integers(len(given)))]} {PLACES[int(rng.integers(len(PLACES)))]}"
    return line.upper() if rng.random() < 0.5 else line


def _draw_badge(draw, text: str, at: tuple[int, int], font_path: str, size: int, paper, pen) -> tuple[int, ...]:  # noqa: ANN001
    """A badge: its cue lines in white on a red band, small, and the name under them on the
    paper, large (as "HELLO my name is" tags are written); the box around the name."""
    from veil.realcheck import _pil_font

    *cues, name = text.split("\n")
    small, large = _pil_font(font_path, max(10, int(size * 0.6))), _pil_font(font_path, int(size * 1.3))
    boxes = [draw.textbbox((0, 0), c, font=small) for c in cues]
    nbox = draw.textbbox((0, 0), name, font=large)
    width = max(b[2] for b in (*boxes, nbox)) + 2 * size
    band = sum(b[3] + size // 4 for b in boxes) + size // 2
    x, y = at
    draw.rectangle([x, y, x + width, y + band + nbox[3] + size], fill=paper)
    draw.rectangle([x, y, x + width, y + band], fill=(200, 30, 40))
    cy = y + size // 4
    for cue, b in zip(cues, boxes, strict=True):
        draw.text((x + (width - b[2]) // 2, cy), cue, font=small, fill=(255, 255, 255))
        cy += b[3] + size // 4
    nx, ny = x + (width - nbox[2]) // 2, y + band + size // 2
    draw.text((nx, ny), name, font=large, fill=pen)
    return draw.textbbox((nx, ny), name, font=large)


def build(seed: int, media: Path, public_kind: str = "signs") -> list[dict[str, object]]:
    """The test images: one private string and one public line on a real photo each."""
    import numpy as np
    from PIL import Image, ImageDraw

    from veil.realcheck import PAPER, PEN, _pil_font, _rng, font_pool

    rng = _rng(seed, "written-forms")
    fonts = [path for font, path in font_pool()[1].values() if path is not None]
    out = []
    for kind in KINDS:
        for i in range(PER_KIND):
            photo = Image.open(media / PHOTOS[(i + KINDS.index(kind)) % len(PHOTOS)]).convert("RGB")
            photo.thumbnail((1024, 1024))
            text, secret = make_string(kind, rng)
            public = public_line(public_kind, text, rng)
            size = max(16, photo.height // int(rng.integers(18, 30)))
            font = _pil_font(str(fonts[int(rng.integers(len(fonts)))]), size)
            draw = ImageDraw.Draw(photo)
            x = int(rng.integers(photo.width // 20, photo.width // 4))
            y = int(rng.integers(photo.height // 2, photo.height * 3 // 4))
            paper = PAPER[int(rng.integers(len(PAPER)))]
            if kind == "badge":
                box = _draw_badge(draw, text, (x, y), str(fonts[int(rng.integers(len(fonts)))]), size, paper,
                                  PEN[int(rng.integers(len(PEN)))])
            else:
                box = draw.textbbox((x, y), text, font=font)
                draw.rectangle([box[0] - 10, box[1] - 8, box[2] + 10, box[3] + 8], fill=paper)
                draw.text((x, y), text, font=font, fill=PEN[int(rng.integers(len(PEN)))])
            gap = int(1.5 * (box[3] - box[1]))  # clear of the private line's margin (half its height)
            pbox = draw.textbbox((x, box[3] + gap), public, font=font)
            draw.rectangle([pbox[0] - 10, pbox[1] - 8, pbox[2] + 10, pbox[3] + 8], fill=(30, 60, 120))
            draw.text((x, box[3] + gap), public, font=font, fill=(250, 250, 250))
            out.append({"kind": kind, "text": text, "secret": secret, "public": public.split(), "box": box,
                        "image": np.asarray(photo)})
    return out


def read_back(image, box, engines) -> str:  # noqa: ANN001
    """Everything the engines read on the whole image and on the box's neighbourhood upscaled 2x."""
    import cv2

    x0, y0, x1, y1 = box
    h, w = image.shape[:2]
    crop = image[max(0, y0 - 24):min(h, y1 + 24), max(0, x0 - 24):min(w, x1 + 24)]
    crop = cv2.resize(crop, None, fx=2.0, fy=2.0, interpolation=cv2.INTER_CUBIC)
    return " ".join(line.text for e in engines.values() for im in (image, crop) for line in e.read(im))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--anonymizer", action="append", help="anonymizer spec or model folder (repeatable)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--media", default=".media/opencv")
    ap.add_argument("--out", default="runs/bench/written_forms.json")
    ap.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS),
                    help="kinds to check (the photos of the others are drawn all the same, so each kind's are "
                         "the same whichever are chosen)")
    ap.add_argument("--public", choices=("signs", "places"), default="signs",
                    help="public line beside each private one: signs (CITY LIBRARY, ...) or places named after "
                         "given names (Keziah Street, ...)")
    args = ap.parse_args(argv)
    specs = ["identity", *(args.anonymizer or ["faceblur"])]

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from documents import attack_engines  # the same OCR attackers as the documents check
    from international_names import fold  # what counts as read, as the badge check folds it
    from veil.anonymizers.base import create_anonymizer
    from veil.fsutil import atomic_write_text
    from veil.protect import with_runtime
    from veil.threads import limit_threads

    limit_threads(2)
    engines = attack_engines()
    kinds = [k for k in KINDS if k in args.kinds]
    items = [item for item in build(args.seed, Path(args.media), args.public) if item["kind"] in kinds]
    print(f"{len(items)} photos, {PER_KIND} per kind; engines: {', '.join(engines)}")
    print(f"\n{'anonymizer':28s} " + " ".join(f"{k:>13s}" for k in kinds) + f" {'private':>8s} {'public':>7s}")
    rows, leaks = [], []
    for spec in specs:
        anon = with_runtime(create_anonymizer(spec), "auto", threads=2)
        read = dict.fromkeys(kinds, 0)
        public_read = public_total = 0
        for item in items:
            protected = anon(item["image"])
            text = read_back(protected, item["box"], engines)
            hit = fold(str(item["secret"])) in fold(text)
            read[str(item["kind"])] += hit
            if hit and spec != "identity":
                leaks.append({"anonymizer": spec, "kind": item["kind"], "text": item["text"]})
            public_total += len(item["public"])
            public_read += sum(fold(w) in fold(text) for w in item["public"])  # OCR runs words together
        row = {"anonymizer": spec, **{k: read[k] / PER_KIND for k in kinds},
               "private": sum(read.values()) / len(items), "public_words_read": public_read / public_total}
        rows.append(row)
        print(f"{spec:28s} " + " ".join(f"{row[k]:13.2f}" for k in kinds)
              + f" {row['private']:8.3f} {row['public_words_read']:7.3f}")
    for leak in leaks:
        print(f"read after protection ({leak['anonymizer']}, {leak['kind']}): {leak['text']}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps({"seed": args.seed, "public": args.public, "engines": list(engines),
                                       "rows": rows, "leaks": leaks}, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
