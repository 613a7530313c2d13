"""Image and video I/O: safe decoding, RGB uint8 arrays, atomic writes without metadata.

Everything inside Veil is an RGB ``uint8`` array of shape (H, W, 3). Decoding refuses
files that are missing, corrupt, or larger than ``MAX_PIXELS`` (decompression bombs).
Writing re-encodes pixels only, so EXIF, GPS, XMP and ICC data never travel. Videos are
re-encoded with PyAV (:func:`transcode_video`): frame rate, frame count, size and audio
are kept, container tags are not.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import queue
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from veil.errors import MediaError
from veil.fsutil import atomic_write_bytes

MAX_PIXELS = 64_000_000
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".heic", ".heif")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


def strict_decoding() -> None:
    """Make PIL refuse truncated images again (fail closed).

    ``face_recognition`` turns ``ImageFile.LOAD_TRUNCATED_IMAGES`` on for the whole process
    when it is imported, after which PIL silently decodes a cut-off JPEG or PNG into a
    partly grey picture. Every decoder in Veil calls this first. It also lets PIL open HEIC
    and HEIF photos (what iPhones take; ``pillow-heif``), upright (their rotation and mirror
    applied) and without decoding their embedded previews, which are never written out.
    """
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    _register_heif()


@functools.cache
def _register_heif() -> bool:
    """Register pillow-heif's HEIF opener once; False when it is not installed (HEIC files
    are then refused as unreadable, like any other format PIL cannot open)."""
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)
    return True


def fit_long_side(image: np.ndarray, max_side: int | None) -> np.ndarray:
    """The image (H, W[, C]) scaled down by area so its longer side is at most ``max_side``
    (never up; None or 0: as it is)."""
    h, w = image.shape[:2]
    if not max_side or max(h, w) <= max_side:
        return image
    s = max_side / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def decode_image(data: bytes, name: str = "<bytes>", max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode encoded image bytes to RGB uint8, refusing corrupt data and oversized images.

    Raises:
        MediaError: naming ``name`` when the bytes are not a readable image.
    """
    strict_decoding()
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


# ----------------------------------------------------------------------------- video re-encoding (PyAV)

#: Container format written for each video suffix.
VIDEO_CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".avi": "avi", ".mkv": "matroska", ".webm": "webm"}
#: Input video codecs re-encoded with the same codec (fast and widely playable); others get the default.
KEEP_VIDEO_CODECS = frozenset({"h264", "mpeg4", "msmpeg4v3", "msmpeg4v2", "mjpeg", "mpeg2video", "vp8", "vp9"})
DEFAULT_VIDEO_CODECS = {"mp4": "h264", "mov": "h264", "matroska": "h264", "avi": "mpeg4", "webm": "vp9"}
#: Audio codecs each container takes as they are (copied, not re-encoded); None: any codec.
COPY_AUDIO_CODECS: dict[str, frozenset[str] | None] = {
    "mp4": frozenset({"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"}),
    "mov": frozenset({"aac", "mp3", "alac", "ac3", "eac3", "pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_f32le"}),
    "avi": frozenset({"mp3", "mp2", "ac3", "aac", "pcm_s16le", "pcm_u8"}),
    "matroska": None,
    "webm": frozenset({"opus", "vorbis"}),
}
DEFAULT_AUDIO_CODECS = {"mp4": "aac", "mov": "aac", "matroska": "aac", "avi": "libmp3lame", "webm": "libopus"}
_STANDARD_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}
#: libx264 constant rate factor (18: visually close to lossless) and preset of re-encoded H.264.
H264_OPTIONS = {"crf": "18", "preset": "veryfast"}
VP9_OPTIONS = {"crf": "31", "b": "0", "deadline": "realtime", "cpu-used": "8", "row-mt": "1"}
#: Fixed quantizer of the MPEG-4 family and MJPEG (2: best ... 31: worst).
MPEG_QSCALE = 3
#: Frames queued between the decoder, the transform and the encoder threads.
PIPELINE_QUEUE = 8
#: Share of damaged video packets above which a video fails as a whole instead of losing frames.
MAX_DAMAGED_SHARE = 0.25


