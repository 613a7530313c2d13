"""``veil protect --engine ray``: the same per-file work as the local engine, on Ray actors.

The driver plans the run (:func:`veil.protect._plan`), checks every destination in input
order (an output that is an input, or that two inputs share, fails exactly as locally), and
hands the rest to ``workers`` actors. Each actor builds its anonymizer once (a model is
loaded, exported and self-tested once per worker) and runs :func:`veil.protect._run_job`
on what it is given: images in batches, each video as one task. Outputs are written by the
workers, atomically, into the output folder, which must be the same path on every node (a
shared file system on a cluster); each worker records what it finished in its own file of
the resume manifest (:class:`veil.protect.Manifest`), so a run killed anywhere resumes.

What is sent to the workers: the anonymizer spec (a string such as ``blur:sigma=8``, or a
model path every node can read) or, for an Anonymizer object, the object itself (its
weights); the run's :class:`~veil.protect.ProtectConfig`; the input and output paths.
No API key or token is involved in ``protect`` and none is sent.

Results come back to the driver, which keeps them in input order: the printed summary, the
failure list and ``protect-summary.json`` are those of the local engine. A progress actor
counts the files and video frames finished across workers for the driver's bars.
"""

from __future__ import annotations

import dataclasses
import os
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from veil.anonymizers.base import Anonymizer
from veil.errors import ConfigError, MediaError, VeilError
from veil.protect import (
    FileResult,
    Manifest,
    ProtectConfig,
    ProtectReport,
    _bar,
    _check_destination,
    _failed,
    _Job,
)

__all__ = ["IMAGE_BATCH", "run_on_ray"]

#: Most images in one task (fewer when the corpus is small, so every worker gets some).
IMAGE_BATCH = 8
#: Tasks queued per worker (one running, one waiting: no idle gap between tasks).
IN_FLIGHT = 2
#: A video worker reports its frames to the progress actor every this many frames.
FRAME_REPORT_EVERY = 8


def _ray() -> Any:
    try:
        import ray
    except ImportError:  # pragma: no cover - ray is a pinned dependency
        raise ConfigError("--engine ray needs the 'ray' package (pip install ray)") from None
    return ray


