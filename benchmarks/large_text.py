"""Large private text: is a name or number that fills much of the frame hidden?

The scenario's private lines are small (a few percent of the short side); a phone number
on a van, a name on a banner or a poster a user photographs up close is many times taller.
This draws one private string per image (names, phone numbers, plates, IDs, e-mails of the
real-photo check's generators, the short ones for the tallest lines, in its held-out fonts) on a board over a real photo
(1024x768), with the line's capitals at a target fraction of the short side (shrunk to fit
the width), protects each image with each anonymizer, and attacks the window around the
string scaled so the line is about 32 px tall (an attacker scales a large line down to
what OCR reads best): each OCR engine (``--engines``, default RapidOCR and Tesseract, the
latter skipped with a note when not installed) as it is, then after Wiener deconvolution
over the grid of ``benchmarks/deblur_attack.py``; a string counts as read when any engine
reads it. Also reported: the fine-detail correlation of the line's
box with the original (above about 0.3 the strokes show to the eye).

    .venv/bin/python benchmarks/large_text.py --anonymizer runs/demo/train/model

Prints, per anonymizer and line height (fraction of the short side), the strings read
plain and with deconvolution (exactly, and within a CER of 0.25 at best) and the largest
correlation; writes ``--out`` (default
``runs/bench/large_text.json``) atomically.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

#: Target capital heights as fractions of the short side.
HEIGHTS = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4)
#: Backgrounds: real photos of the media folder (under .media/opencv).
BACKGROUNDS = ("data/basketball1.png", "data/messi5.jpg", "data/basketball2.png", "text/scenetext01.jpg",
               "text/scenetext02.jpg", "text/scenetext06.jpg")
SIZE = (1024, 768)
#: A string read all but a character or two (an initial: "Strand" of "K. Strand") counts as near.
NEAR_CER = 0.25


def _strings(seed: int, n: int, short: bool, tag: str) -> list[tuple[str, str]]:
    """``n`` private strings (kind, text) from the real-photo check's generators; ``short``:
    only those short enough to stand tall in the frame (an initial and a surname, a local
    phone number, a plate)."""
    from veil.realcheck import LAST_NAMES, _pick, _rng, make_email, make_id, make_name, make_phone, make_plate

    rng = _rng(seed, "large-text", tag)
    brief = [("name", lambda: f"{'ABDEHKLMRST'[int(rng.integers(11))]}. {_pick(rng, LAST_NAMES)}"),
             ("phone", lambda: f"{rng.integers(200, 999)} {rng.integers(1000, 9999)}"),
             ("plate", lambda: make_plate(rng))]
    full = [("name", lambda: make_name(rng)), ("phone", lambda: make_phone(rng)), ("plate", lambda: make_plate(rng)),
            brief[0], ("id", lambda: make_id(rng)), brief[1], ("email", lambda: make_email(rng))]
    makers = brief if short else full
    return [(kind, make()) for kind, make in (makers[i % len(makers)] for i in range(n))]


def _fine_corr(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of the fine detail (grey image minus a 2 px blur) of two crops."""
    import cv2

    x, y = (cv2.cvtColor(im, cv2.COLOR_RGB2GRAY).astype(np.float32) for im in (a, b))
    x, y = x - cv2.GaussianBlur(x, (0, 0), 2.0), y - cv2.GaussianBlur(y, (0, 0), 2.0)
    den = float(np.sqrt((x * x).sum() * (y * y).sum()))
    return float((x * y).sum()) / den if den > 0 else 0.0


def layout_tools(seed: int, key: str, roles: tuple[str, ...], media: Path) -> tuple[dict, list[str], Any, list]:
    """The font pool, the names of its fonts for ``roles`` (the real-photo check's layouts),
    a generator for ``key`` and the background photos (exits when there are none)."""
    from veil.media import load_image
    from veil.realcheck import ROLE_FONTS, _rng, font_pool

    _, fonts = font_pool()
    names = sorted({f for role in roles for f in ROLE_FONTS[role] if f in fonts})
    backgrounds = [load_image(media / b) for b in BACKGROUNDS if (media / b).is_file()]
    if not backgrounds:
        raise SystemExit(f"no background photos under {media}: run `make media`")
    return fonts, names, _rng(seed, key), backgrounds


