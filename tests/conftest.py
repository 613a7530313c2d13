"""Fixtures shared by the whole test suite.

``street_manifest`` builds the embedded street scenario once per session (seed 0, the
default the demo uses) so that tests of the CLI, the evaluator and the demo run on real
media. The seed-independent vtest annotation pass is cached in ``street_cache`` so that
tests that rebuild the scenario (determinism, other seeds) stay fast.
"""

from __future__ import annotations

import importlib.util
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from veil.blackbox.server import stop_server_process

REPO = Path(__file__).resolve().parents[1]

# The ONNX export cache of saved models (veil.anonymizers.onnx_cache) goes to a folder of this
# session, not the user's ~/.cache; subprocesses inherit it.
os.environ["VEIL_CACHE_DIR"] = tempfile.mkdtemp(prefix="veil-test-cache-")

# Tests run from any folder: point at the repository's media unless told otherwise.
if "VEIL_MEDIA" not in os.environ and (REPO / ".media").is_dir():
    os.environ["VEIL_MEDIA"] = str(REPO / ".media")


@pytest.fixture(scope="session")
def street_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache folder for the street scenario's seed-independent annotation pass."""
    return tmp_path_factory.mktemp("street-cache")


@pytest.fixture(scope="session")
def street_manifest(tmp_path_factory: pytest.TempPathFactory, street_cache: Path) -> Path:
    """Manifest of the street scenario (seed 0) built once into ``<tmp>/data/street``."""
    from veil.data.street import prepare_street

    root = tmp_path_factory.mktemp("data")
    return prepare_street(root, seed=0, progress=False, cache_dir=street_cache)


@contextmanager
def serve_reference(*args: str, env: dict[str, str] | None = None, startup_s: float = 120) -> Iterator[str]:
    """Run ``python -m veil.cli serve-reference --port 0 ARGS`` as a real subprocess and
    yield its base URL (``http://127.0.0.1:PORT/v1``) once ``/v1/models`` answers."""
    cmd = [sys.executable, "-m", "veil.cli", "serve-reference", "--host", "127.0.0.1", "--port", "0", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(ln) for ln in proc.stdout or []], daemon=True).start()
    err: list[str] = []
    threading.Thread(target=lambda: err.extend(proc.stderr or []), daemon=True).start()
    try:
        deadline = time.monotonic() + startup_s
        url = None
        while url is None:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"serve-reference did not start: {''.join(err)[-2000:]}")
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                continue
            if " at http://" in line:
                url = line.rsplit(" at ", 1)[1].strip()
        while True:
            try:
                if httpx.get(url + "/models", timeout=5).status_code in (200, 401):
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"serve-reference never answered: {''.join(err)[-2000:]}")
            time.sleep(0.1)
        yield url
    finally:
        stop_server_process(proc)


@pytest.fixture(scope="session")
def start_server() -> Callable[..., object]:
    """``with start_server(*cli_args, env=...) as url``: a real ``veil serve-reference`` subprocess."""
    return serve_reference


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Tiny tensors: one thread is faster, and two spin-wait on each other on a busy machine."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="session")
def layout_fixtures() -> ModuleType:
    """tests/data/layout_fixtures.py (writers of the public datasets' layouts), imported by path."""
    name = "veil_test_layout_fixtures"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "tests" / "data" / "layout_fixtures.py")
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]
