"""Machine-readable codes: does a boarding pass's barcode still decode after protection?

A boarding pass's barcode holds the passenger's name and booking reference, a ticket's or a
parcel label's an order or tracking number; any phone decodes it, so hiding the printed
name beside it protects nothing. This check pastes codes with such payloads (an IATA-style
boarding-pass string with a generated name and booking reference, a ticket URL with a
token, a parcel tracking number) onto real photos (opencv-doc and scikit-image samples scaled to 1024x768),
as QR, Aztec, PDF417, Data Matrix and Code 128, on a white label with its quiet zone, at
four sizes (the code's long side 12 %, 25 %, 45 % and 70 % of the photo's short side),
turned by 0 to 30 degrees or a quarter turn, saved as JPEG quality 85. Per anonymizer it
reports how many payloads are read back exactly by:

* ZXing (``zxing-cpp``, every symbology, turned and inverted codes): on the whole image,
  and on a crop around the label upscaled 2x (an attacker who knows where to look);
* OpenCV's own decoders (QR: ``QRCodeDetector``; linear: ``barcode.BarcodeDetector``), a
  second implementation the guide does not use.

    .venv/bin/python benchmarks/codes.py --anonymizer runs/demo/train/model \\
        --anonymizer runs/demo/train/model:nocodes --anonymizer faceblur

``MODEL:nocodes`` loads a detector-guided model whose guide does not look for codes (as
before it did). Writes ``--out`` (default ``runs/bench/codes.json``) atomically.
"""

from __future__ import annotations

import argparse
import json
import os
import string
import sys
from pathlib import Path

FORMATS = ("QRCode", "Aztec", "PDF417", "DataMatrix", "Code128")
SIZES = (0.12, 0.25, 0.45, 0.7)
PHOTOS = ("messi5.jpg", "basketball1.png", "licenseplate_motion.jpg")  # opencv-doc, under --media
SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")  # bundled with scikit-image


def _payload(rng, kind: str) -> str:  # noqa: ANN001
    from veil.realcheck import make_name

    ref = "".join(rng.choice(list(string.ascii_uppercase + string.digits), 6))
    if kind == "pass":
        first, _, last = make_name(rng).upper().partition(" ")
        return f"M1{last}/{first:<12s}E{ref} LHRJFKBA 0117 {int(rng.integers(1, 366)):03d}Y014C0042 100"[:60]
    if kind == "ticket":
        return f"https://tickets.example.com/t/{ref.lower()}{int(rng.integers(10**7, 10**8))}"
    return f"JD{int(rng.integers(10**15, 10**16))}{ref}"


def _label(code, rng):  # noqa: ANN001, ANN202
    """The code on a white label with a quiet zone of 4 modules, as a (H, W) uint8 array."""
    import numpy as np

    img = np.asarray(code.to_image(scale=1, add_quiet_zones=True))
    return np.pad(img, 4, constant_values=255)


