"""The reference black box served as an OpenAI-compatible chat-completions API.

``veil serve-reference`` runs :func:`serve`, which builds the app with :func:`create_app`
(an app factory: no module-level app, the lifespan owns the black box) and runs it with
uvicorn. Endpoints:

- ``GET /v1/models`` and ``GET /v1/models/{id}``;
- ``POST /v1/chat/completions``: one user message with text and base64 data-URL images;
  ``logprobs``/``top_logprobs`` give the choice log-probabilities in OpenAI's
  ``choices[0].logprobs.content`` shape; ``stream: true`` sends the answer as one SSE chunk;
- ``GET /veil/stats``: requests received, answers computed and faults injected (not
  OpenAI; for tests and benchmarks).

Errors use OpenAI's error JSON (``{"error": {"message", "type", "param", "code"}}``); the
details of an internal failure are logged on the server and the client gets a stable
generic message. The black box is CPU bound and runs in a thread pool.

Fault injection (:class:`FaultConfig`, off by default) makes a share ``rate`` of chat
requests fail the way real services fail: ``429`` with ``Retry-After``, ``500``, ``hang``
(reply only after ``hang_seconds``, past the client's timeout), ``malformed`` (a 200 with
truncated JSON) or ``reset`` (the TCP connection is dropped with no reply). Draws come
from a seeded generator, so a run's faults are reproducible for a given request order.

Recording (``record=FILE``, ``veil serve-reference --record FILE.jsonl``; a testing switch,
off by default) appends one JSON line per HTTP request as received, before routing or
fault injection: method, path, query, headers and the raw body (images included), so tests
can check exactly what an upstream received. The file holds API keys and image data: keep
it for tests. Nothing of it is logged.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import math
import os
import random
import socket
import struct
import subprocess
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from veil.errors import ConfigError, VeilError
from veil.registry import parse_spec

log = logging.getLogger("veil.server")

FAULT_KINDS: tuple[str, ...] = ("429", "500", "hang", "malformed", "reset")
GENERIC_500 = "The server had an error while processing your request."
_MALFORMED = b'{"id": "chatcmpl-fault", "object": "chat.completion", "choices": [{"index": 0, "mess'


@dataclass(frozen=True)
class FaultConfig:
    """Which failures the server injects, and how often.

    Attributes:
        rate: probability in [0, 1] that a chat request fails (0: never).
        kinds: failure kinds drawn uniformly: ``429``, ``500``, ``hang``, ``malformed``,
            ``reset``.
        seed: seed of the draws.
        retry_after: seconds announced by a 429 (``retry-after-ms``; ``Retry-After``
            rounded up to whole seconds).
        hang_seconds: how long a ``hang`` waits before answering.
    """

    rate: float = 0.0
    kinds: tuple[str, ...] = FAULT_KINDS
    seed: int = 0
    retry_after: float = 1.0
    hang_seconds: float = 30.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ConfigError(f"fault rate must be in [0, 1], got {self.rate}")
        kinds = tuple(self.kinds)
        bad = [k for k in kinds if k not in FAULT_KINDS]
        if bad or not kinds:
            raise ConfigError(f"unknown fault kinds {bad}; choose from {', '.join(FAULT_KINDS)}")
        object.__setattr__(self, "kinds", kinds)
        if self.retry_after < 0 or self.hang_seconds < 0:
            raise ConfigError("retry_after and hang_seconds must be >= 0")

    @staticmethod
    def parse_kinds(text: str) -> tuple[str, ...]:
        """``"429,500,hang"`` -> ``("429", "500", "hang")``."""
        return tuple(k.strip() for k in text.split(",") if k.strip())


class FaultInjector:
    """Draws the fault (or None) for each chat request and counts them; thread-safe."""

    def __init__(self, config: FaultConfig) -> None:
        self.config = config
        self._rng = random.Random(config.seed)
        self._lock = threading.Lock()
        self.counts: dict[str, int] = dict.fromkeys(config.kinds, 0)

    def draw(self) -> str | None:
        with self._lock:
            if self.config.rate <= 0 or self._rng.random() >= self.config.rate:
                return None
            kind = self._rng.choice(self.config.kinds)
            self.counts[kind] += 1
            return kind


def openai_error(
    status: int, message: str, type_: str = "invalid_request_error", code: str | None = None,
    param: str | None = None, headers: dict[str, str] | None = None,
) -> JSONResponse:
    """An error response in OpenAI's JSON shape."""
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def _estimate_tokens(prompt: str, images: int, answer: str) -> dict[str, int]:
    prompt_tokens = math.ceil(len(prompt) / 4) + 85 * images
    completion = max(1, math.ceil(len(answer) / 4))
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion,
            "total_tokens": prompt_tokens + completion}


