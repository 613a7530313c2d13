"""The proxy's payload transform: a chat-completions request in, the same request with every
image anonymized out, or a typed refusal. No I/O except an injected remote-image fetcher.

:class:`PayloadTransform` validates the request's shape, decodes each ``image_url`` part
(base64 data URLs; ``http(s)`` URLs only through an opted-in fetcher), applies the
anonymizer, and re-encodes the result without metadata as a new data URL. Everything
else the client wrote (text parts, other fields) is forwarded as it was. Anything the
transform cannot vouch for is refused, so the caller forwards either a fully protected
request or nothing:

- an image that does not decode, is animated (GIF/APNG/WebP with several frames), is
  not PNG/JPEG/WebP/GIF (SVG, TIFF, BMP, ICO...), or declares more pixels than allowed;
- content parts other than ``text``/``refusal`` (text only) and ``image_url``
  (``input_audio``, ``file``, ``video_url``, ``input_image``...), unknown keys in parts;
- an image hidden anywhere else in the JSON (a ``data:`` URL or a base64 string that
  starts like a PNG/JPEG/GIF/WebP file outside an ``image_url`` part).

Each image is protected by :func:`veil.protect.protect_image_bytes`, the function behind
``veil protect``, so both give the same pixels: the EXIF orientation is applied first (the
re-encoded image has no EXIF to say how to rotate it), colours with an ICC profile are
converted to sRGB, grey stays grey, an alpha channel is kept, and no metadata is written.
The output format is PNG by default (lossless: the upstream gets exactly those pixels) or
JPEG (smaller, lossy).
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import io
import re
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from veil.anonymizers.base import Anonymizer
from veil.errors import MediaError
from veil.lru import LruCache
from veil.media import strict_decoding
from veil.protect import protect_image_bytes
from veil.proxy.config import ProxyConfig
from veil.proxy.errors import AnonymizerFailure, ProxyRefusal

#: Pillow decoders tried on request images; everything else (SVG, TIFF, BMP, ICO, PSD...) is refused.
DECODER_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "WEBP", "GIF")  # JPEG also opens MPO (camera JPEGs)
#: Declared MIME types accepted in data URLs (the bytes are checked separately).
IMAGE_MIME_TYPES: frozenset[str] = frozenset({"image/png", "image/jpeg", "image/jpg", "image/webp", "image/gif"})
#: Part types forwarded as they are: they carry text only.
TEXT_PARTS: Mapping[str, str] = {"text": "text", "refusal": "refusal"}
#: Message keys a chat request may carry (anything else could smuggle media past the transform).
MESSAGE_KEYS: frozenset[str] = frozenset({
    "role", "content", "name", "tool_calls", "tool_call_id", "function_call", "refusal", "audio",
    "reasoning_content", "prefix",
})
_MIME_OUT = {"png": "image/png", "jpeg": "image/jpeg"}
_DATA_URL = re.compile(r"data:(?P<mime>[^;,]*)(?P<params>(?:;[^;,]*)*),", re.I)
# A data: URL of any media type, or base64 that starts like a PNG, JPEG, GIF or WebP file.
_HIDDEN_MEDIA = re.compile(r"(?i:data:[\w.+-]+/[\w.+-]+[;,])|iVBORw0KGgo|/9j/|R0lGOD[lh]|UklGR")

#: Deepest JSON nesting accepted (chat requests need a handful of levels; tool schemas a few more).
MAX_DEPTH = 64

Fetch = Callable[[str, str], bytes]


@dataclass(frozen=True)
class TransformResult:
    """The request to forward and how many images were anonymized in it."""

    body: dict[str, Any]
    images: int


def _refuse(message: str, code: str, param: str | None = None, status: int = 400) -> ProxyRefusal:
    return ProxyRefusal(message, code, param, status)


def parse_data_url(url: str, where: str) -> bytes:
    """The bytes of a base64 image data URL, refusing other media types and encodings.

    Raises:
        ProxyRefusal: malformed URL, non-image or SVG type, not base64, empty payload.
    """
    m = _DATA_URL.match(url)
    if m is None:
        raise _refuse(f"{where}: malformed data URL; expected data:image/png;base64,<data>", "invalid_image_url",
                      where)
    mime = m.group("mime").strip().lower()
    if mime not in IMAGE_MIME_TYPES:
        shown = mime[:40] or "none"
        raise _refuse(
            f"{where}: data URL type {shown!r} is refused; send image/png, image/jpeg, image/webp or a "
            "single-frame image/gif (SVG, video, audio and documents are not forwarded)",
            "unsupported_image_type", where)
    if ";base64" not in m.group("params").lower():
        raise _refuse(f"{where}: only base64 data URLs are accepted (data:image/png;base64,...)",
                      "invalid_image_url", where)
    payload = "".join(url[m.end():].split())
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise _refuse(f"{where}: the data URL payload is not valid base64", "invalid_base64", where) from None
    if not raw:
        raise _refuse(f"{where}: the data URL carries no image bytes", "invalid_image", where)
    return raw


def inspect_request_image(data: bytes, where: str, max_pixels: int) -> str:
    """Check an image from its header, before any pixel is decompressed; returns its format.

    Raises:
        ProxyRefusal: not PNG/JPEG/WebP/GIF, unreadable header, animated or
            multi-frame, or more than ``max_pixels`` pixels (decompression bombs).
    """
    strict_decoding()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=DECODER_FORMATS) as im:
                w, h = im.size
                if w < 1 or h < 1 or w * h > max_pixels:
                    raise _refuse(
                        f"{where}: image of {w}x{h} pixels exceeds the proxy's limit of {max_pixels} pixels; "
                        "scale it down before sending (or raise --max-image-pixels)", "image_too_large", where)
                frames = getattr(im, "n_frames", 1)
                if frames != 1 and im.format != "MPO":  # MPO: a JPEG photo with preview frames; frame 0 is used
                    raise _refuse(
                        f"{where}: animated or multi-frame {im.format} image ({frames} frames) is refused; "
                        "send one still frame as PNG or JPEG", "animated_image", where)
                return str(im.format)
    except ProxyRefusal:
        raise
    except UnidentifiedImageError:
        raise _refuse(
            f"{where}: not a PNG, JPEG, WebP or GIF image (SVG, TIFF, BMP and other formats are refused)",
            "unsupported_image_format", where) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning, MemoryError):
        raise _refuse(f"{where}: the image declares more pixels than the proxy decodes (limit {max_pixels}); "
                      "scale it down before sending", "image_too_large", where) from None
    except Exception as e:  # any decoder failure (OSError, ValueError, struct.error...): refuse, never pass on
        raise _refuse(f"{where}: the image is corrupt or truncated ({type(e).__name__})", "invalid_image",
                      where) from None


def encode_png(image: Image.Image, compression: int = 1) -> bytes:
    """Lossless PNG of a PIL image's pixels, with no metadata at all.

    Grey, RGB and RGBA go through OpenCV (zlib level ``compression``, the ``UP`` filter:
    5-10x faster than Pillow's default for the same pixels; OpenCV writes no text, EXIF or
    ICC chunks); other modes through Pillow without ``pnginfo``/``exif``/``icc_profile``.
    """
    mode = image.mode
    if mode not in ("L", "RGB", "RGBA"):
        buf = io.BytesIO()
        Image.frombytes(mode, image.size, image.tobytes()).save(buf, "PNG", compress_level=compression)
        return buf.getvalue()
    to_bgr = {"RGB": cv2.COLOR_RGB2BGR, "RGBA": cv2.COLOR_RGBA2BGRA}.get(mode)
    arr = np.asarray(image) if to_bgr is None else cv2.cvtColor(np.asarray(image), to_bgr)
    ok, buf = cv2.imencode(".png", arr, [cv2.IMWRITE_PNG_COMPRESSION, compression,
                                         cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP])
    if not ok:
        raise RuntimeError("OpenCV could not encode the protected image as PNG")
    return buf.tobytes()


class _Guarded(Anonymizer):
    """The configured anonymizer, with its failures raised as :class:`AnonymizerFailure`, so
    that they are told apart from decoding failures (a 500, not a 4xx)."""

    name = "guarded"

    def __init__(self, inner: Anonymizer, where: str) -> None:
        self.inner, self.where = inner, where

    def apply(self, image: np.ndarray) -> np.ndarray:
        try:
            return self.inner(image)
        except Exception as e:
            raise AnonymizerFailure(
                f"{self.where}: the anonymizer failed on this image ({type(e).__name__}); nothing was forwarded",
                "anonymizer_failed", self.where) from e


def _walk_strings(value: Any, skip: set[int]) -> Iterator[tuple[str, str]]:
    """(path, string) for every string in a JSON value, skipping objects whose id is in
    ``skip``; iterative, and refusing nesting deeper than ``MAX_DEPTH``."""
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        v, path, depth = stack.pop()
        if id(v) in skip:
            continue
        if depth > MAX_DEPTH:
            raise _refuse(f"the request is nested more than {MAX_DEPTH} levels deep", "invalid_request", path[:120])
        if isinstance(v, str):
            yield path, v
        elif isinstance(v, Mapping):
            stack.extend((x, f"{path}.{k}" if path else str(k), depth + 1) for k, x in v.items())
        elif isinstance(v, list):
            stack.extend((x, f"{path}[{i}]", depth + 1) for i, x in enumerate(v))


class PayloadTransform:
    """Request JSON -> request JSON with every image anonymized; refuses what it cannot protect.

    Args:
        anonymizer: applied to every image (its ``__call__``, which checks the output shape).
        config: limits, output format and the remote-image policy.
        fetch: ``fetch(url, where) -> bytes`` for ``http(s)`` image URLs; required when
            ``config.allow_remote_images`` (it enforces the host allow-list and size limit).

    Calling the transform never mutates its input and is thread-safe; anonymizer calls are
    serialized (not every anonymizer is safe to call from several threads).

    Example:
        >>> cfg = ProxyConfig("blur:sigma=8", "http://127.0.0.1:11434/v1")
        >>> t = PayloadTransform(create_anonymizer(cfg.anonymizer), cfg)
        >>> t({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).images
        0
    """

    def __init__(self, anonymizer: Anonymizer, config: ProxyConfig, fetch: Fetch | None = None) -> None:
        if config.allow_remote_images and fetch is None:
            raise ValueError("allow_remote_images needs a fetch function")
        self.anonymizer = anonymizer
        self.config = config
        self.fetch = fetch
        self._lock = threading.Lock()
        # protected re-encodings of recent images, by a hash of the bytes the client sent (only
        # protected images are kept)
        self._protected = LruCache(int(config.protected_cache_mb * 1024 * 1024), size_of=len)

    # ------------------------------------------------------------------ validation

    def _check_top(self, body: Any) -> list[Any]:
        if not isinstance(body, dict):
            raise _refuse(f"the request body must be a JSON object, got {type(body).__name__}", "invalid_request")
        model = body.get("model")
        if not isinstance(model, str) or not model.strip():
            raise _refuse("'model' must be a non-empty string", "invalid_request", "model")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _refuse("'messages' must be a non-empty list of message objects", "invalid_request", "messages")
        if "stream" in body and not isinstance(body["stream"], bool | None):
            raise _refuse("'stream' must be true or false", "invalid_request", "stream")
        if "stream_options" in body and not isinstance(body["stream_options"], dict | None):
            raise _refuse("'stream_options' must be an object", "invalid_request", "stream_options")
        return messages

    def _image_parts(self, msg: Any, i: int) -> list[tuple[int, dict[str, Any]]]:
        """Check one message; its image parts as (index in content, part), checked later."""
        where = f"messages[{i}]"
        if not isinstance(msg, dict):
            raise _refuse(f"{where} must be an object with 'role' and 'content'", "invalid_request", where)
        role = msg.get("role")
        if not isinstance(role, str) or not role:
            raise _refuse(f"{where} has no 'role' string", "invalid_request", f"{where}.role")
        extra = sorted(set(msg) - MESSAGE_KEYS)
        if extra:
            raise _refuse(
                f"{where} has unsupported field(s) {', '.join(repr(k[:40]) for k in extra[:5])}; the proxy forwards "
                "only the chat-completions message fields (role, content, name, tool_calls, ...)",
                "unsupported_field", f"{where}.{extra[0][:40]}")
        if "content" not in msg:
            if role == "assistant":
                return []
            raise _refuse(f"{where} ({role[:40]!r}) has no 'content'", "invalid_request", f"{where}.content")
        content = msg["content"]
        if isinstance(content, str) or (content is None and role == "assistant"):
            return []
        if not isinstance(content, list) or not content:
            raise _refuse(f"{where}.content must be a string or a non-empty list of content parts", "invalid_request",
                          f"{where}.content")
        out = []
        for j, part in enumerate(content):
            pw = f"{where}.content[{j}]"
            if not isinstance(part, dict):
                raise _refuse(f"{pw} must be an object with a 'type'", "invalid_request", pw)
            kind = part.get("type")
            if kind in TEXT_PARTS:
                key = TEXT_PARTS[kind]
                if not isinstance(part.get(key), str) or set(part) != {"type", key}:
                    raise _refuse(f"{pw} must be exactly {{'type': {kind!r}, {key!r}: <string>}}", "invalid_request",
                                  pw)
            elif kind == "image_url":
                out.append((j, part))
            else:
                shown = repr(kind)[:40] if isinstance(kind, str) else type(kind).__name__
                raise _refuse(
                    f"{pw} has type {shown}; the proxy forwards only 'text' and 'image_url' parts (audio, files and "
                    "video cannot be anonymized, so they are refused)", "unsupported_content", pw)
        return out

    def _image_url(self, part: dict[str, Any], pw: str) -> tuple[str, str | None]:
        ref = part.get("image_url")
        if set(part) != {"type", "image_url"}:
            raise _refuse(f"{pw} must be exactly {{'type': 'image_url', 'image_url': {{'url': ...}}}}",
                          "invalid_request", pw)
        if isinstance(ref, str):
            return ref, None
        if not isinstance(ref, dict) or not isinstance(ref.get("url"), str) or not set(ref) <= {"url", "detail"}:
            raise _refuse(f"{pw}.image_url must be {{'url': <string>, 'detail'?: <string>}}", "invalid_request",
                          f"{pw}.image_url")
        detail = ref.get("detail")
        if detail is not None and not isinstance(detail, str):
            raise _refuse(f"{pw}.image_url.detail must be a string (low, high, auto)", "invalid_request",
                          f"{pw}.image_url.detail")
        return ref["url"], detail

    # ------------------------------------------------------------------ images

    def _image_bytes(self, url: str, where: str) -> bytes:
        head = url[:12].lstrip().lower()
        if head.startswith("data:"):
            return parse_data_url(url.lstrip(), where)
        if head.startswith(("http://", "https://")):
            if not self.config.allow_remote_images or self.fetch is None:
                raise _refuse(
                    f"{where}: remote image URLs are refused (the proxy does not open connections chosen by "
                    "clients); send the image inline as a data URL (data:image/png;base64,...)",
                    "remote_image_refused", where)
            return self.fetch(url.strip(), where)
        raise _refuse(f"{where}: expected a data URL (data:image/png;base64,...)", "invalid_image_url", where)

    def protect(self, data: bytes, where: str = "image") -> bytes:
        """Check, anonymize and re-encode one image: the bytes the upstream will get.

        Raises:
            ProxyRefusal: the image is refused (see :func:`inspect_request_image`) or does
                not decode.
            AnonymizerFailure: the anonymizer raised or returned something invalid.
        """
        key = hashlib.blake2b(data, digest_size=32).digest()
        hit = self._protected.get(key)
        if hit is not None:  # these very bytes were protected before (a chat re-sends its images every turn)
            return hit
        out = self._protect(data, where)
        self._protected.put(key, out)
        return out

    def _protect(self, data: bytes, where: str) -> bytes:
        cfg = self.config
        inspect_request_image(data, where, cfg.max_image_pixels)
        fmt = "jpeg" if cfg.output_format == "jpeg" else "tiff"  # TIFF: a fast lossless hand-over, re-encoded below
        try:
            with self._lock:
                out = protect_image_bytes(data, _Guarded(self.anonymizer, where), fmt=fmt, keep_metadata=False,
                                          quality=cfg.jpeg_quality, max_pixels=cfg.max_image_pixels, name=where,
                                          max_side=cfg.max_side)
        except AnonymizerFailure:
            raise
        except MediaError as e:
            raise _refuse(f"{where}: the image is corrupt or truncated and cannot be protected", "invalid_image",
                          where) from e
        except Exception as e:  # a decoder failure outside the anonymizer: refuse, never pass on
            raise _refuse(f"{where}: the image could not be decoded ({type(e).__name__})", "invalid_image",
                          where) from e
        if fmt == "jpeg":
            return out
        with Image.open(io.BytesIO(out), formats=("TIFF",)) as im:
            im.load()
            return encode_png(im, cfg.png_compression)

    def __call__(self, body: Any) -> TransformResult:
        """The request to forward, every image replaced by its anonymized re-encoding.

        Raises:
            ProxyRefusal: the request (or one of its images) is refused; forward nothing.
            AnonymizerFailure: the anonymizer failed; forward nothing.
        """
        messages = self._check_top(body)
        found: list[tuple[int, int, str, dict[str, Any]]] = []
        for i, msg in enumerate(messages):
            for j, part in self._image_parts(msg, i):
                found.append((i, j, f"messages[{i}].content[{j}]", part))
        if len(found) > self.config.max_images:
            raise _refuse(f"the request carries {len(found)} images; the proxy's limit is {self.config.max_images} "
                          "(raise --max-images or split the request)", "too_many_images", "messages")
        urls = [(i, j, pw, *self._image_url(part, pw)) for i, j, pw, part in found]
        skip = {id(part) for *_, part in found}
        for path, text in _walk_strings(body, skip):
            if _HIDDEN_MEDIA.match(text.lstrip()[:64]):
                raise _refuse(
                    f"{path[:120]}: looks like an image or other media outside an image_url part; the proxy cannot "
                    "anonymize it there, so the request is refused (send images as image_url parts)",
                    "unsupported_content", path[:120])
        out = copy.deepcopy(body)  # strings are shared, not copied: cheap even with large images
        mime = _MIME_OUT[self.config.output_format]
        for i, j, pw, url, detail in urls:
            protected = self.protect(self._image_bytes(url, pw), pw)
            ref: dict[str, Any] = {"url": f"data:{mime};base64,{base64.b64encode(protected).decode('ascii')}"}
            if detail is not None:
                ref["detail"] = detail
            out["messages"][i]["content"][j] = {"type": "image_url", "image_url": ref}
        return TransformResult(out, len(urls))
