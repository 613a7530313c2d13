"""Scaling of ``veil protect --engine ray``: 1 vs 2 workers on a folder of street images.

Copies the first ``--count`` images of the street scenario (``data/street/images``, built with
``veil data prepare street`` when missing) into a temporary folder, protects it once with the
local engine, then with the Ray engine at each worker count (a local Ray of that many CPUs,
dashboard off, started before the clock: its start-up is reported apart). Every Ray run's
outputs are checked byte for byte against the local engine's. Reported per configuration:
seconds, images per second, and the speed-up of 2 workers over 1 (the target is >= 1.6 on
an otherwise idle 2-core machine; other work on the machine lowers it).

    .venv/bin/python benchmarks/protect_ray.py [--count 200] [--anonymizer blur:sigma=8] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from veil.protect import MANIFEST_DIR, SUMMARY_FILE, ProtectConfig, protect_paths


def corpus(src: Path, count: int, dst: Path) -> Path:
    files = sorted(p for p in src.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp"))[:count]
    if len(files) < count:
        sys.exit(f"{src} has {len(files)} images, fewer than --count {count}")
    dst.mkdir(parents=True)
    for p in files:
        shutil.copy(p, dst / p.name)
    return dst


def outputs(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*")
            if p.is_file() and MANIFEST_DIR not in p.parts and p.name != SUMMARY_FILE}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", default="data/street/images")
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--anonymizer", default="blur:sigma=8")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=1, help="runs per configuration (the best is kept)")
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    a = ap.parse_args()
    import ray

    src = Path(a.images)
    if not src.is_dir():
        from veil.data.scenarios import prepare_scenario

        src = prepare_scenario("street", root=src.parents[1], progress=False).parent / "images"
    with tempfile.TemporaryDirectory() as tmp:
        inp = corpus(src, a.count, Path(tmp) / "in")
        cfg = ProtectConfig(progress=False, resume=False)
        best: dict[str, float] = {}
        for r in range(a.repeat):
            out = Path(tmp) / f"local{r}"
            t = time.perf_counter()
            protect_paths([inp], out, a.anonymizer, cfg)
            best["local"] = min(best.get("local", 1e9), time.perf_counter() - t)
        reference = outputs(Path(tmp) / "local0")
        startup: dict[int, float] = {}
        for w in a.workers:
            t = time.perf_counter()
            ray.init(address="local", num_cpus=w, include_dashboard=False, logging_level="warning")
            startup[w] = time.perf_counter() - t
            try:
                for r in range(a.repeat):
                    out = Path(tmp) / f"ray{w}-{r}"
                    t = time.perf_counter()
                    report = protect_paths([inp], out, a.anonymizer,
                                           ProtectConfig(progress=False, resume=False, engine="ray", workers=w))
                    best[f"ray{w}"] = min(best.get(f"ray{w}", 1e9), time.perf_counter() - t)
                    assert report.exit_code == 0 and len(report.files) == a.count
                    assert outputs(out) == reference, "Ray outputs differ from the local engine's"
            finally:
                ray.shutdown()
    load = os.getloadavg()
    print(f"{a.count} images ({src}), anonymizer {a.anonymizer}, {os.cpu_count()} CPUs, "
          f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print(f"{'engine':<14} {'seconds':>8} {'images/s':>9}")
    for k, s in best.items():
        print(f"{k:<14} {s:8.2f} {a.count / s:9.1f}")
    figures: dict[str, object] = {"count": a.count, "anonymizer": a.anonymizer, "seconds": best,
                                  "ray_startup_seconds": startup, "loadavg": load, "identical_to_local": True}
    if 1 in a.workers and 2 in a.workers:
        ratio = best["ray1"] / best["ray2"]
        figures["speedup_2_over_1"] = ratio
        print(f"speed-up of 2 workers over 1: {ratio:.2f}x (target >= 1.6 on an idle 2-core machine)")
    print("Ray start-up (not in the times above): " + ", ".join(f"{w} CPU(s) {s:.1f} s" for w, s in startup.items()))
    print("outputs: identical to the local engine's, byte for byte")
    if a.json:
        Path(a.json).write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
