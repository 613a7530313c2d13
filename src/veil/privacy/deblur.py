"""A deblurring attacker: Wiener deconvolution before OCR.

A Gaussian blur is a linear filter, so an attacker who knows (or guesses) its width can try to
invert it: divide the image's spectrum by the blur's and read what comes back. What stops it
is the 8-bit rounding of the image Veil sends: the blur multiplies the frequency ``f``
(cycles per pixel) by ``exp(-2 pi^2 sigma^2 f^2)``, and where that leaves less than a grey
level of signal the detail is gone for good. Strokes of text ``h`` pixels tall sit near
``f = 1 / h``, so a blur of a few tenths of the text's height is beyond any deconvolution;
a light blur (one or two pixels on large text) is not. :func:`deblur_recovery` measures this
on real images: it deconvolves the window around each private string with a grid of widths
and balances (the attacker does not know them) and counts a string read when any attempt
gives it back, the same test as :func:`~veil.privacy.pretrained.text_recovery`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from veil.data.manifest import PrivateText
from veil.errors import ConfigError

if TYPE_CHECKING:
    from veil.privacy.pretrained import OcrEngine

__all__ = ["DEFAULT_BALANCES", "DEFAULT_SIGMAS", "deblur_recovery", "gaussian_psf", "wiener_deblur"]

#: Blur widths (pixels) the attacker tries.
DEFAULT_SIGMAS = (1.0, 2.0, 3.0, 5.0, 8.0, 12.0)
#: Wiener balances (noise-to-signal) tried per width: sharper and noisier, smoother and safer.
DEFAULT_BALANCES = (0.002, 0.02)


def gaussian_psf(sigma: float) -> np.ndarray:
    """Normalised 2D Gaussian of ``2 ceil(3 sigma) + 1`` pixels a side (sums to 1)."""
    if not sigma > 0:
        raise ConfigError(f"sigma must be > 0, got {sigma}")
    r = max(1, math.ceil(3.0 * sigma))
    t = np.arange(-r, r + 1, dtype=np.float64)
    g = np.exp(-0.5 * (t / sigma) ** 2)
    k = np.outer(g, g)
    return k / k.sum()


def wiener_deblur(image: np.ndarray, sigma: float, balance: float = 0.01) -> np.ndarray:
    """``image`` (uint8, grey or RGB) deconvolved by a Gaussian of width ``sigma`` with a
    Wiener filter of ``balance`` (larger: smoother); uint8 of the same shape. Edges are padded
    by reflection so the circular deconvolution does not wrap one side onto the other."""
    from skimage.restoration import wiener

    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ConfigError(f"wiener_deblur needs a uint8 grey or RGB image, got {image.dtype} {image.shape}")
    if not balance > 0:
        raise ConfigError(f"balance must be > 0, got {balance}")
    psf = gaussian_psf(sigma)
    pad = psf.shape[0]
    planes = image[..., None] if image.ndim == 2 else image
    out = np.empty(planes.shape, np.float64)
    for c in range(planes.shape[2]):
        p = np.pad(planes[..., c].astype(np.float64) / 255.0, pad, mode="reflect")
        out[..., c] = wiener(p, psf, balance, clip=False)[pad:-pad, pad:-pad]
    res = np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)
    return res[..., 0] if image.ndim == 2 else res


def deblur_recovery(
    images: Sequence[np.ndarray],
    private_texts: Sequence[Sequence[PrivateText | Mapping[str, Any]]],
    engine: str | OcrEngine = "rapidocr",
    sigmas: Sequence[float] = DEFAULT_SIGMAS,
    balances: Sequence[float] = DEFAULT_BALANCES,
    upscale: float = 2.0,
) -> dict[str, Any]:
    """How many private strings OCR reads after Wiener deconvolution of the window around
    each (every width in ``sigmas`` and balance in ``balances``; the best attempt counts).

    Each window is the string's box grown by its height and by ``3 sigma`` per side, so the
    blur's spread is inside it; the deconvolved window is read by
    :func:`~veil.privacy.pretrained.text_recovery` (crop upscaled ``upscale`` times, also read
    as a single line). Returns the same summary as ``text_recovery`` (``exact``, ``total``,
    ``exact_rate``, ``cer``, ``per_kind``, ``items``), each item with the ``sigma`` and
    ``balance`` of its best attempt (None when no attempt read anything closer than the
    blurred window itself, the first attempt).
    """
    from veil.privacy.pretrained import _as_private_text, get_ocr_engine, recovery_summary, text_recovery

    if len(private_texts) != len(images):
        raise ConfigError(f"deblur_recovery: got {len(private_texts)} text lists for {len(images)} images")
    if not sigmas or not balances:
        raise ConfigError("deblur_recovery needs at least one sigma and one balance")
    ocr = get_ocr_engine(engine)
    items: list[dict[str, Any]] = []
    for image, texts in zip(images, private_texts, strict=True):
        h, w = image.shape[:2]
        for raw in texts:
            t = _as_private_text(raw)
            x1, y1, x2, y2 = (float(v) for v in t.box)
            grow = (y2 - y1) + 3.0 * max(sigmas)
            x0, y0 = max(0, math.floor(x1 - grow)), max(0, math.floor(y1 - grow))
            xe, ye = min(w, math.ceil(x2 + grow)), min(h, math.ceil(y2 + grow))
            if xe <= x0 or ye <= y0:
                continue
            window = np.ascontiguousarray(image[y0:ye, x0:xe])
            local = PrivateText(t.kind, t.text, (x1 - x0, y1 - y0, x2 - x0, y2 - y0))
            best: dict[str, Any] | None = None
            for s, b in [(None, None), *((s, b) for s in sigmas for b in balances)]:
                img = window if s is None else wiener_deblur(window, s, b)  # each only when still unread
                r = text_recovery([img], [[local]], engine=ocr, upscale=upscale)["items"]
                if not r:
                    break  # nothing left of the string after normalisation
                rec = {**r[0], "sigma": s, "balance": b}
                if best is None or (rec["exact"], -rec["cer"]) > (best["exact"], -best["cer"]):
                    best = rec
                if best["exact"]:
                    break
            if best is not None:
                items.append(best)
    return recovery_summary(items)
