"""Response cache: keys, persistence, WAL, sharing, the wrapper around any black box, and
the acceptance runs (100 queries twice, after a restart, after kill -9) against a real
``veil serve-reference``."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from veil.blackbox.base import Answer, BlackBox, create_blackbox
from veil.blackbox.cache import CachedBlackBox, ResponseCache, cache_identity, pixels_payload, request_key
from veil.blackbox.engine import EngineConfig, Query, QueryEngine, RetryPolicy
from veil.blackbox.openai_backend import OpenAIBlackBox
from veil.data.questions import COUNT_CHOICES, QUESTIONS, YES_NO, format_prompt
from veil.errors import CacheError
from veil.registry import parse_spec


def img(i: int = 0) -> np.ndarray:
    im = np.zeros((10, 12, 3), np.uint8)
    im[0, 0] = (i % 256, i // 256, 7)
    return im


class Counting(BlackBox):
    name = "counting"

    def __init__(self, offset: int = 0) -> None:
        super().__init__()
        self.offset = offset

    def _answer(self, images, prompt, choices):  # noqa: ANN001, ANN202
        v = int(images[0][0, 0, 0]) + self.offset
        return Answer(str(v), {c: -float(i) for i, c in enumerate(choices or [])} or None)


class TestKey:
    base = dict(payloads=[b"abc"], prompt="p", model="m", params={"t": 0}, choices=["a", "b"])

    def test_stable(self) -> None:
        assert request_key(**self.base) == request_key(**self.base)
        assert len(request_key(**self.base)) == 64

    @pytest.mark.parametrize("change", [
        {"payloads": [b"abd"]}, {"payloads": [b"abc", b""]}, {"payloads": [b"ab", b"c"]}, {"prompt": "p "},
        {"model": "m2"}, {"params": {"t": 0.1}}, {"params": {"t": 0, "seed": 1}}, {"choices": ["b", "a"]},
        {"choices": None},
    ])
    def test_every_part_matters(self, change: dict) -> None:
        assert request_key(**{**self.base, **change}) != request_key(**self.base)

    def test_pixels_payload_has_shape(self) -> None:
        a = np.zeros((2, 6, 3), np.uint8)
        assert pixels_payload(a) != pixels_payload(a.reshape(6, 2, 3))

    def test_identity_follows_configuration(self) -> None:
        assert cache_identity(Counting(0)) != cache_identity(Counting(1))
        m1, p1 = cache_identity(OpenAIBlackBox(base_url="http://127.0.0.1:9/v1", model="a"))
        m2, p2 = cache_identity(OpenAIBlackBox(base_url="http://127.0.0.1:9/v1", model="a", temperature=0.7))
        assert m1 == m2 and p1 != p2


class TestStore:
    def test_round_trip_and_counters(self, tmp_path: Path) -> None:
        with ResponseCache(tmp_path / "sub" / "c.sqlite") as c:
            assert c.get("k1") is None
            c.put("k1", Answer("yes", {"yes": -0.1, "no": -2.3}), "m", "p", {"prompt_tokens": 5})
            c.put("k2", Answer("free text"))
            hit = c.get("k1")
            assert hit is not None and hit.answer == Answer("yes", {"yes": -0.1, "no": -2.3})
            assert hit.usage == {"prompt_tokens": 5} and c.get("k2").answer == Answer("free text", None)
            assert (c.hits, c.misses, len(c)) == (2, 1, 2) and "k1" in c

    def test_persists_in_wal_mode(self, tmp_path: Path) -> None:
        p = tmp_path / "c.sqlite"
        with ResponseCache(p) as c:
            c.put("k", Answer("a"))
        assert sqlite3.connect(p).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        with ResponseCache(p) as c:
            assert c.get("k").answer.text == "a"

    def test_not_a_cache(self, tmp_path: Path) -> None:
        junk = tmp_path / "junk.sqlite"
        junk.write_bytes(b"this is not sqlite" * 100)
        with pytest.raises(CacheError, match="junk.sqlite"):
            ResponseCache(junk)
        other = tmp_path / "other.sqlite"
        sqlite3.connect(other).execute("CREATE TABLE responses (x INTEGER)").connection.commit()
        with pytest.raises(CacheError, match="not a Veil"):
            ResponseCache(other)

    def test_shared_by_threads_and_connections(self, tmp_path: Path) -> None:
        p = tmp_path / "c.sqlite"
        a, b = ResponseCache(p), ResponseCache(p)

        def writer(c: ResponseCache, start: int) -> None:
            for i in range(start, start + 50):
                c.put(f"k{i}", Answer(str(i)))

        ts = [threading.Thread(target=writer, args=(c, s)) for c, s in ((a, 0), (b, 50), (a, 100), (b, 150))]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert len(a) == 200 and b.get("k123").answer.text == "123"
        a.close()
        b.close()


class TestCachedBlackBox:
    def test_hits_are_free(self, tmp_path: Path) -> None:
        inner = Counting()
        box = CachedBlackBox(inner, tmp_path / "c.sqlite")
        first = [box.query([img(i)], "q", ["x", "y"]) for i in range(5)]
        again = [box.query([img(i)], "q", ["x", "y"]) for i in range(5)]
        assert first == again and inner.queries == 5 and box.queries == 5 and box.cache.hits == 5
        other = CachedBlackBox(Counting(offset=1), box.cache)
        assert other.query([img(0)], "q", ["x", "y"]).text == "1"  # other configuration, other entry

    def test_reference_cached_the_same_way(self, tmp_path: Path, specs: dict[str, str],
                                           images: Callable[[int, int], list[np.ndarray]]) -> None:
        name, kw = parse_spec(specs["fast"])
        ref = create_blackbox(name, **kw)
        prompt = format_prompt(QUESTIONS["presence"], YES_NO)
        ims = images(3, 5)
        want = [ref.query([im], prompt, YES_NO) for im in ims]
        box = CachedBlackBox(create_blackbox(name, **kw), tmp_path / "c.sqlite")
        assert [box.query([im], prompt, YES_NO) for im in ims] == want
        assert [box.query([im], prompt, YES_NO) for im in ims] == want
        assert box.inner.queries == 3 and box.cache.hits == 3


# ----------------------------------------------------------------------------- acceptance against a server

WORKER = r"""
import json, sys, time
from pathlib import Path
import numpy as np
from veil.blackbox.engine import EngineConfig, QueryEngine
from veil.blackbox.openai_backend import OpenAIBlackBox
from veil.data.questions import QUESTIONS, YES_NO, format_prompt

