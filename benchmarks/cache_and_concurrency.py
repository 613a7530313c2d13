"""Benchmark: response-cache overhead and concurrent vs serial querying of a local server.

Starts ``veil serve-reference`` on a free 127.0.0.1 port (a real subprocess), then, in one
run, measures through Veil's OpenAI-compatible backend and query engine:

1. serial throughput: N distinct queries, concurrency 1, no cache;
2. concurrent throughput: N other distinct queries, concurrency C, no cache;
3. cache cost: the key (SHA-256 over the encoded image and the request), the SQLite
   lookup and store, next to the latency of a paid query; and a full rerun served from
   the cache (which still encodes each image to compute its key).

It prints the ratios (concurrent/serial throughput, paid/hit latency, cache overhead as a
share of a paid query). The reference black box is CPU bound and serialised inside the
server, so the concurrency gain comes from overlapping HTTP, encoding and decoding with
its work; a real remote MLLM, whose latency is mostly waiting, gains much more.

    python benchmarks/cache_and_concurrency.py [--n 60] [--concurrency 8] [--spec reference]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import httpx
import numpy as np
from skimage import data as skdata

from veil.blackbox.cache import ResponseCache, request_key
from veil.blackbox.engine import EngineConfig, Query, QueryEngine
from veil.blackbox.openai_backend import OpenAIBlackBox
from veil.blackbox.server import stop_server_process
from veil.data.questions import QUESTIONS, YES_NO, format_prompt


def start_server(spec: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "veil.cli", "serve-reference", "--port", "0", "--blackbox", spec],
        stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if " at http://" not in line:
        proc.kill()
        raise SystemExit(f"server did not start: {line!r}")
    url = line.rsplit(" at ", 1)[1].strip()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/models", timeout=5).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("server never answered /v1/models")


def make_queries(n: int, seed: int) -> list[Query]:
    base = cv2.resize(skdata.astronaut(), (200, 150), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(seed)
    prompt = format_prompt(QUESTIONS["presence"], YES_NO)
    out = []
    for _ in range(n):
        dx, dy = int(rng.integers(0, 41)), int(rng.integers(0, 31))
        im = np.ascontiguousarray(base[dy:dy + 120, dx:dx + 160])
        im[:2, :8] = rng.integers(0, 256, (2, 8, 3), dtype=np.uint8)
        out.append(Query([im], prompt, YES_NO))
    return out


def timed_run(box: OpenAIBlackBox, queries: list[Query], concurrency: int, cache: Path | None = None) -> float:
    t0 = time.perf_counter()
    with QueryEngine(box, EngineConfig(concurrency=concurrency), cache=cache) as eng:
        eng.query_many(queries)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=60, help="queries per measurement")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--spec", default="reference", help="black box spec the server runs")
    a = ap.parse_args()

    proc, url = start_server(a.spec)
    try:
        box = OpenAIBlackBox(base_url=url, model=a.spec.partition(":")[0], image_format="png", max_side=0)
        timed_run(box, make_queries(4, 99), 1)  # warm up: models built, connections open
        serial_q, conc_q = make_queries(a.n, 1), make_queries(a.n, 2)
        t_serial = timed_run(box, serial_q, 1)
        t_conc = timed_run(box, conc_q, a.concurrency)

        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "cache.sqlite"
            t_fill = timed_run(box, serial_q, a.concurrency, db)
            t_hits = timed_run(box, serial_q, 1, db)
            model, params = box.cache_identity()
            with ResponseCache(db) as cache:
                t0 = time.perf_counter()
                payloads = [box.encode_images(q.images) for q in serial_q]
                t_encode = (time.perf_counter() - t0) / a.n
                t0 = time.perf_counter()
                pairs = zip(payloads, serial_q, strict=True)
                keys = [request_key(p, q.prompt, model, params, q.choices) for p, q in pairs]
                t_hash = (time.perf_counter() - t0) / a.n
                t0 = time.perf_counter()
                assert all(cache.get(k) is not None for k in keys)
                t_get_hit = (time.perf_counter() - t0) / a.n
                t0 = time.perf_counter()
                assert all(cache.get(k + "-miss") is None for k in keys)
                t_get_miss = (time.perf_counter() - t0) / a.n
                answer = cache.get(keys[0]).answer  # type: ignore[union-attr]
                t0 = time.perf_counter()
                for k in keys:
                    cache.put(k + "-new", answer, model, "p")
                t_put = (time.perf_counter() - t0) / a.n
        paid_latency = t_serial / a.n
    finally:
        stop_server_process(proc)

    ms = 1000.0
    print(f"server: veil serve-reference --blackbox {a.spec}   queries per run: {a.n}")
    print(f"serial      (concurrency 1):  {a.n / t_serial:7.1f} queries/s  ({paid_latency * ms:.1f} ms/query)")
    print(f"concurrent  (concurrency {a.concurrency}):  {a.n / t_conc:7.1f} queries/s")
    print(f"concurrent / serial throughput ratio: {t_serial / t_conc:.2f}x")
    print(f"first run with cache (misses, concurrency {a.concurrency}): {a.n / t_fill:7.1f} queries/s")
    print(f"rerun from cache (hits, serial):  {a.n / t_hits:9.1f} queries/s  ({t_hits / a.n * ms:.2f} ms/query)")
    print(f"paid / cached query latency ratio: {paid_latency / (t_hits / a.n):.0f}x")
    overhead = t_hash + t_get_miss + t_put
    print(f"image encoding (needed to send anyway): {t_encode * ms:.3f} ms/query")
    print(f"cache key SHA-256 {t_hash * ms:.3f} ms; lookup hit {t_get_hit * ms:.3f} ms, miss {t_get_miss * ms:.3f} ms; "
          f"store {t_put * ms:.3f} ms")
    print(f"cache overhead on a miss (key + lookup + store): {overhead * ms:.3f} ms = "
          f"{overhead / paid_latency:.2%} of a paid query")

if __name__ == "__main__":
    main()
