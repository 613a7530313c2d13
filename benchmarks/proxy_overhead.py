"""Latency the privacy proxy adds: one 1024x768 JPEG per chat request, direct vs through `veil proxy`.

Starts `veil serve-reference` (the upstream; the reference black box at work size 320, no
face model, so the upstream's own time is small and stable) and, for each configuration,
a `veil proxy` in front of it, all as real subprocesses on 127.0.0.1. Requests alternate
direct / proxied on kept-alive connections (so both see the same machine load), after a
warm-up. Reported: p50 and p95 of each, their differences, and the proxy's own
anonymize-and-re-encode time (from its log). The difference includes everything the
client pays: reading and parsing the request, decoding, anonymizing, re-encoding (PNG is
about 4x the bytes of the JPEG), forwarding, and the upstream decoding a PNG instead of a
JPEG. Configurations: `blur:sigma=5` (cheap) with PNG (zlib level 1, the default, and 0)
and with JPEG re-encoding, and a learned UNet (fresh weights: the identity at
initialization, full network cost) with PNG.

    .venv/bin/python benchmarks/proxy_overhead.py [--requests 60] [--media .media]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import httpx
import numpy as np

from veil.anonymizers.base import create_anonymizer
from veil.anonymizers.learned import LearnedAnonymizer
from veil.blackbox.server import stop_server_process
from veil.data.questions import COUNT_CHOICES, QUESTIONS, format_prompt
from veil.media import encode_image, load_image
from veil.proxy import PayloadTransform, ProxyConfig

UPSTREAM_SPEC = "reference:work_size=320,faces=false"


def start(args: list[str], marker: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Run ``python -m veil.cli ARGS`` (stdout to ``log``); return it and its base URL once ready."""
    with open(log, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "veil.cli", *args], stdout=fh, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        for line in log.read_text(errors="replace").splitlines():
            if marker in line and " at http://" in line:
                return proc, line.split(" at ", 1)[1].split()[0]
        time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"{args[0]} did not start: {log.read_text(errors='replace')[-2000:]}")


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q))


def measure(direct: str, proxied: str, body: dict, n: int, warmup: int = 5) -> tuple[list[float], list[float]]:
    """Milliseconds per request, direct and through the proxy, interleaved."""
    times: dict[str, list[float]] = {direct: [], proxied: []}
    with httpx.Client(timeout=120) as client:
        for i in range(warmup + n):
            for url in (direct, proxied) if i % 2 == 0 else (proxied, direct):
                t = time.perf_counter()
                r = client.post(f"{url}/chat/completions", json=body)
                ms = (time.perf_counter() - t) * 1000.0
                if r.status_code != 200:
                    raise SystemExit(f"{url}: HTTP {r.status_code}: {r.text[:300]}")
                if i >= warmup:
                    times[url].append(ms)
    return times[direct], times[proxied]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=60, help="measured requests per path and configuration")
    ap.add_argument("--media", default=os.environ.get("VEIL_MEDIA", ".media"))
    a = ap.parse_args()

    photo = load_image(Path(a.media) / "opencv" / "data" / "messi5.jpg")
    image = cv2.resize(photo, (1024, 768), interpolation=cv2.INTER_AREA)
    jpeg = encode_image(image, "jpeg", quality=90)
    body = {"model": "reference", "messages": [{"role": "user", "content": [
        {"type": "text", "text": format_prompt(QUESTIONS["count"], COUNT_CHOICES)},
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()}},
    ]}]}

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        unet = LearnedAnonymizer("unet").save(d / "unet")  # fresh weights: the identity, full network cost
        configs = [("blur:sigma=5", "png", 1), ("blur:sigma=5", "png", 0), ("blur:sigma=5", "jpeg", 1),
                   (str(unet), "png", 1)]
        up, up_url = start(["serve-reference", "--port", "0", "--blackbox", UPSTREAM_SPEC], "serving",
                           d / "upstream.log")
        rows = []
        try:
            for spec, fmt, level in configs:
                log = d / f"proxy-{len(rows)}.log"
                px, px_url = start(["proxy", "--anonymizer", spec, "--upstream", up_url, "--port", "0",
                                    "--format", fmt, "--png-compression", str(level), "--log-level", "info"], "proxy",
                                   log)
                try:
                    direct, proxied = measure(up_url, px_url, body, a.requests)
                finally:
                    stop_server_process(px)
                own = [float(m) for m in re.findall(r"anonymized in ([\d.]+) ms", log.read_text())]
                name = "learned unet (fresh, identity)" if spec == str(unet) else spec
                cfg = ProxyConfig(spec, up_url, output_format=fmt, png_compression=level)
                sent = len(json.dumps(PayloadTransform(create_anonymizer(spec), cfg)(body).body))
                rows.append((name, f"{fmt} {level}" if fmt == "png" else fmt, sent, direct, proxied, own[5:] or own))
        finally:
            stop_server_process(up)

    load = os.getloadavg()
    print(f"one {image.shape[1]}x{image.shape[0]} JPEG ({len(jpeg) / 1024:.0f} kB; body "
          f"{len(json.dumps(body)) / 1024:.0f} kB) per request, "
          f"{a.requests} requests per path after 5 warm-up; upstream: veil serve-reference --blackbox {UPSTREAM_SPEC}")
    print(f"machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    head = (f"{'anonymizer':32} {'sent as':7} {'body kB':>7} {'direct p50':>10} {'p95':>7} {'proxy p50':>10} "
            f"{'p95':>7} {'overhead p50':>12} {'p95':>7} {'in proxy p50':>12}")
    print(head)
    print("-" * len(head))
    for name, fmt, sent, direct, proxied, own in rows:
        d50, d95, p50, p95 = pct(direct, 50), pct(direct, 95), pct(proxied, 50), pct(proxied, 95)
        print(f"{name:32} {fmt:7} {sent / 1024:7.0f} {d50:10.1f} {d95:7.1f} {p50:10.1f} {p95:7.1f} {p50 - d50:12.1f} "
              f"{p95 - d95:7.1f} {pct(own, 50):12.1f}")
    print("milliseconds; 'sent as': re-encoding (png: zlib level); 'body kB': forwarded request body; "
          "overhead = proxied - direct; 'in proxy': read, parse, decode, anonymize and re-encode, before forwarding")
    return 0


if __name__ == "__main__":
    sys.exit(main())
