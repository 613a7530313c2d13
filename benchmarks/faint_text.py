"""Faint private text: writing a few grey levels from its ground.

Pencil on paper, a faded receipt, a watermark, pale lettering on a pale board: text of low
contrast that a detector passes over while an attacker who knows where to look (or raises
the contrast of the whole picture) reads it. This draws one private string per image (the
real-photo check's generators, in its held-out fonts) on a board over a real photo
(1024x768), the ink 6-40 grey levels darker or lighter than the board, capitals 3-8 % of
the short side, protects each image with each anonymizer, and reads the window around the
string with each OCR engine (``--engines``, default RapidOCR and Tesseract, the latter
skipped with a note when not installed), as it is and contrast-stretched, upscaled as ``veil
realcheck``'s crop attacker does (capitals to about 32 px); a string counts as read when
any engine reads it.

    .venv/bin/python benchmarks/faint_text.py --anonymizer runs/demo/train/model

Prints, per anonymizer and contrast, the strings read exactly and within a CER of 0.25;
writes ``--out`` (default ``runs/bench/faint_text.json``) atomically.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from large_text import (
    NEAR_CER,
    SIZE,
    _strings,
    best_reading,
    fitted_ink,
    layout_tools,
    paint,
    parse_args,
    write_results,
)

#: Grey levels between the ink and its board.
CONTRASTS = (6, 10, 16, 24, 40)
#: Capital heights as fractions of the short side.
HEIGHTS = (0.03, 0.05, 0.08)
PER_CONTRAST = 12


def build(seed: int, media: Path) -> list[dict]:
    """The images: a board with one faint private string each, :data:`PER_CONTRAST` per contrast."""
    import cv2

    from veil.realcheck import _pick

    fonts, names, rng, backgrounds = layout_tools(seed, "faint-text-layout", ("note", "tag", "card", "sticker"), media)
    W, H = SIZE
    items = []
    for k, contrast in enumerate(CONTRASTS):
        for i, (kind, text) in enumerate(_strings(seed, PER_CONTRAST, False, f"faint{contrast}")):
            font, path = fonts[_pick(rng, names)]
            m = fitted_ink(text, font, path, HEIGHTS[i % len(HEIGHTS)] * H, 0.88 * W)
            h, w = m.shape
            img = cv2.resize(backgrounds[(k + i) % len(backgrounds)], SIZE, interpolation=cv2.INTER_AREA)
            x0 = int(rng.integers(40, W - w - 40))
            y0 = int(rng.integers(40, H - h - 40))
            board = int(rng.integers(70, 236))
            darker = board - contrast >= 0 and (board + contrast > 255 or bool(rng.integers(2)))
            paint(img, m, x0, y0, int(0.5 * h) + 6, (board,) * 3, board - contrast if darker else board + contrast)
            items.append({"kind": kind, "text": text, "font": font.name, "contrast": contrast,
                          "height": h / H, "box": (x0, y0, x0 + w, y0 + h), "image": img})
    return items


def _stretch(window: np.ndarray) -> np.ndarray:
    """The window's grey levels stretched so its 1st and 99th percentiles span 0-255."""
    g = window.astype(np.float32)
    lo, hi = np.percentile(g, 1), np.percentile(g, 99)
    return np.clip((g - lo) * 255.0 / max(hi - lo, 1.0), 0, 255).astype(np.uint8)


def attack(item: dict, protected: np.ndarray, engines: tuple[str, ...] = ("rapidocr",)) -> dict:
    """Each engine on the window around the string, as it is and contrast-stretched; the
    top-level figures are the best over the engines."""
    from veil.data.manifest import PrivateText
    from veil.privacy.pretrained import text_recovery

    x0, y0, x1, y1 = item["box"]
    h = y1 - y0
    H, W = protected.shape[:2]
    wx0, wy0, wx1, wy1 = max(0, x0 - h), max(0, y0 - h), min(W, x1 + h), min(H, y1 + h)
    window = np.ascontiguousarray(protected[wy0:wy1, wx0:wx1])
    texts = [[PrivateText(item["kind"], item["text"], (x0 - wx0, y0 - wy0, x1 - wx0, y1 - wy0))]]
    upscale = float(np.clip(32.0 / h, 1.0, 4.0))
    by_engine = {}
    for engine in engines:
        reads = [text_recovery([w], texts, engine=engine, upscale=upscale)["items"] for w in (window, _stretch(window))]
        reads = [r[0] for r in reads if r]
        by_engine[engine] = {"exact": any(r["exact"] for r in reads),
                             "cer": float(min((r["cer"] for r in reads), default=1.0))}
    return best_reading(by_engine)


def main(argv: list[str] | None = None) -> int:
    args, media = parse_args(__doc__, "runs/bench/faint_text.json", argv)

    import veil
    items = build(args.seed, media)
    print(f"{len(items)} images, one private string each; ink {', '.join(map(str, CONTRASTS))} grey levels "
          "from its board", flush=True)
    rows = []
    for spec in ["identity", *(args.anonymizer or [])]:
        anon = veil.load_anonymizer(spec)
        results = [{k: it[k] for k in ("kind", "text", "font", "contrast", "height")}
                   | attack(it, anon(it["image"].copy()), args.engines) for it in items]
        per = []
        for contrast in CONTRASTS:
            sel = [r for r in results if r["contrast"] == contrast]
            per.append({"contrast": contrast, "strings": len(sel), "read": sum(r["exact"] for r in sel),
                        "near": sum(r["cer"] <= NEAR_CER for r in sel),
                        "by_engine": {e: sum(r["by_engine"][e]["exact"] for r in sel) for e in args.engines}})
        rows.append({"anonymizer": spec, "per_contrast": per, "items": results})
        print(f"{spec}: " + ", ".join(f"{p['contrast']} levels {p['read']}/{p['strings']} "
                                      f"(near {p['near']}; " + ", ".join(f"{e} {n}" for e, n in p["by_engine"].items())
                                      + ")" for p in per), flush=True)
    write_results(args.out, {"seed": args.seed, "contrasts": list(CONTRASTS), "engines": list(args.engines),
                             "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
