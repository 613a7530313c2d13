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

``--turns`` takes any angles (degrees, counter-clockwise): a tilted photo (a camera held at
an angle, someone leaning or lying across the frame) is turned on a canvas that holds all of
it (black corners), protected, and turned back. ``--manifest`` adds the small faces of a
street scenario's test and validation items (``--items`` of them; their annotated faces of
at least 10 px), where a detector's reach ends first:

    .venv/bin/python benchmarks/turned_faces.py --anonymizer runs/demo/train/model \
        --turns 0 30 45 60 90 135 180 --manifest data/street/manifest.jsonl --items 40
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

TURNS = (0, 90, 180, 270)


def turn_image(image, turn: float):  # type: ignore[no-untyped-def]
    """``image`` turned ``turn`` degrees counter-clockwise and the function that turns a
    protected copy back: ``np.rot90`` for quarter turns (exact), otherwise an affine turn on
    a canvas that holds the whole photo, its corners black."""
    import cv2
    import numpy as np

    if float(turn) % 90 == 0:
        k = int(turn) // 90
        return np.ascontiguousarray(np.rot90(image, k)), lambda out: np.ascontiguousarray(np.rot90(out, -k))
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), float(turn), 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    cw, ch = int(np.ceil(h * sin + w * cos)), int(np.ceil(h * cos + w * sin))
    m[0, 2] += cw / 2.0 - w / 2.0
    m[1, 2] += ch / 2.0 - h / 2.0
    canvas = cv2.warpAffine(image, m, (cw, ch), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    back = cv2.invertAffineTransform(m)
    return canvas, lambda out: cv2.warpAffine(np.ascontiguousarray(out), back, (w, h), flags=cv2.INTER_LINEAR)


def _street(manifest: Path, n_items: int) -> list[dict[str, object]]:
    """The first ``n_items`` test and validation items of a street manifest with annotated
    faces of at least 10 px, with those faces (the scenario's CenterFace truth)."""
    from veil.data.manifest import load_manifest
    from veil.media import load_item_image

    out: list[dict[str, object]] = []
    for item in load_manifest(manifest):
        faces = [[float(v) for v in f] for f in item.faces if f[3] - f[1] >= 10]
        if item.split in ("test", "val") and faces and len(out) < n_items:
            out.append({"photo": item.id, "image": load_item_image(item), "boxes": faces})
    return out


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
    ap.add_argument("--turns", type=float, nargs="+", default=list(TURNS),
                    help="angles, degrees counter-clockwise (default: 0 90 180 270)")
    ap.add_argument("--manifest", type=Path, help="also a street scenario's small faces (test and val items)")
    ap.add_argument("--items", type=int, default=40, help="street items with --manifest")
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
    if args.manifest is not None:
        photos += _street(args.manifest, args.items)
    if not photos:
        print("no face of at least --min-face px on the photos", file=sys.stderr)
        return 1
    total = sum(len(p["boxes"]) for p in photos)
    print(f"{total} faces on {len(photos)} photos ({', '.join(str(p['photo']) for p in photos)})")
    print(f"{'anonymizer':44s} {'turn':>4s} {'centerface':>10s} {'dlib-hog':>8s} {'haar':>5s} {'matched':>7s}")
    rows = []
    for spec in specs:
        anon = veil.load_anonymizer(spec)
        for turn in args.turns:
            originals = [p["image"] for p in photos]
            protected = []
            for im in originals:
                turned, back = turn_image(np.asarray(im), turn)
                protected.append(back(anon(turned)))
            boxes = [p["boxes"] for p in photos]
            found = {d: face_detection_recall(protected, boxes, detector=d, min_size=0)["hits"]
                     for d in ("centerface", "dlib-hog", "haar")}
            reid = reidentification(originals, protected, boxes, min_size=0)
            rows.append({"anonymizer": spec, "turn": turn, "faces": total, "found": found,
                         "matched": reid["matched"], "distances": [round(d, 3) for d in reid["distances"]]})
            print(f"{spec:44s} {turn:4g} {found['centerface']:>7d}/{total} {found['dlib-hog']:>5d}/{total} "
                  f"{found['haar']:>2d}/{total} {reid['matched']:>4d}/{total}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps({"min_face": args.min_face, "rows": rows}, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
