"""Business cards filling the frame: private lines large and close together, public lines beside them.

Users photograph documents for an MLLM to read ("what company is this card from?"). On a
card the private lines (name, phone number, e-mail, ID number) are large and sit in rows
and blocks with public ones (company, job title). This check draws cards in every TrueType
font of the real-photo check's pool (:func:`veil.realcheck.font_pool`, none used in
training) at two sizes, with a slight tilt and a paper tint, and reads the protected cards
with RapidOCR and Tesseract (when installed): per anonymizer, the share of private strings
read exactly by either engine (per kind) and of public words read.

    .venv/bin/python benchmarks/business_cards.py --anonymizer runs/demo/train/model

Writes ``--out`` (default ``runs/bench/business_cards.json``) atomically, and a contact
sheet of the first protected cards beside it.
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


def _norm(text: str) -> str:
    return re.sub(r"[^A-Z0-9@.]", "", text.upper())


def _cards(seed: int) -> list[dict[str, object]]:
    import cv2
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    from veil.realcheck import _rng, font_pool, make_email, make_id, make_name, make_phone

    _, pool = font_pool()
    fonts = [(key, path) for key, (_, path) in pool.items() if path is not None]
    rng = _rng(seed, "business-cards")
    cards = []
    for key, path in fonts:
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--anonymizer", action="append", help="anonymizer spec or model folder (repeatable)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/bench/business_cards.json")
    args = ap.parse_args(argv)
    specs = ["identity", *(args.anonymizer or ["faceblur"])]

    import cv2
    import numpy as np

    from veil.anonymizers.base import create_anonymizer
    from veil.fsutil import atomic_write_bytes, atomic_write_text
    from veil.privacy.pretrained import get_ocr_engine
    from veil.protect import with_runtime
    from veil.threads import limit_threads

    limit_threads(2)
    engines = {"rapidocr": get_ocr_engine("rapidocr")}
    if shutil.which("tesseract"):
        engines["tesseract"] = get_ocr_engine("tesseract")
    else:
        print("tesseract is not installed: RapidOCR only", file=sys.stderr)
    cards = _cards(args.seed)
    print(f"{len(cards)} cards ({len(cards) // len(SIZES)} fonts x {len(SIZES)} sizes); engines: {', '.join(engines)}")
    kinds = ("name", "phone", "email", "id")
    print(f"{'anonymizer':36s} " + " ".join(f"{k:>6s}" for k in kinds) + f" {'private':>8s} {'public':>7s}")
    rows = []
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for spec in specs:
        anon = with_runtime(create_anonymizer(spec), "auto", threads=2)
        read = dict.fromkeys(kinds, 0)
        public_read = public_total = 0
        leaks = []
        sheet = []
        for card in cards:
            protected = anon(card["image"])
            if len(sheet) < 4 and card["size"][0] == SIZES[0][0]:
                sheet.append(protected)
            texts = [line.text for e in engines.values() for line in e.read(protected)]
            joined = _norm("".join(texts))
            words = {_norm(w) for t in texts for w in t.split()}
            for k in kinds:
                hit = _norm(card["private"][k]) in joined
                read[k] += hit
                if hit:
                    leaks.append({"font": card["font"], "size": card["size"], "kind": k})
            public_total += len(card["public"])
            public_read += sum(_norm(w) in words or _norm(w) in joined for w in card["public"])
        n = len(cards)
        row = {"anonymizer": spec, "cards": n, "private_read": {k: read[k] / n for k in kinds},
               "private_read_all": sum(read.values()) / (n * len(kinds)),
               "public_words_read": public_read / public_total, "leaks": leaks}
        rows.append(row)
        print(f"{spec:36s} " + " ".join(f"{read[k] / n:6.2f}" for k in kinds)
              + f" {row['private_read_all']:8.3f} {row['public_words_read']:7.3f}")
        if spec != "identity" and sheet:
            grid = np.concatenate([np.concatenate(sheet[:2], axis=1), np.concatenate(sheet[2:4], axis=1)], axis=0) \
                if len(sheet) == 4 else np.concatenate(sheet, axis=1)
            ok, png = cv2.imencode(".png", cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
            if ok:
                slug = re.sub(r"[^A-Za-z0-9._=-]+", "_", spec).strip("_")
                atomic_write_bytes(out.with_name(f"business_cards_{slug}.png"), png.tobytes())
    atomic_write_text(out, json.dumps({"seed": args.seed, "engines": list(engines), "rows": rows}, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
