"""Initials before word surnames, in typewriter fonts: is "J. SMITH" on a door plate hidden?

Door plates, desk signs and staff lists write a name as an initial and a surname, often in a
monospaced typewriter face whose wide space makes the text detector cut the line in two:
"J." and "SMITH", or "J.S" (the initial's box runs into the S), or "B." and "Hal1". Each piece
alone reads as public or too short to judge, and a surname that is a word or a place ("Wood",
"Hall", "Church") is public by itself. This draws "X. Surname" with such surnames in every
monospaced font of the real-photo check's pool (none used in training), capitals at 4, 7
and 10 % of the short side, on a board over a real photo (1024x768), protects each image
with each anonymizer and reads the window around the name, scaled so its capitals are about
32 px, with each OCR engine (``--engines``, default RapidOCR and Tesseract, the latter
skipped with a note when not installed). Counted: names read exactly, and surnames read (the
whole surname as a word of the reading).

    .venv/bin/python benchmarks/initials.py --anonymizer runs/demo/train/model

Writes ``--out`` (default ``runs/bench/initials.json``) atomically.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np

from large_text import BACKGROUNDS, SIZE, fitted_ink, paint, parse_args, write_results

NAMES = ("J. SMITH", "K. Wood", "B. Hall", "T. Green", "L. Fox", "D. King", "A. Bell", "P. Church")
HEIGHTS = (0.04, 0.07, 0.1)


def monospaced_fonts() -> dict:
    """The monospaced fonts of the real-photo check's pool, by name."""
    from veil.realcheck import font_pool

    _, fonts = font_pool()
    return {name: f for name, f in sorted(fonts.items()) if "Mono" in name or name == "cmtt10"}


def build(media: Path) -> list[dict]:
    """One name per image: every name of :data:`NAMES` in every monospaced font at every height."""
    import cv2

    from veil.media import load_image

    backgrounds = [load_image(media / b) for b in BACKGROUNDS if (media / b).is_file()]
    if not backgrounds:
        raise SystemExit(f"no background photos under {media}: run `make media`")
    W, H = SIZE
    items = []
    for f, (name, (font, path)) in enumerate(monospaced_fonts().items()):
        for j, frac in enumerate(HEIGHTS):
            for i, text in enumerate(NAMES):
                img = cv2.resize(backgrounds[(f + j + i) % len(backgrounds)], SIZE, interpolation=cv2.INTER_AREA)
                m = fitted_ink(text, font, path, frac * H, 0.8 * W)
                h, w = m.shape
                x0, y0 = (W - w) // 2 - 40 * (i % 3 - 1), H // 3 + 30 * (i % 4)
                paint(img, m, x0, y0, int(0.4 * h) + 4, (235, 235, 232), np.array([20, 20, 24], np.float32))
                items.append({"text": text, "font": name, "height": frac, "box": (x0, y0, x0 + w, y0 + h),
                              "image": img})
    return items


def attack(item: dict, protected: np.ndarray, engines: tuple[str, ...]) -> dict:
    """Each engine on the window around the name, scaled to 32 px capitals: the name read
    exactly, and the surname read as a word, by any engine."""
    import cv2

    from veil.data.manifest import PrivateText
    from veil.privacy.metrics import normalize_text
    from veil.privacy.pretrained import text_recovery

    x0, y0, x1, y1 = item["box"]
    h = y1 - y0
    H, W = protected.shape[:2]
    wx0, wy0, wx1, wy1 = max(0, x0 - h), max(0, y0 - h), min(W, x1 + h), min(H, y1 + h)
    s = min(1.0, 32.0 / h)
    window = cv2.resize(protected[wy0:wy1, wx0:wx1], None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    box = ((x0 - wx0) * s, (y0 - wy0) * s, (x1 - wx0) * s, (y1 - wy0) * s)
    surname = normalize_text(item["text"].split()[-1])
    by_engine = {}
    for engine in engines:
        r = text_recovery([window], [[PrivateText("name", item["text"], box)]], engine=engine,
                          upscale=2.0 if s == 1.0 else 1.0)["items"]
        read = r[0]["read"] if r else ""
        words = {normalize_text(w) for w in re.split(r"[\s.,]+", read)}
        by_engine[engine] = {"exact": bool(r and r[0]["exact"]), "surname": surname in words, "read": read}
    return {"exact": any(v["exact"] for v in by_engine.values()),
            "surname": any(v["surname"] for v in by_engine.values()), "by_engine": by_engine}


def main(argv: list[str] | None = None) -> int:
    args, media = parse_args(__doc__, "runs/bench/initials.json", argv)

    import veil
    items = build(media)
    fonts = sorted({it["font"] for it in items})
    print(f"{len(items)} images: {len(NAMES)} names x {len(fonts)} monospaced fonts ({', '.join(fonts)}) x capitals "
          f"at {', '.join(map(str, HEIGHTS))} of the short side", flush=True)
    rows = []
    for spec in ["identity", *(args.anonymizer or [])]:
        anon = veil.load_anonymizer(spec)
        results = [{k: it[k] for k in ("text", "font", "height")} | attack(it, anon(it["image"].copy()), args.engines)
                   for it in items]
        per_height = [{"height": frac, "names": sum(r["height"] == frac for r in results),
                       "read": sum(r["exact"] for r in results if r["height"] == frac),
                       "surname": sum(r["surname"] for r in results if r["height"] == frac)} for frac in HEIGHTS]
        rows.append({"anonymizer": spec, "per_height": per_height, "items": results})
        print(f"{spec}: names read {sum(r['exact'] for r in results)} of {len(results)}, surnames read "
              f"{sum(r['surname'] for r in results)}; " + ", ".join(
                  f"capitals {p['height']}: {p['read']} / {p['surname']}" for p in per_height), flush=True)
    write_results(args.out, {"names": list(NAMES), "fonts": fonts, "heights": list(HEIGHTS),
                             "engines": list(args.engines), "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
