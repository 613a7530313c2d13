"""The privacy proxy as an OpenAI-compatible web service (``veil proxy``).

:func:`create_app` builds the FastAPI app (an app factory: no module-level app or
client; the lifespan owns the ``httpx.AsyncClient`` unless one is injected), and
:func:`serve` runs it with uvicorn. Routes:

- ``POST /v1/chat/completions``: the body (at most ``max_body_bytes``) goes through
  :class:`~veil.proxy.transform.PayloadTransform` in a worker thread; only its output is
  forwarded. ``stream: true`` replies are passed back chunk by chunk as they arrive.
- ``GET /v1/models`` and ``GET /v1/models/{id}``: passed through.
- ``GET /healthz``: answered here, never forwarded and open without the proxy token, for
  load balancers and orchestrators: ``{"status": "ok"}`` once the anonymizer is built and
  has passed its self-test (the app does not exist before that). It says nothing else.
- anything else: 404, since other endpoints (files, uploads, audio, responses) could
  carry media the proxy does not anonymize.

Fail closed: a refused request (4xx) or an anonymizer failure (500) returns before a
connection to the upstream is opened. Upstream failures become 502 (``BAD_GATEWAY_ERRORS``)
or 504 (timeouts) with a stable generic message; the details are logged here. Headers,
keys and image bytes are never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from veil.anonymizers.base import Anonymizer
from veil.errors import ConfigError, VeilError
from veil.proxy.config import ProxyConfig
from veil.proxy.errors import AnonymizerFailure, ProxyError, ProxyRefusal
from veil.proxy.fetch import RemoteImageFetcher
from veil.proxy.transform import PayloadTransform

log = logging.getLogger("veil.proxy")

#: Upstream transport failures answered with 502 Bad Gateway (timeouts: 504, checked first).
BAD_GATEWAY_ERRORS: tuple[type[Exception], ...] = (
    httpx.TransportError, httpx.DecodingError, httpx.TooManyRedirects, httpx.InvalidURL,
)
GATEWAY_TIMEOUT_ERRORS: tuple[type[Exception], ...] = (httpx.TimeoutException,)
#: Client request headers passed upstream (besides the auth header, handled separately).
FORWARDED_REQUEST_HEADERS: tuple[str, ...] = (
    "accept", "openai-organization", "openai-project", "openai-beta",
)
#: Upstream response headers not passed back (hop-by-hop, or rewritten by this server).
DROPPED_RESPONSE_HEADERS: frozenset[str] = frozenset({
    "content-length", "content-encoding", "transfer-encoding", "connection", "keep-alive", "te", "trailer",
    "upgrade", "proxy-authenticate", "proxy-authorization", "set-cookie", "server", "date",
})
GENERIC_500 = "The privacy proxy had an error while processing your request; nothing was forwarded."
GENERIC_502 = "The upstream service could not be reached or sent an invalid reply."
GENERIC_504 = "The upstream service did not answer in time."
CONCURRENT_TRANSFORMS = 4


def error_response(status: int, message: str, code: str | None, type_: str = "invalid_request_error",
                   param: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    """An OpenAI-style error: ``{"error": {"message", "type", "param", "code"}}``."""
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def _from_error(e: ProxyError) -> JSONResponse:
    return JSONResponse(e.body(), status_code=e.status)


class _CrashingAnonymizer(Anonymizer):
    """Testing switch ``--fault-anonymizer-crash``: raises on every image, like a broken model."""

    name = "fault-anonymizer-crash"

    def __init__(self, inner: Anonymizer) -> None:
        self.inner = inner

    def apply(self, image: np.ndarray) -> np.ndarray:
        raise RuntimeError("injected fault (--fault-anonymizer-crash): the anonymizer crashed")


def build_anonymizer(config: ProxyConfig) -> Anonymizer:
    """Create the configured anonymizer and check it on a probe image, so a broken model
    fails at start-up instead of on the first request.

    Raises:
        ConfigError, ModelError, UnknownNameError: the spec or model is invalid.
    """
    from veil.protect import anonymizer_notes, guide_parts, load_runtime

    # the same runtime as `veil protect` (onnxruntime for networks that export), so both give the same pixels
    anonymizer = load_runtime(config.anonymizer, "auto")
    for note in anonymizer_notes(anonymizer):
        log.warning("anonymizer: %s", note)
    probe = np.zeros((48, 64, 3), np.uint8)
    probe[12:36, 16:48] = 200
    try:
        anonymizer(probe)
    except Exception as e:
        raise ConfigError(
            f"anonymizer {config.anonymizer!r} fails on a test image ({type(e).__name__}: {e}); fix the spec or the "
            "model (e.g. retrain or re-save it) before starting the proxy"
        ) from None
    if "textcls" in guide_parts(anonymizer):
        from veil.privacy.pii import warm_up

        warm_up()  # the text classifier's word, name and place lists now, not on the first request with text
    if config.fault_anonymizer_crash:
        log.warning("testing switch --fault-anonymizer-crash is on: every request image fails")
        return _CrashingAnonymizer(anonymizer)
    return anonymizer


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    too_large = ProxyRefusal(
        f"the request body exceeds the proxy's limit of {limit} bytes; send fewer or smaller images "
        "(or raise --max-body-mb)", "request_too_large", status=413)
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json_body(raw: bytes) -> Any:
    """Parse a request body as strict JSON (no NaN/Infinity).

    Raises:
        ProxyRefusal: empty, not UTF-8, not JSON, or nested too deeply.
    """
    if not raw.strip():
        raise ProxyRefusal("the request body is empty; send a JSON chat-completions request", "invalid_json")
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ProxyRefusal("the request body is not valid JSON", "invalid_json") from None


def create_app(
    config: ProxyConfig,
    client: httpx.AsyncClient | None = None,
    anonymizer: Anonymizer | None = None,
    fetcher: Callable[[str, str], bytes] | None = None,
) -> FastAPI:
    """The proxy app for ``config``.

    Args:
        config: listening, limits, upstream and remote-image settings.
        client: the upstream HTTP client; when None the lifespan creates one and closes it.
        anonymizer: the anonymizer to apply; built (and self-tested) from
            ``config.anonymizer`` when None.
        fetcher: remote image downloader; a :class:`RemoteImageFetcher` when remote
            images are allowed and none is given.

    Raises:
        ConfigError, ModelError: the anonymizer cannot be built or fails its self-test.
    """
    anonymizer = anonymizer if anonymizer is not None else build_anonymizer(config)
    own_fetcher = None
    if config.allow_remote_images and fetcher is None:
        own_fetcher = fetcher = RemoteImageFetcher(config)
    transform = PayloadTransform(anonymizer, config, fetcher)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = client is None
        app.state.client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(config.upstream_timeout, connect=config.connect_timeout),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
        )
        app.state.transforms = asyncio.Semaphore(CONCURRENT_TRANSFORMS)
        try:
            yield
        finally:
            if own:
                await app.state.client.aclose()
            if own_fetcher is not None:
                own_fetcher.close()

    app = FastAPI(title="veil privacy proxy", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.config = config
    app.state.transform = transform

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail), None)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.error("internal error on %s %s: %s", request.method, request.url.path, type(exc).__name__)
        return error_response(500, GENERIC_500, "internal_error", "server_error")

    def unauthorized(request: Request) -> JSONResponse | None:
        if config.auth_token is None:
            return None
        auth = request.headers.get("authorization", "")
        given = auth[7:].strip() if auth[:7].lower() == "bearer " else request.headers.get("api-key", "")
        if not hmac.compare_digest(given.encode(), config.auth_token.encode()):
            log.warning("refused %s %s: 401 missing or wrong proxy token", request.method, request.url.path)
            return error_response(401, "Missing or incorrect proxy token: send 'Authorization: Bearer <token>' "
                                  "with the token the proxy was started with.", "invalid_api_key")
        return None

    def upstream_headers(request: Request) -> dict[str, str]:
        headers = {k: request.headers[k] for k in FORWARDED_REQUEST_HEADERS if k in request.headers}
        if config.upstream_api_key is not None:
            key = config.upstream_api_key
            headers[config.upstream_auth_header] = f"Bearer {key}" if config.upstream_auth_header == "authorization" \
                else key
        elif config.auth_token is None:  # pass-through: the client's key goes upstream unchanged
            for k in ("authorization", "api-key"):
                if k in request.headers:
                    headers[k] = request.headers[k]
        return headers

    def upstream_url(request: Request, path: str) -> str:
        query = request.url.query
        return f"{config.upstream}/{path}" + (f"?{query}" if query else "")

    def reply_headers(resp: httpx.Response) -> dict[str, str]:
        return {k: v for k, v in resp.headers.items() if k.lower() not in DROPPED_RESPONSE_HEADERS}

    async def forward(request: Request, method: str, path: str, content: bytes | None = None) -> Response:
        """Send to the upstream; stream event-stream replies back, buffer the rest."""
        cl: httpx.AsyncClient = app.state.client
        headers = upstream_headers(request)
        if content is not None:
            headers["content-type"] = "application/json"
        req = cl.build_request(method, upstream_url(request, path), content=content, headers=headers)
        try:
            resp = await cl.send(req, stream=True)
        except GATEWAY_TIMEOUT_ERRORS as e:
            log.warning("upstream timed out on %s /%s: %s", method, path, type(e).__name__)
            return error_response(504, GENERIC_504, "upstream_timeout", "server_error")
        except BAD_GATEWAY_ERRORS as e:
            log.warning("upstream failed on %s /%s: %s: %s", method, path, type(e).__name__, e)
            return error_response(502, GENERIC_502, "upstream_unreachable", "server_error")
        ctype = resp.headers.get("content-type", "")
        if ctype.startswith("text/event-stream"):
            return StreamingResponse(_relay(resp), status_code=resp.status_code, headers=reply_headers(resp),
                                     media_type=ctype)
        try:
            data = await resp.aread()
        except BAD_GATEWAY_ERRORS as e:  # timeouts are transport errors too
            log.warning("upstream reply broke off on %s /%s: %s", method, path, type(e).__name__)
            return error_response(502, GENERIC_502, "upstream_unreachable", "server_error")
        finally:
            await resp.aclose()
        return Response(data, status_code=resp.status_code, headers=reply_headers(resp))

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        if (denied := unauthorized(request)) is not None:
            return denied
        t0 = time.perf_counter()
        try:
            body = parse_json_body(await _read_body(request, config.max_body_bytes))
            async with app.state.transforms:
                result = await run_in_threadpool(transform, body)
        except AnonymizerFailure as e:
            log.error("refused chat completion: 500 %s: %s (%s)", e.code, e, type(e.__cause__).__name__)
            return _from_error(e)
        except ProxyError as e:
            log.warning("refused chat completion: %d %s: %s", e.status, e.code, e)
            return _from_error(e)
        except VeilError as e:  # any other library refusal: still nothing forwarded
            log.warning("refused chat completion: 400 %s", e)
            return error_response(400, str(e), "invalid_request")
        except Exception as e:  # a bug, not the client's fault: still nothing forwarded
            log.error("refused chat completion: 500 internal error in the transform (%s)", type(e).__name__)
            return error_response(500, GENERIC_500, "internal_error", "server_error")
        ms = (time.perf_counter() - t0) * 1000.0
        # ASCII escapes: lone surrogates (valid JSON escapes) survive, and text means the same
        content = json.dumps(result.body, allow_nan=False).encode("ascii")
        resp = await forward(request, "POST", "chat/completions", content)
        log.info("chat completion: %d image(s) anonymized in %.1f ms, upstream answered %d",
                 result.images, ms, resp.status_code)
        return resp

    @app.get("/v1/models")
    async def list_models(request: Request) -> Response:
        return unauthorized(request) or await forward(request, "GET", "models")

    @app.get("/v1/models/{model_id:path}")
    async def get_model(model_id: str, request: Request) -> Response:
        return unauthorized(request) or await forward(request, "GET", f"models/{model_id}")

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
    async def other(path: str, request: Request) -> Response:
        log.warning("refused %s /%s: 404 endpoint not proxied", request.method, path[:80])
        return error_response(
            404, "veil proxy forwards only POST /v1/chat/completions and GET /v1/models (and answers GET /healthz "
            "itself); other endpoints (files, uploads, audio, responses) could carry media it does not anonymize",
            "unsupported_endpoint")

    return app


async def _relay(resp: httpx.Response) -> AsyncIterator[bytes]:
    """The upstream's event stream, chunk by chunk as it arrives; the upstream response is
    closed at the end, also when the client goes away mid-stream."""
    try:
        async for chunk in resp.aiter_bytes():
            yield chunk
    except httpx.HTTPError as e:
        log.warning("upstream stream broke off: %s", type(e).__name__)
    finally:
        await resp.aclose()


def configure_logging(level: str = "info") -> None:
    """Proxy log lines on stderr; HTTP client libraries kept at WARNING (no request lines)."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("veil.proxy")
    logger.handlers[:] = [handler]
    logger.setLevel(level.upper())
    logger.propagate = False
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


