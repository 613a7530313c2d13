"""The OpenAI chat-completions message format for (images, prompt) queries.

Cloud multimodal services, Ollama, vLLM, LM Studio and llama.cpp's server all accept
``messages`` in this shape: one user message whose ``content`` is a list of parts, text
parts ``{"type": "text", "text": ...}`` and image parts ``{"type": "image_url",
"image_url": {"url": "data:image/png;base64,..."}}``. These functions write that shape
from pixels, read it back into pixels (only inline data URLs: a remote URL is refused,
Veil never fetches images), and shape an :class:`~veil.blackbox.base.Answer`'s choice
log-probabilities like ``choices[0].logprobs.content`` of a chat-completions response.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from veil.anonymizers.base import check_image
from veil.blackbox.base import Answer
from veil.errors import ConfigError, MediaError
from veil.media import decode_image, encode_image

_MIME = {"png": "image/png", "jpeg": "image/jpeg", "jpg": "image/jpeg", "webp": "image/webp"}
_DATA_URL = re.compile(r"^data:(?P<mime>[^;,]*)(?P<params>(?:;[^;,]*)*),(?P<data>.*)$", re.S)


def image_to_data_url(image: np.ndarray, fmt: str = "png") -> str:
    """An RGB uint8 image as a ``data:image/...;base64,...`` URL (no metadata)."""
    key = fmt.lower().lstrip(".")
    if key not in _MIME:
        raise ConfigError(f"unsupported image format {fmt!r} for a data URL; choose one of: png, jpeg, webp")
    data = base64.b64encode(encode_image(check_image(image), key)).decode("ascii")
    return f"data:{_MIME[key]};base64,{data}"


def data_url_to_image(url: str, where: str = "image") -> np.ndarray:
    """Decode a base64 image data URL to RGB uint8.

    Raises:
        ConfigError: ``url`` is a remote (http/https) or other non-data URL.
        MediaError: the data URL is malformed, not base64, not an image type, or its
            bytes are not a readable image.
    """
    if not isinstance(url, str):
        raise ConfigError(f"{where}: the image URL must be a string, got {type(url).__name__}")
    head = url[:16].lower()
    if head.startswith(("http://", "https://")):
        raise ConfigError(
            f"{where}: remote image URLs are refused ({url[:60]!r}); send the pixels inline "
            "as a data URL (data:image/png;base64,...), Veil never fetches images"
        )
    if not head.startswith("data:"):
        raise ConfigError(f"{where}: expected an image data URL (data:image/png;base64,...), got {url[:40]!r}")
    m = _DATA_URL.match(url)
    if m is None:
        raise MediaError(f"{where}: malformed data URL (expected data:image/<type>;base64,<data>)")
    mime = m.group("mime").strip().lower()
    if mime and not mime.startswith("image/"):
        raise MediaError(f"{where}: data URL has type {mime!r}, expected an image type such as image/png")
    if ";base64" not in m.group("params").lower():
        raise MediaError(f"{where}: only base64 data URLs are supported (data:image/png;base64,...)")
    try:
        raw = base64.b64decode("".join(m.group("data").split()), validate=True)
    except (binascii.Error, ValueError) as e:
        raise MediaError(f"{where}: data URL payload is not valid base64 ({e})") from None
    if not raw:
        raise MediaError(f"{where}: data URL carries no image bytes")
    return decode_image(raw, where)


def images_to_messages(images: Sequence[np.ndarray], prompt: str, fmt: str = "png") -> list[dict[str, Any]]:
    """One user message: the prompt as a text part, then each image as a data-URL part."""
    content: list[dict[str, Any]] = [{"type": "text", "text": prompt}]
    for im in images:
        content.append({"type": "image_url", "image_url": {"url": image_to_data_url(im, fmt)}})
    return [{"role": "user", "content": content}]


def messages_to_query(messages: Sequence[Mapping[str, Any]]) -> tuple[list[np.ndarray], str]:
    """The images (in order) and the prompt (text parts joined by newlines) of the user
    messages; other roles (system, assistant, ...) are ignored.

    Raises:
        ConfigError: the structure is not a list of messages with roles and content parts,
            an image is given by a remote URL, or there is no text or no image.
        MediaError: an image data URL is malformed or does not decode.
    """
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise ConfigError(f"messages must be a list of message objects, got {type(messages).__name__}")
    images: list[np.ndarray] = []
    texts: list[str] = []
    for i, msg in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(msg, Mapping):
            raise ConfigError(f"{where} must be an object with 'role' and 'content', got {type(msg).__name__}")
        role = msg.get("role")
        if not isinstance(role, str):
            raise ConfigError(f"{where} has no 'role' string")
        if role != "user":
            continue
        content = msg.get("content")
        if isinstance(content, str):
            texts.append(content)
            continue
        if isinstance(content, (bytes, Mapping)) or not isinstance(content, Sequence):
            raise ConfigError(f"{where}.content must be a string or a list of parts, got {type(content).__name__}")
        for j, part in enumerate(content):
            pw = f"{where}.content[{j}]"
            if not isinstance(part, Mapping):
                raise ConfigError(f"{pw} must be an object with a 'type', got {type(part).__name__}")
            kind = part.get("type")
            if kind == "text":
                text = part.get("text")
                if not isinstance(text, str):
                    raise ConfigError(f"{pw} is a text part without a 'text' string")
                texts.append(text)
            elif kind == "image_url":
                ref = part.get("image_url")
                url = ref.get("url") if isinstance(ref, Mapping) else ref
                if url is None:
                    raise ConfigError(f"{pw} is an image part without 'image_url': {{'url': ...}}")
                images.append(data_url_to_image(url, pw))
            else:
                raise ConfigError(f"{pw} has unsupported type {kind!r}; expected 'text' or 'image_url'")
    prompt = "\n".join(t for t in texts if t.strip())
    if not prompt:
        raise ConfigError("the user messages contain no text prompt")
    if not images:
        raise ConfigError("the user messages contain no image (add an image_url part with a data URL)")
    return images, prompt


def answer_to_logprobs_content(answer: Answer, top_logprobs: int | None = None) -> list[dict[str, Any]]:
    """``Answer.logprobs`` shaped like a chat-completions ``choices[0].logprobs.content``.

    One entry whose token is the whole answer text, with its log-probability, and
    ``top_logprobs`` listing the choices best first (at most ``top_logprobs`` of them).
    Empty when the answer has no log-probabilities.
    """
    if not answer.logprobs:
        return []
    ranked = sorted(answer.logprobs.items(), key=lambda kv: (-kv[1], kv[0]))
    if top_logprobs is not None:
        ranked = ranked[: max(top_logprobs, 0)]
    own = answer.logprobs.get(answer.text, max(answer.logprobs.values()))
    return [
        {
            "token": answer.text,
            "logprob": float(own),
            "bytes": list(answer.text.encode("utf-8")),
            "top_logprobs": [
                {"token": c, "logprob": float(v), "bytes": list(c.encode("utf-8"))} for c, v in ranked
            ],
        }
    ]