def _scenes(media: Path, seed: int) -> list[dict[str, object]]:
    import cv2
    import numpy as np
    import skimage.data
    import zxingcpp

    from veil.media import load_image

    rng = np.random.default_rng(seed)
    photos = [load_image(media / "opencv" / "data" / p) for p in PHOTOS if (media / "opencv" / "data" / p).is_file()]
    photos += [getattr(skimage.data, name)() for name in SKIMAGE_PHOTOS]
    photos = [cv2.resize(p, (1024, 768), interpolation=cv2.INTER_AREA) for p in photos]
    scenes = []
    kinds = ("pass", "ticket", "parcel")
    for fi, fmt in enumerate(FORMATS):
        for si, size in enumerate(SIZES):
            for turn_i, turn in enumerate((0, 12, 30, 90)):
                photo = photos[(fi * 7 + si * 3 + turn_i) % len(photos)].copy()
                payload = _payload(rng, kinds[(fi + si + turn_i) % 3])
                label = _label(zxingcpp.create_barcode(payload, getattr(zxingcpp.BarcodeFormat, fmt)), rng)
                short = min(photo.shape[:2])
                scale = size * short / max(label.shape)
                label = cv2.resize(label, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
                if turn == 90:
                    label = np.ascontiguousarray(np.rot90(label))
                    mask = np.full(label.shape, 255, np.uint8)
                else:
                    h, w = label.shape
                    diag = int(np.ceil(np.hypot(h, w)))
                    m = cv2.getRotationMatrix2D((w / 2, h / 2), turn, 1.0)
                    m[:, 2] += [(diag - w) / 2, (diag - h) / 2]
                    mask = cv2.warpAffine(np.full((h, w), 255, np.uint8), m, (diag, diag))
                    label = cv2.warpAffine(label, m, (diag, diag), flags=cv2.INTER_LINEAR, borderValue=255)
                h, w = label.shape
                if h >= photo.shape[0] or w >= photo.shape[1]:
                    continue
                y = int(rng.integers(0, photo.shape[0] - h))
                x = int(rng.integers(0, photo.shape[1] - w))
                roi = photo[y:y + h, x:x + w]
                alpha = (mask > 127)[..., None]
                photo[y:y + h, x:x + w] = np.where(alpha, label[..., None], roi)
                ok, jpg = cv2.imencode(".jpg", cv2.cvtColor(photo, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
                photo = cv2.cvtColor(cv2.imdecode(jpg, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
                scenes.append({"format": fmt, "size": size, "turn": turn, "payload": payload, "image": photo,
                               "box": [x, y, x + w, y + h]})
    return scenes


def _read(image, box) -> dict[str, set[str]]:  # noqa: ANN001
    """What each attacker decodes: ZXing on the image and on the label's crop upscaled 2x;
    OpenCV's QR and linear decoders."""
    import cv2
    import numpy as np
    import zxingcpp

    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    x1, y1, x2, y2 = box
    pad = max(x2 - x1, y2 - y1) // 4
    crop = grey[max(0, y1 - pad):y2 + pad, max(0, x1 - pad):x2 + pad]
    crop = cv2.resize(crop, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    out = {"zxing": {b.text for b in zxingcpp.read_barcodes(np.ascontiguousarray(grey))},
           "zxing-crop": {b.text for b in zxingcpp.read_barcodes(np.ascontiguousarray(crop))}}
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    found: set[str] = set()
    try:
        ok, texts, _, _ = cv2.QRCodeDetector().detectAndDecodeMulti(bgr)
        found |= {t for t in texts if t} if ok else set()
    except cv2.error:
        pass
    try:
        ok, texts, _, _ = cv2.barcode.BarcodeDetector().detectAndDecodeWithType(bgr)
        found |= {t for t in texts if t} if ok else set()
    except (cv2.error, ValueError):
        pass
    out["opencv"] = found
    return out


def _anonymizer(spec: str):  # noqa: ANN202
    import veil
    from veil.anonymizers.guides import TextCategoryGuide, guide_parts
    from veil.anonymizers.learned import is_model_path

    path, _, opt = spec.partition(":")
    if opt == "nocodes" and is_model_path(path):
        anon = veil.load_anonymizer(path)
        for part in guide_parts(anon.guide):
            if isinstance(part, TextCategoryGuide):
                part.codes = lambda image: []  # type: ignore[method-assign]
        return anon
    return veil.load_anonymizer(spec)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--anonymizer", action="append", help="anonymizer spec or model folder (repeatable)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/bench/codes.json")
    args = ap.parse_args(argv)
    specs = ["identity", *(args.anonymizer or ["faceblur"])]

    from veil.fsutil import atomic_write_text
    from veil.threads import limit_threads

    limit_threads(2)
    scenes = _scenes(Path(os.environ.get("VEIL_MEDIA", ".media")), args.seed)
    print(f"{len(scenes)} codes ({', '.join(FORMATS)}; long side {', '.join(f'{s:.0%}' for s in SIZES)} "
          "of the short side; 1024x768 photos)")
    attackers = ("zxing", "zxing-crop", "opencv")
    rows = []
    for spec in specs:
        anon = _anonymizer(spec)
        per = []
        for sc in scenes:
            out = anon(sc["image"])
            read = _read(out, sc["box"])
            per.append({"format": sc["format"], "size": sc["size"], "turn": sc["turn"],
                        **{a: sc["payload"] in read[a] for a in attackers}})
        rows.append({"anonymizer": spec, "codes": per})
        any_read = [any(p[a] for a in attackers) for p in per]
        print(f"\n{spec}: {sum(any_read)}/{len(per)} payloads read by any attacker "
              + ", ".join(f"{a} {sum(p[a] for p in per)}" for a in attackers))
        print(f"  {'format':11s} " + " ".join(f"{s:>6.0%}" for s in SIZES))
        for fmt in FORMATS:
            cells = []
            for s in SIZES:
                sel = [r for r, p in zip(any_read, per, strict=True) if p["format"] == fmt and p["size"] == s]
                cells.append(f"{sum(sel)}/{len(sel)}" if sel else "-")
            print(f"  {fmt:11s} " + " ".join(f"{c:>6s}" for c in cells))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps({"seed": args.seed, "rows": rows}, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
