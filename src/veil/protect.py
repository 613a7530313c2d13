"""``veil protect``: anonymize image and video files, folders included, without leaking metadata.

The library behind the command (the CLI only parses arguments):

- :func:`protect_image_bytes` turns encoded image bytes into protected bytes of the same
  format: the EXIF orientation is applied first (the anonymizer sees the picture upright),
  colours are converted to sRGB when an ICC profile comes with them, and EXIF (GPS
  included), XMP, comments, PNG text chunks and ICC profiles are dropped unless
  ``keep_metadata``. The privacy proxy calls it on every image of a request.
- :func:`protect_paths` protects files and folders into an output folder: images keep
  their format and name, videos their container, frame rate, frame count, size and audio
  (:func:`veil.media.transcode_video`); folders are walked recursively and mirrored.
  Every output is written to a hidden temporary file in its destination folder and
  renamed into place only when complete, so a failure or a crash never leaves a partial
  output under a real name; an existing output is replaced only with ``overwrite``, and an
  input never. A :class:`ProtectReport` lists every file (protected, failed with the
  reason, or skipped as unsupported) and is saved as ``protect-summary.json``.
- Runs resume: each finished output is recorded, with its SHA-256, in a manifest under
  ``OUTDIR/.veil-protect/`` (one append-only JSONL file per writing process, fsynced line by
  line; the record is written before the output is renamed into place). Rerunning the same
  command into the same folder skips every input whose output is complete (same input file,
  same settings, same bytes on disk) and reports it as before; a run killed at any point
  (Ctrl-C, ``kill -9``) thus completes on the rerun with no input protected twice.
- ``ProtectConfig(engine="ray")`` runs the same per-file work on Ray (:mod:`veil.protect_ray`).

Example:
    >>> from veil.protect import ProtectConfig, protect_paths
    >>> report = protect_paths(["photos/"], "protected/", "blur:sigma=8", ProtectConfig())  # doctest: +SKIP
    >>> report.exit_code  # doctest: +SKIP
    0
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import io
import json
import os
import secrets
import socket
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from veil.anonymizers.base import Anonymizer, create_anonymizer
from veil.anonymizers.schedule import DEFAULT_SCHEDULE
from veil.errors import ConfigError, MediaError, ModelError, VeilError
from veil.fsutil import atomic_write_text
from veil.media import (
    IMAGE_SUFFIXES,
    MAX_PIXELS,
    VIDEO_CONTAINERS,
    VIDEO_SUFFIXES,
    fit_long_side,
    transcode_video,
)
from veil.threads import torch_threads

__all__ = [
    "ENGINES",
    "IMAGE_FORMATS",
    "MANIFEST_DIR",
    "PROTECT_IMAGE_SUFFIXES",
    "PROTECT_VIDEO_SUFFIXES",
    "SUMMARY_FILE",
    "FileResult",
    "ProtectConfig",
    "ProtectReport",
    "protect_image_bytes",
    "protect_image_file",
    "protect_paths",
    "protect_video_file",
    "anonymizer_notes",
    "load_runtime",
    "with_runtime",
]

#: Name of the per-run summary written into the output folder.
SUMMARY_FILE = "protect-summary.json"
#: Folder (inside the output folder) of the resume manifest: which outputs are complete.
MANIFEST_DIR = ".veil-protect"
#: Where the per-file work runs (see ProtectConfig.engine).
ENGINES = ("local", "ray")
#: PIL formats written (an input in another format is refused); MPO (multi-picture JPEG) is written as JPEG.
IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP", "HEIF")
PROTECT_IMAGE_SUFFIXES = (*IMAGE_SUFFIXES, ".gif")
PROTECT_VIDEO_SUFFIXES = tuple(s for s in VIDEO_SUFFIXES if s in VIDEO_CONTAINERS)
#: How PyTorch models run (see ProtectConfig.runtime).
RUNTIMES = ("auto", "onnxruntime", "torch")
#: Frames of an animated image, all together, may hold at most this many times ``max_pixels``.
MAX_ANIMATION_FACTOR = 8
_FORMAT_ALIASES = {"JPG": "JPEG", "MPO": "JPEG", "TIF": "TIFF", "HEIC": "HEIF"}
_TIFF_COMPRESSIONS = ("raw", "tiff_lzw", "tiff_deflate", "tiff_adobe_deflate", "packbits")
_EXIF_ORIENTATION, _EXIF_IFD, _MAKER_NOTE = 0x0112, 0x8769, 0x927C


@dataclass(frozen=True)
class ProtectConfig:
    """Options of :func:`protect_paths` (the defaults are the safe ones).

    Args:
        keep_metadata: keep EXIF (GPS included), XMP, ICC profiles, comments, PNG text and
            video container/stream tags. The EXIF thumbnail and maker notes are dropped
            even then: they can hold an unprotected preview of the picture.
        overwrite: replace existing outputs (never an input).
        jpeg_quality: quality of re-encoded JPEG and lossy WebP images (1-100).
        video_codec: video encoder; None: the input's codec when it is in
            :data:`veil.media.KEEP_VIDEO_CODECS` (and the container takes it), else the
            container's default (H.264 for MP4/MOV/MKV, MPEG-4 Part 2 for AVI, VP9 for WebM).
        batch_size: video frames given to the anonymizer at once (anonymizers without
            their own ``iter_video``).
        detect_every: for detector-guided models on video: run the face detector every
            ``detect_every[0]`` frames and the text reader every ``detect_every[1]`` (and on
            the last frame), holding detections over and applying them back to the frames
            in between (:mod:`veil.anonymizers.schedule`); None: the guide runs on every
            frame. Other anonymizers ignore it.
        detect_hold: detector runs a region that the detector stops finding stays protected.
        detect_face_side: the scheduled face detector sees frames upscaled to at least this
            short side (small faces); 0: frames as they are.
        network_batch: frames per network call of a scheduled guided model (1: measured
            fastest on a 2-core CPU, where a batch of 4 frames of 768x576 took 1.5x longer
            per frame).
        max_pixels: largest image or video frame accepted, in pixels (decompression bombs).
        max_side: images whose longer side is above this are scaled down to it (by area,
            aspect kept) before they are protected, for a service that would scale them down
            anyway (OpenAI's API fits images in 2048x2048); 0 (default) keeps every size.
            Videos keep their size.
        progress: show progress bars (stderr) with frames per second.
        summary: write :data:`SUMMARY_FILE` into the output folder.
        runtime: how a PyTorch model (a model folder) runs: ``"auto"`` (onnxruntime, on a
            graph exported in memory and checked against PyTorch, when the network
            exports; else PyTorch), ``"onnxruntime"`` (an error when it cannot) or
            ``"torch"``. Other anonymizers run as they are.
        threads: inference threads of onnxruntime or PyTorch (None: their defaults, one per
            core). On a CPU shared with other work, 1 can be much faster than more. On video
            it also caps the threads of each scheduled detector of a guided model (by
            default a quarter of the cores, at least 1: ``DetectionSchedule.detect_threads``).
        resume: record finished outputs in ``OUTDIR/.veil-protect/`` and skip inputs whose
            output is recorded and complete (a rerun after a crash finishes the corpus).
        engine: ``"local"`` (this process) or ``"ray"`` (Ray actors, one anonymizer each;
            see :mod:`veil.protect_ray`).
        ray_address: with ``engine="ray"``: an existing cluster (``"auto"``, ``"ray://host:10001"``,
            ``"host:6379"``); None starts a local Ray for the run and stops it afterwards.
        workers: with ``engine="ray"``: number of workers (None: the CPUs of the local Ray, or
            of the cluster).
    """

    keep_metadata: bool = False
    overwrite: bool = False
    jpeg_quality: int = 95
    video_codec: str | None = None
    batch_size: int = 4
    detect_every: tuple[int, int] | None = (DEFAULT_SCHEDULE.faces_every, DEFAULT_SCHEDULE.text_every)
    detect_hold: int = DEFAULT_SCHEDULE.hold
    detect_face_side: int = DEFAULT_SCHEDULE.face_min_side
    network_batch: int = 1
    max_pixels: int = MAX_PIXELS
    max_side: int = 0
    progress: bool = True
    summary: bool = True
    runtime: Literal["auto", "onnxruntime", "torch"] = "auto"
    threads: int | None = None
    resume: bool = True
    engine: Literal["local", "ray"] = "local"
    ray_address: str | None = None
    workers: int | None = None

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ConfigError(f"protect: engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        if self.workers is not None and (isinstance(self.workers, bool) or not isinstance(self.workers, int)
                                         or not 1 <= self.workers <= 4096):
            raise ConfigError(f"protect: workers must be an integer in [1, 4096], got {self.workers!r}")
        if self.engine != "ray" and (self.workers is not None or self.ray_address is not None):
            raise ConfigError("protect: --workers and --ray-address need --engine ray")
        if self.runtime not in RUNTIMES:
            raise ConfigError(f"protect: runtime must be one of {', '.join(RUNTIMES)}, got {self.runtime!r}")
        if self.threads is not None and (isinstance(self.threads, bool) or not isinstance(self.threads, int)
                                         or self.threads < 1):
            raise ConfigError(f"protect: threads must be an integer >= 1, got {self.threads!r}")
        for key, lo, hi in (("jpeg_quality", 1, 100), ("batch_size", 1, 4096), ("network_batch", 1, 256),
                            ("max_pixels", 1, 10**10)):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise ConfigError(f"protect: {key} must be an integer in [{lo}, {hi}], got {v!r}")
        if isinstance(self.max_side, bool) or not isinstance(self.max_side, int) \
                or not (self.max_side == 0 or 64 <= self.max_side <= 65536):
            raise ConfigError(f"protect: max_side must be 0 (keep every size) or an integer in [64, 65536], "
                              f"got {self.max_side!r}")
        if self.detect_every is not None:
            object.__setattr__(self, "detect_every", tuple(self.detect_every))
        self.schedule()  # refuses bad periods and hold

    def schedule(self) -> Any:
        """The :class:`~veil.anonymizers.schedule.DetectionSchedule` of guided models on video (None: every frame)."""
        from veil.anonymizers.schedule import DetectionSchedule

        if self.detect_every is None:
            return None
        if len(self.detect_every) != 2:
            raise ConfigError(f"protect: detect_every must be (faces, text) frame counts, got {self.detect_every!r}")
        # each detector's threads: a quarter of the cores, at most ``threads`` when given (Ray
        # workers hold one core each)
        auto = DetectionSchedule().threads
        return DetectionSchedule(faces_every=self.detect_every[0], text_every=self.detect_every[1],
                                 hold=self.detect_hold, batch_size=self.network_batch,
                                 face_min_side=self.detect_face_side,
                                 detect_threads=0 if self.threads is None else max(1, min(int(self.threads), auto)))


Status = Literal["protected", "failed", "skipped"]


@dataclass
class FileResult:
    """One input file: where it went, or why not."""

    input: str
    output: str | None
    kind: Literal["image", "video", "other"]
    status: Status
    frames: int = 0
    seconds: float = 0.0
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    #: Found complete in the resume manifest (not protected again); not part of the summary file.
    resumed: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("resumed")
        return d


@dataclass
class ProtectReport:
    """What one :func:`protect_paths` run did; ``exit_code`` is 1 when any file failed."""

    anonymizer: str
    outdir: str
    started: str
    runtime: str = ""
    seconds: float = 0.0
    files: list[FileResult] = field(default_factory=list)
    engine: str = "local"
    workers: int = 1
    notes: list[str] = field(default_factory=list)

    @property
    def resumed(self) -> int:
        """Files found complete from an earlier run (not protected again)."""
        return sum(f.resumed for f in self.files)

    def by_status(self, status: Status) -> list[FileResult]:
        return [f for f in self.files if f.status == status]

    @property
    def exit_code(self) -> int:
        return 1 if self.by_status("failed") else 0

    @property
    def frames(self) -> int:
        """Video frames protected."""
        return sum(f.frames for f in self.files if f.status == "protected" and f.kind == "video")

    def counts(self) -> dict[str, int]:
        ok = self.by_status("protected")
        return {
            "protected": len(ok),
            "images": sum(f.kind == "image" for f in ok),
            "videos": sum(f.kind == "video" for f in ok),
            "frames": self.frames,
            "failed": len(self.by_status("failed")),
            "skipped": len(self.by_status("skipped")),
        }

    @property
    def video_fps(self) -> float | None:
        """Video frames protected per second of video work (None without videos)."""
        done = [f for f in self.files if f.kind == "video" and f.status == "protected" and not f.resumed]
        secs = sum(f.seconds for f in done)
        return round(sum(f.frames for f in done) / secs, 2) if secs > 0 else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "veil.protect-summary/1",
            "anonymizer": self.anonymizer,
            "runtime": self.runtime,
            "outdir": self.outdir,
            "started": self.started,
            "seconds": round(self.seconds, 3),
            "counts": self.counts(),
            "video_fps": self.video_fps,
            "notes": list(self.notes),
            "files": [f.to_dict() for f in self.files],
        }

    def format(self) -> str:
        """The summary printed by ``veil protect``: totals, then one line per failure, skip and warning."""
        c = self.counts()
        fps = f", {self.video_fps:.1f} frames/s" if self.video_fps else ""
        lines = [
            f"anonymizer {self.anonymizer} (runtime: {self.runtime})",
            f"protected {c['protected']} file(s) ({c['images']} image(s), {c['videos']} video(s) with "
            f"{c['frames']} frame(s)) in {self.seconds:.1f} s{fps}; {c['failed']} failed, {c['skipped']} skipped",
        ]
        lines += [f"note     {n}" for n in self.notes]
        if self.resumed:
            lines.append(f"resumed: {self.resumed} of them were complete from an earlier run (not protected again)")
        lines += [f"failed   {f.input}: {f.reason}" for f in self.by_status("failed")]
        lines += [f"skipped  {f.input}: {f.reason}" for f in self.by_status("skipped")]
        lines += [f"warning  {f.input}: {f.details['warning']}" for f in self.files if f.details.get("warning")]
        return "\n".join(lines)


# ----------------------------------------------------------------------------- images


def _open_image(data: bytes, name: str, max_pixels: int) -> Any:
    from PIL import Image, UnidentifiedImageError

    from veil.media import strict_decoding

    strict_decoding()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            w, h = im.size
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as e:
        raise MediaError(f"{name}: not a readable image ({e})") from None
    if w * h > max_pixels:
        raise MediaError(f"{name}: image of {w}x{h} pixels exceeds the limit of {max_pixels}")
    return im


def _kept_exif(im: Any) -> bytes | None:
    """The image's EXIF with the orientation reset (the pixels are upright) and without the
    thumbnail (Pillow does not write IFD1) and maker notes: both can hold an unprotected preview."""
    from PIL import Image

    if not len(im.getexif()):
        return None
    exif = Image.Exif()  # a copy: the image's own Exif still says how to turn its pixels
    exif.load(im.getexif().tobytes())
    exif.pop(_EXIF_ORIENTATION, None)
    sub = exif.get_ifd(_EXIF_IFD)
    sub.pop(_MAKER_NOTE, None)
    return exif.tobytes()


def _metadata_kwargs(im: Any, fmt: str) -> dict[str, Any]:
    """Save keywords that carry ``im``'s metadata over to ``fmt`` (for ``keep_metadata``)."""
    from PIL import PngImagePlugin

    kw: dict[str, Any] = {}
    exif = _kept_exif(im)
    if exif and fmt in ("JPEG", "PNG", "WEBP", "TIFF", "HEIF"):
        kw["exif"] = exif
    icc = im.info.get("icc_profile")
    if icc and fmt in ("JPEG", "PNG", "WEBP", "TIFF", "HEIF"):
        kw["icc_profile"] = icc
    xmp = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp")
    if xmp and fmt in ("JPEG", "WEBP", "HEIF"):
        kw["xmp"] = xmp if isinstance(xmp, bytes) else str(xmp).encode("utf-8")
    if im.info.get("comment") and fmt in ("JPEG", "GIF"):
        kw["comment"] = im.info["comment"]
    text = dict(getattr(im, "text", None) or {})
    if xmp and fmt == "PNG":
        text.setdefault("XML:com.adobe.xmp", xmp.decode("utf-8", "replace") if isinstance(xmp, bytes) else str(xmp))
    if text and fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        for k, v in text.items():
            info.add_itxt(k, str(v))
        kw["pnginfo"] = info
    return kw


def _to_srgb(im: Any) -> Any:
    """``im`` with its ICC profile applied (pixels in sRGB), so dropping the profile keeps the colours."""
    from PIL import ImageCms

    icc = im.info.get("icc_profile")
    if not icc or im.mode not in ("RGB", "RGBA", "CMYK", "L", "LA"):
        return im
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        out_mode = "RGBA" if im.mode in ("RGBA", "LA") else "RGB"
        return ImageCms.profileToProfile(im, src, ImageCms.createProfile("sRGB"), outputMode=out_mode)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return im  # an unusable profile: keep the pixel values as they are


def _frames(im: Any, fmt: str, name: str, max_pixels: int) -> list[Any]:
    from PIL import ImageSequence

    n = int(getattr(im, "n_frames", 1) or 1)
    if n == 1 or fmt not in ("PNG", "WEBP", "GIF", "TIFF") or im.format == "MPO":
        return [im]  # MPO: the primary picture only; the others (previews, depth maps) are dropped
    w, h = im.size
    if n * w * h > MAX_ANIMATION_FACTOR * max_pixels:
        limit = MAX_ANIMATION_FACTOR * max_pixels
        raise MediaError(f"{name}: {n} frames of {w}x{h} exceed the limit of {limit} pixels for all frames")
    return [f.copy() for f in ImageSequence.Iterator(im)]


def _out_format(fmt: str | None, src_format: str | None, name: str) -> str:
    out = (fmt or src_format or "").upper().lstrip(".")
    out = _FORMAT_ALIASES.get(out, out)
    if out not in IMAGE_FORMATS:
        raise MediaError(
            f"{name}: cannot write {fmt or src_format or 'unknown'} images; supported: {', '.join(IMAGE_FORMATS)}"
        )
    return out


def protect_image_bytes(
    data: bytes,
    anonymizer: Anonymizer | str,
    fmt: str | None = None,
    keep_metadata: bool = False,
    *,
    quality: int = 95,
    max_pixels: int = MAX_PIXELS,
    name: str = "<image>",
    max_side: int = 0,
) -> bytes:
    """Anonymize one encoded image and encode the result, without metadata by default.

    Args:
        data: the encoded image (JPEG, PNG, WebP, GIF, TIFF, BMP or HEIC; animated PNG, WebP,
            GIF and multi-page TIFF keep every frame and their timing).
        anonymizer: an Anonymizer or a spec (``"blur:sigma=8"``, a model folder, ``x.onnx``).
        fmt: output format (``"jpeg"``, ``"png"``, ``"webp"``...); None: the input's format.
        keep_metadata: keep EXIF (orientation reset, thumbnail and maker notes dropped),
            XMP, ICC profile, comments and PNG text; else all are dropped and colours are
            converted to sRGB first.
        quality: JPEG, lossy WebP and HEIC quality (lossless WebP stays lossless).
        max_pixels: refuse larger images (decompression bombs).
        name: how errors name the image.
        max_side: scale an image whose longer side is above this down to it (by area, aspect
            kept) before protecting it; 0 keeps every size.

    Returns:
        The protected image, encoded.

    Raises:
        MediaError: the bytes are not a readable image, too large, or of a format that
            cannot be written. Nothing is returned then (fail closed).
    """
    an = create_anonymizer(anonymizer)
    with _open_image(data, name, max_pixels) as im:
        out_fmt = _out_format(fmt, im.format, name)
        try:
            frames = _frames(im, out_fmt, name, max_pixels)
            orientation = im.getexif().get(_EXIF_ORIENTATION, 1)
            meta = _metadata_kwargs(im, out_fmt) if keep_metadata else {}
            info = dict(im.info)
            pics = [_prepare_frame(f, im, orientation, keep_metadata, max_side) for f in frames]
        except (OSError, ValueError, SyntaxError) as e:  # truncated or corrupt pixel data
            raise MediaError(f"{name}: not a readable image ({e})") from None
    from veil.anonymizers.convert import merge_pil

    protected = an.apply_batch([rgb for rgb, _, _ in pics])
    out_frames = [merge_pil(p, alpha, mode) for p, (_, alpha, mode) in zip(protected, pics, strict=True)]
    out_frames = [_writable(f, out_fmt) for f in out_frames]
    kw: dict[str, Any] = dict(meta)
    if info.get("dpi"):
        kw["dpi"] = info["dpi"]
    if out_fmt in ("JPEG", "WEBP", "HEIF"):
        kw["quality"] = quality
    if out_fmt == "WEBP" and im.format == "WEBP" and b"VP8L" in data[:4096] and b"VP8 " not in data:
        kw["lossless"] = True  # lossless frames only (VP8L chunks, no lossy VP8 ones): stay lossless
    if out_fmt == "TIFF":
        comp = info.get("compression", "raw")
        kw["compression"] = comp if comp in _TIFF_COMPRESSIONS else "tiff_lzw"
    if len(out_frames) > 1:
        kw.update(save_all=True, append_images=out_frames[1:])
        durations = [f.info.get("duration") for f in frames]
        if all(d is not None for d in durations):
            kw["duration"] = durations
        if "loop" in info:
            kw["loop"] = info["loop"]
    buf = io.BytesIO()
    out_frames[0].save(buf, format=out_fmt, **kw)
    return buf.getvalue()


def _prepare_frame(
    frame: Any, first: Any, orientation: int, keep_metadata: bool, max_side: int = 0
) -> tuple[np.ndarray, np.ndarray | None, str]:
    """RGB pixels (upright, sRGB unless the profile is kept, within ``max_side``), alpha and
    output mode of one frame."""
    from PIL import ImageOps

    from veil.anonymizers.convert import output_mode, split_pil

    frame.load()
    if orientation not in (0, 1):
        frame.getexif()[_EXIF_ORIENTATION] = orientation  # frames of a sequence share the first one's
        frame = ImageOps.exif_transpose(frame)
    mode = frame.mode
    has_alpha = mode in ("RGBA", "LA", "PA", "La", "RGBa") or (mode == "P" and "transparency" in frame.info)
    if not keep_metadata and first.info.get("icc_profile"):
        if "icc_profile" not in frame.info:
            frame.info["icc_profile"] = first.info["icc_profile"]
        frame = _to_srgb(frame)
    rgb, alpha, out_mode = split_pil(frame, upright=False)
    rgb, alpha = fit_long_side(rgb, max_side), None if alpha is None else fit_long_side(alpha, max_side)
    if mode in ("L", "LA", "I;16", "I;16B", "I;16L", "I", "F", "1"):
        out_mode = output_mode(mode, has_alpha)  # grey stays grey after the sRGB conversion
    elif keep_metadata and mode == "CMYK":
        out_mode = "CMYK"
    elif mode == "CMYK":
        out_mode = "RGB"  # the CMYK profile is gone: sRGB pixels are the faithful ones
    return rgb, alpha, out_mode


def _writable(im: Any, fmt: str) -> Any:
    """``im`` in a mode ``fmt`` can store (alpha dropped where the format has none)."""
    if fmt == "JPEG" and im.mode not in ("RGB", "L", "CMYK"):
        return im.convert("RGB")
    if fmt == "BMP" and im.mode not in ("RGB", "L", "RGBA"):
        return im.convert("RGB")
    if fmt == "WEBP" and im.mode not in ("RGB", "RGBA"):
        return im.convert("RGBA" if "A" in im.mode else "RGB")
    return im


# ----------------------------------------------------------------------------- files


def _temp_beside(dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".veil-part", dir=dst.parent)
    os.close(fd)
    return Path(tmp)


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _publish(tmp: Path, dst: Path, overwrite: bool) -> None:
    """Rename the finished temp file to ``dst``; without ``overwrite`` never replace a file
    (a hard link fails if ``dst`` appeared meanwhile)."""
    _fsync(tmp)
    if overwrite:
        os.replace(tmp, dst)
        return
    try:
        os.link(tmp, dst)
    except FileExistsError:
        raise MediaError(f"{dst} exists; pass --overwrite to replace it") from None
    except OSError:  # no hard links on this file system: check, then rename
        if dst.exists():
            raise MediaError(f"{dst} exists; pass --overwrite to replace it") from None
        os.replace(tmp, dst)
        return
    tmp.unlink()


#: Called with (finished temp file, destination) just before an output is renamed into place.
_BEFORE_PUBLISH: ContextVar[Callable[[Path, Path], None] | None] = ContextVar("_BEFORE_PUBLISH", default=None)


@contextlib.contextmanager
def _staged(dst: Path, overwrite: bool) -> Iterator[Path]:
    """A temp path beside ``dst``, published on success and removed on any failure (fail closed)."""
    tmp = _temp_beside(dst)
    try:
        yield tmp
        hook = _BEFORE_PUBLISH.get()
        if hook is not None:
            hook(tmp, dst)
        _publish(tmp, dst, overwrite)
    finally:
        tmp.unlink(missing_ok=True)


def protect_image_file(src: str | os.PathLike[str], dst: str | os.PathLike[str], anonymizer: Anonymizer | str,
                       config: ProtectConfig | None = None) -> None:
    """Protect one image file into ``dst`` (same format), atomically.

    Raises:
        MediaError: unreadable input, or ``dst`` exists without ``config.overwrite``.
    """
    cfg = config or ProtectConfig()
    src, dst = Path(src), Path(dst)
    try:
        data = src.read_bytes()
    except OSError as e:
        raise MediaError(f"{src}: cannot read ({e.strerror or e})") from None
    out = protect_image_bytes(data, anonymizer, None, cfg.keep_metadata, quality=cfg.jpeg_quality,
                              max_pixels=cfg.max_pixels, name=str(src), max_side=cfg.max_side)
    with _staged(dst, cfg.overwrite) as tmp:
        tmp.write_bytes(out)


def _batched(anonymizer: Anonymizer, frames: Iterable[np.ndarray], size: int) -> Iterator[np.ndarray]:
    buf: list[np.ndarray] = []
    for f in frames:
        buf.append(f)
        if len(buf) >= size:
            yield from anonymizer.apply_batch(buf)
            buf = []
    if buf:
        yield from anonymizer.apply_batch(buf)


def protect_video_file(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    anonymizer: Anonymizer | str,
    config: ProtectConfig | None = None,
    on_frame: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Protect one video into ``dst`` (same container, frame rate, frame count, size; audio kept), atomically.

    Anonymizers with ``iter_video`` (learned models: temporal smoothing) get the frames as a
    stream; others get them ``config.batch_size`` at a time. Detector-guided models run
    their detectors on ``config.detect_every`` (:mod:`veil.anonymizers.schedule`). Decoding,
    anonymizing and encoding overlap (threads, :func:`veil.media.transcode_video`).

    Returns:
        Details of what was written (frames, fps: the frame rate, size, codec, audio,
        dropped streams, damaged packets skipped), ``protect_fps`` (frames protected per
        second), ``detect_every`` for guided models, and ``stages``: seconds spent decoding,
        encoding, in each detector (and its runs), rendering maps and in the network, each
        counted in its own thread (they overlap).

    Raises:
        MediaError: unreadable input, or ``dst`` exists without ``config.overwrite``.
    """
    cfg = config or ProtectConfig()
    an = create_anonymizer(anonymizer)
    src, dst = Path(src), Path(dst)
    container = VIDEO_CONTAINERS.get(dst.suffix.lower())
    if container is None:
        raise MediaError(f"{dst}: unknown video container; use one of {', '.join(sorted(VIDEO_CONTAINERS))}")

    schedule = cfg.schedule()
    stats: dict[str, float] = {}
    guided = _takes_schedule(an)
    scheduled = schedule is not None and guided

    def transform(frames: Iterator[np.ndarray]) -> Iterable[np.ndarray]:
        it = getattr(an, "iter_video", None)
        if guided:
            return it(frames, schedule=schedule, stats=stats)  # type: ignore[misc]
        return it(frames) if callable(it) else _batched(an, frames, cfg.batch_size)

    # A scheduled guided model runs its detectors in threads beside the network: unless told,
    # the network takes half the cores (PyTorch's default, all of them, oversubscribes the CPU:
    # 2.0 against 4.0 frames/s on 2 cores, see docs/video.md).
    torch_net = scheduled and cfg.threads is None and _runtime_name(an) == "torch"
    net_threads = max(1, (os.cpu_count() or 2) // 2) if torch_net else None
    t0 = time.perf_counter()
    with torch_threads(net_threads), _staged(dst, cfg.overwrite) as tmp:
        res = transcode_video(src, tmp, transform, container=container,
                              codec=cfg.video_codec, keep_metadata=cfg.keep_metadata, max_pixels=cfg.max_pixels,
                              on_frame=on_frame)
    seconds = time.perf_counter() - t0
    details = asdict(res)
    details.pop("timings")
    details["protect_fps"] = round(res.frames / seconds, 2) if seconds > 0 else None
    if scheduled:
        details["detect_every"] = [schedule.faces_every, schedule.text_every]
    elif guided or getattr(an, "guide", None):
        details["detect_every"] = "frame"
    details["stages"] = {**res.timings, **{k: round(v, 3) for k, v in stats.items()}}
    return details


def _takes_schedule(an: Anonymizer) -> bool:
    """True when ``an.iter_video`` runs a detection schedule (a detector-guided learned model)."""
    import inspect

    it = getattr(an, "iter_video", None)
    if not callable(it) or not getattr(an, "guide", None):
        return False
    try:
        return "schedule" in inspect.signature(it).parameters
    except (TypeError, ValueError):
        return False


# ----------------------------------------------------------------------------- runs


@dataclass(frozen=True)
class _Job:
    src: Path
    dst: Path | None  # None: not protected, for ``problem``
    kind: Literal["image", "video", "other"]
    problem: str = ""
    status: Status = "protected"


def _kind(path: Path) -> Literal["image", "video", "other"]:
    suffix = path.suffix.lower()
    if suffix in PROTECT_IMAGE_SUFFIXES:
        return "image"
    if suffix in PROTECT_VIDEO_SUFFIXES:
        return "video"
    return "other"


def _plan(inputs: Sequence[str | os.PathLike[str]], outdir: Path) -> list[_Job]:
    """Every input file with its output path: files go to ``outdir/<name>``, a folder's
    files to ``outdir/<path inside the folder>`` (recursive; ``outdir`` itself is not walked)."""
    out_real = outdir.resolve()
    jobs: list[_Job] = []
    seen: set[Path] = set()
    for given in inputs:
        p = Path(given)
        if not p.exists():
            raise MediaError(f"{p}: no such file or folder; check the path")
        if p.is_dir():
            pairs = []
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if d != MANIFEST_DIR and (Path(root) / d).resolve() != out_real)
                pairs += [(Path(root) / f, Path(root, f).relative_to(p)) for f in sorted(files)]
            in_folder = True
        else:
            pairs, in_folder = [(p, Path(p.name))], False
        for src, rel in pairs:
            real = src.resolve()
            if real in seen:
                continue
            seen.add(real)
            kind = _kind(src)
            if kind == "other":
                why = f"unsupported file type {src.suffix or '(no suffix)'}"
                if not in_folder:
                    why += f"; protect images ({', '.join(PROTECT_IMAGE_SUFFIXES)}) or videos "
                    why += f"({', '.join(PROTECT_VIDEO_SUFFIXES)})"
                jobs.append(_Job(src, None, kind, why, "skipped" if in_folder else "failed"))
            else:
                jobs.append(_Job(src, outdir / rel, kind))
    return jobs


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _input_id(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


class Manifest:
    """The resume records of the runs into ``outdir``: ``outdir/.veil-protect/*.jsonl``.

    Each writing process (the driver, each Ray worker) appends to its own file, one JSON
    line per event, flushed and fsynced: ``staged`` (the finished output's SHA-256 and
    size, written before it is renamed into place) and ``done`` (its :class:`FileResult`).
    A line cut short by a crash is ignored. An output counts as complete when a record for
    it has the run's ``key`` (anonymizer and the settings that change the bytes), the same
    input file (path, size, modification time), and the file on disk has the recorded size
    and SHA-256; the ``staged`` record alone suffices (a crash between the rename and
    ``done``), so an input is never protected twice and never reported as ``exists``.
    """

    def __init__(self, outdir: Path, key: str) -> None:
        self.outdir, self.key = Path(outdir), key
        self.dir = self.outdir / MANIFEST_DIR
        self._fh: Any = None
        self._records: dict[str, dict[str, Any]] | None = None

    @staticmethod
    def settings_key(spec: str, cfg: ProtectConfig) -> str:
        key: list[Any] = [spec, cfg.keep_metadata, cfg.jpeg_quality, cfg.video_codec, cfg.max_pixels]
        sched = [cfg.detect_every, cfg.detect_hold, cfg.detect_face_side]
        if sched != [ProtectConfig.detect_every, ProtectConfig.detect_hold, ProtectConfig.detect_face_side]:
            key.append(sched)  # earlier records (default schedule) stay valid
        if cfg.max_side:
            key.append({"max_side": cfg.max_side})  # as are those at full size
        return json.dumps(key)

    def _rel(self, dst: Path) -> str:
        return dst.relative_to(self.outdir).as_posix()

    def _append(self, record: dict[str, Any]) -> None:
        if self._fh is None:
            self.dir.mkdir(parents=True, exist_ok=True)
            name = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}.jsonl"
            self._fh = open(self.dir / name, "a", encoding="utf-8")  # noqa: SIM115 (kept open: one file per writer)
        self._fh.write(json.dumps({**record, "t": time.time_ns()}) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def staged(self, job: _Job, tmp: Path) -> None:
        """Record ``tmp``, the finished output of ``job``, before it is renamed into place."""
        assert job.dst is not None
        self._append({"event": "staged", "key": self.key, "dst": self._rel(job.dst), "src": str(job.src.resolve()),
                      "src_id": _input_id(job.src), "sha256": _sha256(tmp), "size": tmp.stat().st_size})

    def done(self, job: _Job, res: FileResult) -> None:
        assert job.dst is not None
        self._append({"event": "done", "key": self.key, "dst": self._rel(job.dst), "result": res.to_dict()})

    def _load(self) -> dict[str, dict[str, Any]]:
        records: dict[str, dict[str, Any]] = {}
        for path in sorted(self.dir.glob("*.jsonl")) if self.dir.is_dir() else []:
            try:
                lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                continue
            for line in lines:
                try:
                    r = json.loads(line)
                    dst = r["dst"]
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by a crash
                if r.get("event") == "staged":
                    if dst not in records or records[dst].get("t", 0) <= r.get("t", 0):
                        records[dst] = r  # the latest output written to this path
                elif (r.get("event") == "done" and dst in records and records[dst].get("key") == r.get("key")
                      and records[dst].get("t", 0) <= r.get("t", 0)):
                    records[dst]["result"] = r.get("result")
        return records

    def resumed(self, job: _Job) -> FileResult | None:
        """``job``'s result from an earlier run when its output is complete on disk, else None."""
        if job.dst is None or not job.dst.is_file():
            return None
        if self._records is None:  # read once per process (a restarted Ray worker is a new one)
            self._records = self._load()
        r = self._records.get(self._rel(job.dst))
        try:
            if (r is None or r.get("key") != self.key or r.get("src") != str(job.src.resolve())
                    or r.get("src_id") != _input_id(job.src) or job.dst.stat().st_size != r.get("size")
                    or _sha256(job.dst) != r.get("sha256")):
                return None
        except OSError:
            return None
        saved = r.get("result")
        if isinstance(saved, dict):
            try:
                res = FileResult(**saved)
            except TypeError:
                saved = None
            else:
                res.input, res.output, res.resumed = str(job.src), str(job.dst), True
                return res
        frames = 1 if job.kind == "image" else (_frame_count(job.dst) or 0)
        return FileResult(str(job.src), str(job.dst), job.kind, "protected", frames=frames, resumed=True)

    def remove_stale_parts(self, jobs: Sequence[_Job]) -> None:
        """Delete temp files left by a killed run beside the planned outputs (never a real output)."""
        for job in jobs:
            if job.dst is not None and job.dst.parent.is_dir():
                for part in job.dst.parent.glob(f".{glob.escape(job.dst.name)}.*.veil-part"):
                    part.unlink(missing_ok=True)


def protect_paths(
    inputs: Sequence[str | os.PathLike[str]],
    outdir: str | os.PathLike[str],
    anonymizer: Anonymizer | str,
    config: ProtectConfig | None = None,
) -> ProtectReport:
    """Protect image and video files and folders into ``outdir`` and report on every file.

    Files go to ``outdir/<name>``; a folder's files to ``outdir/<path inside the folder>``
    (so ``protect_paths(["photos"], "out", ...)`` mirrors ``photos/2024/a.jpg`` as
    ``out/2024/a.jpg``). A file that fails (corrupt, unreadable, output exists) leaves no
    output and the run goes on; files of other types inside folders are skipped and
    listed; a file named directly that is not an image or video fails. The report is also
    written to ``outdir/protect-summary.json``.

    Raises:
        MediaError: an input path does not exist (nothing is protected then).
        ConfigError, ModelError: the anonymizer spec is invalid.
    """
    cfg = config or ProtectConfig()
    t0 = time.perf_counter()
    out = Path(outdir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} is a file; -o must name a folder")
    jobs = _plan(inputs, out)
    if cfg.engine == "ray":
        from veil.protect_ray import run_on_ray

        an_ray = anonymizer if isinstance(anonymizer, str) else create_anonymizer(anonymizer)
        report = ProtectReport(_spec_of(an_ray), str(out), datetime.now(UTC).isoformat(timespec="seconds"),
                               engine="ray", notes=anonymizer_notes(an_ray))
        try:
            run_on_ray(jobs, out, an_ray, cfg, report)
        finally:
            _finish(report, cfg, out, t0)
        return report
    an = load_runtime(anonymizer, cfg.runtime, cfg.threads)
    report = ProtectReport(an.spec, str(out), datetime.now(UTC).isoformat(timespec="seconds"), _runtime_name(an),
                           notes=anonymizer_notes(an))
    inputs_real = {j.src.resolve() for j in jobs}
    claimed: dict[Path, Path] = {}
    manifest = Manifest(out, Manifest.settings_key(an.spec, cfg)) if cfg.resume else None
    if manifest is not None:
        manifest.remove_stale_parts(jobs)
    bar = _bar(cfg.progress, len(jobs), "files", "file")
    try:
        with torch_threads(cfg.threads if report.runtime == "torch" else None):
            for job in jobs:
                report.files.append(_run_job(job, an, cfg, inputs_real, claimed, manifest))
                bar.update(1)
    finally:
        bar.close()
        if manifest is not None:
            manifest.close()
        _finish(report, cfg, out, t0)
    return report


def _spec_of(an: Anonymizer | str) -> str:
    return an if isinstance(an, str) else an.spec


def _finish(report: ProtectReport, cfg: ProtectConfig, out: Path, t0: float) -> None:
    report.seconds = time.perf_counter() - t0
    if cfg.summary and report.files:
        atomic_write_text(out / SUMMARY_FILE, json.dumps(report.to_dict(), indent=2) + "\n")


def guide_parts(an: Anonymizer) -> list[str]:
    """The detectors of ``an``'s guide ("faces+textcls+nudity" -> three parts); none for an
    anonymizer without one."""
    spec = str(getattr(getattr(an, "guide", None), "spec", "") or "")
    return spec.split("+") if spec else []


def anonymizer_notes(an: Anonymizer | str) -> list[str]:
    """What a user should know before trusting ``an``'s output (an anonymizer, or a spec whose
    model folder's ``config.json`` is read without loading the model): a default-network
    model whose guide predates the nudity detector sends exposed bodies as they are."""
    if isinstance(an, str):
        from veil.anonymizers.learned import read_model_config

        try:
            spec = str(read_model_config(an).get("guide") or "")
        except ModelError:
            spec = ""  # not a saved model: a baseline spec (a bad model path fails when loaded)
    else:
        spec = "+".join(guide_parts(an))
    parts = spec.split("+")
    if "textcls" in parts and "nudity" not in parts:
        return [f"this model's guide ({'+'.join(parts)}) has no nudity detector (it was trained before Veil "
                "had one): exposed bodies are sent as they are; retrain it (the default guide is "
                "faces+textcls+nudity)"]
    return []


def load_runtime(anonymizer: Anonymizer | str, runtime: str = "auto", threads: int | None = None) -> Anonymizer:
    """The anonymizer a spec names, to run as ``runtime`` says (:func:`with_runtime`): a saved
    model folder whose graph is in the export cache (:mod:`veil.anonymizers.onnx_cache`) comes
    straight from it on onnxruntime, without loading PyTorch.

    Raises:
        ConfigError, ModelError, UnknownNameError: the spec or model is invalid.
    """
    if isinstance(anonymizer, str) and runtime in ("auto", "onnxruntime"):
        from veil.anonymizers.onnx_cache import cached_runtime

        hit = cached_runtime(anonymizer, threads)
        if hit is not None:
            return hit
    return with_runtime(create_anonymizer(anonymizer), runtime, threads)


def with_runtime(an: Anonymizer, runtime: str = "auto", threads: int | None = None) -> Anonymizer:
    """``an`` to run as ``runtime`` says (see :class:`ProtectConfig`): a PyTorch model becomes an
    :class:`~veil.anonymizers.onnx.OnnxAnonymizer` for ``auto`` (when it exports) and ``onnxruntime``.

    Raises:
        ModelError: ``runtime="onnxruntime"`` and the model cannot be exported.
    """
    from veil.anonymizers.learned import LearnedAnonymizer
    from veil.anonymizers.onnx import OnnxAnonymizer
    from veil.errors import ModelError

    if isinstance(an, OnnxAnonymizer) and threads is not None and an.threads != threads and Path(an.path).is_file():
        return OnnxAnonymizer(an.path, an.privacy, an.temporal_smoothing, threads, an.batch_size, an.upright)
    if runtime == "torch" or not isinstance(an, LearnedAnonymizer):
        return an
    try:
        return OnnxAnonymizer.from_learned(an, threads=threads)
    except ModelError:
        if runtime == "onnxruntime":
            raise
        return an  # auto: a network that does not export runs with PyTorch


def _runtime_name(an: Anonymizer) -> str:
    from veil.anonymizers.learned import LearnedAnonymizer
    from veil.anonymizers.onnx import OnnxAnonymizer

    if isinstance(an, OnnxAnonymizer):
        return "onnxruntime"
    return "torch" if isinstance(an, LearnedAnonymizer) else "python"


def _check_destination(job: _Job, inputs_real: set[Path], claimed: dict[Path, Path]) -> None:
    """Refuse an output that is an input or that an earlier job of the run writes (claims it otherwise)."""
    assert job.dst is not None
    dst_real = job.dst.resolve()
    if dst_real in inputs_real or _same(job.dst, job.src):
        raise MediaError(f"{job.dst} is an input file; write the outputs to another folder (-o)")
    if dst_real in claimed:
        raise MediaError(f"{claimed[dst_real]} is written to the same output {job.dst}; protect them separately")
    claimed[dst_real] = job.src


def _failed(res: FileResult, job: _Job, e: BaseException) -> FileResult:
    res.status, res.output = "failed", None
    reason = str(e) if isinstance(e, VeilError) else f"{type(e).__name__}: {e}"
    res.reason = reason.removeprefix(f"{job.src}: ")
    return res


def _run_job(job: _Job, an: Anonymizer, cfg: ProtectConfig, inputs_real: set[Path],
             claimed: dict[Path, Path] | None, manifest: Manifest | None = None,
             on_frame: Callable[[int], None] | None = None) -> FileResult:
    """Protect one planned file and say how it went (never raises for a bad file).

    ``claimed`` None: the destination was checked already (:func:`_check_destination`, by
    the Ray driver). With a ``manifest``, an output complete from an earlier run is not
    redone, and a new one is recorded before it is renamed into place and when done.
    """
    res = FileResult(str(job.src), str(job.dst) if job.dst else None, job.kind, job.status, reason=job.problem)
    if job.dst is None:
        return res
    t = time.perf_counter()
    try:
        if claimed is not None:
            _check_destination(job, inputs_real, claimed)
        if manifest is not None and (earlier := manifest.resumed(job)) is not None:
            return earlier
        if job.dst.exists() and not cfg.overwrite:
            raise MediaError(f"{job.dst} exists; pass --overwrite to replace it")
        token = _BEFORE_PUBLISH.set((lambda tmp, dst: manifest.staged(job, tmp)) if manifest is not None else None)
        try:
            _protect_file(job, an, cfg, res, on_frame)
        finally:
            _BEFORE_PUBLISH.reset(token)
    except (VeilError, OSError, RuntimeError, ValueError, MemoryError) as e:
        _failed(res, job, e)
    res.seconds = round(time.perf_counter() - t, 3)
    if manifest is not None and res.status == "protected":
        with contextlib.suppress(OSError):  # the staged record suffices to resume
            manifest.done(job, res)
    return res


def _protect_file(job: _Job, an: Anonymizer, cfg: ProtectConfig, res: FileResult,
                  on_frame: Callable[[int], None] | None) -> None:
    assert job.dst is not None
    if job.kind == "image":
        protect_image_file(job.src, job.dst, an, cfg)
        res.frames = 1
    else:
        total = _frame_count(job.src)
        bar = _bar(cfg.progress, total, job.src.name, "frame", leave=False)
        started = time.perf_counter()

        def frame_done(n: int) -> None:
            bar.update(1)
            if n % 10 == 0:
                bar.set_postfix_str(f"{n / max(time.perf_counter() - started, 1e-9):.1f} fps", refresh=False)
            if on_frame is not None:
                on_frame(n)

        try:
            res.details = protect_video_file(job.src, job.dst, an, cfg, on_frame=frame_done)
        finally:
            bar.close()
        res.frames = int(res.details["frames"])
        damaged = int(res.details.get("damaged_packets") or 0)
        if damaged:
            lost = f" ({total - res.frames} of the {total} frames the header announces)" if total else ""
            res.details["warning"] = (f"{damaged} damaged video packet(s) skipped: their frames were dropped{lost}; "
                                      "every frame written is protected")
        elif total and res.frames < total - 1:  # AVI headers may count one frame more than there is
            res.details["warning"] = (f"decoded {res.frames} of the {total} frames the header announces: "
                                      "the file may be truncated (every frame written is protected)")


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _frame_count(path: Path) -> int | None:
    from veil.media import probe_video

    try:
        return probe_video(path).frames or None
    except MediaError:
        return None


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        pass

    def close(self) -> None:
        pass


def _bar(enabled: bool, total: int | None, desc: str, unit: str, leave: bool = True) -> Any:
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    # disable=None: no bar when stderr is not a terminal (logs, pipes)
    return tqdm(total=total, desc=desc, unit=unit, leave=leave, dynamic_ncols=True, disable=None)
