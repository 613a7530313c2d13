"""What ``Anonymizer.__call__`` accepts besides an RGB uint8 array, and how it comes back.

Every anonymizer works on RGB uint8 arrays (H, W, 3). This module converts the other
inputs of the Python API around that core and returns the type it was given:

- a PIL image -> a PIL image. ``RGB``, ``RGBA``, ``L``, ``LA`` and ``CMYK`` come back in the
  same mode; the alpha channel is kept as it was (the colour under it is protected); a grey
  image is protected as RGB and converted back to grey. Other grey modes (``1``, ``I;16``,
  ``I``, ``F``) come back as ``L``; the rest (``P``, ``YCbCr``...) as ``RGB``, or ``RGBA``
  when it has transparency. An EXIF orientation is applied first, so the anonymizer sees the picture
  upright and the result, which carries no metadata (``info`` is empty), displays the same
  way as the input did.
- a batch: a list or tuple of PIL images and RGB uint8 arrays (mixed types allowed) -> a
  list or tuple, or a uint8 array (N, H, W, 3) -> an array of the same shape.

Arrays must be RGB uint8 (H, W, 3); grey or RGBA pixels go in as PIL images
(``PIL.Image.fromarray(a)``), which come back in their own mode. A batch goes through
  :meth:`Anonymizer.apply_batch` once, so anonymizers that run a network in batches can.

Example:
    >>> from PIL import Image
    >>> from veil.anonymizers import create_anonymizer
    >>> blur = create_anonymizer("blur:sigma=2")
    >>> blur(Image.new("RGBA", (32, 24))).mode
    'RGBA'
    >>> blur(np.zeros((2, 24, 32, 3), np.uint8)).shape
    (2, 24, 32, 3)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from veil.errors import MediaError

if TYPE_CHECKING:
    from PIL import Image

    from veil.anonymizers.base import Anonymizer

__all__ = ["SAME_MODES", "anonymize_any", "merge_pil", "output_mode", "split_pil"]

#: PIL modes returned unchanged; every other mode comes back as RGB (or RGBA with transparency).
SAME_MODES = ("RGB", "RGBA", "L", "LA", "CMYK")

_EXPECTED = (
    "expected a PIL image, an RGB uint8 numpy array (H, W, 3), or a batch (a list of those, or a uint8 "
    "array (N, H, W, 3))"
)


def split_pil(image: Image.Image, upright: bool = True) -> tuple[np.ndarray, np.ndarray | None, str]:
    """Split a PIL image into RGB uint8 pixels, its alpha channel (or None) and the mode to return.

    Args:
        image: any PIL image.
        upright: apply the EXIF orientation first (the result of :func:`merge_pil` has no
            EXIF, so this keeps the picture the right way up).

    Returns:
        ``(rgb (H, W, 3) uint8, alpha (H, W) uint8 or None, mode for merge_pil)``.
    """
    from PIL import ImageOps

    if upright and image.getexif().get(0x0112, 1) not in (0, 1):
        image = ImageOps.exif_transpose(image)
    mode = image.mode
    has_alpha = mode in ("RGBA", "LA", "PA", "La", "RGBa") or (mode == "P" and "transparency" in image.info)
    if mode.startswith("I;16"):  # 16-bit grey: keep the 8 high bits instead of clipping at 255
        grey = (np.asarray(image, dtype=np.uint16) >> 8).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2), None, "L"
    rgba = image.convert("RGBA") if has_alpha else None
    rgb = np.asarray((rgba or image).convert("RGB"), dtype=np.uint8)
    alpha = np.asarray(rgba.getchannel("A"), dtype=np.uint8) if rgba is not None else None
    return np.ascontiguousarray(rgb), alpha, output_mode(mode, has_alpha)


def output_mode(mode: str, has_alpha: bool) -> str:
    """The mode :func:`anonymize_any` returns for a PIL image of ``mode``."""
    if mode in SAME_MODES:
        return mode
    if mode in ("1", "I", "F"):
        return "L"
    return "RGBA" if has_alpha else "RGB"


def merge_pil(rgb: np.ndarray, alpha: np.ndarray | None, mode: str) -> Image.Image:
    """A new PIL image (no metadata) in ``mode`` from protected RGB pixels and the original alpha."""
    from PIL import Image

    out = Image.fromarray(np.ascontiguousarray(rgb), mode="RGB")
    if alpha is not None:
        out.putalpha(Image.fromarray(alpha, mode="L"))
        return out.convert("LA") if mode == "LA" else out
    return out if mode == "RGB" else out.convert(mode)


def _check_array(a: np.ndarray) -> np.ndarray:
    if a.dtype != np.uint8:
        raise MediaError(
            f"{_EXPECTED}; got dtype {a.dtype}: convert float images in [0, 1] with "
            "(x * 255).round().astype(np.uint8)"
        )
    if a.ndim != 3 or a.shape[2] != 3:
        raise MediaError(
            f"{_EXPECTED}; got an array of shape {a.shape}: pass grey or RGBA pixels as a PIL image "
            "(PIL.Image.fromarray(a)), which comes back in its own mode"
        )
    return a


def _split(item: Any) -> tuple[np.ndarray, np.ndarray | None, str, bool]:
    from PIL import Image

    if isinstance(item, Image.Image):
        return (*split_pil(item), True)
    if isinstance(item, np.ndarray):
        return _check_array(item), None, "RGB", False
    raise MediaError(f"{_EXPECTED}; got {type(item).__name__}")


def anonymize_any(anonymizer: Anonymizer, x: Any) -> Any:
    """Anonymize ``x`` (see the module docstring for what it may be) and return the same type.

    Raises:
        MediaError: an unsupported type, dtype or shape; the message lists what is accepted.
    """
    from PIL import Image

    if isinstance(x, np.ndarray) and x.ndim == 4:
        _check_array(x[0] if len(x) else np.empty(x.shape[1:], x.dtype))
        return np.stack(anonymize_any(anonymizer, list(x))) if len(x) else x.copy()
    single = isinstance(x, (np.ndarray, Image.Image))
    if not single and not (isinstance(x, Sequence) and not isinstance(x, (str, bytes))):
        raise MediaError(f"{_EXPECTED}; got {type(x).__name__}")
    items = [x] if single else list(x)
    parts = [_split(it) for it in items]
    protected = anonymizer.apply_batch([p[0] for p in parts]) if parts else []
    out: list[Any] = []
    for (_, alpha, kind, is_pil), rgb in zip(parts, protected, strict=True):
        out.append(merge_pil(rgb, alpha, kind) if is_pil else rgb)
    if single:
        return out[0]
    return tuple(out) if isinstance(x, tuple) else out