@dataclass
class ServerStats:
    """Counters exposed at ``GET /veil/stats``."""

    requests: int = 0
    answered: int = 0
    errors: int = 0
    faults: dict[str, int] = field(default_factory=dict)


class RequestRecorder:
    """Appends every HTTP request (method, path, query, headers, raw body) as one JSON line."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._lock = threading.Lock()

    async def capture(self, scope: Any, receive: Any) -> Any:
        """Read the whole body, write the record, and return a ``receive`` that replays it."""
        chunks: list[bytes] = []
        first: list[dict[str, Any]] = []
        while True:
            message = await receive()
            first.append(message)
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        raw = b"".join(chunks)
        try:
            body: dict[str, str] = {"body": raw.decode("utf-8")}
        except UnicodeDecodeError:
            body = {"body_base64": base64.b64encode(raw).decode("ascii")}
        rec = {"time": time.time(), "method": scope["method"], "path": scope["path"],
               "query": scope.get("query_string", b"").decode("latin-1"),
               "headers": {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}, **body}
        line = (json.dumps(rec) + "\n").encode("utf-8")
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        replay = [{"type": "http.request", "body": raw, "more_body": False}] if chunks else first

        async def replayed() -> dict[str, Any]:
            return replay.pop(0) if replay else await receive()

        return replayed


class _VeilApp(FastAPI):
    """FastAPI with fault injection in front of routing, where the raw ASGI ``send`` of
    the server is still in hand (needed to drop a connection)."""

    injector: FaultInjector | None = None
    recorder: RequestRecorder | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.recorder is not None and scope["type"] == "http":
            receive = await self.recorder.capture(scope, receive)
        inj = self.injector
        if (
            inj is not None
            and scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"].rstrip("/").endswith("/chat/completions")
        ):
            kind = inj.draw()
            if kind is not None and await _inject(kind, inj.config, scope, receive, send):
                self.state.stats.requests += 1
                return
        await super().__call__(scope, receive, send)


async def _send_raw(send: Any, status: int, body: bytes, headers: Sequence[tuple[str, str]] = ()) -> None:
    hdrs = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    hdrs += [(k.encode(), v.encode()) for k, v in headers]
    await send({"type": "http.response.start", "status": status, "headers": hdrs})
    await send({"type": "http.response.body", "body": body})


async def _inject(kind: str, cfg: FaultConfig, scope: Any, receive: Any, send: Any) -> bool:
    """Carry out one fault; True when the request is finished, False to answer normally."""
    err = {"message": "", "type": "", "param": None, "code": None}
    if kind == "429":
        err.update(message="Rate limit reached (injected fault). Please retry.", type="rate_limit_exceeded",
                   code="rate_limit_exceeded")
        headers = [("retry-after", str(math.ceil(cfg.retry_after))),
                   ("retry-after-ms", str(int(round(cfg.retry_after * 1000))))]
        await _send_raw(send, 429, json.dumps({"error": err}).encode(), headers)
        return True
    if kind == "500":
        err.update(message=GENERIC_500 + " (injected fault)", type="server_error")
        await _send_raw(send, 500, json.dumps({"error": err}).encode())
        return True
    if kind == "malformed":
        await _send_raw(send, 200, _MALFORMED)
        return True
    if kind == "hang":
        await asyncio.sleep(cfg.hang_seconds)
        return False
    # reset: drop the TCP connection without a reply (RST where the transport allows it)
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise ConnectionResetError("injected fault: connection reset")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    with contextlib.suppress(AttributeError):
        cycle.disconnected = True
    await asyncio.sleep(0)
    return True


def create_app(
    blackbox_name: str = "reference",
    faults: FaultConfig | None = None,
    api_key: str | None = None,
    blackbox_kwargs: dict[str, Any] | None = None,
    record: str | os.PathLike[str] | None = None,
) -> FastAPI:
    """The OpenAI-compatible app serving one registered black box under its name.

    Args:
        blackbox_name: registered black box to serve; also the model id.
        faults: fault injection (None or rate 0: off).
        api_key: when set, requests must carry ``Authorization: Bearer <api_key>``
            (or ``api-key: <api_key>``); otherwise any key, or none, is accepted.
        blackbox_kwargs: keyword arguments for the black box.
        record: append every request (headers and raw body) to this JSONL file (testing).
    """
    import veil.blackbox  # noqa: F401  (registers the built-in black boxes)
    from veil.blackbox.base import BLACKBOXES, create_blackbox

    BLACKBOXES.get(blackbox_name)  # unknown names fail here, before serving

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.blackbox = create_blackbox(blackbox_name, **(blackbox_kwargs or {}))
        yield
        close = getattr(app.state.blackbox, "close", None)
        if callable(close):
            close()

    app = _VeilApp(title="veil reference black box", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.stats = ServerStats()
    injector = FaultInjector(faults) if faults is not None and faults.rate > 0 else None
    app.injector = injector
    app.recorder = RequestRecorder(record) if record is not None else None
    created = int(time.time())

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return openai_error(exc.status_code, str(exc.detail))

    def unauthorized(request: Request) -> JSONResponse | None:
        if api_key is None:
            return None
        auth = request.headers.get("authorization", "")
        given = auth[7:] if auth.lower().startswith("bearer ") else request.headers.get("api-key", "")
        if given != api_key:
            return openai_error(401, "Incorrect API key provided.", code="invalid_api_key")
        return None

    def model_card() -> dict[str, Any]:
        return {"id": blackbox_name, "object": "model", "created": created, "owned_by": "veil"}

    @app.get("/v1/models")
    async def list_models(request: Request) -> Response:
        return unauthorized(request) or JSONResponse({"object": "list", "data": [model_card()]})

    @app.get("/v1/models/{model_id}")
    async def get_model(model_id: str, request: Request) -> Response:
        if (denied := unauthorized(request)) is not None:
            return denied
        if model_id != blackbox_name:
            return openai_error(404, f"The model `{model_id}` does not exist.", code="model_not_found")
        return JSONResponse(model_card())

    @app.get("/veil/stats")
    async def stats() -> JSONResponse:
        s: ServerStats = app.state.stats
        faults_ = dict(injector.counts) if injector is not None else {}
        return JSONResponse({"requests": s.requests, "answered": s.answered, "errors": s.errors,
                             "faults": faults_})

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        from veil.blackbox.chat import answer_to_logprobs_content, messages_to_query

        s: ServerStats = app.state.stats
        s.requests += 1
        if (denied := unauthorized(request)) is not None:
            return denied
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            return openai_error(400, "The request body is not valid JSON.")
        if not isinstance(body, dict):
            return openai_error(400, "The request body must be a JSON object.")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return openai_error(400, "you must provide a model parameter", param="model")
        if model != blackbox_name:
            return openai_error(404, f"The model `{model}` does not exist or you do not have access to it.",
                                code="model_not_found", param="model")
        if body.get("n", 1) not in (1, None):
            return openai_error(400, "Only n=1 is supported.", param="n")
        try:
            images, prompt = messages_to_query(body.get("messages"))
        except (VeilError, ValueError) as e:
            return openai_error(400, f"Invalid 'messages': {e}", param="messages")
        try:
            answer = await run_in_threadpool(app.state.blackbox.query, images, prompt)
        except VeilError as e:
            return openai_error(400, str(e), param="messages")
        except Exception:
            s.errors += 1
            log.exception("black box failed on a chat completion")
            return openai_error(500, GENERIC_500, type_="server_error")
        s.answered += 1
        logprobs = None
        if body.get("logprobs"):
            top = body.get("top_logprobs")
            logprobs = {"content": answer_to_logprobs_content(answer, int(top) if top is not None else 0)}
        usage = _estimate_tokens(prompt, len(images), answer.text)
        cid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        now = int(time.time())
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return StreamingResponse(
                _stream(cid, now, blackbox_name, answer.text, logprobs, usage if include_usage else None),
                media_type="text/event-stream",
            )
        return JSONResponse({
            "id": cid,
            "object": "chat.completion",
            "created": now,
            "model": blackbox_name,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": answer.text, "refusal": None},
                "logprobs": logprobs,
                "finish_reason": "stop",
            }],
            "usage": usage,
        })

    return app


async def _stream(
    cid: str, created: int, model: str, text: str, logprobs: dict[str, Any] | None,
    usage: dict[str, int] | None,
) -> AsyncIterator[bytes]:
    base = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model}
    chunks: list[dict[str, Any]] = [
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": text},
                              "logprobs": logprobs, "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]},
    ]
    if usage is not None:
        chunks.append({**base, "choices": [], "usage": usage})
    for c in chunks:
        yield f"data: {json.dumps(c)}\n\n".encode()
    yield b"data: [DONE]\n\n"


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: a free port the OS picks)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets that say so, and
    # without it Nagle plus delayed ACKs add ~40 ms to every reply on a kept-alive connection.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port} ({e}); choose another --port or --host") from None
    sock.listen(128)
    return sock


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    blackbox: str = "reference",
    faults: FaultConfig | None = None,
    api_key: str | None = None,
    log_level: str = "warning",
    on_ready: Callable[[str], None] | None = None,
    record: str | os.PathLike[str] | None = None,
) -> None:
    """Serve ``create_app(...)`` with uvicorn until interrupted (SIGINT/SIGTERM).

    ``blackbox`` is a spec, ``NAME`` or ``NAME:key=value,...`` (e.g.
    ``reference:work_size=320``); the model id is ``NAME``.

    The socket is bound before uvicorn starts, so ``port=0`` works: ``on_ready`` receives
    the real base URL (``http://HOST:PORT/v1``) as soon as connections are accepted.
    """
    name, kwargs = parse_spec(blackbox)
    app = create_app(name, faults, api_key, kwargs, record)
    run_on_socket(app, bind_socket(host, port), host, log_level, on_ready)


def run_on_socket(
    app: Any, sock: socket.socket, host: str, log_level: str, on_ready: Callable[[str], None] | None = None
) -> None:
    """Run ``app`` with uvicorn on an already bound ``sock`` until interrupted; closes the socket.

    ``on_ready`` receives the base URL (``http://HOST:PORT/v1``, IPv6 hosts bracketed)
    before serving starts, so a caller that bound port 0 learns the real port.
    """
    import uvicorn

    shown = f"[{host}]" if ":" in host else host
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="on",
                                           timeout_graceful_shutdown=3))
    if on_ready is not None:
        on_ready(f"http://{shown}:{sock.getsockname()[1]}/v1")
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


def stop_server_process(proc: subprocess.Popen[Any], grace_s: float = 15.0) -> None:
    """Stop a ``veil serve-reference`` / ``veil proxy`` subprocess: SIGTERM (uvicorn shuts down
    gracefully), then SIGKILL if it has not exited within ``grace_s``; always reaps it."""
    proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
