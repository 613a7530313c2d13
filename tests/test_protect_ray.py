"""``veil protect --engine ray`` and resumable runs: the Ray engine writes the local engine's
bytes and summary, a rerun skips complete outputs, and a run killed with ``kill -9`` midway
completes on the rerun with every output identical to an uninterrupted run."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from veil.protect import MANIFEST_DIR, SUMMARY_FILE, ProtectConfig, protect_paths

ray = pytest.importorskip("ray")

SPEC = "blur:sigma=4"
CFG = ProtectConfig(progress=False)
REPO = Path(__file__).resolve().parents[1]


def make_video(path: Path, frames: int = 10, size: tuple[int, int] = (64, 48)) -> None:
    import av

    w, h = size
    with av.open(str(path), "w", format="avi") as c:
        vs = c.add_stream("mpeg4", rate=12)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        for i in range(frames):
            im = np.zeros((h, w, 3), np.uint8)
            im[:, (i * 4) % w:(i * 4) % w + 8] = 255
            im[::6] = (30 * i) % 256
            for packet in vs.encode(av.VideoFrame.from_ndarray(im, format="rgb24")):
                c.mux(packet)
        for packet in vs.encode():
            c.mux(packet)


def make_corpus(root: Path, n: int, side: int = 64, video: bool = False) -> Path:
    """``n`` images (PNG, JPEG, WebP; some in a subfolder), a corrupt one, a text file and,
    with ``video``, a 10-frame AVI clip."""
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:side, 0:side * 4 // 3]
    for i in range(n):
        base = np.stack([(xx * 3 + i * 7) % 256, (yy * 5) % 256, (xx + yy + i) % 256], axis=2)
        im = np.clip(base + rng.integers(-20, 20, base.shape), 0, 255).astype(np.uint8)
        ext, fmt = [("png", "PNG"), ("jpg", "JPEG"), ("webp", "WEBP")][i % 3]
        path = root / ("sub" if i % 4 == 0 else "") / f"img{i:03d}.{ext}"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(im).save(path, format=fmt, **({"quality": 90} if fmt != "PNG" else {}))
    (root / "broken.jpg").write_bytes((root / "img001.jpg").read_bytes()[:200])
    (root / "notes.txt").write_text("not an image")
    if video:
        make_video(root / "sub" / "clip.avi")
    return root


def outputs(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and MANIFEST_DIR not in p.parts and p.name != SUMMARY_FILE}


def comparable(summary: dict) -> dict:
    """A summary without what differs between any two runs (times and speeds, folders)."""
    s = {k: v for k, v in summary.items() if k not in ("seconds", "started", "outdir", "video_fps")}
    s["files"] = [{**f, "seconds": 0, "output": f["output"] and Path(f["output"]).name,
                   "details": {k: v for k, v in f["details"].items() if k not in ("stages", "protect_fps")}}
                  for f in s["files"]]
    return s


def no_parts(out: Path) -> bool:
    return not [p for p in out.rglob("*") if p.name.endswith(".veil-part")]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_corpus(tmp_path_factory.mktemp("corpus"), 16, video=True)


@pytest.fixture(scope="module")
def local_run(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("local") / "out"
    protect_paths([corpus], out, SPEC, CFG)
    return out


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="warning")
    yield
    ray.shutdown()


class TestRayEngine:
    def test_same_bytes_and_summary_as_the_local_engine(self, corpus: Path, local_run: Path, tmp_path: Path,
                                                        local_ray: None) -> None:
        out = tmp_path / "out"
        report = protect_paths([corpus], out, SPEC, ProtectConfig(progress=False, engine="ray", workers=2))
        assert report.engine == "ray" and report.workers == 2 and report.exit_code == 1
        assert outputs(out) == outputs(local_run) and len(outputs(out)) == 17
        assert report.counts()["videos"] == 1 and report.frames == 10
        assert no_parts(out)
        ray_summary = json.loads((out / SUMMARY_FILE).read_text())
        local_summary = json.loads((local_run / SUMMARY_FILE).read_text())
        assert comparable(ray_summary) == comparable(local_summary)
        assert [Path(f.input).name for f in report.by_status("failed")] == ["broken.jpg"]
        assert [Path(f.input).name for f in report.by_status("skipped")] == ["notes.txt"]

        # the same command again: nothing protected twice, nothing replaced, same summary
        before = {p: p.stat().st_mtime_ns for p in out.rglob("*.*") if MANIFEST_DIR not in p.parts}
        again = protect_paths([corpus], out, SPEC, ProtectConfig(progress=False, engine="ray", workers=2))
        assert again.resumed == 17 and again.exit_code == 1
        assert {p: p.stat().st_mtime_ns for p in before if p.name != SUMMARY_FILE} == {
            p: t for p, t in before.items() if p.name != SUMMARY_FILE}
        assert comparable(json.loads((out / SUMMARY_FILE).read_text())) == comparable(local_summary)

    def test_progress_counts_files_and_frames_across_workers(self, corpus: Path, tmp_path: Path, local_ray: None,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
        import veil.protect_ray

        bars: dict[str, list[int]] = {}

        class Bar:
            def __init__(self, desc: str) -> None:
                self.n = bars.setdefault(desc, [])

            def update(self, n: int = 1) -> None:
                assert n >= 0
                self.n.append(n)

            def close(self) -> None:
                pass

        monkeypatch.setattr(veil.protect_ray, "_bar", lambda enabled, total, desc, unit: Bar(desc))
        protect_paths([corpus], tmp_path / "out", SPEC, ProtectConfig(engine="ray", workers=2))
        # 16 images, the clip and broken.jpg went to the workers (notes.txt is skipped by the driver);
        # frames: one per image and the clip's 10
        assert sum(bars["files"]) == 18 and sum(bars["frames"]) == 26

    def test_an_existing_output_is_never_replaced(self, corpus: Path, tmp_path: Path, local_ray: None) -> None:
        out = tmp_path / "out"
        (out / "sub").mkdir(parents=True)
        (out / "sub" / "img000.png").write_bytes(b"precious")
        report = protect_paths([corpus], out, SPEC, ProtectConfig(progress=False, engine="ray", workers=2))
        assert (out / "sub" / "img000.png").read_bytes() == b"precious"
        failed = {Path(f.input).name: f.reason for f in report.by_status("failed")}
        assert set(failed) == {"broken.jpg", "img000.png"} and "--overwrite" in failed["img000.png"]

    def test_options_need_the_ray_engine(self) -> None:
        from veil.errors import ConfigError

        with pytest.raises(ConfigError, match="--engine ray"):
            ProtectConfig(workers=2)
        with pytest.raises(ConfigError, match="workers"):
            ProtectConfig(engine="ray", workers=0)


class TestResume:
    def test_a_crashed_run_resumes_without_redoing_or_leaving_parts(self, corpus: Path, local_run: Path,
                                                                    tmp_path: Path) -> None:
        out = tmp_path / "out"
        protect_paths([corpus], out, SPEC, CFG)
        # what a kill -9 leaves: outputs missing, a temp file, a torn manifest line, an output
        # renamed into place whose "done" record was never written
        manifest = next((out / MANIFEST_DIR).glob("*.jsonl"))
        lines = manifest.read_text().splitlines()
        (out / "img002.webp").unlink()
        (out / "sub" / "img004.jpg").unlink()
        lost_done = "img003.png"
        kept = [ln for ln in lines if not (json.loads(ln)["event"] == "done" and json.loads(ln)["dst"] == lost_done)]
        manifest.write_text("\n".join(kept) + '\n{"event": "staged", "dst": "img00')
        stamps = {k: (out / k).stat().st_mtime_ns for k in outputs(out)}
        (out / ".img005.webp.abc123.veil-part").write_bytes(b"half an image")

        report = protect_paths([corpus], out, SPEC, CFG)
        assert outputs(out) == outputs(local_run) and no_parts(out)
        redone = {Path(f.output).name for f in report.files if f.status == "protected" and not f.resumed}
        assert redone == {"img002.webp", "img004.jpg"} and report.resumed == 15
        assert all((out / k).stat().st_mtime_ns == t for k, t in stamps.items())  # none rewritten
        assert comparable(json.loads((out / SUMMARY_FILE).read_text()))["counts"] == comparable(
            json.loads((local_run / SUMMARY_FILE).read_text()))["counts"]

    def test_changed_input_or_settings_are_not_taken_for_done(self, corpus: Path, tmp_path: Path) -> None:
        out = tmp_path / "out"
        protect_paths([corpus], out, SPEC, CFG)
        report = protect_paths([corpus], out, "blur:sigma=6", CFG)  # other settings: outputs exist, kept
        assert report.resumed == 0 and len(report.by_status("failed")) == 18
        report = protect_paths([corpus], out, "blur:sigma=6", ProtectConfig(progress=False, overwrite=True))
        assert report.resumed == 0 and len(report.by_status("protected")) == 17
        tampered = out / "img001.jpg"
        tampered.write_bytes(tampered.read_bytes()[:-10])  # an output cut short is not complete
        report = protect_paths([corpus], out, "blur:sigma=6", ProtectConfig(progress=False, overwrite=True))
        assert report.resumed == 16

    def test_no_resume_option(self, corpus: Path, tmp_path: Path) -> None:
        out = tmp_path / "out"
        protect_paths([corpus], out, SPEC, ProtectConfig(progress=False, resume=False))
        assert not (out / MANIFEST_DIR).exists()


def veil(*args: str) -> list[str]:
    return [sys.executable, "-m", "veil.cli", *args]


def done_records(out: Path) -> list[dict]:
    recs = []
    for f in (out / MANIFEST_DIR).glob("*.jsonl") if (out / MANIFEST_DIR).is_dir() else []:
        for line in f.read_text().splitlines():
            with contextlib.suppress(ValueError):
                recs.append(json.loads(line))
    return recs


@pytest.mark.slow
def test_kill_9_of_the_driver_midway_then_rerun(tmp_path: Path) -> None:
    """The driver (a ``veil protect --engine ray`` process) is killed with SIGKILL when about half
    of 20 larger images are done; the rerun completes them all, identical to an uninterrupted run,
    with no temp file left and no input protected twice."""
    corpus = make_corpus(tmp_path / "in", 20, side=720)
    spec = "blur:sigma=12"
    reference = tmp_path / "ref"
    protect_paths([corpus], reference, spec, CFG)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = veil("protect", str(corpus), "-o", str(out), "--anonymizer", spec, "--engine", "ray", "--workers", "2",
               "--quiet")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120
    while sum(r["event"] == "done" for r in done_records(out)) < 10:
        assert proc.poll() is None, proc.communicate()[0].decode()[-2000:]
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = sum(r["event"] == "done" for r in done_records(out))
    assert done_before < 20, "the run finished before it could be killed"
    time.sleep(1.0)  # let the orphaned Ray processes notice their driver is gone

    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, r.stdout + r.stderr  # broken.jpg fails, as in the reference run
    assert "protected 20 file(s)" in r.stdout and "resumed:" in r.stdout
    assert outputs(out) == outputs(reference) and no_parts(out)
    summary = json.loads((out / SUMMARY_FILE).read_text())
    assert comparable(summary) == comparable(json.loads((reference / SUMMARY_FILE).read_text()))
    staged = Counter(r["dst"] for r in done_records(out) if r["event"] == "staged")
    assert set(staged) == set(outputs(out))
    # a file is protected again only if it was staged but not yet renamed into place at the kill
    assert sum(n - 1 for n in staged.values()) <= 2, staged
    # no Ray worker of the killed driver outlives it (Ray's agents may linger: ended here)
    left = group_processes(proc.pid)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    assert not [cmd for cmd in left if "_Worker" in cmd], left


def group_processes(pgid: int) -> list[str]:
    """Command lines of the live processes of process group ``pgid``."""
    found = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            with contextlib.suppress(OSError, ValueError):
                if os.getpgid(int(d.name)) == pgid:
                    found.append((d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
    return found


@pytest.mark.slow
def test_kill_9_of_a_worker_midway(tmp_path: Path, local_ray: None) -> None:
    """A Ray worker killed with SIGKILL mid-run is restarted and its task retried: the run still
    completes with every output identical to the local engine's and no temp file left."""
    import threading

    corpus = make_corpus(tmp_path / "in", 20, side=720)
    spec = "blur:sigma=12"
    reference = tmp_path / "ref"
    protect_paths([corpus], reference, spec, CFG)
    out = tmp_path / "out"
    result = {}
    run = threading.Thread(target=lambda: result.setdefault("report", protect_paths(
        [corpus], out, spec, ProtectConfig(progress=False, engine="ray", workers=2))))
    run.start()
    deadline = time.monotonic() + 120
    while sum(r["event"] == "done" for r in done_records(out)) < 6:
        assert run.is_alive() and time.monotonic() < deadline
        time.sleep(0.02)
    victims = []
    for d in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if d.name.isdigit() and (d / "cmdline").read_bytes().startswith(b"ray::_Worker"):
                victims.append(int(d.name))
    assert victims
    os.kill(victims[0], signal.SIGKILL)
    assert sum(r["event"] == "done" for r in done_records(out)) < 20, "finished before the kill"
    run.join(180)
    report = result["report"]
    assert not Path(f"/proc/{victims[0]}/cmdline").exists() or not Path(
        f"/proc/{victims[0]}/cmdline").read_bytes().startswith(b"ray::_Worker")
    assert outputs(out) == outputs(reference) and no_parts(out)
    assert [Path(f.input).name for f in report.by_status("failed")] == ["broken.jpg"]
    assert len(report.by_status("protected")) == 20