@dataclass(frozen=True)
class VideoProbe:
    """What a video file holds: the first video stream and the audio streams."""

    fps: float
    frames: int
    width: int
    height: int
    codec: str
    audio: tuple[str, ...]
    duration: float | None
    metadata: dict[str, str] = field(default_factory=dict)


def probe_video(path: str | os.PathLike[str]) -> VideoProbe:
    """Frame rate, frame count (from the header; 0 when the container does not say), size,
    codecs and container tags of a video, read with PyAV.

    Raises:
        MediaError: the file is missing or holds no readable video stream.
    """
    import av

    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: file not found")
    try:
        with av.open(str(path)) as c:
            vs = _main_video_stream(c, path)
            rate = vs.average_rate or vs.guessed_rate or vs.base_rate
            dur = float(c.duration) / 1e6 if c.duration else None
            return VideoProbe(
                fps=float(rate) if rate else 0.0,
                frames=int(vs.frames or 0),
                width=int(vs.codec_context.width),
                height=int(vs.codec_context.height),
                codec=vs.codec.canonical_name,
                audio=tuple(a.codec.canonical_name for a in c.streams.audio),
                duration=dur,
                metadata=dict(c.metadata),
            )
    except av.FFmpegError as e:
        raise MediaError(f"{path}: not a readable video ({e})") from None


def _main_video_stream(container: Any, path: Path) -> Any:
    import av

    streams = [s for s in container.streams.video if not (s.disposition & av.stream.Disposition.attached_pic)]
    if not streams:
        raise MediaError(f"{path}: no video stream")
    return streams[0]


@dataclass(frozen=True)
class VideoResult:
    """What :func:`transcode_video` wrote."""

    frames: int
    fps: float
    width: int
    height: int
    codec: str
    audio: tuple[str, ...]  # per audio stream: "copy <codec>" or "<from> -> <to>"
    dropped_streams: int  # subtitle, data, attachment and extra video streams (not written)
    #: video packets the decoder refused (damaged data): their frames are not in the output
    damaged_packets: int = 0
    #: seconds spent decoding (``decode_s``) and encoding and writing (``encode_s``), each in its thread
    timings: dict[str, float] = field(default_factory=dict)


def transcode_video(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    transform: Callable[[Iterator[np.ndarray]], Iterable[np.ndarray]],
    *,
    container: str | None = None,
    codec: str | None = None,
    keep_metadata: bool = False,
    max_pixels: int = MAX_PIXELS,
    on_frame: Callable[[int], None] | None = None,
) -> VideoResult:
    """Decode ``src``, pass every frame through ``transform``, and encode the result to ``dst``.

    Frames are RGB uint8 (H, W, 3), already turned upright when the stream carries a
    rotation (the display matrix is not written, so players show what the transform saw).
    The output keeps the frame rate, the frame count and the size; audio streams are
    copied as they are when the container takes their codec, else re-encoded
    (:data:`DEFAULT_AUDIO_CODECS`). Subtitle, data (e.g. GPS tracks) and attachment
    streams are dropped. Container and stream tags (title, creation time, location,
    encoder...) are written only with ``keep_metadata``. ``dst`` is written in place: call
    it on a temporary path and rename (see :mod:`veil.fsutil`).

    Decoding and encoding run in their own threads, beside the transform (which runs in
    the calling thread), with small queues between them. A video packet the decoder
    refuses (damaged data) is skipped: its frames are not written and are counted in
    ``damaged_packets``; when more than :data:`MAX_DAMAGED_SHARE` of the video packets are
    damaged, or no frame decodes, the video fails as a whole. Every frame written went
    through ``transform``.

    Args:
        src: the input video.
        dst: the output file.
        transform: maps the iterator of input frames to the output frames, one for one and
            in order (it may read ahead, e.g. to run frames in batches).
        container: output container (``mp4``, ``avi``, ``matroska``...); from ``dst``'s
            suffix when None.
        codec: video encoder; when None, the input's codec if it is in
            :data:`KEEP_VIDEO_CODECS`, else the container's default.
        keep_metadata: copy container and stream tags.
        max_pixels: refuse larger frames.
        on_frame: called with the number of frames written so far (progress).

    Raises:
        MediaError: ``src`` is not a readable video, a frame is too large, too many packets
            are damaged, or the transform changed the number, size or type of frames.
    """
    import av

    src, dst = Path(src), Path(dst)
    fmt = container or VIDEO_CONTAINERS.get(dst.suffix.lower())
    if fmt is None:
        raise MediaError(f"{dst}: unknown video container; use one of {', '.join(sorted(VIDEO_CONTAINERS))}")
    try:
        inp = av.open(str(src))
    except (av.FFmpegError, OSError) as e:
        raise MediaError(f"{src}: not a readable video ({e})") from None
    try:
        with inp, av.open(str(dst), "w", format=fmt) as out:
            return _transcode(inp, out, src, fmt, transform, codec, keep_metadata, max_pixels, on_frame)
    except av.FFmpegError as e:
        raise MediaError(f"{src}: cannot re-encode this video ({e})") from None