def serve(config: ProxyConfig, log_level: str = "info", on_ready: Callable[[str], None] | None = None,
          workers: int = 1) -> None:
    """Serve the proxy with uvicorn until interrupted (SIGINT/SIGTERM).

    The anonymizer is built and self-tested and the socket bound before uvicorn starts,
    so ``port=0`` works and ``on_ready`` receives the real base URL (``http://HOST:PORT/v1``).

    ``workers`` > 1: uvicorn's process model. This process binds the socket and supervises
    ``workers`` processes (started with ``spawn``: nothing loaded here is shared), each
    building its own app and anonymizer and accepting connections on the shared socket;
    a worker that dies is replaced. SIGINT/SIGTERM stop them all (gracefully, then killed).

    Raises:
        ConfigError, ModelError: bad anonymizer, or the address cannot be bound.
    """
    from veil.blackbox.server import bind_socket, run_on_socket

    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 256:
        raise ConfigError(f"--workers must be an integer in [1, 256], got {workers!r}")
    configure_logging(log_level)
    warning = config.bind_warning()
    if warning:  # on stderr whatever the log level: it must not be missed
        print(warning, file=sys.stderr, flush=True)
    uv_level = "warning" if log_level.lower() in ("info", "debug") else log_level.lower()
    if workers > 1:
        build_anonymizer(config)  # fail here, once, on a bad spec or model
        sock = bind_socket(config.host, config.port)
        _supervise(config, sock, log_level, uv_level, workers, on_ready)
        return
    app = create_app(config)
    sock = bind_socket(config.host, config.port)
    run_on_socket(app, sock, config.host, uv_level, on_ready)


