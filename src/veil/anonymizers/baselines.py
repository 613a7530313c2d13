"""Parametric baseline anonymizers: identity, Gaussian blur, pixelation, downsampling, noise.

Each baseline has one strength keyword (``strength_param``) and a default sweep
(``default_strengths``, mild to strong) so the evaluation can draw every method at several
strengths on one utility-vs-privacy plot (METHOD.md §3). All are deterministic, keep the
input's shape and dtype, and work on images smaller than their kernel or block.
"""

from __future__ import annotations

import hashlib
import math
import numbers
from collections.abc import Sequence
from typing import Any, ClassVar

import cv2
import numpy as np

from veil.anonymizers.base import ANONYMIZERS, Anonymizer
from veil.errors import ConfigError

#: Registered names of the baselines, in the order the demo shows them.
BASELINE_NAMES: tuple[str, ...] = (
    "identity", "blur", "pixelate", "downsample", "noise", "faceblur",
)

#: Above this sigma (pixels) ``gaussian_blur`` blurs a downscaled copy instead (same look,
#: a fraction of the cost: an exact sigma of 64 takes ~160 ms on 640x480).
EXACT_SIGMA_MAX = 8.0


def check_number(
    owner: str,
    param: str,
    value: Any,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_min: bool = False,
    integer: bool = False,
    unit: str = "",
) -> Any:
    """Validate a numeric keyword argument; return it as a Python int or float.

    Raises:
        ConfigError: naming ``owner``, ``param``, the allowed range and the bad value.
    """
    lo = "" if minimum is None else (f"> {minimum:g}" if exclusive_min else f">= {minimum:g}")
    hi = "" if maximum is None else f"<= {maximum:g}"
    kind = "an integer" if integer else "a number"
    allowed = f"{kind} {' and '.join(filter(None, (lo, hi)))}".strip()
    allowed += f" ({unit})" if unit else ""

    def fail() -> ConfigError:
        return ConfigError(f"{owner}: {param} must be {allowed}, got {value!r}")

    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise fail()
    x = float(value)
    if not math.isfinite(x) or (integer and not x.is_integer()):
        raise fail()
    if minimum is not None and (x <= minimum if exclusive_min else x < minimum):
        raise fail()
    if maximum is not None and x > maximum:
        raise fail()
    if integer or isinstance(value, numbers.Integral):
        return int(value)
    return x


def _exact_blur(image: np.ndarray, sigma_x: float, sigma_y: float) -> np.ndarray:
    """``cv2.GaussianBlur`` with kernel ``2*ceil(3*sigma)+1`` and mirrored borders, computed
    in floating point and rounded once.

    OpenCV blurs 8-bit images with a fixed-point kernel whose rounding leaves a faint copy
    of the sharp image in the output: deconvolution reads text back through a blur that a
    true Gaussian makes irreversible (bars 8 px apart under a 6 px blur: correlation 0.99
    with the original after Wiener deconvolution from the 8-bit path, 0.07 from this one;
    ``tests/privacy/test_deblur.py``).

    Borders mirror with the edge pixel repeated (``BORDER_REFLECT``), so the blur keeps
    the image mean even when the kernel is wider than the image. A sigma above 4x the
    image side is clamped there: the mirrored image repeats with period 2x the side, so
    such a blur is already flat (the mean) to far below one grey level.
    """
    h, w = image.shape[:2]
    sx, sy = min(sigma_x, 4.0 * w), min(sigma_y, 4.0 * h)
    kx, ky = (2 * math.ceil(3 * v) + 1 if v > 0 else 1 for v in (sx, sy))
    out = cv2.GaussianBlur(image.astype(np.float32), (kx, ky), sigmaX=max(sx, 1e-3), sigmaY=max(sy, 1e-3),
                           borderType=cv2.BORDER_REFLECT)
    if image.dtype == np.uint8:
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return out.astype(image.dtype)


