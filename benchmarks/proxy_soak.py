"""Soak test of ``veil proxy --workers N``: concurrent clients, valid and hostile requests mixed.

Starts ``veil serve-reference --record FILE`` (the upstream: the reference black box, work
size 320, no face model) and ``veil proxy --workers N --anonymizer blur:sigma=5`` in front of
it, as real subprocesses on 127.0.0.1. First ``--clients`` threads send valid requests
straight to the upstream for a short baseline (the latency without the proxy), then for
``--seconds`` the same threads send a mix through the proxy: valid chat requests carrying
one photo (random crops of the embedded media, each request tagged with an id) and, one in
``--hostile-every``, a hostile one (truncated image, decompression-bomb PNG header, remote
URL, SVG, animated GIF, audio part, invalid JSON, unknown endpoint, a body over the limit).

Reported:

- throughput (requests/s through the proxy) and p50/p95/p99 of the latency of valid
  requests, direct and proxied, and their differences (the overhead);
- every hostile request's status (each must be a 4xx) and how many reached the upstream;
- unprotected images the upstream received: every recorded image is decoded and compared
  with the anonymizer's output for the photo its request carried (must be 0);
- crashes: 5xx replies, failed connections, worker processes that died;
- RSS of each worker after a warm-up and at the end, and its growth (target: under 50 MB).

    .venv/bin/python benchmarks/proxy_soak.py [--seconds 600] [--workers 2] [--clients 8]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections import Counter
from pathlib import Path

import cv2
import httpx
import numpy as np

from proxy_overhead import start  # the same folder: run as benchmarks/proxy_soak.py
from veil.anonymizers.base import create_anonymizer
from veil.blackbox.server import stop_server_process
from veil.media import decode_image, encode_image

SPEC = "blur:sigma=5"
UPSTREAM_SPEC = "reference:work_size=320,faces=false"
MAX_BODY_MB = 4


def workers_of(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
                cmd = (d / "cmdline").read_bytes()
            except (OSError, ValueError, IndexError):
                continue
            if ppid == pid and b"multiprocessing.spawn" in cmd and b"resource_tracker" not in cmd:
                out.append(int(d.name))
    return sorted(out)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def photos(media: Path, n: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` RGB crops (96-320 px) of the embedded photos."""
    rng = random.Random(seed)
    srcs = []
    for name in ("messi5.jpg", "basketball1.png", "basketball2.png", "licenseplate_motion.jpg"):
        im = cv2.imread(str(media / "opencv" / "data" / name))
        if im is not None:
            srcs.append(cv2.cvtColor(im, cv2.COLOR_BGR2RGB))
    if not srcs:
        raise SystemExit(f"no photos under {media}/opencv/data: run `make media` or pass --media")
    out = []
    for _ in range(n):
        im = rng.choice(srcs)
        h, w = im.shape[:2]
        cw, ch = rng.randint(96, min(320, w)), rng.randint(96, min(240, h))
        x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
        out.append(np.ascontiguousarray(im[y:y + ch, x:x + cw]))
    return out


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def chat(parts: list[dict], text: str) -> dict:
    return {"model": "reference", "messages": [{"role": "user", "content": [{"type": "text", "text": text}, *parts]}]}


def image_part(data: bytes, mime: str = "image/png") -> dict:
    return {"type": "image_url", "image_url": {"url": data_url(data, mime)}}


def png_declaring(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + \
        chunk(b"IEND", b"")


def hostile_requests(png: bytes) -> list[tuple[str, str, dict | None, bytes | None]]:
    """(name, path, json body, raw body) of requests the proxy must refuse with a 4xx."""
    import io

    from PIL import Image

    frames = [Image.new("RGB", (32, 24), (40 * i, 90, 200 - 40 * i)) for i in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><circle r="4"/></svg>'
    q = "How many people are in this image?"
    remote = {"type": "image_url", "image_url": {"url": "http://127.0.0.1:9/a.png"}}
    audio = {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}
    too_large = b'{"model": "reference", "messages": "' + b"A" * (MAX_BODY_MB * 2**20 + 10) + b'"}'
    chat_path = "/chat/completions"
    return [
        ("truncated", chat_path, chat([image_part(png[:300])], q), None),
        ("bomb-header", chat_path, chat([image_part(png_declaring(60000, 60000))], q), None),
        ("remote-url", chat_path, chat([remote], q), None),
        ("svg", chat_path, chat([image_part(svg, "image/svg+xml")], q), None),
        ("animated-gif", chat_path, chat([image_part(buf.getvalue(), "image/gif")], q), None),
        ("audio", chat_path, chat([audio], q), None),
        ("invalid-json", chat_path, None, b"{" + b"x" * 100),
        ("other-endpoint", "/embeddings", {"model": "m", "input": "x"}, None),
        ("too-large", chat_path, None, too_large),
    ]


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q)) if xs else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=600.0, help="soak duration (default: 600)")
    ap.add_argument("--baseline-seconds", type=float, default=10.0, help="direct-to-upstream phase")
    ap.add_argument("--warmup-seconds", type=float, default=5.0, help="proxied, before the first RSS reading")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--hostile-every", type=int, default=4, help="one request in N is hostile")
    ap.add_argument("--media", default=os.environ.get("VEIL_MEDIA", ".media"))
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    a = ap.parse_args()

    pool = photos(Path(a.media), 64)
    pngs = [encode_image(im, "png") for im in pool]
    blur = create_anonymizer(SPEC)
    expected = [blur.apply(decode_image(p)) for p in pngs]  # what the upstream must receive
    hostile = hostile_requests(pngs[0])
    with tempfile.TemporaryDirectory() as tmp:
        rec = Path(tmp) / "record.jsonl"
        up, up_url = start(["serve-reference", "--host", "127.0.0.1", "--port", "0", "--blackbox", UPSTREAM_SPEC,
                            "--record", str(rec)], "serving", Path(tmp) / "upstream.log")
        px = None
        try:
            px, px_url = start(["proxy", "--anonymizer", SPEC, "--upstream", up_url, "--host", "127.0.0.1",
                                "--port", "0", "--workers", str(a.workers), "--max-body-mb", str(MAX_BODY_MB),
                                "--log-level", "warning"], "proxy", Path(tmp) / "proxy.log")
            figures = soak(a, up_url, px_url, px, pngs, hostile, rec)
        finally:
            if px is not None:
                stop_server_process(px)
            stop_server_process(up)
        figures["unprotected_images_upstream"], figures["images_checked"], figures["hostile_upstream"] = \
            check_record(rec, expected, figures.pop("_ids"))
        figures["proxy_log_tail"] = (Path(tmp) / "proxy.log").read_text(errors="replace")[-600:]
    report(figures, a)


