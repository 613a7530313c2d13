"""Close-up faces: is a face that fills the frame (a selfie, a video call) still hidden?

Faces in the street scenario take up to about a third of the short side; users also send
portraits. This check crops real photos around each face CenterFace finds on the original
(at least ``--min-face`` px), so that the face is 25 %, 40 %, 60 % or 80 % of the crop's
side, resizes every crop to 640 x 640 (``--side``: 3024 for a phone portrait's size) and
protects it. Per anonymizer and framing it reports how many faces three detectors still
find (CenterFace, dlib HOG, OpenCV Haar; IoU >= 0.3 with the face, on the full crop or a
crop around the face, as ``veil eval`` does) and dlib's identity distance to the original
(< 0.6 counts as a match, dlib's same-person threshold). None of the photos is in the scenario.

    .venv/bin/python benchmarks/close_up_faces.py --anonymizer runs/demo/train/model \\
        --anonymizer runs/demo/train/model:face_ref=0 --anonymizer faceblur:sigma=0.3

``MODEL:face_ref=0`` loads a ``guided-policy`` model with its blur tied to the short side
alone (as before framing invariance); ``MODEL:coarse_above=0`` one whose face guide does not
also search the image scaled down (as before large faces were searched so). Writes
``--out`` (default ``runs/bench/close_up_faces.json``) atomically.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

FRAMINGS = (0.25, 0.4, 0.6, 0.8)
SIDE = 640


def _photos(media: Path) -> dict[str, object]:
    import numpy as np
    import skimage.data

    from veil.media import load_image

    photos: dict[str, object] = {"astronaut": skimage.data.astronaut(),
                                 "camera": np.stack([skimage.data.camera()] * 3, axis=-1)}
    for name in ("messi5.jpg", "basketball1.png", "basketball2.png"):
        path = media / "opencv" / "data" / name
        if path.is_file():
            photos[name] = load_image(path)
    return photos


def _crops(photos: dict[str, object], min_face: int, out_side: int = SIDE) -> list[dict[str, object]]:
    """One crop per (photo, face, framing): the face centred, resized to SIDE x SIDE. A face
    is kept only if CenterFace finds it on every unprotected crop (IoU >= 0.3): a small face
    blown up to 640 px is too soft to be a face to any detector, protected or not (checked at
    640 px, where CenterFace finds a whole face of any framing)."""
    import cv2
    import numpy as np

    from veil.anonymizers.faceblur import FaceBlur
    from veil.privacy.pretrained import box_iou

    det = FaceBlur(threshold=0.5)
    out = []
    for name, img in photos.items():
        img = np.asarray(img)
        h, w = img.shape[:2]
        for k, (x1, y1, x2, y2) in enumerate(b[:4] for b in det.detect(img)):
            face = max(x2 - x1, y2 - y1)
            if face < min_face:
                continue
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            mine = []
            for frac in FRAMINGS:
                side = int(min(face / frac, w, h))
                left = int(min(max(0, cx - side / 2), w - side))
                top = int(min(max(0, cy - side / 2), h - side))
                crop = cv2.resize(img[top:top + side, left:left + side], (SIDE, SIDE), interpolation=cv2.INTER_CUBIC)
                s = SIDE / side
                box = [(x1 - left) * s, (y1 - top) * s, (x2 - left) * s, (y2 - top) * s]
                mine.append({"photo": name, "face": k, "framing": frac, "image": crop, "box": box,
                             "actual": round(face / side, 3)})
            seen = [det.detect(c["image"]) for c in mine]
            if all(len(d) and float(box_iou(c["box"], d[:, :4]).max()) >= 0.3 for c, d in zip(mine, seen, strict=True)):
                for c in mine:
                    if out_side != SIDE:
                        f = out_side / SIDE
                        c["image"] = cv2.resize(c["image"], (out_side, out_side), interpolation=cv2.INTER_CUBIC)
                        c["box"] = [v * f for v in c["box"]]
                out.extend(mine)
    return out


def _anonymizer(spec: str):  # noqa: ANN202
    from veil.anonymizers.base import create_anonymizer
    from veil.anonymizers.guides import FaceGuide, guide_parts
    from veil.anonymizers.learned import is_model_path, load_anonymizer

    for key in (":face_ref=", ":coarse_above="):
        path, _, opt = spec.partition(key)
        if opt and is_model_path(path):
            anon = load_anonymizer(path)
            if key == ":face_ref=":
                anon.net.face_ref = float(opt)
            for part in guide_parts(anon.guide) if key == ":coarse_above=" else ():
                if isinstance(part, FaceGuide):
                    part.coarse_above = int(opt)
            return anon
    return create_anonymizer(spec)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--anonymizer", action="append", help="anonymizer spec or model folder (repeatable)")
    ap.add_argument("--min-face", type=int, default=40, help="smallest face on the original photo, px")
    ap.add_argument("--side", type=int, default=SIDE, help="side of the protected crops, px (3024: a phone portrait)")
    ap.add_argument("--out", default="runs/bench/close_up_faces.json")
    args = ap.parse_args(argv)
    specs = args.anonymizer or ["identity", "faceblur:sigma=0.3"]

    from veil.fsutil import atomic_write_text
    from veil.privacy.pretrained import face_detection_recall, reidentification
    from veil.threads import limit_threads

    limit_threads(2)
    crops = _crops(_photos(Path(os.environ.get("VEIL_MEDIA", ".media"))), args.min_face, args.side)
    if not crops:
        print("no face of at least --min-face px on the photos", file=sys.stderr)
        return 1
    rows = []
    print(f"{len(crops) // len(FRAMINGS)} faces x {len(FRAMINGS)} framings, {args.side} x {args.side}")
    print(f"{'anonymizer':44s} {'framing':>7s} {'centerface':>10s} {'dlib-hog':>8s} {'haar':>5s} "
          f"{'matched':>7s} {'min dist':>8s}")
    for spec in specs:
        anon = _anonymizer(spec)
        for frac in FRAMINGS:
            sel = [c for c in crops if c["framing"] == frac]
            originals = [c["image"] for c in sel]
            protected = [anon(im) for im in originals]
            boxes = [[c["box"]] for c in sel]
            found = {d: face_detection_recall(protected, boxes, detector=d)["hits"]
                     for d in ("centerface", "dlib-hog", "haar")}
            reid = reidentification(originals, protected, boxes, min_size=0)
            row = {"anonymizer": spec, "framing": frac, "faces": len(sel), "found": found,
                   "matched": reid["matched"], "distances": [round(d, 3) for d in reid["distances"]]}
            rows.append(row)
            print(f"{spec:44s} {frac:7.2f} {found['centerface']:>7d}/{len(sel)} {found['dlib-hog']:>5d}/{len(sel)} "
                  f"{found['haar']:>2d}/{len(sel)} {reid['matched']:>4d}/{len(sel)} {min(reid['distances']):8.3f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps({"side": args.side, "min_face": args.min_face, "rows": rows}, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
