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
from PIL import Image

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


class _Clock:
    """Wall and CPU milliseconds of a block, added to a stage's lists."""

    def __init__(self, rows: dict[str, tuple[list[float], list[float]]], stage: str) -> None:
        self.rows, self.stage = rows, stage

    def __enter__(self) -> None:
        self.t, self.c = time.perf_counter(), time.process_time()

    def __exit__(self, *exc: object) -> None:
        wall, cpu = self.rows.setdefault(self.stage, ([], []))
        wall.append((time.perf_counter() - self.t) * 1000.0)
        cpu.append((time.process_time() - self.c) * 1000.0)


def stage_times(model: str, jpeg: bytes, repeats: int) -> tuple[str, dict[str, tuple[list[float], list[float]]]]:
    """Per-stage milliseconds (wall, CPU) of anonymizing one JPEG with a detector-guided model,
    as the proxy runs it (``with_runtime(..., "auto")``); the detection cache is emptied first,
    so every repeat detects again. Text detection and recognition are timed inside the OCR
    engine; "categories" is the rest of reading the lines (grouping, classification)."""
    from veil.anonymizers import guides
    from veil.protect import with_runtime
    from veil.proxy.transform import encode_png

    an = with_runtime(create_anonymizer(model), "auto")
    runtime = type(an).__name__
    guide = getattr(an, "guide", None)
    parts = getattr(guide, "parts", [guide])
    faces = next((p for p in parts if isinstance(p, guides.FaceGuide)), None)
    text = next((p for p in parts if isinstance(p, guides.TextCategoryGuide)), None)
    nudity = next((p for p in parts if isinstance(p, getattr(guides, "NudityGuide", ()))), None)
    if faces is None or text is None:
        raise SystemExit(f"{model}: stage timings need a model with the faces+textcls guide")
    inner: dict[str, float] = {"text detection": 0.0, "text recognition": 0.0}
    eng = text._engine()
    for attr, stage in (("text_det", "text detection"), ("text_rec", "text recognition")):
        fn = getattr(eng, attr)

        def timed(*args: object, _fn: object = fn, _stage: str = stage, **kw: object) -> object:
            t = time.perf_counter()
            try:
                return _fn(*args, **kw)  # type: ignore[operator]
            finally:
                inner[_stage] += (time.perf_counter() - t) * 1000.0

        setattr(eng, attr, timed)
    planar = getattr(guides, "planar_maps", None)
    rows: dict[str, tuple[list[float], list[float]]] = {}
    for i in range(repeats + 1):
        if i == 1:
            rows.clear()  # the first pass loads the models
        guides.clear_detection_cache()
        with _Clock(rows, "total"):
            with _Clock(rows, "decode JPEG"):
                im = load_image_bytes(jpeg)
            with _Clock(rows, "face detection"):
                faces.boxes(im)
            inner.update({k: 0.0 for k in inner})
            with _Clock(rows, "text det + rec + categories"):
                text.read_lines(im)
            with _Clock(rows, "nudity detection"):  # 0 for a model whose guide has none
                if nudity is not None:
                    nudity.boxes(im)
            with _Clock(rows, "maps + network + compositing"):  # the detections are cached by now
                out = an.apply(im)
            with _Clock(rows, "encode PNG (level 1)"):
                encode_png(Image.fromarray(out), 1)
        with _Clock(rows, "maps"):  # the guide maps alone (what the anonymizer computes before its network)
            planar(guide, im) if planar is not None else guide(im)
        for k, v in inner.items():
            rows.setdefault(k, ([], []))[0].append(v)
    return runtime, rows


def load_image_bytes(data: bytes) -> np.ndarray:
    from veil.media import decode_image

    return decode_image(data)


def print_stages(model: str, runtime: str, rows: dict[str, tuple[list[float], list[float]]]) -> None:
    """The stage table: median wall and CPU ms (CPU: all threads of this process)."""
    med = {k: (float(np.median(w)), float(np.median(c)) if c else float("nan")) for k, (w, c) in rows.items()}
    maps = med["maps"]
    net = (med["maps + network + compositing"][0] - maps[0], med["maps + network + compositing"][1] - maps[1])
    text = med["text det + rec + categories"]
    det, rec = med["text detection"][0], med["text recognition"][0]
    order = [("decode JPEG", med["decode JPEG"]), ("face detection", med["face detection"]),
             ("text detection", (det, float("nan"))), ("text recognition", (rec, float("nan"))),
             ("text categories (rest)", (text[0] - det - rec, float("nan"))),
             ("text det + rec + categories", text), ("nudity detection", med["nudity detection"]),
             ("guide maps", maps), ("network + compositing", net),
             ("encode PNG (level 1)", med["encode PNG (level 1)"]), ("total", med["total"])]
    n = len(rows["total"][0])
    print(f"\nstages of one 1024x768 JPEG with {model} ({runtime}), median of {n}, detections not cached; "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"{'stage':30} {'wall ms':>8} {'CPU ms':>8}")
    for name, (w, c) in order:
        print(f"{name:30} {w:8.1f} {c:8.1f}")
    print("CPU ms counts every thread of the process (OpenCV and onnxruntime use both cores); text detection and "
          "recognition are timed inside the OCR engine (wall only)")


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q))