def _batches(jobs: Sequence[tuple[int, _Job]], workers: int) -> list[list[tuple[int, _Job]]]:
    """Videos one per task (largest first would need probing: input order), images in batches."""
    images = [j for j in jobs if j[1].kind == "image"]
    videos = [[j] for j in jobs if j[1].kind == "video"]
    size = max(1, min(IMAGE_BATCH, -(-len(images) // (workers * 4)) if images else 1))
    return videos + [images[i:i + size] for i in range(0, len(images), size)]


class _Progress:
    """Counters the workers add to and the driver reads (a Ray actor)."""

    def __init__(self) -> None:
        self.files = 0
        self.frames = 0

    def add(self, files: int = 0, frames: int = 0) -> None:
        self.files += files
        self.frames += frames

    def read(self) -> tuple[int, int]:
        return self.files, self.frames


class _Worker:
    """One anonymizer, built once; runs :func:`veil.protect._run_job` on the files it is given (a Ray actor)."""

    def __init__(self, anonymizer: Anonymizer | str, cfg: ProtectConfig, outdir: str) -> None:
        from veil.protect import _runtime_name, load_runtime
        from veil.threads import limit_threads

        threads = cfg.threads or 1  # one core per worker: Ray schedules one worker per CPU
        limit_threads(threads)  # OpenCV, PyTorch and the OCR sessions the guides build
        self.an = load_runtime(anonymizer, cfg.runtime, threads)
        self.cfg = dataclasses.replace(cfg, progress=False, threads=threads)
        self.runtime = _runtime_name(self.an)
        self.manifest = Manifest(Path(outdir), Manifest.settings_key(self.an.spec, cfg)) if cfg.resume else None

    def info(self) -> tuple[str, str, int]:
        return self.an.spec, self.runtime, os.getpid()

    def run(self, batch: list[tuple[int, _Job]], progress: Any) -> list[tuple[int, FileResult]]:
        from veil.protect import _run_job
        from veil.threads import torch_threads

        out = []
        pending = [0]

        def on_frame(n: int) -> None:
            pending[0] += 1
            if pending[0] >= FRAME_REPORT_EVERY:
                progress.add.remote(frames=pending[0])
                pending[0] = 0

        with torch_threads(self.cfg.threads if self.runtime == "torch" else None):
            for index, job in batch:
                res = _run_job(job, self.an, self.cfg, set(), None, self.manifest, on_frame)
                out.append((index, res))
                # frames not reported yet: an image's one, a resumed video's all, a video's last few
                done = res.frames if res.status == "protected" and (job.kind == "image" or res.resumed) else 0
                progress.add.remote(files=1, frames=done + pending[0])
                pending[0] = 0
        return out


def run_on_ray(jobs: list[_Job], outdir: Path, anonymizer: Anonymizer | str, cfg: ProtectConfig,
               report: ProtectReport) -> None:
    """Run ``jobs`` on Ray, appending their results to ``report.files`` in input order.

    Starts a local Ray (dashboard off, ``cfg.workers`` CPUs or all) unless one is running
    in this process or ``cfg.ray_address`` names a cluster; stops what it started.
    """
    ray = _ray()
    results: dict[int, FileResult] = {}
    todo: list[tuple[int, _Job]] = []
    inputs_real = {j.src.resolve() for j in jobs}
    claimed: dict[Path, Path] = {}
    for i, job in enumerate(jobs):  # the local engine's checks, in the same order
        res = FileResult(str(job.src), str(job.dst) if job.dst else None, job.kind, job.status, reason=job.problem)
        if job.dst is None:
            results[i] = res
            continue
        try:
            _check_destination(job, inputs_real, claimed)
        except (VeilError, OSError) as e:
            results[i] = _failed(res, job, e)
            continue
        todo.append((i, job))
    if cfg.resume and todo:
        Manifest(outdir, "").remove_stale_parts([j for _, j in todo])

    started = False
    if not ray.is_initialized():
        if cfg.ray_address:  # a cluster: its resources and dashboard are its own
            try:
                ray.init(address=cfg.ray_address, logging_level="warning")
            except (ConnectionError, ValueError, RuntimeError) as e:
                raise ConfigError(f"cannot connect to the Ray cluster at {cfg.ray_address} ({e}); start it with "
                                  "`ray start --head` or check --ray-address") from None
        else:
            ray.init(address="local", num_cpus=cfg.workers or os.cpu_count() or 1, include_dashboard=False,
                     logging_level="warning")
        started = True
    try:
        if todo:
            _dispatch(ray, todo, outdir, anonymizer, cfg, report, results)
        elif cfg.workers:
            report.workers = cfg.workers
    finally:
        if started:
            ray.shutdown()
        report.files.extend(results[i] for i in sorted(results))


def _dispatch(ray: Any, todo: list[tuple[int, _Job]], outdir: Path, anonymizer: Anonymizer | str,
              cfg: ProtectConfig, report: ProtectReport, results: dict[int, FileResult]) -> None:
    cpus = int(ray.cluster_resources().get("CPU", 1))
    workers = max(1, min(cfg.workers or cpus, len(todo)))
    report.workers = workers
    progress = ray.remote(num_cpus=0)(_Progress).remote()
    # A worker killed mid-task is restarted and the task retried: the resume manifest makes
    # the retry skip what the dead worker had finished, so nothing is protected twice.
    worker_cls = ray.remote(num_cpus=1, max_restarts=-1, max_task_retries=-1)(_Worker)
    actors = [worker_cls.remote(anonymizer, cfg, str(outdir)) for _ in range(workers)]
    spec, runtime, _ = ray.get(actors[0].info.remote())  # fails fast on a bad spec
    report.anonymizer, report.runtime = spec, runtime
    queue = deque(_batches(todo, workers))
    in_flight: dict[Any, tuple[Any, list[tuple[int, _Job]]]] = {}

    def submit(actor: Any) -> None:
        if queue:
            batch = queue.popleft()
            in_flight[actor.run.remote(batch, progress)] = (actor, batch)

    for actor in actors:
        for _ in range(IN_FLIGHT):
            submit(actor)
    total_frames = None if any(j.kind == "video" for _, j in todo) else len(todo)
    files_bar = _bar(cfg.progress, len(todo), "files", "file")
    frames_bar = _bar(cfg.progress, total_frames, "frames", "frame")
    shown = (0, 0)
    try:
        while in_flight:
            ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=0.25)
            for ref in ready:
                actor, batch = in_flight.pop(ref)
                try:
                    for i, res in ray.get(ref):
                        results[i] = res
                except ray.exceptions.RayError as e:  # the task could not be run (not a bad file)
                    for i, job in batch:
                        res = FileResult(str(job.src), str(job.dst), job.kind, "protected")
                        results[i] = _failed(res, job, MediaError(f"worker failed: {type(e).__name__}: {e}"))
                submit(actor)
            files, frames = ray.get(progress.read.remote())
            files_bar.update(files - shown[0])
            frames_bar.update(frames - shown[1])
            shown = (files, frames)
        # the workers' last reports may still be on their way: end on the exact totals
        frames = sum(results[i].frames for i, _ in todo if results[i].status == "protected")
        files_bar.update(max(0, len(todo) - shown[0]))
        frames_bar.update(max(0, frames - shown[1]))
    finally:
        files_bar.close()
        frames_bar.close()
        for actor in actors:
            ray.kill(actor)
        ray.kill(progress)
