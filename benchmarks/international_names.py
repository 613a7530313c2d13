"""Name badges of people from everywhere: diacritics, Greek and Cyrillic script.

The word lists behind the text classifier are English and US-census names; users are not.
Conference badges ("HELLO my name is", the name large, an organisation) are drawn with names
in eight groups: Polish, Czech/Slovak, German/Nordic, French/Iberian, Turkish/Hungarian/
Romanian and Vietnamese (Latin letters with diacritics), and Greek and Cyrillic (Russian,
Ukrainian, Serbian), in every font of the real-photo check's pool that has all the name's
letters (:func:`veil.realcheck.font_pool`, none used in training), tilted up to 4 degrees.
These names are benchmark data only: the product has no list of them.

Per group and anonymizer:

* ``strokes``: the share of names whose strokes survive protection (the correlation of the
  name's fine detail, original against protected, above 0.5): an attacker-free measure that
  works for any script;
* ``read``: the share of names read exactly by RapidOCR or Tesseract (both sides folded to
  plain letters: "Wójcik" and "Wojcik" match); only for Latin groups, as neither engine
  here reads Greek or Cyrillic (an attacker with those models would);
* ``public``: the share of the badge's public words read.

    .venv/bin/python benchmarks/international_names.py --anonymizer runs/demo/train/model

Writes ``--out`` (default ``runs/bench/international_names.json``) atomically.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

GROUPS: dict[str, tuple[str, ...]] = {
    "polish": ("Małgorzata Wójcik", "Łukasz Zieliński", "Agnieszka Wróbel", "Paweł Dąbrowski", "Jędrzej Kołodziej",
               "Bożena Szczęsna"),
    "czech-slovak": ("Jiří Dvořák", "Tereza Nováková", "Přemysl Černý", "Zuzana Šťastná", "Ľubomír Kováč",
                     "Radek Růžička"),
    "german-nordic": ("Jürgen Größer", "Björn Ødegård", "Søren Kjær", "Åsa Lindström", "Jörg Lüdenscheidt",
                      "Sigríður Þórsdóttir"),
    "french-iberian": ("François Lefèvre", "Hélène Bérubé", "João Gonçalves", "Begoña Ibáñez", "Iñaki Etxeberría",
                       "Anaïs Noël"),
    "turkish-hungarian-romanian": ("Mehmet Yılmaz", "Şükrü Öztürk", "Ayşe Çelik", "Gergő Szőke", "Ödön Kővári",
                                   "Ștefan Țurcanu"),
    "vietnamese": ("Nguyễn Thị Hương", "Trần Văn Đức", "Phạm Minh Châu", "Lê Hoàng Yến", "Đặng Quốc Bảo",
                   "Võ Thanh Tùng"),
    "greek": ("Ελένη Παπαδοπούλου", "Γιώργος Νικολάου", "Δημήτρης Κωνσταντίνου", "Μαρία Αλεξίου",
              "Σοφία Γεωργίου", "Νίκος Οικονόμου"),
    "cyrillic": ("Иван Петров", "Ольга Смирнова", "Дмитрий Кузнецов", "Наталья Иванова", "Олександр Шевченко",
                 "Милош Јовановић"),
}
LATIN_GROUPS = ("polish", "czech-slovak", "german-nordic", "french-iberian", "turkish-hungarian-romanian",
                "vietnamese")
EVENTS = ("OPEN DATA SUMMIT", "CITY MAKERS FAIR", "HARBOR TECH WEEK", "GREEN ENERGY EXPO")
ORGS = ("Northwind Traders", "Blue Harbor Cafe", "Acme Logistics", "Orion Print Shop")
PER_GROUP = 12


def fold(text: str) -> str:
    """Upper-case plain letters and digits, diacritics dropped as the classifier drops them."""
    from veil.privacy.pii import fold_latin

    return re.sub(r"[^A-Z0-9]", "", fold_latin(text).upper())


def _fonts_for(text: str) -> list[tuple[str, Path]]:
    """The pool's TrueType fonts that have every letter of ``text``."""
    from fontTools.ttLib import TTFont

    from veil.realcheck import font_pool

    _, pool = font_pool()
    out = []
    for key, (_, path) in pool.items():
        if path is None:
            continue
        cmap = TTFont(str(path), lazy=True).getBestCmap() or {}
        if all(ord(c) in cmap for c in text if not c.isspace()):
            out.append((key, path))
    return out