def fitted_ink(text: str, font: Any, path: Path | None, cap_px: float, max_width: float) -> np.ndarray:
    """The line's ink (:func:`veil.realcheck.ink`), shrunk to ``max_width`` if wider."""
    import cv2

    from veil.realcheck import ink

    m = ink(text, font, path, cap_px)
    if m.shape[1] > max_width:
        m = cv2.resize(m, (int(max_width), max(4, round(m.shape[0] * max_width / m.shape[1]))),
                       interpolation=cv2.INTER_AREA)
    return m


def paint(img: np.ndarray, ink_mask: np.ndarray, x0: int, y0: int, pad: int, board: tuple[int, ...],
          colour: Any) -> None:
    """A board ``pad`` px around the ink at (``x0``, ``y0``), then the ink in ``colour``, in place."""
    import cv2

    h, w = ink_mask.shape
    cv2.rectangle(img, (x0 - pad, y0 - pad), (x0 + w + pad, y0 + h + pad), board, -1)
    a = (ink_mask.astype(np.float32) / 255.0)[..., None]
    region = img[y0:y0 + h, x0:x0 + w].astype(np.float32)
    img[y0:y0 + h, x0:x0 + w] = np.clip(region * (1 - a) + colour * a, 0, 255).astype(np.uint8)


