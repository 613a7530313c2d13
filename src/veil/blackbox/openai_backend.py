"""OpenAI-compatible chat-completions backend: OpenAI, Azure OpenAI, Ollama, vLLM,
LM Studio, llama.cpp server, and Veil's own ``veil serve-reference``.

Images travel as base64 data URLs, resized and encoded by a fixed policy (see
:class:`OpenAIConfig` and docs/backends.md): the longest side is scaled down to
``max_side`` (never up, area interpolation) and the pixels are encoded as JPEG at
``jpeg_quality`` or as lossless PNG. The cache key is the hash of exactly those bytes.

Log-probabilities are requested (``logprobs``/``top_logprobs``) when ``logprobs="auto"``;
a service that rejects the parameters or omits them in its reply switches the backend to
answer mode (``Answer.logprobs`` is None) for the rest of the run. The first answer token's
``top_logprobs`` are mapped to the choices: a token counts for every choice it is a prefix
of (case and surrounding spaces ignored), shared equally when it fits several; choices no
token reached share the probability mass left outside the top list; the result is
renormalised over the choices (see :func:`logprobs_to_choices`).

The API key is read from the environment variable named by ``api_key_env`` (default
``OPENAI_API_KEY``), never from a flag or a config file, and never logged.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import math
import os
import random
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np

from veil.anonymizers.base import check_image
from veil.blackbox.base import BLACKBOXES, Answer, BlackBox
from veil.blackbox.engine import Prepared, Reply, RetryPolicy, call_with_retries, parse_retry_after, scrub
from veil.errors import (
    BackendAuthError,
    BackendConnectError,
    BackendError,
    BackendRateLimitError,
    BackendRequestError,
    BackendServerError,
    BackendTimeoutError,
    BackendUnreachableError,
    ConfigError,
    MalformedResponseError,
    ModelNotFoundError,
    VisionNotSupportedError,
)
from veil.media import encode_image, fit_long_side

IMAGE_FORMATS = ("jpeg", "png")
_VISION_WORDS = ("image", "vision", "multimodal", "image_url", "multi-modal")


@dataclass
class OpenAIConfig:
    """Where and how to reach an OpenAI-compatible service.

    Attributes:
        base_url: API root, usually ending in ``/v1``.
        model: model (or Azure deployment) name.
        api_key_env: environment variable holding the API key. Not required for loopback
            servers (Ollama, vLLM, LM Studio, llama.cpp, veil serve-reference).
        auth_header: ``Authorization`` (sent as ``Bearer KEY``) or ``api-key`` (Azure).
        api_version: appended as ``?api-version=`` (Azure's deployment-style URLs).
        image_format: ``jpeg`` (smaller, lossy) or ``png`` (lossless; exact pixels).
        jpeg_quality: JPEG quality 1-100.
        max_side: longest image side sent; larger images are scaled down (0 or None: never).
        detail: OpenAI's ``image_url.detail`` (``low``, ``high``, ``auto``; None: omit).
        temperature: sampling temperature; 0 for reproducible answers.
        max_tokens: completion length cap (answers are a few tokens).
        max_tokens_param: ``max_tokens``, or ``max_completion_tokens`` for OpenAI's
            reasoning models.
        logprobs: ``auto`` (ask, fall back to answer mode), ``on`` (fail without), ``off``.
        top_logprobs: alternatives per token requested (OpenAI allows up to 20).
        seed: sampling seed sent to services that honour it (None: omit).
        timeout: seconds to wait for a reply.
        connect_timeout: seconds to wait for a connection.
        retry: retry policy for direct ``query`` calls (the engine has its own).
        extra_body: extra JSON fields merged into each request.
    """

    base_url: str = "https://api.openai.com/v1"
    model: str = "gpt-4o-mini"
    api_key_env: str = "OPENAI_API_KEY"
    auth_header: str = "Authorization"
    api_version: str | None = None
    image_format: str = "jpeg"
    jpeg_quality: int = 90
    max_side: int | None = 1024
    detail: str | None = None
    temperature: float = 0.0
    max_tokens: int = 16
    max_tokens_param: str = "max_tokens"
    logprobs: str = "auto"
    top_logprobs: int = 10
    seed: int | None = None
    timeout: float = 60.0
    connect_timeout: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    extra_body: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        fmt = {"jpg": "jpeg"}.get(self.image_format.lower(), self.image_format.lower())
        if fmt not in IMAGE_FORMATS:
            raise ConfigError(f"image_format must be jpeg or png, got {self.image_format!r}")
        self.image_format = fmt
        if not 1 <= self.jpeg_quality <= 100:
            raise ConfigError(f"jpeg_quality must be in 1..100, got {self.jpeg_quality}")
        if self.max_side == 0:
            self.max_side = None
        if self.max_side is not None and self.max_side < 16:
            raise ConfigError(f"max_side must be >= 16 or None, got {self.max_side}")
        if self.logprobs not in ("auto", "on", "off"):
            raise ConfigError(f"logprobs must be auto, on or off, got {self.logprobs!r}")
        if not 0 <= self.top_logprobs <= 20:
            raise ConfigError(f"top_logprobs must be in 0..20, got {self.top_logprobs}")
        if self.timeout <= 0 or self.connect_timeout <= 0:
            raise ConfigError("timeout and connect_timeout must be > 0 seconds")
        if not urlsplit(self.base_url).scheme.startswith("http"):
            raise ConfigError(f"base_url must start with http:// or https://, got {self.base_url!r}")


def is_loopback_url(url: str) -> bool:
    """True for http(s) URLs on this machine (localhost, 127.0.0.0/8, ::1)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def image_token_estimate(width: int, height: int) -> int:
    """Rough prompt tokens of one image (OpenAI's high-detail rule: 85 + 170 per 512 tile)."""
    return 85 + 170 * math.ceil(width / 512) * math.ceil(height / 512)


def _norm(s: str) -> str:
    return " ".join(s.strip().lower().split())


def logprobs_to_choices(
    content: Sequence[Mapping[str, Any]] | None, choices: Sequence[str]
) -> dict[str, float] | None:
    """Map OpenAI ``logprobs.content`` to a log-probability per choice, or None.

    Uses the first token with visible text and its ``top_logprobs`` (plus the token
    itself). A token counts for every choice it is a prefix of, after lower-casing and
    stripping spaces, shared equally among them. Choices that no listed token reaches
    share the mass outside the list. The result is renormalised over the choices.
    Returns None when no listed token fits any choice (then use answer mode).
    """
    if not content or not choices:
        return None
    first = next((c for c in content if _norm(str(c.get("token", "")))), None)
    if first is None:
        return None
    alts: dict[str, float] = {}
    for t in [first, *(first.get("top_logprobs") or [])]:
        tok, lp = str(t.get("token", "")), t.get("logprob")
        if lp is None or not math.isfinite(float(lp)):
            continue
        alts.setdefault(tok, float(lp))
    normed = [_norm(c) for c in choices]
    mass = dict.fromkeys(choices, 0.0)
    for tok, lp in alts.items():
        nt = _norm(tok)
        if not nt:
            continue
        exact = [c for c, n in zip(choices, normed, strict=True) if n == nt]
        fits = exact or [c for c, n in zip(choices, normed, strict=True) if n.startswith(nt)]
        for c in fits:
            mass[c] += math.exp(lp) / len(fits)
    if not any(mass.values()):
        return None
    listed = sum(math.exp(lp) for lp in alts.values())
    missing = [c for c in choices if mass[c] == 0.0]
    if missing:
        rest = max(1.0 - listed, 0.0)
        floor = min(min(math.exp(lp) for lp in alts.values()), rest / len(missing)) if rest else 0
        for c in missing:
            mass[c] = max(floor, 1e-12)
    z = sum(mass.values())
    return {c: math.log(m / z) for c, m in mass.items()}


def _error_message(resp: httpx.Response) -> str:
    """The ``error.message`` of an OpenAI-shaped error body, else the start of the body."""
    try:
        body = resp.json()
        err = body.get("error", body) if isinstance(body, dict) else body
        if isinstance(err, dict):
            return str(err.get("message") or err.get("detail") or err)
        return str(err)
    except (ValueError, json.JSONDecodeError):
        return resp.text[:300]


@BLACKBOXES.register("openai")
class OpenAIBlackBox(BlackBox):
    """A multimodal model behind an OpenAI-compatible ``/chat/completions`` endpoint.

    ``query`` retries transient failures itself (``config.retry``); inside a
    :class:`~veil.blackbox.engine.QueryEngine`, ``prepare``/``send`` are used instead and
    the engine retries, rate-limits and budgets. Safe to share between threads.

    Args:
        config: an :class:`OpenAIConfig`; keyword arguments override its fields.

    Raises:
        ConfigError: bad settings, or no API key for a remote service.
    """

    name = "openai"
    thread_safe = True

    def __init__(self, config: OpenAIConfig | None = None, **overrides: Any) -> None:
        super().__init__()
        cfg = config or OpenAIConfig()
        if overrides:
            known = set(OpenAIConfig.__dataclass_fields__)
            bad = sorted(set(overrides) - known)
            if bad:
                raise ConfigError(f"unknown openai backend option(s) {bad}; known: {sorted(known)}")
            cfg = OpenAIConfig(**{**cfg.__dict__, **overrides})
        self.config = cfg
        self.model = cfg.model
        self.logprobs_supported: bool | None = None if cfg.logprobs == "auto" else cfg.logprobs == "on"
        self._key = os.environ.get(cfg.api_key_env) or None
        if self._key is None and not is_loopback_url(cfg.base_url):
            raise ConfigError(
                f"no API key for {cfg.base_url}: set the environment variable {cfg.api_key_env} "
                "(or name another with api_key_env); keys are never taken from flags"
            )
        self._client: httpx.Client | None = None
        self._client_lock = threading.Lock()
        self._rng = random.Random(0)

    def __repr__(self) -> str:
        return f"OpenAIBlackBox(base_url={self.config.base_url!r}, model={self.model!r})"

    def _secrets(self) -> tuple[str, ...]:
        return (self._key,) if self._key else ()

    # -- cache identity and payload

    def cache_identity(self) -> tuple[str, dict[str, Any]]:
        """(model, decoding parameters) that enter the cache key; not the URL or key."""
        c = self.config
        params = {
            "temperature": c.temperature,
            "max_tokens": c.max_tokens,
            "logprobs": c.logprobs,
            "top_logprobs": c.top_logprobs,
            "seed": c.seed,
            "detail": c.detail,
            "extra_body": c.extra_body,
        }
        return f"openai:{c.model}", params

    def encode_images(self, images: Sequence[np.ndarray]) -> list[bytes]:
        """The exact bytes sent for each image: resized to ``max_side``, JPEG or PNG."""
        c = self.config
        return [
            encode_image(fit_long_side(check_image(im), c.max_side), c.image_format, c.jpeg_quality)
            for im in images
        ]

    def prepare(
        self, images: Sequence[np.ndarray], prompt: str, choices: Sequence[str] | None = None
    ) -> Prepared:
        """Encode the images once; the request body is built per attempt in ``send``."""
        if not images:
            raise ValueError("a black-box query needs at least one image")
        imgs = [check_image(im) for im in images]
        payloads = self.encode_images(imgs)
        tokens = len(prompt) / 4 + self.config.max_tokens
        for im in imgs:
            r = fit_long_side(im, self.config.max_side) if self.config.max_side else im
            tokens += image_token_estimate(r.shape[1], r.shape[0])
        return Prepared(payloads, prompt, list(choices) if choices else None, imgs, token_estimate=tokens)

    def messages(self, payloads: Sequence[bytes], prompt: str) -> list[dict[str, Any]]:
        """One user message: the prompt text, then each image as a base64 data URL."""
        mime = "image/jpeg" if self.config.image_format == "jpeg" else "image/png"
        parts: list[dict[str, Any]] = [{"type": "text", "text": prompt}]
        for b in payloads:
            url: dict[str, Any] = {"url": f"data:{mime};base64,{base64.b64encode(b).decode()}"}
            if self.config.detail:
                url["detail"] = self.config.detail
            parts.append({"type": "image_url", "image_url": url})
        return [{"role": "user", "content": parts}]

    def request_body(self, p: Prepared, with_logprobs: bool) -> dict[str, Any]:
        c = self.config
        body: dict[str, Any] = {
            "model": c.model,
            "messages": self.messages(p.payloads, p.prompt),
            "temperature": c.temperature,
            c.max_tokens_param: c.max_tokens,
        }
        if c.seed is not None:
            body["seed"] = c.seed
        if with_logprobs:
            body["logprobs"] = True
            if c.top_logprobs:
                body["top_logprobs"] = c.top_logprobs
        body.update(c.extra_body)
        return body

    # -- HTTP

    @property
    def client(self) -> httpx.Client:
        """The HTTP client, created on first use (connection pool shared by threads)."""
        with self._client_lock:
            if self._client is None:
                c = self.config
                headers = {"User-Agent": "veil"}
                if self._key:
                    if c.auth_header.lower() == "authorization":
                        headers["Authorization"] = f"Bearer {self._key}"
                    else:
                        headers[c.auth_header] = self._key
                self._client = httpx.Client(
                    base_url=c.base_url.rstrip("/") + "/",
                    headers=headers,
                    params={"api-version": c.api_version} if c.api_version else None,
                    timeout=httpx.Timeout(c.timeout, connect=c.connect_timeout),
                    limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
                    follow_redirects=False,
                )
            return self._client

    def close(self) -> None:
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _post(self, path: str, body: Mapping[str, Any]) -> httpx.Response:
        url = self.config.base_url.rstrip("/") + "/" + path
        try:
            return self.client.post(path, json=body)
        except httpx.TimeoutException as e:
            raise BackendTimeoutError(
                f"{url}: no reply within {self.config.timeout:g} s ({type(e).__name__}); "
                "raise the timeout if the model is slow"
            ) from None
        except httpx.ConnectError as e:
            raise BackendConnectError(
                f"cannot connect to {url} ({scrub(str(e), self._secrets())}); check base_url "
                "(--base-url) and that the service is running"
            ) from None
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as e:
            raise BackendUnreachableError(
                f"{url}: connection dropped before a reply ({type(e).__name__}: {e})"
            ) from None
        except httpx.TransportError as e:
            raise BackendUnreachableError(f"{url}: transport error ({type(e).__name__}: {e})") from None

    def _raise_for_status(self, resp: httpx.Response) -> None:
        if resp.status_code < 400:
            return
        raise http_error(
            resp.status_code,
            scrub(_error_message(resp), self._secrets()),
            parse_retry_after(resp.headers),
            url=str(resp.request.url.copy_with(query=None)),
            model=self.config.model,
            key_env=self.config.api_key_env,
        )

    def send(self, p: Prepared) -> Reply:
        """One attempt, no retries: POST ``/chat/completions`` and parse the reply.

        Raises:
            BackendError: a subclass that says what failed and whether it is transient.
        """
        want = self.config.logprobs != "off" and bool(p.choices) and self.logprobs_supported is not False
        resp = self._post("chat/completions", self.request_body(p, want))
        if (
            want
            and self.config.logprobs == "auto"
            and resp.status_code == 400
            and "logprob" in _error_message(resp).lower()
        ):
            self.logprobs_supported = False
            want = False
            resp = self._post("chat/completions", self.request_body(p, False))
        self._raise_for_status(resp)
        try:
            data = resp.json()
            choice = data["choices"][0]
            text = choice["message"]["content"]
            if not isinstance(text, str):
                raise TypeError(f"message content is {type(text).__name__}")
        except (ValueError, KeyError, IndexError, TypeError) as e:
            raise MalformedResponseError(
                f"{self.config.base_url}: reply is not an OpenAI chat completion ({type(e).__name__}: "
                f"{str(e)[:120]}); check that base_url points at an OpenAI-compatible /v1 API",
                status=resp.status_code,
            ) from None
        logprobs = None
        if want:
            content = (choice.get("logprobs") or {}).get("content")
            if content:
                self.logprobs_supported = True
                logprobs = logprobs_to_choices(content, p.choices or [])
            elif self.config.logprobs == "on":
                raise BackendRequestError(
                    f"{self.config.model} at {self.config.base_url} returned no logprobs; "
                    "use logprobs='auto' or 'off' (answer mode) for this service",
                    status=resp.status_code,
                )
            elif self.logprobs_supported is None:
                self.logprobs_supported = False
        usage = data.get("usage") or {}
        use = {k: int(usage.get(k) or 0) for k in ("prompt_tokens", "completion_tokens")}
        return Reply(Answer(text.strip(), logprobs), use)

    def _answer(self, images: list[np.ndarray], prompt: str, choices: list[str] | None) -> Answer:
        p = self.prepare(images, prompt, choices)
        return call_with_retries(lambda: self.send(p), self.config.retry, self._rng).answer

    def list_models(self) -> list[str]:
        """Model ids the service offers (``GET /models``)."""
        try:
            resp = self.client.get("models")
        except httpx.TransportError as e:
            raise BackendUnreachableError(
                f"cannot reach {self.config.base_url}/models ({type(e).__name__}); check base_url"
            ) from None
        self._raise_for_status(resp)
        try:
            return [str(m["id"]) for m in resp.json()["data"]]
        except (ValueError, KeyError, TypeError):
            raise MalformedResponseError(f"{self.config.base_url}/models: unexpected reply") from None


def http_error(
    status: int,
    message: str,
    retry_after: float | None = None,
    url: str = "",
    model: str = "",
    key_env: str = "OPENAI_API_KEY",
) -> BackendError:
    """The error for an HTTP error reply, with a message that says what to change."""
    where = f"{url}: HTTP {status}: {message}"
    low = message.lower()
    if status == 429:
        return BackendRateLimitError(f"{where} (rate limited; lower rpm/tpm or concurrency)",
                                     status, retry_after)
    if status >= 500:
        return BackendServerError(f"{where} (service error; retried)", status, retry_after)
    if status in (401, 403):
        return BackendAuthError(
            f"{where}; check the API key in the environment variable {key_env} and that it "
            f"may use model {model!r}",
            status,
        )
    model_words = ("model" in low) and any(
        w in low for w in ("not found", "does not exist", "unknown", "not exist", "no such")
    )
    if status == 404 and (model_words or "model" in low):
        return ModelNotFoundError(
            f"{where}; the service has no model {model!r}: set --model to one it lists at "
            "GET /v1/models",
            status,
        )
    if model_words:
        return ModelNotFoundError(f"{where}; set --model to a model the service offers", status)
    if status == 404:
        return BackendRequestError(f"{where}; check base_url (it usually ends in /v1)", status)
    if any(w in low for w in _VISION_WORDS) or status in (413, 415):
        return VisionNotSupportedError(
            f"{where}; the model may not accept images or rejected this one: pick a vision "
            "model, or send smaller images (max_side, image_format=jpeg)",
            status,
        )
    return BackendRequestError(f"{where}; the request was refused as sent", status)
