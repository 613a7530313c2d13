"""Video leak on the street-video scenario: identity, faceblur, blur and the default guided
model, frame by frame and on its detection schedule, in one run.

Builds (or reuses) the ``street-video`` scenario (the first ``--frames`` frames of vtest.avi
with a moving licence plate and a static name badge rendered on them; faces found by
CenterFace on the frames upscaled 2x, linked into tracks), protects the clip with every row
through the real ``veil protect`` path, and attacks every frame of each output
(:mod:`veil.videoleak`). Leak = share of frames (tracks) in which an attacker finds a
ground-truth face or reads a private string. Also prints each row's protect fps and, for
the guided rows, the seconds per stage. The machine is shared: the load average is printed.

    .venv/bin/python benchmarks/video_leak.py --model runs/demo/train/model [--frames 150]
        [--schedules 2,8 frame] [--rows identity faceblur blur:sigma=5]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=REPO / "runs" / "demo" / "train" / "model",
                   help="the default trained guided-policy model folder (read only)")
    p.add_argument("--frames", type=int, default=150, help="frames of vtest.avi in the scenario (default 150)")
    p.add_argument("--data-root", type=Path, default=REPO / "data")
    p.add_argument("--out", type=Path, default=REPO / "runs" / "bench" / "video_leak")
    p.add_argument("--rows", nargs="*", default=["identity", "faceblur", "blur:sigma=5"],
                   help="baseline anonymizer specs (default: identity faceblur blur:sigma=5)")
    p.add_argument("--schedules", nargs="*", default=["frame", "8,16", "4,8", "2,8@0"],
                   help="detection schedules of the model ('frame': the guide on every frame; 'F,T@PX': faces on "
                   "frames upscaled to a short side of PX, 0: as they are (default 1152); default: frame 8,16 4,8 "
                   "2,8@0)")
    p.add_argument("--hold", type=int, default=2)
    p.add_argument("--threads", type=int, default=None)
    a = p.parse_args()

    from veil.anonymizers.schedule import DetectionSchedule
    from veil.data.street_video import prepare_street_video
    from veil.videoleak import evaluate_video_manifest, format_leak_table, leak_row

    manifest = prepare_street_video(a.data_root, frames=a.frames, progress=True)
    runs: list[tuple[str, str, tuple[int, int] | None, int]] = [(spec, spec, None, 1152) for spec in a.rows]
    if a.model.is_dir():
        for s in a.schedules:
            spec, _, scale = s.partition("@")
            sched = DetectionSchedule.parse(spec)
            every = None if sched is None else (sched.faces_every, sched.text_every)
            runs.append((f"model {'frame by frame' if every is None else 'every ' + s}", str(a.model), every,
                         int(scale or 1152)))
    else:
        print(f"no model at {a.model}: model rows skipped (pass --model)", file=sys.stderr)
    a.out.mkdir(parents=True, exist_ok=True)
    rows, results = [], {}
    print(f"scenario {manifest}; {os.cpu_count()} CPUs; load {os.getloadavg()[0]:.1f}", flush=True)
    for label, spec, every, scale in runs:
        t = time.perf_counter()
        load0 = os.getloadavg()[0]
        m = evaluate_video_manifest(manifest, spec, None, every, a.hold, threads=a.threads, progress=False,
                                    face_min_side=scale)
        results[label] = m
        rows.append(leak_row(label, m))
        stages = next(iter(m["items"].values()))["protect"]["stages"]
        frames = m["frames"]
        per = {k.removesuffix("_s"): f"{1000 * v / frames:.0f}" for k, v in stages.items() if k.endswith("_s")}
        runs_ = {k.removesuffix("_runs"): int(v) for k, v in stages.items() if k.endswith("_runs")}
        print(f"{label}: {m['protect_fps']} fps; ms/frame per stage {per}; detector runs {runs_}; "
              f"row took {time.perf_counter() - t:.0f} s; load {load0:.1f}/{os.getloadavg()[0]:.1f}", flush=True)
    print()
    print(format_leak_table(rows))
    (a.out / "results.json").write_text(json.dumps({"manifest": str(manifest), "rows": rows, "metrics": results},
                                                   indent=1, default=str) + "\n")
    print(f"\nwrote {a.out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
