"""Turned faces: is a face hidden when the picture is sideways or upside down?

A photo whose orientation tag was lost (many messaging apps strip it), someone lying down, a
picture held upside down: the faces in it are turned a quarter or half turn, and a face
detector trained on upright faces misses the small ones. This check turns real photos (none
in the scenario) by 0, 90, 180 and 270 degrees, protects each, turns the output back upright
(an attacker can), and reports per anonymizer and turn how many of the faces CenterFace finds
on the upright original (score >= 0.5, at least ``--min-face`` px) three detectors still
find (CenterFace, dlib HOG, OpenCV Haar; IoU >= 0.3, on the full image or a crop around the
face, as ``veil eval`` does) and how many dlib still matches to the original (distance <
0.6, dlib's same-person threshold).

    .venv/bin/python benchmarks/turned_faces.py --anonymizer runs/demo/train/model \\
        --anonymizer runs/demo/train/model:upright=true --anonymizer faceblur:sigma=0.3

``MODEL:upright=true`` is the model's run-time dial (docs/protect.md): its guide searches
upright faces only, as before the guide searched turned faces. Writes ``--out`` (default
``runs/bench/turned_faces.json``) atomically.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

TURNS = (0, 90, 180, 270)


def _faces(photos: dict[str, object], min_face: int) -> list[dict[str, object]]:
    """The photos with the faces CenterFace finds upright (score >= 0.5, >= ``min_face`` px)."""
    import numpy as np

    from veil.anonymizers.faceblur import FaceBlur

    det = FaceBlur(threshold=0.5)
    out = []
    for name, img in photos.items():
        img = np.asarray(img)
        boxes = [[float(v) for v in b[:4]] for b in det.detect(img) if b[3] - b[1] >= min_face]
        if boxes:
            out.append({"photo": name, "image": img, "boxes": boxes})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--anonymizer", action="append", help="anonymizer spec or model folder (repeatable)")
    ap.add_argument("--min-face", type=int, default=24, help="smallest face on the original photo, px")
    ap.add_argument("--out", default="runs/bench/turned_faces.json")
    args = ap.parse_args(argv)
    specs = args.anonymizer or ["identity", "faceblur:sigma=0.3"]

    import numpy as np

    import veil
    from veil.fsutil import atomic_write_text
    from veil.privacy.pretrained import face_detection_recall, reidentification
    from veil.threads import limit_threads

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from close_up_faces import _photos  # the same real photos

    limit_threads(2)
    photos = _faces(_photos(Path(os.environ.get("VEIL_MEDIA", ".media"))), args.min_face)
    if not photos:
        print("no face of at least --min-face px on the photos", file=sys.stderr)
        return 1
    total = sum(len(p["boxes"]) for p in photos)
    print(f"{total} faces on {len(photos)} photos ({', '.join(str(p['photo']) for p in photos)})")
    print(f"{'anonymizer':44s} {'turn':>4s} {'centerface':>10s} {'dlib-hog':>8s} {'haar':>5s} {'matched':>7s}")
    rows = []
    for spec in specs:
        anon = veil.load_anonymizer(spec)
        for turn in TURNS:
            k = turn // 90
            originals = [p["image"] for p in photos]
            protected = [np.ascontiguousarray(np.rot90(anon(np.ascontiguousarray(np.rot90(im, k))), -k))
                         for im in originals]
            boxes = [p["boxes"] for p in photos]
            found = {d: face_detection_recall(protected, boxes, detector=d, min_size=0)["hits"]
                     for d in ("centerface", "dlib-hog", "haar")}
            reid = reidentification(originals, protected, boxes, min_size=0)
            rows.append({"anonymizer": spec, "turn": turn, "faces": total, "found": found,
                         "matched": reid["matched"], "distances": [round(d, 3) for d in reid["distances"]]})
            print(f"{spec:44s} {turn:4d} {found['centerface']:>7d}/{total} {found['dlib-hog']:>5d}/{total} "
                  f"{found['haar']:>2d}/{total} {reid['matched']:>4d}/{total}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps({"min_face": args.min_face, "rows": rows}, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