def _video_encoder(out: Any, fmt: str, codec: str | None, in_codec: str, rate: Fraction, w: int, h: int) -> Any:
    from av.codec.codec import Codec

    names = [DEFAULT_VIDEO_CODECS[fmt]]
    if codec:
        names = [codec]
    elif in_codec in KEEP_VIDEO_CODECS:
        names.insert(0, in_codec)  # the container may not take it: then the default
    for i, name in enumerate(names):
        try:
            enc = Codec(name, "w")
            vs = out.add_stream(name, rate=rate)
            break
        except Exception as e:  # av raises UnknownCodecError, ValueError (not in this container)...
            if i == len(names) - 1:
                raise MediaError(f"cannot encode {fmt} video with {name!r} ({e}); choose another codec") from None
    vs.width, vs.height = w, h
    formats = [f.name for f in (enc.video_formats or [])]
    # 4:2:0 (the most playable) needs even sides for most encoders; 4:4:4 keeps an odd size exact.
    prefer = ("yuv420p", "yuvj420p") if w % 2 == 0 and h % 2 == 0 else ("yuv444p", "yuvj444p", "yuv420p")
    if formats and formats[0].startswith("yuvj"):  # JPEG encoders (MJPEG) open with full-range formats only
        prefer = tuple(sorted(prefer, key=lambda f: not f.startswith("yuvj")))
    vs.pix_fmt = next((f for f in prefer if f in formats), formats[0] if formats else "yuv420p")
    if enc.name == "libx264":
        vs.codec_context.options = dict(H264_OPTIONS)
    elif enc.name in ("libvpx-vp9", "libvpx"):
        vs.codec_context.options = dict(VP9_OPTIONS)
    elif enc.canonical_name in ("mpeg4", "msmpeg4v3", "msmpeg4v2", "mjpeg", "mpeg2video"):
        vs.codec_context.qscale = True
        vs.codec_context.global_quality = MPEG_QSCALE * 118  # FF_QP2LAMBDA
    return vs


