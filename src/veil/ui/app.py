"""The review UI as a local web app (``veil ui``): :func:`create_app` builds it, :func:`serve` runs it.

Routes (every asset is served from the package; nothing comes from a CDN):

- ``GET /``, ``GET /static/{app.js,app.css}``: the page.
- ``GET /api/state``: settings, categories, opened images, query counts.
- ``POST /api/images`` (raw file body, ``X-Filename``): open an image (size-limited, proxy decoder).
- ``GET /api/images/{id}/original.png``: the oriented original, re-encoded without metadata.
- ``GET /api/images/{id}/protected?...``: the protected file's bytes, exactly what Save writes.
- ``POST /api/review``: protect with an anonymizer / policy / dial and list the regions.
- ``POST /api/ask``: ask the black box on the protected image (and the original on request).
- ``POST /api/save``: write the protected file and its JSON record into the out folder.

POSTs must carry ``X-Veil-UI: 1`` (a page on another site cannot send that header without a
CORS preflight this app never grants). Errors are JSON ``{"error": message}``; a stack trace
never reaches the page.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from veil.errors import BackendError, BudgetExceededError, ConfigError, MediaError, VeilError
from veil.ui.core import CATEGORIES, DEFAULT_POLICY, UIConfig, Workbench, encode_png, image_bytes_type

log = logging.getLogger("veil.ui")
STATIC = Path(__file__).resolve().parent / "static"
STATIC_FILES = {"app.js": "text/javascript", "app.css": "text/css"}
GENERIC_500 = "Veil had an internal error on this request; see the terminal running `veil ui`."


class UIError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _status(e: VeilError) -> int:
    if isinstance(e, BudgetExceededError):
        return 402
    if isinstance(e, BackendError):
        return 502
    if isinstance(e, MediaError):
        return 422
    return 400


async def _read_limited(request: Request, limit: int) -> bytes:
    too_large = UIError(413, f"the file is larger than the upload limit of {limit // 2**20} MiB "
                        "(start `veil ui` with a larger --max-upload-mb)")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _policy(body: dict[str, Any]) -> list[str] | None:
    pol = body.get("policy")
    if pol is None:
        return None
    if not isinstance(pol, list) or not all(isinstance(c, str) for c in pol):
        raise ConfigError("policy must be a list of category names")
    return pol


def _privacy(body: dict[str, Any]) -> float | None:
    p = body.get("privacy")
    if p is None:
        return None
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= float(p) <= 1.0:
        raise ConfigError(f"the privacy dial must be a number in [0, 1], got {p!r}")
    return round(float(p), 3)


def create_app(config: UIConfig, workbench: Workbench | None = None) -> FastAPI:
    """The review UI app; images named in ``config.inputs`` are opened now (problems are listed
    in ``/api/state``)."""
    bench = workbench or Workbench(config)
    problems = bench.open_paths(config.inputs) if config.inputs else []

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            bench.close()

    app = FastAPI(title="veil review", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.bench = bench

    @app.exception_handler(UIError)
    async def ui_error(request: Request, exc: UIError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

    @app.exception_handler(VeilError)
    async def veil_error(request: Request, exc: VeilError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=_status(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.error("internal error on %s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
        return JSONResponse({"error": GENERIC_500}, status_code=500)

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Any]) -> Response:
        if request.method == "POST" and request.headers.get("x-veil-ui") != "1":
            return JSONResponse({"error": "missing X-Veil-UI header"}, status_code=403)
        resp: Response = await call_next(request)
        resp.headers["Cache-Control"] = "no-store"
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
            "connect-src 'self'; frame-ancestors 'none'")
        return resp

    async def json_body(request: Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except Exception:
            raise UIError(400, "the request is not valid JSON") from None
        if not isinstance(body, dict):
            raise UIError(400, "the request must be a JSON object")
        return body

    def tool_of(body: dict[str, Any]) -> Any:
        return bench.tool(str(body.get("anonymizer") or ""), _privacy(body), _policy(body))

    def effective_policy(body: dict[str, Any], tool: Any) -> list[str]:
        pol = _policy(body)
        if pol is not None:
            return [c for c in CATEGORIES if c in pol]
        return list(tool.policy) if tool.policy is not None else list(DEFAULT_POLICY)

    @app.get("/")
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/static/{name}")
    async def static(name: str) -> FileResponse:
        if name not in STATIC_FILES:
            raise UIError(404, "no such file")
        return FileResponse(STATIC / name, media_type=STATIC_FILES[name])

    @app.get("/api/state")
    async def state() -> dict[str, Any]:
        c = config
        return {
            "anonymizer": c.anonymizer, "categories": list(CATEGORIES), "policy": list(DEFAULT_POLICY),
            "backend": c.backend if c.backend != "openai" else f"openai {c.model or ''} at {c.base_url or ''}",
            "out": str(Path(c.out).resolve()), "max_upload_bytes": c.max_upload_bytes,
            "images": [{"id": p.id, "name": p.name} for p in list(bench.pictures.values())],
            "problems": problems, "stats": bench.engine_stats(),
        }

    @app.post("/api/images")
    async def upload(request: Request) -> dict[str, Any]:
        data = await _read_limited(request, config.max_upload_bytes)
        name = unquote(request.headers.get("x-filename", "upload.png"))
        pic = await run_in_threadpool(bench.open_bytes, data, name)
        h, w = pic.rgb.shape[:2]
        return {"id": pic.id, "name": pic.name, "width": w, "height": h}

    @app.get("/api/images/{pid}/original.png")
    async def original(pid: str) -> Response:
        pic = bench.picture(pid)
        return Response(await run_in_threadpool(encode_png, pic.rgb), media_type="image/png")

    @app.get("/api/images/{pid}/protected")
    async def protected(pid: str, anonymizer: str, privacy: float | None = None,
                        policy: str | None = None) -> Response:
        body: dict[str, Any] = {"anonymizer": anonymizer, "privacy": privacy,
                                "policy": None if policy is None else [c for c in policy.split(",") if c]}
        tool = await run_in_threadpool(tool_of, body)
        prot = await run_in_threadpool(bench.protect, pid, tool)
        return Response(prot.data, media_type=image_bytes_type(prot.data))

    @app.post("/api/review")
    async def review(request: Request) -> dict[str, Any]:
        body = await json_body(request)
        pid = str(body.get("id", ""))
        bench.picture(pid)
        tool = await run_in_threadpool(tool_of, body)
        pol = effective_policy(body, tool)
        regions = await run_in_threadpool(bench.review, pid, tool, pol)
        return {"anonymizer": tool.spec, "kind": tool.kind, "privacy": tool.privacy, "policy": pol,
                "levels": tool.levels or None, "reproducible": tool.reproducible, "regions": regions,
                "leaks": sum(r["in_policy"] and not r["hidden"] for r in regions)}

    @app.post("/api/ask")
    async def ask(request: Request) -> dict[str, Any]:
        body = await json_body(request)
        pid = str(body.get("id", ""))
        bench.picture(pid)
        tool = await run_in_threadpool(tool_of, body)
        send_original = body.get("send_original") is True
        try:
            answers = await run_in_threadpool(bench.ask, pid, tool, str(body.get("question") or ""), send_original)
        except (BackendError, BudgetExceededError) as e:
            raise UIError(_status(e), str(e)) from None
        return {**answers, "stats": bench.engine_stats()}

    @app.post("/api/save")
    async def save(request: Request) -> dict[str, Any]:
        body = await json_body(request)
        pid = str(body.get("id", ""))
        bench.picture(pid)
        tool = await run_in_threadpool(tool_of, body)
        return await run_in_threadpool(bench.save, pid, tool, effective_policy(body, tool))

    return app


def serve(config: UIConfig, log_level: str = "warning", on_ready: Callable[[str], None] | None = None) -> None:
    """Serve the UI with uvicorn until interrupted; ``on_ready`` gets the page's URL.

    Raises:
        ConfigError: the address cannot be bound.
    """
    from veil.blackbox.server import bind_socket, run_on_socket
    from veil.proxy.config import is_loopback_host

    if not is_loopback_host(config.host):
        print(f"veil: WARNING: the review UI listens on {config.host}: anyone who can reach it can see the "
              "opened images and send them to the black box; prefer 127.0.0.1", file=sys.stderr, flush=True)
    app = create_app(config)
    sock = bind_socket(config.host, config.port)
    run_on_socket(app, sock, config.host, log_level,
                  None if on_ready is None else (lambda url: on_ready(url.removesuffix("/v1") + "/")))
