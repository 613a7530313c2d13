"""``veil protect`` with a learned whole-frame UNet against the ``deface`` command, on one video.

Both are run as the command a user types, on the same file, in one run (so they share the
machine's load), and timed by wall clock from start to exit (start-up, model loading,
decoding, inference, encoding and writing included); frames per second is the video's
frame count over that time. Variants:

- ``deface``: ``deface VIDEO -o OUT`` with its defaults (CenterFace at full resolution,
  blur inside ellipses, libx264 through imageio-ffmpeg).
- ``veil-onnxruntime``: ``veil protect --anonymizer MODEL`` (the default ``--runtime auto``
  runs the model with onnxruntime on a graph exported in memory), and the same with
  ``--threads 1``.
- ``veil-onnx-file``: ``veil protect --anonymizer MODEL.onnx`` (the file ``veil export`` wrote).
- ``veil-torch``: ``veil protect --anonymizer MODEL --runtime torch``, and with ``--threads 1``.
- ``veil-h264``: the default runtime with ``--video-codec h264`` (libx264, as deface encodes)
  instead of the input's own codec, so the encoders match too.
- ``veil-guided`` / ``veil-guided-frame``: the default *trained* model (``guided-policy`` with
  the ``faces+textcls`` guide; ``--guided-model``, default ``runs/demo/train/model``) with its
  detectors on the default schedule (``--detect-every 8,16``, faces on frames upscaled to a
  1152 px short side) and on every frame
  (``--detect-every frame``), and each with ``--threads 1`` (``-1t``); their per-stage seconds
  come from ``protect-summary.json``. Skipped when the model folder does not exist.

``--guided-variant NAME='ARGS'`` adds a variant of the trained model with other options
(``--guided-variant faces8='--detect-every 8,16'``), and ``--base-src DIR`` adds
``veil-guided-base``: the default trained model run from another checkout's ``src`` (the
code before a change), so an old and a new default are timed in the same run.

``--frames N`` runs every variant on a copy of the first N frames of the video (packets
copied, not re-encoded), to keep runs short.

The model is the default UNet (width 16, depth 3) freshly initialized, which is the identity
at start: speed does not depend on the weights, and the script checks the output is the
input re-encoded (mean absolute difference printed). Every variant's output is checked for
the input's frame count. The machine is shared: the load average is printed beside each
number, and ``--repeats`` runs every variant again in rotated order.

    .venv/bin/python benchmarks/protect_vs_deface.py [--video .media/opencv/data/vtest.avi] [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
GUIDED = {"veil-guided": [], "veil-guided-1t": ["--threads", "1"], "veil-guided-frame": ["--detect-every", "frame"],
          "veil-guided-frame-1t": ["--detect-every", "frame", "--threads", "1"]}
ALL = ("deface", "veil-onnxruntime", "veil-onnxruntime-1t", "veil-onnx-file", "veil-torch", "veil-torch-1t",
       "veil-h264", *GUIDED)
#: --guided-variant NAME='ARGS': more variants of the trained model (filled from the command line)
GUIDED_EXTRA: dict[str, list[str]] = {}


def env_for(variant: str, base_src: Path | None) -> dict[str, str] | None:
    """The environment of a variant: ``veil-guided-base`` imports Veil from ``base_src``."""
    if variant != "veil-guided-base" or base_src is None:
        return None
    return {**os.environ, "PYTHONPATH": str(base_src)}


def cut_clip(src: Path, dst: Path, frames: int) -> Path:
    """The first ``frames`` video packets of ``src`` copied into ``dst`` (no re-encoding)."""
    import av

    with av.open(str(src)) as i, av.open(str(dst), "w", format=i.format.name.split(",")[0]) as o:
        vin = i.streams.video[0]
        vout = o.add_stream_from_template(vin)
        n = 0
        for packet in i.demux(vin):
            if packet.dts is None:
                continue
            if n >= frames:
                break
            packet.stream = vout
            o.mux(packet)
            n += 1
    return dst


def command(variant: str, video: Path, out: Path, model: Path, onnx: Path, guided: Path | None = None) -> list[str]:
    if variant in GUIDED_EXTRA or variant == "veil-guided-base":  # base: run from --base-src (see env_for)
        return [str(BIN / "veil"), "protect", str(video), "-o", str(out / variant), "--quiet", "--overwrite",
                "--anonymizer", str(guided), *GUIDED_EXTRA.get(variant, [])]
    if variant == "deface":
        return [str(BIN / "deface"), str(video), "-o", str(out / "deface" / video.name)]
    veil = [str(BIN / "veil"), "protect", str(video), "-o", str(out / variant), "--quiet", "--overwrite"]
    extra = {
        "veil-onnxruntime": ["--anonymizer", str(model)],
        "veil-onnxruntime-1t": ["--anonymizer", str(model), "--threads", "1"],
        "veil-onnx-file": ["--anonymizer", str(onnx)],
        "veil-torch": ["--anonymizer", str(model), "--runtime", "torch"],
        "veil-torch-1t": ["--anonymizer", str(model), "--runtime", "torch", "--threads", "1"],
        "veil-h264": ["--anonymizer", str(model), "--video-codec", "h264"],
        **{v: ["--anonymizer", str(guided), *opts] for v, opts in GUIDED.items()},
    }[variant]
    return veil + extra


def mean_abs_diff(a: Path, b: Path, frames: int = 20) -> float:
    from veil.media import iter_frames

    diffs = []
    for i, (x, y) in enumerate(zip(iter_frames(a), iter_frames(b), strict=False)):
        if i >= frames:
            break
        diffs.append(float(np.abs(x.astype(np.int16) - y).mean()))
    return float(np.mean(diffs))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--video", type=Path, default=REPO / ".media" / "opencv" / "data" / "vtest.avi")
    p.add_argument("--out", type=Path, default=REPO / "runs" / "bench" / "protect_vs_deface")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--variants", nargs="+", default=list(ALL), choices=ALL)
    p.add_argument("--guided-model", type=Path, default=REPO / "runs" / "demo" / "train" / "model",
                   help="the trained guided-policy model of the veil-guided variants (read only)")
    p.add_argument("--frames", type=int, default=None, help="run on a copy of the first N frames")
    p.add_argument("--guided-variant", action="append", default=[], metavar="NAME=ARGS",
                   help="a variant of the trained model with these veil protect options (repeatable)")
    p.add_argument("--base-src", type=Path, default=None,
                   help="add veil-guided-base: the trained model's default run with Veil imported from this src")
    a = p.parse_args()
    import shlex

    for spec in a.guided_variant:
        name, _, args = spec.partition("=")
        GUIDED_EXTRA[name.strip()] = shlex.split(args)
        a.variants.append(name.strip())
    if a.base_src is not None:
        a.variants.append("veil-guided-base")
    guided_like = {*GUIDED, *GUIDED_EXTRA, "veil-guided-base"}
    if not a.guided_model.is_dir():
        skipped = [v for v in a.variants if v in guided_like]
        a.variants = [v for v in a.variants if v not in guided_like]
        if skipped:
            print(f"no model at {a.guided_model}: skipping {', '.join(skipped)} (pass --guided-model)", file=sys.stderr)

    from veil.anonymizers.learned import LearnedAnonymizer
    from veil.anonymizers.onnx import export_onnx
    from veil.media import iter_frames, probe_video

    if not a.video.is_file():
        print(f"no video at {a.video}: run `make demo` once (it fetches the media) or pass --video", file=sys.stderr)
        return 2
    a.out.mkdir(parents=True, exist_ok=True)
    if a.frames:
        a.video = cut_clip(a.video, a.out / f"cut{a.frames}{a.video.suffix}", a.frames)
    info = probe_video(a.video)
    shutil.rmtree(a.out / "model", ignore_errors=True)
    model = LearnedAnonymizer("unet").save(a.out / "model")  # width 16, depth 3: the identity at init
    onnx = export_onnx(model, a.out / "model.onnx", overwrite=True).path
    print(f"video {a.video.name}: {info.frames} frames {info.width}x{info.height} at {info.fps:g} fps ({info.codec}); "
          f"{os.cpu_count()} CPUs; model unet width 16 depth 3 ({model})")
    print(f"{'variant':<22} {'run':>3} {'seconds':>8} {'fps':>7} {'frames out':>10} {'load before/after':>18}")
    results: dict[str, list[float]] = {v: [] for v in a.variants}
    rows = []
    for r in range(a.repeats):
        order = a.variants[r % len(a.variants):] + a.variants[: r % len(a.variants)]
        for v in order:
            shutil.rmtree(a.out / v, ignore_errors=True)
            (a.out / v).mkdir(parents=True)
            cmd = command(v, a.video, a.out, model, onnx, a.guided_model)
            load0 = os.getloadavg()[0]
            t = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env_for(v, a.base_src))
            dt = time.perf_counter() - t
            load1 = os.getloadavg()[0]
            if proc.returncode != 0:
                print(f"{v}: exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}", file=sys.stderr)
                return 1
            out_file = a.out / v / a.video.name
            n_out = sum(1 for _ in iter_frames(out_file))
            fps = info.frames / dt
            results[v].append(fps)
            rows.append({"variant": v, "run": r, "seconds": round(dt, 2), "fps": round(fps, 2), "frames_out": n_out,
                         "load": [round(load0, 2), round(load1, 2)], "command": cmd})
            print(f"{v:<22} {r:>3} {dt:8.1f} {fps:7.2f} {n_out:>10} {load0:8.2f} / {load1:<7.2f}", flush=True)
            if v in guided_like:  # per-stage seconds (each in its own thread: they overlap)
                stages = json.loads((a.out / v / "protect-summary.json").read_text())["files"][0]["details"]["stages"]
                rows[-1]["stages"] = stages
                print("    ms/frame: " + ", ".join(f"{k.removesuffix('_s')} {1000 * x / n_out:.0f}"
                                               for k, x in stages.items() if k.endswith("_s"))
                      + "; runs: " + ", ".join(f"{k.removesuffix('_runs')} {int(x)}"
                                               for k, x in stages.items() if k.endswith("runs")), flush=True)
            if n_out != info.frames:
                print(f"{v}: wrote {n_out} frames, the input has {info.frames}", file=sys.stderr)
    print()
    base = np.median(results["deface"]) if results.get("deface") else None
    summary = {}
    for v, fps in results.items():
        med = float(np.median(fps))
        ratio = med / base if base else float("nan")
        summary[v] = {"fps_median": round(med, 2), "ratio_vs_deface": round(ratio, 2)}
        print(f"{v:<22} median {med:6.2f} fps" + (f"   veil/deface {ratio:5.2f}" if v != "deface" and base else ""))
    if "veil-onnxruntime" in results:
        d = mean_abs_diff(a.video, a.out / "veil-onnxruntime" / a.video.name)
        print(f"\nidentity-initialized UNet: mean absolute difference output vs input {d:.2f} grey levels "
              "(re-encoding only)")
        summary["identity_check_mad"] = round(d, 3)
    (a.out / "results.json").write_text(json.dumps({"video": str(a.video), "frames": info.frames, "runs": rows,
                                                    "summary": summary}, indent=2) + "\n")
    print(f"wrote {a.out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