def _badges(seed: int) -> list[dict[str, object]]:
    import cv2
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    from veil.realcheck import _rng

    rng = _rng(seed, "international-badges")
    badges = []
    for group, names in GROUPS.items():
        fonts = _fonts_for("".join(names))
        for i in range(PER_GROUP if fonts else 0):
            name = names[i % len(names)]
            key, path = fonts[int(rng.integers(len(fonts)))]
            event, org = EVENTS[int(rng.integers(len(EVENTS)))], ORGS[int(rng.integers(len(ORGS)))]
            w, h = 900, 560
            im = Image.new("RGB", (w, h), (250, 250, 247))
            d = ImageDraw.Draw(im)
            d.rectangle([0, 0, w, 150], fill=(180, 30, 40))
            d.text((40, 30), "HELLO", font=ImageFont.truetype(str(path), 54), fill=(255, 255, 255))
            d.text((40, 100), "my name is", font=ImageFont.truetype(str(path), 30), fill=(255, 255, 255))
            size = 64 if len(name) <= 16 else 52
            name_font = ImageFont.truetype(str(path), size)
            d.text((40, 230), name, font=name_font, fill=(15, 15, 15))
            box = d.textbbox((40, 230), name, font=name_font)
            d.text((40, 380), org, font=ImageFont.truetype(str(path), 36), fill=(40, 40, 40))
            d.text((40, 470), event, font=ImageFont.truetype(str(path), 30), fill=(20, 60, 120))
            angle = float(rng.uniform(-4, 4))
            m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
            arr = cv2.warpAffine(np.asarray(im), m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
            corners = cv2.transform(np.array([[[box[0], box[1]], [box[2], box[1]], [box[2], box[3]],
                                               [box[0], box[3]]]], np.float32), m)[0]
            x0, y0 = np.floor(corners.min(axis=0)).astype(int) - 4
            x1, y1 = np.ceil(corners.max(axis=0)).astype(int) + 4
            badges.append({"group": group, "font": key, "name": name, "image": arr,
                           "name_box": [int(max(0, x0)), int(max(0, y0)), int(min(w, x1)), int(min(h, y1))],
                           "public": [*org.split(), *event.split(), "HELLO"]})
    return badges


def strokes_survive(original, protected, box) -> bool:
    """Whether the fine detail (image minus its 2 px blur) of the name's box correlates above
    0.5 between original and protected: strokes an attacker in any script could still read."""
    import cv2
    import numpy as np

    x0, y0, x1, y1 = box
    a, b = (cv2.cvtColor(im[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY).astype(np.float32) for im in (original, protected))
    a, b = a - cv2.GaussianBlur(a, (0, 0), 2.0), b - cv2.GaussianBlur(b, (0, 0), 2.0)
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return den > 0 and float((a * b).sum()) / den > 0.5


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--anonymizer", action="append", help="anonymizer spec or model folder (repeatable)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/bench/international_names.json")
    args = ap.parse_args(argv)
    specs = ["identity", *(args.anonymizer or ["faceblur"])]

    from documents import attack_engines  # this folder: the same OCR attackers as the documents check
    from veil.anonymizers.base import create_anonymizer
    from veil.fsutil import atomic_write_text
    from veil.protect import with_runtime
    from veil.threads import limit_threads

    limit_threads(2)
    engines = attack_engines()
    badges = _badges(args.seed)
    groups = [g for g in GROUPS if any(b["group"] == g for b in badges)]
    missing = [g for g in GROUPS if g not in groups]
    print(f"{len(badges)} badges in {len(groups)} groups; engines: {', '.join(engines)}"
          + (f"; no font in the pool draws {', '.join(missing)}" if missing else ""))
    print(f"\n{'anonymizer':36s} {'group':28s} {'strokes':>8s} {'read':>6s} {'public':>7s}")
    rows = []
    for spec in specs:
        anon = with_runtime(create_anonymizer(spec), "auto", threads=2)
        for group in groups:
            docs = [b for b in badges if b["group"] == group]
            kept = read = public_read = public_total = 0
            for doc in docs:
                protected = anon(doc["image"])
                kept += strokes_survive(doc["image"], protected, doc["name_box"])
                texts = [line.text for e in engines.values() for line in e.read(protected)]
                joined = fold("".join(texts))
                words = {fold(w) for t in texts for w in t.split()}
                read += fold(str(doc["name"])) in joined
                public_total += len(doc["public"])
                public_read += sum(fold(w) in words or fold(w) in joined for w in doc["public"])
            n = len(docs)
            row = {"anonymizer": spec, "group": group, "badges": n, "strokes_survive": kept / n,
                   "read": read / n if group in LATIN_GROUPS else None, "public_words_read": public_read / public_total}
            rows.append(row)
            shown = f"{row['read']:6.2f}" if row["read"] is not None else f"{'n/a':>6s}"
            print(f"{spec:36s} {group:28s} {row['strokes_survive']:8.2f} {shown} {row['public_words_read']:7.3f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps({"seed": args.seed, "engines": list(engines), "rows": rows}, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