def gaussian_blur(image: np.ndarray, sigma_x: float, sigma_y: float | None = None) -> np.ndarray:
    """Gaussian blur with standard deviations in pixels, for any image size.

    Exact (``cv2.GaussianBlur``, kernel ``2*ceil(3*sigma)+1``, mirrored borders) up to
    ``EXACT_SIGMA_MAX``; above it, the image is area-downscaled so the residual sigma is
    about 8 px, blurred, and bilinearly upscaled (the scaling's own spread is accounted
    for): mean error about 0.3 grey levels, at the cost of a small blur.

    Args:
        image: (H, W, C) or (H, W) uint8 array.
        sigma_x: horizontal standard deviation in pixels (0: none).
        sigma_y: vertical standard deviation in pixels; ``sigma_x`` when None.

    Returns:
        A new array of the same shape and dtype.
    """
    sigma_y = sigma_x if sigma_y is None else sigma_y
    if sigma_x <= 0 and sigma_y <= 0:
        return image.copy()
    if max(sigma_x, sigma_y) <= EXACT_SIGMA_MAX:
        return _exact_blur(image, sigma_x, sigma_y)
    h, w = image.shape[:2]
    sw = max(1, round(w / max(1.0, sigma_x / 8.0)))
    sh = max(1, round(h / max(1.0, sigma_y / 8.0)))
    fx, fy = w / sw, h / sh
    small = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA)
    # Area averaging (variance f^2/12) and bilinear upscaling (f^2/6) already spread by f^2/4.
    rx = math.sqrt(max(sigma_x**2 - fx**2 / 4, 0.0)) / fx
    ry = math.sqrt(max(sigma_y**2 - fy**2 / 4, 0.0)) / fy
    small = _exact_blur(small, rx, ry)
    out = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    return out.reshape(image.shape)


@ANONYMIZERS.register("identity")
class Identity(Anonymizer):
    """No protection: returns a copy of the input (the utility upper bound)."""

    name: ClassVar[str] = "identity"

    def apply(self, image: np.ndarray) -> np.ndarray:
        return image.copy()


@ANONYMIZERS.register("blur")
class GaussianBlur(Anonymizer):
    """Blur the whole image with a Gaussian of standard deviation ``sigma`` pixels.

    Exact up to ``EXACT_SIGMA_MAX`` pixels; above it a multiresolution approximation
    (mean error about 0.3 grey levels) keeps large sigmas as fast as small ones.

    Args:
        sigma: standard deviation in pixels, >= 0 (0 leaves the image unchanged).

    Example:
        >>> GaussianBlur(sigma=8)(np.zeros((4, 5, 3), np.uint8)).shape
        (4, 5, 3)
    """

    name: ClassVar[str] = "blur"
    strength_param: ClassVar[str | None] = "sigma"
    default_strengths: ClassVar[tuple[float, ...]] = (2, 5, 12)

    def __init__(self, sigma: float = 4) -> None:
        self.sigma = check_number(self.name, "sigma", sigma, minimum=0, unit="pixels")

    def apply(self, image: np.ndarray) -> np.ndarray:
        return gaussian_blur(image, self.sigma)


