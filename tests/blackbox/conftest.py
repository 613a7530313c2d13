"""Fixtures for the black-box layer: real ``veil serve-reference`` subprocesses on free
127.0.0.1 ports, an in-thread server for app-level cases, and small test images."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from skimage import data as skdata

# Cheap configurations of the reference black box for the long runs: same code path,
# smaller work size (and no face model in FAST), a few ms per query instead of ~100.
FAST_SPEC = "reference:work_size=320,faces=false"
LIGHT_SPEC = "reference:work_size=320"
FAULT_ARGS = ("--fault-rate", "0.3", "--fault-kinds", "429,500,hang,malformed,reset", "--fault-seed", "0",
              "--fault-retry-after", "0.05", "--fault-hang-seconds", "2")


def server_stats(url: str) -> dict:
    """The server's ``/veil/stats`` counters (requests, answered, faults)."""
    return httpx.get(url.removesuffix("/v1") + "/veil/stats", timeout=10).json()


@pytest.fixture(scope="session")
def reference_server(start_server: Callable[..., Any]) -> Iterator[str]:
    """``veil serve-reference`` with the default reference black box, no faults."""
    with start_server() as url:
        yield url


@pytest.fixture(scope="session")
def fast_server(start_server: Callable[..., Any]) -> Iterator[str]:
    """A cheap reference configuration (``FAST_SPEC``), no faults: for the long cache runs."""
    with start_server("--blackbox", FAST_SPEC) as url:
        yield url


@pytest.fixture(scope="session")
def faulty_server(start_server: Callable[..., Any]) -> Iterator[str]:
    """``LIGHT_SPEC`` with 30% faults: 429 (Retry-After 0.05 s), 500, hang (2 s),
    malformed JSON and connection resets, seeded."""
    with start_server("--blackbox", LIGHT_SPEC, *FAULT_ARGS) as url:
        yield url


@contextmanager
def app_in_thread(app: object) -> Iterator[str]:
    """Serve an ASGI app with uvicorn in a daemon thread on a free 127.0.0.1 port."""
    import uvicorn

    from veil.blackbox.server import bind_socket

    sock = bind_socket("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="error", lifespan="on", timeout_graceful_shutdown=1))
    t = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    t.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            if not t.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("in-thread server did not start")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    finally:
        server.should_exit = True
        t.join(10)
        sock.close()


def _bases() -> list[np.ndarray]:
    out = [skdata.astronaut(), skdata.coffee(), skdata.chelsea(), np.dstack([skdata.camera()] * 3)]
    media = Path(os.environ.get("VEIL_MEDIA", ".media")) / "opencv" / "data" / "basketball1.png"
    if media.is_file():
        out.insert(0, cv2.cvtColor(cv2.imread(str(media)), cv2.COLOR_BGR2RGB))
    return [cv2.resize(b, (200, 150), interpolation=cv2.INTER_AREA) for b in out]


def make_images(n: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` distinct 160x120 RGB images: crops of a few real photos, each made unique by
    a small seeded mark in one corner."""
    bases = _bases()
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        b = bases[i % len(bases)]
        dx, dy = int(rng.integers(0, 41)), int(rng.integers(0, 31))
        im = np.ascontiguousarray(b[dy:dy + 120, dx:dx + 160])
        im[:2, :8] = rng.integers(0, 256, (2, 8, 3), dtype=np.uint8)
        out.append(im)
    return out


def sign_image(text: str = "EXIT") -> np.ndarray:
    """A 160x120 image of a plain board with large text on it."""
    im = np.full((120, 160, 3), 235, np.uint8)
    cv2.rectangle(im, (10, 35), (150, 85), (20, 90, 20), -1)
    cv2.putText(im, text, (22, 75), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (255, 255, 255), 3, cv2.LINE_AA)
    return im


@pytest.fixture(scope="session")
def images() -> Callable[[int, int], list[np.ndarray]]:
    """``images(n, seed)``: distinct small test images (see :func:`make_images`)."""
    return make_images


@pytest.fixture(scope="session")
def sign() -> Callable[[str], np.ndarray]:
    """``sign(text)``: a small image of a board with ``text`` on it."""
    return sign_image


@pytest.fixture(scope="session")
def stats() -> Callable[[str], dict]:
    """``stats(url)``: the ``/veil/stats`` counters of a server."""
    return server_stats


@pytest.fixture(scope="session")
def run_app() -> Callable[[object], object]:
    """``with run_app(create_app(...)) as url``: an app served in this process's thread."""
    return app_in_thread


@pytest.fixture(scope="session")
def specs() -> dict[str, str]:
    """The black-box specs the session servers run (``fast``, ``light``)."""
    return {"fast": FAST_SPEC, "light": LIGHT_SPEC}