def _worker_main(config: ProxyConfig, sock: Any, log_level: str, uv_level: str) -> None:
    """One worker process of ``serve(workers=N)``: its own app on the shared listening socket."""
    import signal

    import uvicorn

    with contextlib.suppress(Exception):  # Linux: end with the supervisor, even if it is killed
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    configure_logging(log_level)
    app = create_app(config)
    server = uvicorn.Server(uvicorn.Config(app, log_level=uv_level, access_log=False, lifespan="on",
                                           timeout_graceful_shutdown=3))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


def _supervise(config: ProxyConfig, sock: Any, log_level: str, uv_level: str, workers: int,
               on_ready: Callable[[str], None] | None) -> None:
    import multiprocessing
    import multiprocessing.connection
    import signal

    ctx = multiprocessing.get_context("spawn")
    stopping = False

    def start() -> Any:
        proc = ctx.Process(target=_worker_main, args=(config, sock, log_level, uv_level), daemon=False,
                           name="veil-proxy-worker")
        proc.start()
        return proc

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    old = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    procs = [start() for _ in range(workers)]
    host = f"[{config.host}]" if ":" in config.host else config.host
    log.info("proxy: %d worker processes: %s", workers, ", ".join(str(p.pid) for p in procs))
    if on_ready is not None:
        on_ready(f"http://{host}:{sock.getsockname()[1]}/v1")
    try:
        while not stopping:
            multiprocessing.connection.wait([p.sentinel for p in procs], timeout=0.5)
            for i, p in enumerate(procs):
                if p.exitcode is not None and not stopping:
                    log.warning("proxy worker %d exited (code %s); starting another", p.pid, p.exitcode)
                    procs[i] = start()
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()  # SIGTERM: uvicorn finishes its requests (timeout_graceful_shutdown)
        deadline = time.monotonic() + 10
        for p in procs:
            p.join(max(0.1, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()
                p.join()
        sock.close()
        for sig, handler in old.items():
            signal.signal(sig, handler)