def soak(a: argparse.Namespace, up_url: str, px_url: str, px: subprocess.Popen[bytes], pngs: list[bytes],
         hostile: list, rec: Path) -> dict:
    def serving() -> list[int]:
        """The processes that serve: the workers, or the proxy itself with --workers 1."""
        return workers_of(px.pid) if a.workers > 1 else [px.pid]

    deadline = time.monotonic() + 60
    while len(serving()) < a.workers and time.monotonic() < deadline:
        time.sleep(0.1)
    workers = serving()
    lock = threading.Lock()
    direct: list[float] = []
    proxied: list[float] = []
    statuses: Counter[str] = Counter()
    bad_hostile: list[str] = []
    crashes: Counter[str] = Counter()
    ids: dict[str, int] = {}
    direct_ids: set[str] = set()  # baseline requests (straight to the upstream): not checked
    counter = [0]
    phase = {"name": "direct", "stop": time.monotonic() + a.baseline_seconds}

    def client_loop(k: int) -> None:
        rng = random.Random(k)
        with httpx.Client(timeout=120) as client:
            while True:
                name = phase["name"]
                if name == "done":
                    return
                with lock:
                    counter[0] += 1
                    n = counter[0]
                if name == "direct" or n % a.hostile_every:
                    i = rng.randrange(len(pngs))
                    rid = f"req-{n}"
                    body = chat([image_part(pngs[i])], f"{rid}: how many people are in this image?")
                    url = up_url if name == "direct" else px_url
                    with lock:
                        if name == "direct":
                            direct_ids.add(rid)
                        else:
                            ids[rid] = i
                    t = time.perf_counter()
                    try:
                        r = client.post(f"{url}/chat/completions", json=body)
                    except httpx.HTTPError as e:
                        with lock:
                            crashes[f"connection: {type(e).__name__}"] += 1
                        continue
                    ms = (time.perf_counter() - t) * 1000
                    with lock:
                        if r.status_code != 200:
                            crashes[f"valid request: HTTP {r.status_code}"] += 1
                        elif name == "direct":
                            direct.append(ms)
                        elif name == "soak":
                            proxied.append(ms)
                        statuses[f"valid {r.status_code}"] += 1
                else:
                    hname, path, js, raw = hostile[n // a.hostile_every % len(hostile)]
                    try:
                        if raw is not None:
                            r = client.post(f"{px_url}{path}", content=raw,
                                            headers={"content-type": "application/json"})
                        else:
                            r = client.post(f"{px_url}{path}", json=js)
                        code = r.status_code
                    except httpx.HTTPError as e:
                        code = -1
                        with lock:
                            crashes[f"connection: {type(e).__name__}"] += 1
                    with lock:
                        statuses[f"hostile {hname} {code}"] += 1
                        if not 400 <= code < 500:
                            bad_hostile.append(f"{hname}: {code}")

    threads = [threading.Thread(target=client_loop, args=(k,), daemon=True) for k in range(a.clients)]
    for t in threads:
        t.start()
    time.sleep(a.baseline_seconds)
    rec_before = rec.stat().st_size if rec.exists() else 0
    phase.update(name="warmup")
    time.sleep(a.warmup_seconds)
    rss0 = {pid: rss_mb(pid) for pid in workers}
    with lock:
        n0 = counter[0]
    t0 = time.perf_counter()
    phase.update(name="soak")
    next_print = time.monotonic() + 30
    end = time.monotonic() + a.seconds
    while time.monotonic() < end:
        time.sleep(0.5)
        if time.monotonic() >= next_print:
            next_print += 30
            with lock:
                print(f"  {time.perf_counter() - t0:5.0f} s: {len(proxied)} valid proxied, "
                      f"RSS {[round(rss_mb(p)) for p in serving()]} MB", flush=True)
    with lock:
        n1 = counter[0]
    elapsed = time.perf_counter() - t0
    phase.update(name="done")
    for t in threads:
        t.join(180)
    alive = serving()
    rss1 = {pid: rss_mb(pid) for pid in workers if pid in alive}
    return {
        "workers": a.workers, "clients": a.clients, "seconds": round(elapsed, 1),
        "requests": n1 - n0, "throughput_rps": round((n1 - n0) / elapsed, 1),
        "valid_proxied": len(proxied), "valid_direct": len(direct),
        "latency_ms": {k: {f"p{q}": round(pct(v, q), 1) for q in (50, 95, 99)}
                       for k, v in (("direct", direct), ("proxied", proxied))},
        "overhead_ms": {f"p{q}": round(pct(proxied, q) - pct(direct, q), 1) for q in (50, 95, 99)},
        "statuses": dict(sorted(statuses.items())), "hostile_not_4xx": bad_hostile,
        "crashes": dict(crashes), "workers_died": sorted(set(workers) - set(alive)),
        "rss_mb_start": {str(k): round(v, 1) for k, v in rss0.items()},
        "rss_mb_end": {str(k): round(v, 1) for k, v in rss1.items()},
        "rss_growth_mb": {str(k): round(rss1[k] - rss0[k], 1) for k in rss1},
        "_ids": (ids, direct_ids, rec_before),
    }


def check_record(rec: Path, expected: list[np.ndarray], ids_and_offset: tuple[dict[str, int], set[str], int]) -> tuple:
    """(images the upstream received that are not the anonymized photo, images checked,
    records that are not a valid proxied request) over the proxied phases."""
    ids, direct_ids, offset = ids_and_offset
    unprotected = checked = strays = 0
    with open(rec, "rb") as fh:
        fh.seek(offset)
        for line in fh:
            r = json.loads(line)
            body = json.loads(r.get("body") or "{}")
            texts = [p.get("text", "") for m in body.get("messages", []) if isinstance(m.get("content"), list)
                     for p in m["content"] if p.get("type") == "text"]
            rid = next((t.split(":", 1)[0] for t in texts if t.startswith("req-")), None)
            if rid not in ids:
                strays += rid not in direct_ids
                continue
            for m in body["messages"]:
                for p in m["content"] if isinstance(m.get("content"), list) else []:
                    if p.get("type") == "image_url":
                        data = base64.b64decode(p["image_url"]["url"].split(",", 1)[1])
                        checked += 1
                        if not np.array_equal(decode_image(data), expected[ids[rid]]):
                            unprotected += 1
    return unprotected, checked, strays


def report(f: dict, a: argparse.Namespace) -> None:
    load = os.getloadavg()
    print(f"\nveil proxy --workers {f['workers']}, {f['clients']} clients, {f['seconds']} s, "
          f"one request in {a.hostile_every} hostile; {os.cpu_count()} CPUs, load average {load[0]:.1f}")
    print(f"throughput: {f['throughput_rps']} requests/s through the proxy ({f['requests']} requests)")
    for k in ("direct", "proxied"):
        lat = f["latency_ms"][k]
        print(f"latency {k:<8} p50 {lat['p50']:7.1f} ms  p95 {lat['p95']:7.1f} ms  p99 {lat['p99']:7.1f} ms")
    o = f["overhead_ms"]
    print(f"overhead         p50 {o['p50']:7.1f} ms  p95 {o['p95']:7.1f} ms  p99 {o['p99']:7.1f} ms")
    hostile = {k: v for k, v in f["statuses"].items() if k.startswith("hostile")}
    print(f"hostile requests: {sum(hostile.values())}, not 4xx: {len(f['hostile_not_4xx'])}, "
          f"reached the upstream: {f['hostile_upstream']}")
    print(f"unprotected images the upstream received: {f['unprotected_images_upstream']} "
          f"(of {f['images_checked']} checked)")
    print(f"crashes: {f['crashes'] or 0}, workers died: {f['workers_died'] or 0}")
    print("RSS per worker (MB): " + ", ".join(
        f"{pid}: {f['rss_mb_start'][pid]} -> {f['rss_mb_end'].get(pid, 'gone')}" for pid in f["rss_mb_start"]))
    print(f"RSS growth per worker (MB): {f['rss_growth_mb']} (target < 50)")
    ok = (f["unprotected_images_upstream"] == 0 and not f["hostile_not_4xx"] and not f["crashes"]
          and not f["workers_died"] and f["hostile_upstream"] == 0
          and all(v < 50 for v in f["rss_growth_mb"].values()))
    print("PASS" if ok else "FAIL")
    if a.json:
        Path(a.json).write_text(json.dumps(f, indent=1) + "\n")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