@ANONYMIZERS.register("pixelate")
class Pixelate(Anonymizer):
    """Replace each ``block`` x ``block`` tile (from the top-left) by its mean colour.

    Tiles cut by the right or bottom edge average only the pixels they hold, so the
    result is exact for any image size (a block larger than the image gives its mean).

    Args:
        block: tile side in pixels, an integer >= 1 (1 leaves the image unchanged).
    """

    name: ClassVar[str] = "pixelate"
    strength_param: ClassVar[str | None] = "block"
    default_strengths: ClassVar[tuple[float, ...]] = (4, 8, 16)

    def __init__(self, block: int = 8) -> None:
        self.block = check_number(self.name, "block", block, minimum=1, integer=True, unit="pixels")

    def apply(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        b = self.block
        if b == 1:
            return image.copy()
        rows, cols = np.arange(0, h, b), np.arange(0, w, b)
        sums = np.add.reduceat(np.add.reduceat(image, rows, axis=0, dtype=np.uint32), cols, axis=1)
        nr = np.diff(rows, append=h)
        nc = np.diff(cols, append=w)
        counts = (nr[:, None] * nc[None, :])[:, :, None].astype(np.uint32)
        means = ((sums + counts // 2) // counts).astype(np.uint8)
        return np.repeat(np.repeat(means, nr, axis=0), nc, axis=1)


@ANONYMIZERS.register("downsample")
class Downsample(Anonymizer):
    """Lose detail by resolution: area-downscale by ``factor``, then bilinear upscale back.

    Unlike ``pixelate`` the result is smooth (no visible tiles), like a low-resolution
    camera.

    Args:
        factor: downscaling factor, a number > 1 (non-integers allowed).
    """

    name: ClassVar[str] = "downsample"
    strength_param: ClassVar[str | None] = "factor"
    default_strengths: ClassVar[tuple[float, ...]] = (2, 4, 8)

    def __init__(self, factor: float = 4) -> None:
        self.factor = check_number(self.name, "factor", factor, minimum=1, exclusive_min=True)

    def apply(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        small = (max(1, round(w / self.factor)), max(1, round(h / self.factor)))
        low = cv2.resize(image, small, interpolation=cv2.INTER_AREA)
        return cv2.resize(low, (w, h), interpolation=cv2.INTER_LINEAR).reshape(image.shape)


@ANONYMIZERS.register("noise")
class GaussianNoise(Anonymizer):
    """Add Gaussian noise of standard deviation ``std`` (0-255 units), clipped to [0, 255].

    The noise is seeded by ``seed`` and a hash of the image, so the same image always
    gets the same noise (repeatable, cacheable black-box queries) while different images
    get different noise.

    Args:
        std: noise standard deviation in 0-255 units, >= 0 (0 leaves the image unchanged).
        seed: non-negative integer seed.
    """

    name: ClassVar[str] = "noise"
    strength_param: ClassVar[str | None] = "std"
    default_strengths: ClassVar[tuple[float, ...]] = (10, 30, 80)

    def __init__(self, std: float = 25, seed: int = 0) -> None:
        self.std = check_number(self.name, "std", std, minimum=0, unit="0-255 units")
        self.seed = check_number(self.name, "seed", seed, minimum=0, integer=True)

    def apply(self, image: np.ndarray) -> np.ndarray:
        if self.std == 0:
            return image.copy()
        h = hashlib.blake2b(np.asarray(image.shape, np.int64).tobytes(), digest_size=8)
        h.update(np.ascontiguousarray(image).data)
        rng = np.random.default_rng([self.seed, int.from_bytes(h.digest(), "little")])
        noisy = rng.standard_normal(image.shape, dtype=np.float32)
        noisy *= np.float32(self.std)
        noisy += image
        return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def baseline_sweep(names: Sequence[str] | None = None) -> list[str]:
    """Spec strings of each baseline at each of its default strengths (identity once).

    Args:
        names: baselines to include, in order; all of ``BASELINE_NAMES`` when None.

    Raises:
        UnknownNameError: a name is not registered.

    >>> baseline_sweep(["identity", "blur"])
    ['identity', 'blur:sigma=2', 'blur:sigma=4', 'blur:sigma=8', 'blur:sigma=16']
    """
    import veil.anonymizers  # noqa: F401  (registers faceblur too)

    specs: list[str] = []
    for name in BASELINE_NAMES if names is None else names:
        cls: Any = ANONYMIZERS.get(name)
        param = cls.strength_param
        if param is None or not cls.default_strengths:
            specs.append(name)
        else:
            specs.extend(f"{name}:{param}={value:g}" for value in cls.default_strengths)
    return specs
