"""Image and video I/O: safe decoding, RGB uint8 arrays, atomic writes without metadata.

Everything inside Veil is an RGB ``uint8`` array of shape (H, W, 3). Decoding refuses
files that are missing, corrupt, or larger than ``MAX_PIXELS`` (decompression bombs).
Writing re-encodes pixels only, so EXIF, GPS, XMP and ICC data never travel.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from veil.errors import MediaError
from veil.fsutil import atomic_write_bytes

MAX_PIXELS = 64_000_000
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


def decode_image(data: bytes, name: str = "<bytes>", max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode encoded image bytes to RGB uint8, refusing corrupt data and oversized images.

    Raises:
        MediaError: naming ``name`` when the bytes are not a readable image.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                w, h = im.size
                if w * h > max_pixels:
                    raise MediaError(f"{name}: image of {w}x{h} pixels exceeds the limit of {max_pixels}")
                im.load()
                rgb = im.convert("RGB")
    except MediaError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as e:
        raise MediaError(f"{name}: not a readable image ({e})") from None
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))


def load_image(path: str | os.PathLike[str], max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read an image file as RGB uint8.

    Raises:
        MediaError: the file is missing, corrupt or too large.
    """
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: file not found")
    return decode_image(path.read_bytes(), str(path), max_pixels)


def encode_image(image: np.ndarray, fmt: str = "png", quality: int = 95) -> bytes:
    """Encode RGB uint8 pixels with no metadata (no EXIF, GPS, XMP or ICC profile)."""
    fmt = fmt.lower().lstrip(".")
    fmt = {"jpg": "jpeg", "tif": "tiff"}.get(fmt, fmt)
    buf = io.BytesIO()
    pil = Image.fromarray(np.ascontiguousarray(image), mode="RGB") if image.ndim == 3 else Image.fromarray(image)
    kwargs: dict[str, object] = {}
    if fmt in ("jpeg", "webp"):
        kwargs["quality"] = quality
    pil.save(buf, format=fmt.upper(), **kwargs)
    return buf.getvalue()


def save_image(path: str | os.PathLike[str], image: np.ndarray, quality: int = 95) -> Path:
    """Write RGB uint8 pixels atomically, format from the suffix, without metadata."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".") or "png"
    return atomic_write_bytes(path, encode_image(image, fmt, quality))


def video_info(path: str | os.PathLike[str]) -> tuple[float, int, int, int]:
    """(fps, frame_count, width, height) of a video file.

    Raises:
        MediaError: the file is missing or cannot be opened as video.
    """
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: file not found")
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise MediaError(f"{path}: not a readable video")
        fps = float(cap.get(cv2.CAP_PROP_FPS)) or 25.0
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    finally:
        cap.release()
    if w <= 0 or h <= 0:
        raise MediaError(f"{path}: video has no readable frames")
    return fps, n, w, h


def iter_frames(path: str | os.PathLike[str]) -> Iterator[np.ndarray]:
    """Yield the frames of a video as RGB uint8 arrays.

    Raises:
        MediaError: the file is missing, unreadable, or yields no frame at all.
    """
    video_info(path)
    cap = cv2.VideoCapture(str(path))
    got = 0
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            got += 1
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    finally:
        cap.release()
    if got == 0:
        raise MediaError(f"{path}: video has no readable frames")


def read_frames(path: str | os.PathLike[str], indices: list[int]) -> dict[int, np.ndarray]:
    """Read the frames at ``indices`` (sorted access, one pass) as RGB uint8."""
    wanted = set(indices)
    out: dict[int, np.ndarray] = {}
    for i, frame in enumerate(iter_frames(path)):
        if i in wanted:
            out[i] = frame
            if len(out) == len(wanted):
                break
    missing = wanted - set(out)
    if missing:
        raise MediaError(f"{path}: frames {sorted(missing)[:5]} are past the end of the video")
    return out


def load_item_image(item: object, index: int = 0) -> np.ndarray:
    """The RGB image of a manifest item (first frame for videos and frame lists)."""
    from veil.data.manifest import Item

    assert isinstance(item, Item)
    if item.media.type == "video":
        return next(iter_frames(item.media_path()))
    return load_image(item.media_path(index))