url, cache, log, n, mark_after, marker, pause = sys.argv[1:]
n, mark_after, pause = int(n), int(mark_after), float(pause)
base = np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)
prompt = format_prompt(QUESTIONS["presence"], YES_NO)
box = OpenAIBlackBox(base_url=url, model="reference", image_format="png", max_side=0)
engine = QueryEngine(box, EngineConfig(concurrency=1), cache=cache, log_path=log)
for i in range(n):
    im = base.copy()
    im[0, :4] = np.frombuffer(i.to_bytes(4, "big"), np.uint8)[:, None]
    engine.query([im], prompt, YES_NO)
    if i + 1 == mark_after:
        Path(marker).write_text("ready")
    if i + 1 > mark_after:
        time.sleep(pause)
engine.close()
print(json.dumps(engine.stats.as_dict()))
"""


def run_worker(url: str, cache: Path, n: int = 100, mark_after: int = 0, marker: Path | None = None,
               pause: float = 0.0) -> subprocess.Popen[str]:
    args = [url, str(cache), str(cache.with_suffix(".jsonl")), str(n), str(mark_after), str(marker or "-"), str(pause)]
    return subprocess.Popen([sys.executable, "-c", WORKER, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def finish(proc: subprocess.Popen[str]) -> dict:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    return json.loads(out.strip().splitlines()[-1])


def engine_run(url: str, cache: Path, queries: list[Query]) -> QueryEngine:
    box = OpenAIBlackBox(base_url=url, model="reference", image_format="png", max_side=0,
                         retry=RetryPolicy(base_delay=0.01))
    with QueryEngine(box, EngineConfig(concurrency=4), cache=cache) as eng:
        eng.query_many(queries)
    return eng


def test_same_100_queries_twice_cost_nothing_the_second_time(
    fast_server: str, tmp_path: Path, images: Callable[[int, int], list[np.ndarray]],
    stats: Callable[[str], dict],
) -> None:
    ims = images(50, 11)
    qs = [Query([im], format_prompt(QUESTIONS[q], ch), ch) for im in ims
          for q, ch in (("count", COUNT_CHOICES), ("presence", YES_NO))]
    before = stats(fast_server)["answered"]
    first = engine_run(fast_server, tmp_path / "c.sqlite", qs)
    middle = stats(fast_server)["answered"]
    second = engine_run(fast_server, tmp_path / "c.sqlite", qs)
    after = stats(fast_server)["answered"]
    assert first.stats.queries == 100 and middle - before == 100
    assert second.stats.queries == 0 and second.stats.cache_hits == 100 and after == middle


def test_cache_survives_a_restart(fast_server: str, tmp_path: Path, stats: Callable[[str], dict]) -> None:
    cache = tmp_path / "c.sqlite"
    before = stats(fast_server)["answered"]
    first = finish(run_worker(fast_server, cache))
    second = finish(run_worker(fast_server, cache))
    assert first["queries"] == 100 and first["cache_hits"] == 0
    assert second["queries"] == 0 and second["cache_hits"] == 100
    assert stats(fast_server)["answered"] - before == 100


def test_cache_survives_kill_9_mid_run(fast_server: str, tmp_path: Path) -> None:
    cache, marker = tmp_path / "c.sqlite", tmp_path / "ready"
    proc = run_worker(fast_server, cache, mark_after=40, marker=marker, pause=0.05)
    deadline = time.monotonic() + 300
    while not marker.exists():
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    db = sqlite3.connect(cache)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    with ResponseCache(cache) as c:
        kept = len(c)
    assert 40 <= kept < 100
    log_lines = (cache.with_suffix(".jsonl")).read_text().splitlines()
    assert all(json.loads(ln)["status"] == "ok" for ln in log_lines[:40])
    rerun = finish(run_worker(fast_server, cache))
    assert rerun["queries"] == 100 - kept and rerun["cache_hits"] == kept
    assert finish(run_worker(fast_server, cache))["queries"] == 0