def measure(direct: str, proxied: str, bodies: list[dict], n: int, warmup: int = 5) -> tuple[list[float], list[float]]:
    """Milliseconds per request, direct and through the proxy, interleaved (request i of both
    paths carries ``bodies[i % len(bodies)]``)."""
    times: dict[str, list[float]] = {direct: [], proxied: []}
    with httpx.Client(timeout=120) as client:
        for i in range(warmup + n):
            body = bodies[i % len(bodies)]
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
    ap.add_argument("--model", help="a trained model folder (e.g. runs/demo/train/model): proxied, and timed by stage")
    ap.add_argument("--model-only", action="store_true", help="with --model: skip the blur and UNet configurations")
    ap.add_argument("--stage-repeats", type=int, default=7, help="images timed by stage (after one warm-up)")
    a = ap.parse_args()
    if a.model_only and not a.model:
        ap.error("--model-only needs --model")

    photo = load_image(Path(a.media) / "opencv" / "data" / "messi5.jpg")
    image = cv2.resize(photo, (1024, 768), interpolation=cv2.INTER_AREA)
    jpeg = encode_image(image, "jpeg", quality=90)
    body = chat_body(jpeg)

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        unet = LearnedAnonymizer("unet").save(d / "unet")  # fresh weights: the identity, full network cost
        # (spec, format, PNG level, a new image per request, the protected-image cache on): the cheap
        # anonymizers get the same image with the cache off, so their rows time the protection itself
        configs = [("blur:sigma=5", "png", 1, False, False), ("blur:sigma=5", "png", 0, False, False),
                   ("blur:sigma=5", "jpeg", 1, False, False), (str(unet), "png", 1, False, False)]
        if a.model:  # the same image every time (the protected-image cache answers), and a new one each time
            model = str(Path(a.model).resolve())
            configs = [*([] if a.model_only else configs),
                       (model, "png", 1, False, True), (model, "png", 1, True, True)]
        up, up_url = start(["serve-reference", "--port", "0", "--blackbox", UPSTREAM_SPEC], "serving",
                           d / "upstream.log")
        rows = []
        try:
            for spec, fmt, level, distinct, cached in configs:
                log = d / f"proxy-{len(rows)}.log"
                px, px_url = start(["proxy", "--anonymizer", spec, "--upstream", up_url, "--port", "0",
                                    "--format", fmt, "--png-compression", str(level), "--log-level", "info",
                                    *([] if cached else ["--protected-cache-mb", "0"])], "proxy", log)
                try:
                    bodies = distinct_bodies(image, 5 + a.requests) if distinct else [body]
                    direct, proxied = measure(up_url, px_url, bodies, a.requests)
                finally:
                    stop_server_process(px)
                own = [float(m) for m in re.findall(r"anonymized in ([\d.]+) ms", log.read_text())]
                name = "learned unet (fresh, identity)" if spec == str(unet) else spec
                if a.model and spec == str(Path(a.model).resolve()):
                    name = f"trained {read_network(spec)}, " + ("new image" if distinct else "same image")
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
    if a.model:
        print("trained model: 'same image' sends one image in every request (as a chat re-sends its image each turn: "
              "the proxy's protected-image cache answers after the first); 'new image' changes two 16x16 corner blocks "
              "per request, so faces and text are detected and read every time")
    if a.model:
        runtime, stages = stage_times(a.model, jpeg, a.stage_repeats)
        print_stages(a.model, runtime, stages)
    return 0


def chat_body(jpeg: bytes) -> dict:
    """A chat request with the counting question and one JPEG."""
    return {"model": "reference", "messages": [{"role": "user", "content": [
        {"type": "text", "text": format_prompt(QUESTIONS["count"], COUNT_CHOICES)},
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()}},
    ]}]}


def distinct_bodies(image: np.ndarray, n: int) -> list[dict]:
    """``n`` requests whose JPEGs decode to different pixels (two corner blocks set per request)."""
    import hashlib

    from veil.media import decode_image

    bodies, seen = [], set()
    for i in range(n):
        im = image.copy()
        im[:16, :16] = (37 * i) % 256
        im[:16, 16:32] = (11 * i + 5 * (i // 256)) % 256
        jpeg = encode_image(im, "jpeg", quality=90)
        seen.add(hashlib.sha256(decode_image(jpeg).tobytes()).hexdigest())
        bodies.append(chat_body(jpeg))
    if len(seen) != n:
        raise SystemExit(f"only {len(seen)} of {n} distinct images")
    return bodies


def read_network(spec: str) -> str:
    """The network name in a model folder's config.json, and the dials the spec sets."""
    from veil.anonymizers.learned import _split_path_spec

    folder, dials = _split_path_spec(spec)
    name = str(json.loads((Path(folder) / "config.json").read_text()).get("network", "?"))
    return f"{name} {dials}" if dials else name


if __name__ == "__main__":
    sys.exit(main())
