"""Machine-readable codes in an image: QR, Aztec, PDF417, Data Matrix and linear barcodes.

A code is private text that no OCR reads and any phone decodes: the barcode of a boarding
pass holds the passenger's name and booking reference, a ticket's or a parcel label's holds
an order or a tracking number, a health certificate's the holder's name and date of birth.
Blurring the text beside it does nothing to it. :func:`find_codes` locates every code the
ZXing decoder (``zxing-cpp``) can read, in any orientation and light-on-dark too, so a guide
can hide it as an ID (:class:`veil.anonymizers.guides.TextCategoryGuide`).

Codes that decode are found, and QR, Aztec and PDF417 symbols that ZXing locates but misreads
(:func:`find_codes`); a code too small, blurred or cut for ZXing even to locate is left.

Example:
    >>> find_codes(np.full((64, 64, 3), 255, np.uint8))
    []
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["Code", "find_codes", "code_box"]

#: A code's region is at least this wide for its length: ZXing locates a linear barcode by
#: the rows it scanned, which can be a thin band of the bars (a long Data Matrix gets a margin).
MIN_ASPECT = 0.3


#: Symbologies whose located-but-unread symbols count as codes (see :func:`find_codes`).
LOCATED_FORMATS = frozenset({"QRCode", "MicroQRCode", "RMQRCode", "Aztec", "PDF417", "CompactPDF417", "MicroPDF417"})
#: Images up to this short side are also searched for linear barcodes at twice their size.
UPSCALE_MAX_SIDE = 1080


@dataclass(frozen=True)
class Code:
    """One decoded code.

    Attributes:
        poly: (4, 2) float32 corners in pixels (top-left, top-right, bottom-right,
            bottom-left of the code as ZXing read it).
        format: ZXing's name of the symbology (``QRCode``, ``Aztec``, ``PDF417``, ...).
        text: the decoded content, empty for a symbol located but not read (for checks;
            never logged).
    """

    poly: np.ndarray
    format: str
    text: str


def find_codes(image: np.ndarray) -> list[Code]:
    """Every code ZXing locates in an RGB or grey uint8 image, any symbology, turned or
    inverted; each region at least :data:`MIN_ASPECT` as wide as long (:func:`code_box`).

    Besides the codes that decode: QR, Aztec and PDF417 symbols that ZXing locates but reads
    with a checksum error (another decoder, or the same one on an upscaled crop, may read
    them; their finder and start patterns make such a find reliable, where a Data Matrix's
    L-shaped edge is matched by window frames: 4 such finds on the street photos), and, on
    images up to :data:`UPSCALE_MAX_SIDE` px on the short side, linear barcodes decoded on
    the image upscaled 2x (thin bars that JPEG and scaling softened below the decoder's
    reach at the image's own size)."""
    import zxingcpp

    img = np.asarray(image)
    grey = np.ascontiguousarray(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if img.ndim == 3 else img, dtype=np.uint8)
    found = [(b, 1.0) for b in zxingcpp.read_barcodes(grey, return_errors=True)
             if b.valid or _format(b) in LOCATED_FORMATS]
    if min(grey.shape[:2]) <= UPSCALE_MAX_SIDE:
        big = cv2.resize(grey, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
        found += [(b, 0.5) for b in zxingcpp.read_barcodes(big, formats=zxingcpp.AllLinear)]
    out = []
    for b, scale in found:
        p = b.position
        corners = [[q.x, q.y] for q in (p.top_left, p.top_right, p.bottom_right, p.bottom_left)]
        out.append(Code(code_box(np.array(corners, np.float32) * scale), _format(b), str(b.text) if b.valid else ""))
    return out


def _format(barcode: object) -> str:
    f = barcode.format  # type: ignore[attr-defined]
    return str(getattr(f, "name", f))


def code_box(poly: np.ndarray, min_aspect: float = MIN_ASPECT) -> np.ndarray:
    """The code's rotated rectangle (4, 2), its short side at least ``min_aspect`` x its long one."""
    (cx, cy), (w, h), angle = cv2.minAreaRect(np.asarray(poly, np.float32).reshape(-1, 2))
    long = max(w, h, 1.0)
    w, h = (w, max(h, min_aspect * long)) if w >= h else (max(w, min_aspect * long), h)
    return cv2.boxPoints(((cx, cy), (w, h), angle)).astype(np.float32)
