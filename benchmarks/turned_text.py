"""Turned text: is private text at an angle hidden?

A name tag pinned askew, a plate on a car going uphill, a card lying on a table, a sticker
on a round bottle: private text is often far from level. The real-photo check turns its
strings by at most 10 degrees. This draws one private string per image (names, phone
numbers, plates, IDs of the real-photo check's generators, in its held-out fonts) on a board,
turns the board by an angle from -60 to 90 degrees and lays it over a real photo
(1024x768), protects each image with each anonymizer, and attacks it as an attacker who
knows the angle: the board's patch turned back level, then each OCR engine (``--engines``,
default RapidOCR and Tesseract, the latter skipped with a note when not installed) on the
window, upscaled as ``veil realcheck``'s crop attacker does (capitals to about 32 px). A
string counts as read when any engine reads it.

    .venv/bin/python benchmarks/turned_text.py --anonymizer runs/demo/train/model

Prints, per anonymizer, angle and capital height, the strings read exactly and within a
CER of 0.25; writes ``--out`` (default ``runs/bench/turned_text.json``) atomically.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from large_text import NEAR_CER, SIZE, _strings, best_reading, fitted_ink, layout_tools, parse_args, write_results

#: Turns of the board, degrees counter-clockwise.
ANGLES = (0, 20, 40, 60, 90, -30, -60)
#: Capital heights as fractions of the short side (small, where detectors miss first, and medium).
HEIGHTS = (0.025, 0.045)
PER_CELL = 4


def _turned_board(text: str, font: Any, path: Path | None, cap_px: float, angle: float,
                  rng: np.random.Generator) -> dict:
    """The board with its ink, turned by ``angle``: the patch, its coverage, the turn and
    where the line lies on the level board."""
    import cv2

    m = fitted_ink(text, font, path, cap_px, 0.6 * SIZE[0])
    h, w = m.shape
    pad = int(0.4 * h) + 6
    cw, ch = w + 2 * pad, h + 2 * pad
    board = rng.integers(200, 256, size=3).astype(np.float32)
    colour = rng.integers(0, 80, size=3).astype(np.float32)
    level = np.empty((ch, cw, 3), np.float32)
    level[:] = board
    a = (m.astype(np.float32) / 255.0)[..., None]
    level[pad:pad + h, pad:pad + w] = level[pad:pad + h, pad:pad + w] * (1 - a) + colour * a
    turn = cv2.getRotationMatrix2D((cw / 2, ch / 2), angle, 1.0)
    cos, sin = abs(turn[0, 0]), abs(turn[0, 1])
    rw, rh = int(ch * sin + cw * cos) + 2, int(ch * cos + cw * sin) + 2
    turn[0, 2] += rw / 2 - cw / 2
    turn[1, 2] += rh / 2 - ch / 2
    patch = cv2.warpAffine(level, turn, (rw, rh), flags=cv2.INTER_LINEAR)
    cover = cv2.warpAffine(np.ones((ch, cw), np.float32), turn, (rw, rh), flags=cv2.INTER_LINEAR)[..., None]
    return {"patch": patch, "cover": cover, "turn": turn, "level_size": (cw, ch),
            "box": (pad, pad, pad + w, pad + h), "cap": h}


def build(seed: int, media: Path) -> list[dict]:
    """The images: one turned board with a private string each, :data:`PER_CELL` per angle and height."""
    import cv2

    from veil.realcheck import _pick

    fonts, names, rng, backgrounds = layout_tools(seed, "turned-text-layout", ("tag", "sticker", "card"), media)
    W, H = SIZE
    items = []
    for k, angle in enumerate(ANGLES):
        for j, frac in enumerate(HEIGHTS):
            for i, (kind, text) in enumerate(_strings(seed, PER_CELL, False, f"turned{angle}/{frac}")):
                font, path = fonts[_pick(rng, names)]
                b = _turned_board(text, font, path, frac * H, angle, rng)
                rh, rw = b["patch"].shape[:2]
                bg = backgrounds[(k + j + i) % len(backgrounds)]
                img = cv2.resize(bg, SIZE, interpolation=cv2.INTER_AREA).astype(np.float32)
                px, py = int(rng.integers(10, W - rw - 10)), int(rng.integers(10, H - rh - 10))
                img[py:py + rh, px:px + rw] = img[py:py + rh, px:px + rw] * (1 - b["cover"]) + b["patch"] * b["cover"]
                items.append({"kind": kind, "text": text, "font": font.name, "angle": angle, "height": frac,
                              "image": np.clip(img, 0, 255).astype(np.uint8), "at": (px, py, rw, rh),
                              "turn": b["turn"], "level_size": b["level_size"], "box": b["box"], "cap": b["cap"]})
    return items


def attack(item: dict, protected: np.ndarray, engines: tuple[str, ...] = ("rapidocr",)) -> dict:
    """The board's patch turned back level, then each engine on it; the top-level figures are
    the best over the engines."""
    import cv2

    from veil.data.manifest import PrivateText
    from veil.privacy.pretrained import text_recovery

    px, py, rw, rh = item["at"]
    patch = np.ascontiguousarray(protected[py:py + rh, px:px + rw])
    level = cv2.warpAffine(patch, cv2.invertAffineTransform(item["turn"]), item["level_size"], flags=cv2.INTER_CUBIC)
    texts = [[PrivateText(item["kind"], item["text"], item["box"])]]
    upscale = float(np.clip(32.0 / item["cap"], 1.0, 4.0))
    by_engine = {}
    for engine in engines:
        r = text_recovery([level], texts, engine=engine, upscale=upscale)["items"]
        by_engine[engine] = {"exact": bool(r and r[0]["exact"]), "cer": float(r[0]["cer"]) if r else 1.0}
    return best_reading(by_engine)


def main(argv: list[str] | None = None) -> int:
    args, media = parse_args(__doc__, "runs/bench/turned_text.json", argv)

    import veil
    items = build(args.seed, media)
    print(f"{len(items)} images, one private string each; turned {', '.join(map(str, ANGLES))} degrees; capitals "
          f"at {', '.join(map(str, HEIGHTS))} of the short side", flush=True)
    rows = []
    for spec in ["identity", *(args.anonymizer or [])]:
        anon = veil.load_anonymizer(spec)
        results = [{k: it[k] for k in ("kind", "text", "font", "angle", "height")}
                   | attack(it, anon(it["image"].copy()), args.engines) for it in items]
        cells = []
        for angle in ANGLES:
            for frac in HEIGHTS:
                sel = [r for r in results if r["angle"] == angle and r["height"] == frac]
                cells.append({"angle": angle, "height": frac, "strings": len(sel), "read": sum(r["exact"] for r in sel),
                              "near": sum(r["cer"] <= NEAR_CER for r in sel),
                              "by_engine": {e: sum(r["by_engine"][e]["exact"] for r in sel) for e in args.engines}})
        rows.append({"anonymizer": spec, "cells": cells, "items": results})
        print(f"{spec}: read {sum(r['exact'] for r in results)} of {len(results)} "
              f"(near {sum(r['cer'] <= NEAR_CER for r in results)})", flush=True)
        for c in cells:
            print(f"  {c['angle']:>4} deg, capitals {c['height']:.3f}: {c['read']}/{c['strings']} (near {c['near']}; "
                  + ", ".join(f"{e} {n}" for e, n in c["by_engine"].items()) + ")", flush=True)
    write_results(args.out, {"seed": args.seed, "angles": list(ANGLES), "heights": list(HEIGHTS),
                             "engines": list(args.engines), "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