def build(seed: int, media: Path) -> list[dict]:
    """The images: a board with one private string per image, at each height of :data:`HEIGHTS`."""
    import cv2

    from veil.realcheck import _pick

    fonts, names, rng, backgrounds = layout_tools(seed, "large-text-layout", ("tag", "sticker", "plate", "card"), media)
    W, H = SIZE
    items = []
    per_height = 8
    strings = [s for frac in HEIGHTS for s in _strings(seed, per_height, frac >= 0.2, str(frac))]
    for i, (kind, text) in enumerate(strings):
        frac = HEIGHTS[i // per_height]
        font, path = fonts[_pick(rng, names)]
        m = fitted_ink(text, font, path, frac * H, 0.92 * W)  # as tall as the width allows
        h, w = m.shape
        img = cv2.resize(backgrounds[i % len(backgrounds)], SIZE, interpolation=cv2.INTER_AREA)
        x0 = int(rng.integers(max(1, (W - w) // 8), max(2, W - w - (W - w) // 8)))
        y0 = int(rng.integers(max(1, (H - h) // 8), max(2, H - h - (H - h) // 8)))
        board = tuple(int(v) for v in rng.integers(200, 256, size=3))
        colour = np.array([int(v) for v in rng.integers(0, 80, size=3)], np.float32)
        paint(img, m, x0, y0, int(0.35 * h) + 4, board, colour)
        items.append({"kind": kind, "text": text, "font": font.name, "target": frac, "height": h / H,
                      "box": (x0, y0, x0 + w, y0 + h), "image": img})
    return items


def attack(item: dict, protected: np.ndarray, engines: tuple[str, ...] = ("rapidocr",)) -> dict:
    """Plain OCR and deconvolution on the window around the string, scaled to a 32 px line,
    by each engine; the top-level figures are the best over the engines."""
    import cv2

    from veil.data.manifest import PrivateText
    from veil.privacy.deblur import deblur_recovery

    x0, y0, x1, y1 = item["box"]
    h = y1 - y0
    H, W = protected.shape[:2]
    wx0, wy0, wx1, wy1 = max(0, x0 - h), max(0, y0 - h), min(W, x1 + h), min(H, y1 + h)
    s = min(1.0, 32.0 / h)

    def window(im: np.ndarray) -> np.ndarray:
        return cv2.resize(im[wy0:wy1, wx0:wx1], None, fx=s, fy=s, interpolation=cv2.INTER_AREA)

    box = ((x0 - wx0) * s, (y0 - wy0) * s, (x1 - wx0) * s, (y1 - wy0) * s)
    original, sent = window(item["image"]), window(protected)
    by_engine = {}
    for engine in engines:
        r = deblur_recovery([sent], [[PrivateText(item["kind"], item["text"], box)]], engine=engine,
                            upscale=2.0 if s == 1.0 else 1.0)
        best = r["items"][0] if r["items"] else {"exact": False, "sigma": None, "cer": 1.0}
        by_engine[engine] = {"plain": bool(best["exact"] and best["sigma"] is None), "deblur": bool(best["exact"]),
                             "sigma": best["sigma"], "cer": float(best["cer"])}
    bx = [int(round(v)) for v in box]
    corr = _fine_corr(original[bx[1]:bx[3], bx[0]:bx[2]], sent[bx[1]:bx[3], bx[0]:bx[2]])
    reads = by_engine.values()
    return {"plain": any(r["plain"] for r in reads), "deblur": any(r["deblur"] for r in reads),
            "cer": min(r["cer"] for r in reads), "corr": corr, "by_engine": by_engine}


def best_reading(by_engine: dict[str, dict]) -> dict:
    """The best of each engine's reading of one string (``exact``, ``cer``): read exactly by
    any engine, the lowest character error rate; with the readings themselves."""
    return {"exact": any(r["exact"] for r in by_engine.values()),
            "cer": min(r["cer"] for r in by_engine.values()), "by_engine": by_engine}


def write_results(out: str | Path, results: dict) -> None:
    """``results`` as JSON at ``out``, written atomically (its folder made), and said so."""
    from veil.fsutil import atomic_write_text

    atomic_write_text(out, json.dumps(results, indent=1))
    print(f"wrote {out}")


def ocr_engines(wanted: list[str]) -> tuple[str, ...]:
    """The engines of ``wanted`` this machine has; Tesseract is skipped with a note when its
    binary is not installed (as ``veil realcheck`` does)."""
    import shutil

    engines = []
    for engine in wanted:
        if engine == "tesseract" and not shutil.which("tesseract"):
            print("tesseract is not installed (Debian: apt-get install tesseract-ocr): skipped", file=sys.stderr)
            continue
        engines.append(engine)
    if not engines:
        raise SystemExit("no OCR engine to attack with")
    return tuple(engines)


def parse_args(doc: str, default_out: str, argv: list[str] | None) -> tuple[argparse.Namespace, Path]:
    """The options these board benchmarks share (anonymizers, seed, media, output) and the
    folder of the media's photos."""
    import os

    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--anonymizer", action="append", help="anonymizer spec or model folder (repeatable)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--media", default=None, help="media folder (default: $VEIL_MEDIA or .media)")
    ap.add_argument("--engines", nargs="+", default=["rapidocr", "tesseract"],
                    help="OCR attackers (tesseract is skipped with a note when not installed)")
    ap.add_argument("--out", default=default_out)
    args = ap.parse_args(argv)
    args.engines = ocr_engines(args.engines)
    return args, Path(args.media or os.environ.get("VEIL_MEDIA", ".media")) / "opencv"


def main(argv: list[str] | None = None) -> int:
    args, media = parse_args(__doc__, "runs/bench/large_text.json", argv)

    import veil
    items = build(args.seed, media)
    specs = ["identity", *(args.anonymizer or [])]
    print(f"{len(items)} images, one private string each; capitals at {', '.join(map(str, HEIGHTS))} of the "
          "short side (shrunk to fit the width)", flush=True)
    bins = [(0.0, 0.1), (0.1, 0.2), (0.2, 0.3), (0.3, 0.4), (0.4, 1.0)]
    rows = []
    for spec in specs:
        anon = veil.load_anonymizer(spec)
        results = []
        for it in items:
            res = attack(it, anon(it["image"].copy()), args.engines)
            results.append({k: it[k] for k in ("kind", "text", "font", "target", "height")} | res)
        per_bin = []
        for lo, hi in bins:
            sel = [r for r in results if lo <= r["height"] < hi]
            if sel:
                per_bin.append({"heights": [lo, hi], "strings": len(sel), "read_plain": sum(r["plain"] for r in sel),
                                "read_with_deblur": sum(r["deblur"] for r in sel),
                                "near": sum(r["cer"] <= NEAR_CER for r in sel),
                                "max_corr": max(r["corr"] for r in sel),
                                "by_engine": {e: {"read_with_deblur": sum(r["by_engine"][e]["deblur"] for r in sel),
                                                  "near": sum(r["by_engine"][e]["cer"] <= NEAR_CER for r in sel)}
                                              for e in args.engines}})
        rows.append({"anonymizer": spec, "bins": per_bin, "items": results})
        print(f"{spec}", flush=True)
        for b in per_bin:
            print(f"  line {b['heights'][0]:.1f}-{b['heights'][1]:.1f} of the short side: {b['strings']:>2} strings, "
                  f"read plain {b['read_plain']:>2}, with deconvolution {b['read_with_deblur']:>2} "
                  f"(within CER {NEAR_CER}: {b['near']:>2}), "
                  f"largest fine-detail correlation {b['max_corr']:.2f}; "
                  + ", ".join(f"{e} {v['read_with_deblur']} (near {v['near']})" for e, v in b["by_engine"].items()),
                  flush=True)
    write_results(args.out, {"seed": args.seed, "heights": list(HEIGHTS), "engines": list(args.engines),
                             "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
