"""Latency of the reference black boxes (perception-model stand-ins) per question family.

Builds 640x480 images from the embedded media (vtest frames, the scene-text photos,
basketball), asks every family about every image (after a warm-up), and prints the
median and 90th-percentile latency per family and overall, for each variant. Every
image gets one question of each family, so "all" is the one-third-per-family mix. The
perception cache is off, so each query runs its models. The machine is shared: the load
average is printed next to the numbers.

    .venv/bin/python benchmarks/blackbox_latency.py [--media .media] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from veil.blackbox import create_blackbox
from veil.data.questions import COUNT_CHOICES, QUESTIONS, YES_NO, format_prompt
from veil.media import load_image, read_frames
from veil.registry import parse_spec

SIGN_CHOICES = ("BUS STOP", "SPORTS CENTRE", "DOUBLE PARKING PROHIBITED", "NO PARKING")
PROMPTS = {
    "count": format_prompt(QUESTIONS["count"], COUNT_CHOICES),
    "presence": format_prompt(QUESTIONS["presence"], YES_NO),
    "sign": format_prompt(QUESTIONS["sign"], SIGN_CHOICES),
}
SIZE = (640, 480)


def fit_640x480(image: np.ndarray) -> np.ndarray:
    """Centre-crop to 4:3 and resize to 640x480."""
    h, w = image.shape[:2]
    if w * 3 > h * 4:
        cw = h * 4 // 3
        image = image[:, (w - cw) // 2 : (w - cw) // 2 + cw]
    else:
        ch = w * 3 // 4
        image = image[(h - ch) // 2 : (h - ch) // 2 + ch]
    interp = cv2.INTER_AREA if image.shape[1] > SIZE[0] else cv2.INTER_LINEAR
    return np.ascontiguousarray(cv2.resize(image, SIZE, interpolation=interp))


def build_images(media: Path) -> list[tuple[str, np.ndarray]]:
    """The benchmark's images: 6 vtest frames, 6 scene-text photos, 2 basketball frames."""
    root = media / "opencv"
    frames = read_frames(root / "data" / "vtest.avi", [0, 150, 300, 450, 600, 750])
    images = [(f"vtest{i}", fit_640x480(f)) for i, f in sorted(frames.items())]
    images += [(f"scenetext0{i}", fit_640x480(load_image(root / "text" / f"scenetext0{i}.jpg"))) for i in range(1, 7)]
    images += [(f"basketball{i}", fit_640x480(load_image(root / "data" / f"basketball{i}.png"))) for i in (1, 2)]
    return images


def measure(spec: str, images: list[tuple[str, np.ndarray]], repeats: int) -> dict[str, list[float]]:
    """Milliseconds per query, per family, for a black box spec such as ``reference`` or
    ``reference:hog_scale=1.25,face_size=256``."""
    name, kwargs = parse_spec(spec)
    bb = create_blackbox(name, **{"cache_size": 0, **kwargs})
    for prompt in PROMPTS.values():  # warm-up: builds every model once
        bb.query([images[0][1]], prompt)
    times: dict[str, list[float]] = {fam: [] for fam in PROMPTS}
    for _ in range(repeats):
        for _label, im in images:
            for fam, prompt in PROMPTS.items():
                t = time.perf_counter()
                bb.query([im], prompt)
                times[fam].append((time.perf_counter() - t) * 1000.0)
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--media", default=os.environ.get("VEIL_MEDIA", ".media"), help="media folder (make media)")
    ap.add_argument("--repeats", type=int, default=3, help="passes over the images")
    ap.add_argument("--variants", nargs="+", default=["reference", "reference-b"],
                    help="black boxes to time, as NAME or NAME:key=value,... (e.g. reference:hog_scale=1.25)")
    args = ap.parse_args()
    media = Path(args.media)
    if not (media / "opencv" / "data" / "vtest.avi").is_file():
        print(f"media not found under {media}/opencv: run `make media` or pass --media", file=sys.stderr)
        return 2
    images = build_images(media)
    print(f"{len(images)} images of 640x480, {args.repeats} passes, perception cache off; "
          f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    width = max(13, *(len(v) for v in args.variants))
    print(f"{'black box':<{width}} {'family':<9} {'n':>4} {'median ms':>10} {'p90 ms':>8}")
    for spec in args.variants:
        times = measure(spec, images, args.repeats)
        allt = [t for v in times.values() for t in v]
        for fam, v in [*times.items(), ("all", allt)]:
            print(f"{spec:<{width}} {fam:<9} {len(v):>4} {np.median(v):>10.1f} {np.percentile(v, 90):>8.1f}")
    print(f"cv2 threads: {cv2.getNumThreads()}; load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
