"""``veil proxy --workers 2``: two processes share the port, each anonymizes; concurrent valid
requests all arrive anonymized upstream, hostile ones are refused and forward nothing, a
killed worker is replaced, and SIGTERM stops the supervisor and every worker."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from veil.anonymizers.base import create_anonymizer
from veil.media import decode_image

SPEC = "blur:sigma=5"


def workers_of(pid: int) -> list[int]:
    """Child processes of ``pid`` that are proxy workers (multiprocessing spawn children)."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            cmd = (d / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid and b"multiprocessing.spawn" in cmd and b"resource_tracker" not in cmd:
            found.append(int(d.name))
    return sorted(found)


def test_two_workers_protect_every_image_and_stop_together(upstream: tuple[Any, Any], tmp_path: Path,
                                                           h: ModuleType) -> None:
    rec = upstream[1]
    images = [h.photo(size=(96, 72)) // (1 + i % 3) for i in range(8)]
    with h.start_proxy(upstream[0].url, tmp_path, "--workers", "2", anonymizer=SPEC) as p:
        deadline = time.monotonic() + 60
        while len(workers_of(p.proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        workers = workers_of(p.proc.pid)
        assert len(workers) == 2, workers
        n = rec.count()

        def valid(im: np.ndarray) -> int:
            return h.post(p.url, h.chat([h.image_part(h.encode(im))])).status_code

        def hostile(i: int) -> int:
            body = [h.chat([h.image_part(h.encode(images[0])[:200])]),
                    h.chat([{"type": "image_url", "image_url": {"url": "http://127.0.0.1:9/x.png"}}])][i % 2]
            return h.post(p.url, body).status_code

        with ThreadPoolExecutor(8) as pool:
            ok = list(pool.map(valid, images))
            bad = list(pool.map(hostile, range(6)))
        assert ok == [200] * 8 and bad == [400] * 6
        got = [h.forwarded_images(r) for r in rec.since(n)]
        assert len(got) == 8 and all(len(g) == 1 for g in got)  # only the valid ones went upstream
        blur = create_anonymizer(SPEC)
        expected = sorted(blur.apply(im).tobytes() for im in images)
        assert sorted(decode_image(g[0]).tobytes() for g in got) == expected

        os.kill(workers[0], signal.SIGKILL)  # a crashed worker is replaced, the port keeps serving
        deadline = time.monotonic() + 60
        while (len(workers_of(p.proc.pid)) < 2 or workers[0] in workers_of(p.proc.pid)) and \
                time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(workers_of(p.proc.pid)) == 2
        assert [valid(im) for im in images[:3]] == [200] * 3
        current = workers_of(p.proc.pid)
        p.proc.terminate()
        assert p.proc.wait(30) == 0
        for pid in current:
            assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]


def test_workers_must_be_positive(upstream: tuple[Any, Any], tmp_path: Path, h: ModuleType) -> None:
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "veil.cli", "proxy", "--anonymizer", SPEC, "--upstream",
                        upstream[0].url, "--port", "0", "--workers", "0"], capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "--workers" in r.stderr + r.stdout