def _transcode(
    inp: Any, out: Any, src: Path, fmt: str, transform: Callable[[Iterator[np.ndarray]], Iterable[np.ndarray]],
    codec: str | None, keep_metadata: bool, max_pixels: int, on_frame: Callable[[int], None] | None,
) -> VideoResult:
    import av

    vin = _main_video_stream(inp, src)
    vin.thread_type = "AUTO"
    rate = Fraction(vin.average_rate or vin.guessed_rate or vin.base_rate or 25).limit_denominator(1001)
    copy_ok = COPY_AUDIO_CODECS[fmt]
    audio_map: dict[Any, tuple[Any, bool]] = {}
    audio_desc: list[str] = []
    for a in inp.streams.audio:
        name = a.codec.canonical_name
        if copy_ok is None or name in copy_ok:
            audio_map[a] = (out.add_stream_from_template(a), True)
            audio_desc.append(f"copy {name}")
        else:
            to = DEFAULT_AUDIO_CODECS[fmt]
            oa = out.add_stream(to, rate=a.codec_context.sample_rate or 48000)
            channels = a.codec_context.layout.nb_channels if a.codec_context.layout is not None else 2
            if to == "libmp3lame":
                channels = min(channels, 2)  # MP3 has at most two channels
            oa.layout = _STANDARD_LAYOUTS.get(channels, "stereo")  # an unnamed layout is refused by encoders
            audio_map[a] = (oa, False)
            audio_desc.append(f"{name} -> {oa.codec.canonical_name}")
    dropped = len(inp.streams) - 1 - len(audio_map)
    if keep_metadata:
        out.metadata.update(inp.metadata)
        for a, (oa, _) in audio_map.items():
            oa.metadata.update(a.metadata)
    for oa, _ in audio_map.values():
        if not keep_metadata:
            oa.metadata.clear()

    def upright(frame: Any) -> np.ndarray:
        img = frame.to_ndarray(format="rgb24")
        k = round((frame.rotation or 0) / 90) % 4
        img = np.ascontiguousarray(np.rot90(img, k)) if k else img
        if img.shape[0] * img.shape[1] > max_pixels:
            raise MediaError(f"{src}: frames of {img.shape[1]}x{img.shape[0]} exceed {max_pixels} pixels")
        return img

    def mux_audio(packet: Any) -> None:
        oa, copy = audio_map[packet.stream]
        if copy:
            if packet.dts is not None:  # else the demuxer's flush packet
                packet.stream = oa
                out.mux(packet)
            return
        for af in packet.decode():
            af.pts = None  # the encoder counts samples
            out.mux(oa.encode(af))

    # Every stream must exist before the first packet is written: find the first frame (its
    # rotation gives the output size), holding back the audio read before it.
    packets = inp.demux(vin, *audio_map)
    held: list[Any] = []
    first: list[Any] = []
    damaged = video_packets = 0
    for packet in packets:
        if packet.stream is not vin:
            held.append(packet)
            continue
        video_packets += 1
        try:
            first = list(packet.decode())
        except av.InvalidDataError:
            damaged += 1
            continue
        if first:
            break
    if not first:
        raise MediaError(f"{src}: video has no readable frames")
    img0 = upright(first[0])
    shape = img0.shape
    vs = _video_encoder(out, fmt, codec, vin.codec.canonical_name, rate, shape[1], shape[0])
    if keep_metadata:
        vs.metadata.update({k: v for k, v in vin.metadata.items() if k != "rotate"})
    times: list[float | None] = []
    timings = {"decode_s": 0.0, "encode_s": 0.0}
    stop = threading.Event()
    decoded: queue.Queue[tuple[Any, ...]] = queue.Queue(maxsize=PIPELINE_QUEUE)
    to_encode: queue.Queue[tuple[Any, ...]] = queue.Queue(maxsize=PIPELINE_QUEUE)
    enc_error: list[BaseException] = []

    def put(q: queue.Queue[tuple[Any, ...]], item: tuple[Any, ...]) -> None:
        while True:  # never blocks for good: a stopped run or a dead encoder ends the wait
            if stop.is_set():
                raise _Stopped
            if enc_error:
                raise MediaError(f"{src}: encoding failed ({enc_error[0]})") from enc_error[0]
            try:
                q.put(item, timeout=0.05)
                return
            except queue.Full:
                continue

    def get(q: queue.Queue[tuple[Any, ...]]) -> tuple[Any, ...]:
        while True:
            if stop.is_set():
                raise _Stopped
            if enc_error:
                raise MediaError(f"{src}: encoding failed ({enc_error[0]})") from enc_error[0]
            try:
                return q.get(timeout=0.05)
            except queue.Empty:
                continue

    def decode_worker() -> None:
        nonlocal damaged, video_packets
        try:
            for packet in packets:
                if packet.stream is not vin:
                    put(decoded, ("audio", packet))
                    continue
                t0 = time.perf_counter()
                video_packets += packet.size > 0
                try:
                    frames_out = list(packet.decode())
                except av.InvalidDataError:  # a damaged packet: its frames are dropped and counted
                    damaged += 1
                    continue
                imgs = [(upright(f), f.time) for f in frames_out]
                timings["decode_s"] += time.perf_counter() - t0
                for img, t in imgs:
                    put(decoded, ("video", img, t))
            put(decoded, ("end",))
        except _Stopped:
            return
        except BaseException as e:  # handed to the transform's thread, which fails the video
            with contextlib.suppress(_Stopped):
                put(decoded, ("error", e))

    def encode_worker() -> None:
        try:
            while True:
                item = to_encode.get()
                t0 = time.perf_counter()
                if item[0] == "audio":
                    mux_audio(item[1])
                elif item[0] == "video":
                    vf = av.VideoFrame.from_ndarray(item[1], format="rgb24")
                    vf.pts, vf.time_base = item[2], 1 / rate
                    out.mux(vs.encode(vf))
                else:  # "end": flush the encoders, or "stop"
                    if item[0] == "end":
                        out.mux(vs.encode(None))
                        for oa, copy in audio_map.values():
                            if not copy:
                                out.mux(oa.encode(None))
                    return
                timings["encode_s"] += time.perf_counter() - t0
        except BaseException as e:
            enc_error.append(e)

    def frames() -> Iterator[np.ndarray]:
        for i, frame in enumerate(first):
            times.append(frame.time)
            yield img0 if i == 0 else upright(frame)
        while True:
            item = get(decoded)
            if item[0] == "audio":
                put(to_encode, item)
            elif item[0] == "video":
                times.append(item[2])
                yield item[1]
            elif item[0] == "error":
                raise item[1]
            else:
                return

    decoder = threading.Thread(target=decode_worker, name="veil-decode", daemon=True)
    encoder = threading.Thread(target=encode_worker, name="veil-encode", daemon=True)
    n_out, last_pts = 0, -1
    try:
        decoder.start()
        encoder.start()
        for packet in held:
            put(to_encode, ("audio", packet))
        held.clear()
        for img in transform(frames()):
            if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.shape != shape:
                got = f"{getattr(img, 'dtype', type(img).__name__)} {getattr(img, 'shape', '')}"
                raise MediaError(f"{src}: the transform returned {got} for frame {n_out}, expected uint8 {shape}")
            t = times[n_out] if n_out < len(times) else None
            pts = round(t * rate) if t is not None else last_pts + 1
            last_pts = max(last_pts + 1, pts)
            put(to_encode, ("video", img, last_pts))
            n_out += 1
            if on_frame is not None:
                on_frame(n_out)
        if n_out != len(times):
            raise MediaError(f"{src}: the transform returned {n_out} frames for {len(times)}")
        if damaged and damaged > MAX_DAMAGED_SHARE * max(video_packets, 1):
            raise MediaError(f"{src}: {damaged} of {video_packets} video packets are damaged; nothing written")
        put(to_encode, ("end",))
        while encoder.is_alive():
            encoder.join(0.05)
        if enc_error:
            raise MediaError(f"{src}: encoding failed ({enc_error[0]})") from enc_error[0]
    finally:
        stop.set()
        if encoder.is_alive():
            with contextlib.suppress(queue.Full):
                to_encode.put_nowait(("stop",))
        # the containers close after this function: no thread may still use them
        for th in (decoder, encoder):
            if th.ident is not None:
                while th.is_alive():
                    with contextlib.suppress(queue.Empty):
                        (decoded if th is decoder else to_encode).get_nowait()
                    if th is encoder:
                        with contextlib.suppress(queue.Full):
                            to_encode.put_nowait(("stop",))
                    th.join(0.05)
    return VideoResult(n_out, float(rate), shape[1], shape[0], vs.codec.canonical_name, tuple(audio_desc), dropped,
                       damaged, {k: round(v, 3) for k, v in timings.items()})


class _Stopped(Exception):
    """The video pipeline is shutting down (another stage failed or finished)."""
