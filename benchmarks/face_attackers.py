"""Face detectors the face guide does not use, as attackers on the street test split.

The default guide finds faces with CenterFace, and ``veil eval`` attacks with CenterFace too:
a face both miss is counted as hidden. This check attacks the same protected images with
detectors of other families (registered in :data:`veil.privacy.pretrained.FACE_DETECTORS`):
dlib's CNN (MMOD), dlib's HOG, OpenCV's Haar cascade and NudeNet's face classes (YOLOv8),
beside CenterFace, each on the full image and on an upscaled crop around every annotated
face (``face_detection_recall``, search ``both``). Prints, per anonymizer and detector, the
annotated faces found, and writes ``--out`` (default ``runs/bench/face_attackers.json``)
atomically.

    .venv/bin/python benchmarks/face_attackers.py --anonymizer runs/demo/train/model \\
        --anonymizer faceblur:sigma=0.3
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

DETECTORS = ("dlib-cnn", "nudenet", "dlib-hog", "haar", "centerface")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--anonymizer", action="append", help="anonymizer spec or model folder (repeatable)")
    ap.add_argument("--manifest", default=os.environ.get("VEIL_BENCH_MANIFEST", "data/street/manifest.jsonl"))
    ap.add_argument("--split", default="test")
    ap.add_argument("--detector", action="append", choices=DETECTORS, help=f"default: all of {', '.join(DETECTORS)}")
    ap.add_argument("--out", default="runs/bench/face_attackers.json")
    args = ap.parse_args(argv)

    from veil.anonymizers.learned import load_anonymizer
    from veil.data.manifest import load_manifest
    from veil.fsutil import atomic_write_text
    from veil.media import load_item_image
    from veil.privacy.pretrained import face_detection_recall

    items = [it for it in load_manifest(args.manifest) if it.split == args.split and it.faces]
    if not items:
        print(f"{args.manifest}: no item of split {args.split!r} has an annotated face", file=sys.stderr)
        return 2
    images = [load_item_image(it) for it in items]
    faces = [list(it.faces) for it in items]
    detectors = args.detector or list(DETECTORS)
    print(f"{len(items)} images, {sum(map(len, faces))} annotated faces; detectors: {', '.join(detectors)}")
    rows = []
    for spec in ["identity", *(args.anonymizer or ["faceblur:sigma=0.3"])]:
        anonymizer = load_anonymizer(spec)
        protected = [anonymizer(im) for im in images]
        row = {"anonymizer": spec, "found": {}, "total": 0, "seconds": {}}
        for name in detectors:
            t0 = time.perf_counter()
            r = face_detection_recall(protected, faces, detector=name)
            row["found"][name], row["total"] = r["hits"], r["total"]
            row["seconds"][name] = round(time.perf_counter() - t0, 1)
        rows.append(row)
        print(f"{spec:40s} " + "  ".join(f"{n} {row['found'][n]}/{row['total']}" for n in detectors), flush=True)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    atomic_write_text(args.out, json.dumps({"manifest": args.manifest, "split": args.split, "rows": rows}, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
