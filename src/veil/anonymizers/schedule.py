"""Detector-guided models on video: scheduled detection, hold-over and back-application.

A detector-guided model (``guided-policy`` with the ``faces+textcls`` guide) needs its
guide's maps for every frame, and the guide's detectors cost far more than the network
(CenterFace at full resolution, PP-OCRv4 detection and recognition on the frame upscaled).
On video, :func:`guided_video` runs each detector on a schedule instead (faces every
``faces_every`` frames, text every ``text_every``, plus the last frame) and renders the
maps of every frame from the detections of the two runs around it:

- **Both ends, with a margin.** A frame ``t`` between runs ``a <= t < b`` of a detector is
  protected with the regions found at ``a`` *and* at ``b``; each grows by a margin that
  grows with its distance in frames (``grow`` x the region's size per frame, at least
  ``min_grow_px``): a face or private line found at ``b`` is applied back to the frames
  since ``a`` (it may have come into view, or the detector missed it at ``a``), one found at
  ``a`` is held forward until ``b``. A region detected at two neighbouring runs is thus
  covered in every frame between them, wherever it moved, as long as it moves less than
  ``grow`` sizes per frame.
- **Linear motion.** Regions at ``a`` and ``b`` that are the same object (matched by
  distance and size) are also interpolated linearly in between: a tighter cover for faster
  motion.
- **Hold-over.** A region the detector misses at a run (detector flicker: small faces score
  near the threshold) is kept, at its last place with a growing margin, for ``hold`` more
  runs of that detector.

Frames wait in a small buffer until the next run of every detector has finished (the
look-ahead is a few detector periods plus a network batch); detectors run in their own
threads, ahead of the network, which takes frames ``batch_size`` at a time. A frame whose
maps are all zero goes through ``guided-policy`` unchanged (its output is then exactly the
input), so the network is skipped for it.

Guides whose parts cannot split detection from rendering (no ``detect``/``render``) and
parts other than ``faces``, ``text`` and ``textcls`` run on every frame. On a schedule the
face guide searches upright faces only and the text guide reads lines upright only
(decoders apply the stream's rotation tag); on still images, and on video without a
schedule, they also search faces turned a quarter or half turn and read unsure lines
upside down and mirrored.

Example:
    >>> s = DetectionSchedule.parse("2,8")
    >>> (s.faces_every, s.text_every, s.hold, s.face_min_side)
    (2, 8, 2, 1152)
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from veil.anonymizers.base import check_image
from veil.anonymizers.guides import (
    Guide,
    Region,
    guide_parts,
    maps_from_regions,
    set_upright,
    splits_detection,
)
from veil.errors import ConfigError, MediaError

__all__ = ["DEFAULT_SCHEDULE", "DetectionSchedule", "RegionTracker", "guided_video", "scheduled_maps", "timed_maps"]

#: Network runner: uint8 frames (B, H, W, 3) and float32 maps (B, H, W, C), or (B, C, H, W) with
#: ``planar`` -> float32 (B, H, W, 3) in [0, 255].
Runner = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class DetectionSchedule:
    """When a guided model's detectors run on video, and how detections carry between runs.

    Args:
        faces_every: run the face detector on every k-th frame (and the last).
        text_every: run the text detector and recogniser on every k-th frame (and the last).
        hold: a region the detector stops finding is still protected for this many more runs
            of its detector (0: only between the runs that found it).
        face_grow: margin added per frame of distance from a face detection, in face sizes
            (the enlarged box's longer side): the fastest face motion covered without a match.
        text_grow: the same for text lines, in line heights.
        body_grow: the same for the nudity guide's boxes, in box sizes: exposed body parts are
            large, and a quarter of their size a frame is fast motion for them (a face's whole
            size a frame would blur most of a frame between two runs).
        min_grow_px: the margin grows by at least this many pixels per frame.
        batch_size: frames per network call.
        face_min_side: the face detector sees frames upscaled so that their short side is at
            least this many pixels (small faces: CenterFace misses faces under about 10 px);
            0: frames as they are, as the guide on a single image. At 768x576 the default
            doubles the side, so a run costs four times as much; larger frames are not scaled.
        refine_text: when a private text line found at one text run has no counterpart at
            the next one (it moved further than the margin covers, or came or went), run the
            text reader on the frame halfway between, and again, until the two ends agree or
            the runs are neighbours: fast private text gets per-frame detection where it is.
            ``unread`` lines (mostly foliage and railings the detector takes for text, which
            come and go) do not start extra runs; they are hidden like the others.
        detect_threads: onnxruntime threads of each detector (their own sessions, in their own
            threads beside the network); 0: a quarter of the cores, at least 1 (1 on 2 to 7
            cores: two detectors and the network then share the cores without oversubscribing).
    """

    faces_every: int = 8
    text_every: int = 16
    hold: int = 2
    face_grow: float = 1.0
    text_grow: float = 0.5
    body_grow: float = 0.25
    min_grow_px: float = 2.0
    batch_size: int = 1
    face_min_side: int = 1152
    refine_text: bool = True
    detect_threads: int = 0

    def __post_init__(self) -> None:
        for key, hi in (("faces_every", 64), ("text_every", 64), ("batch_size", 256)):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= hi:
                raise ConfigError(f"detection schedule: {key} must be an integer in [1, {hi}], got {v!r}")
        if isinstance(self.hold, bool) or not isinstance(self.hold, int) or not 0 <= self.hold <= 16:
            raise ConfigError(f"detection schedule: hold must be an integer in [0, 16], got {self.hold!r}")
        if isinstance(self.face_min_side, bool) or not isinstance(self.face_min_side, int) \
                or not 0 <= self.face_min_side <= 8192:
            raise ConfigError(f"detection schedule: face_min_side must be an integer in [0, 8192], got "
                              f"{self.face_min_side!r}")
        if isinstance(self.detect_threads, bool) or not isinstance(self.detect_threads, int) \
                or not 0 <= self.detect_threads <= 256:
            raise ConfigError(f"detection schedule: detect_threads must be an integer in [0, 256], got "
                              f"{self.detect_threads!r}")
        for key in ("face_grow", "text_grow", "body_grow", "min_grow_px"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= float(v) <= 100:
                raise ConfigError(f"detection schedule: {key} must be a number in [0, 100], got {v!r}")

    @classmethod
    def parse(cls, text: str, **kwargs: Any) -> DetectionSchedule | None:
        """``"2,8"`` (faces every 2 frames, text every 8), ``"4"`` (both every 4) or
        ``"frame"`` (None: the guide runs on every frame, without the schedule).

        Raises:
            ConfigError: anything else.
        """
        s = str(text).strip().lower()
        if s in ("frame", "frames", "every-frame", "off"):
            return None
        try:
            ks = [int(v) for v in s.split(",")]
        except ValueError:
            ks = []
        if len(ks) not in (1, 2):
            raise ConfigError(f"--detect-every takes FACES[,TEXT] frame counts (e.g. 2,8) or 'frame', got {text!r}")
        return cls(faces_every=ks[0], text_every=ks[-1], **kwargs)

    def every(self, part: Guide) -> int:
        """The period of one guide part's detector: faces (and nudity, people's bodies, which
        move like them), text, or 1 for any other guide."""
        return {"faces": self.faces_every, "nudity": self.faces_every, "text": self.text_every,
                "textcls": self.text_every}.get(part.name, 1)

    def grow(self, part: Guide) -> float:
        """The margin per frame of one guide part's regions, in their sizes."""
        return {"faces": self.face_grow, "nudity": self.body_grow}.get(part.name, self.text_grow)

    @property
    def threads(self) -> int:
        """onnxruntime threads of each detector (``detect_threads``, or its automatic value)."""
        return self.detect_threads or max(1, (os.cpu_count() or 1) // 4)

    @property
    def lookahead(self) -> int:
        """Frames read ahead of the oldest frame not yet sent to the network."""
        return 2 * max(self.faces_every, self.text_every) + self.batch_size + 1


DEFAULT_SCHEDULE = DetectionSchedule()


# ----------------------------------------------------------------------------- tracking


def _center(r: Region) -> np.ndarray:
    return r.poly.mean(axis=0)


@dataclass
class _Track:
    id: int
    region: Region  # where it was last found (pad 0)
    seen: int  # frame of that detection


@dataclass
class RegionTracker:
    """Regions of one detector across its runs: matching, hold-over, and per-frame regions.

    ``add_run(r, regions)`` is called for the detector's runs in frame order; afterwards
    :meth:`regions_at` gives the regions that protect any frame up to the last run.
    """

    every: int
    grow: float
    min_grow_px: float
    hold: int
    #: per run: (track id, region with its margin) of every region active at that run
    snaps: dict[int, list[tuple[int, Region]]] = field(default_factory=dict)
    _tracks: list[_Track] = field(default_factory=list)
    _next_id: int = 0

    def margin(self, size: float, frames: float) -> float:
        """Pixels of margin for a region of ``size`` px, ``frames`` away from where it was seen."""
        return max(self.grow * size, self.min_grow_px) * max(0.0, float(frames))

    @property
    def last_run(self) -> int | None:
        """The frame of the latest run recorded (None before the first)."""
        return max(self.snaps) if self.snaps else None

    def _pairs(self, before: Sequence[Region], gaps: Sequence[int], after: Sequence[Region]) -> list[tuple[int, int]]:
        """Greedy matches (i, j) of ``before[i]``, seen ``gaps[i]`` frames earlier, to ``after[j]``:
        the nearest centres within the margin the gap allows (plus half a size), sizes within 2.5x."""
        cands: list[tuple[float, int, int]] = []
        for i, (old, gap) in enumerate(zip(before, gaps, strict=True)):
            size = old.size
            for j, new in enumerate(after):
                ratio = max(size, new.size) / max(min(size, new.size), 1e-6)
                dist = float(np.linalg.norm(_center(new) - _center(old)))
                if ratio <= 2.5 and dist <= self.margin(size, gap) + 0.5 * size:
                    cands.append((dist / size, i, j))
        used_i: set[int] = set()
        used_j: set[int] = set()
        out = []
        for _, i, j in sorted(cands):
            if i not in used_i and j not in used_j:
                used_i.add(i)
                used_j.add(j)
                out.append((i, j))
        return out

    def disagrees(self, r: int, found: Sequence[Region], ignore: Sequence[str] = ("public",)) -> bool:
        """True when a region (outside ``ignore``) found at the latest run or at run ``r`` has no
        counterpart at the other: it moved further than the margin covers, or came or went."""
        p = self.last_run
        if p is None:
            return False
        before = [t.region for t in self._tracks if t.seen == p and t.region.category not in ignore]
        after = [d for d in found if d.category not in ignore]
        pairs = self._pairs(before, [r - p] * len(before), after)
        return len(pairs) < max(len(before), len(after))

    def add_run(self, r: int, found: Sequence[Region]) -> None:
        """Record the detections of the run at frame ``r`` (after every earlier run)."""
        if self.snaps and r <= max(self.snaps):
            raise ValueError(f"detector runs must come in frame order: {r} after {max(self.snaps)}")
        pairs = self._pairs([t.region for t in self._tracks], [r - t.seen for t in self._tracks], found)
        used_t = {i for i, _ in pairs}
        used_d = {j for _, j in pairs}
        new_tracks = [_Track(self._tracks[ti].id, found[di], r) for ti, di in pairs]
        for di, det in enumerate(found):
            if di not in used_d:
                new_tracks.append(_Track(self._next_id, det, r))
                self._next_id += 1
        for ti, trk in enumerate(self._tracks):  # missed at this run: held while within `hold` runs
            if ti not in used_t and r - trk.seen <= self.hold * self.every:
                new_tracks.append(trk)
        self._tracks = new_tracks
        self.snaps[r] = [(t.id, t.region.padded(self.margin(t.region.size, r - t.seen))) for t in new_tracks]

    def regions_at(self, t: int, a: int, b: int | None) -> list[Region]:
        """Regions protecting frame ``t`` between the runs ``a <= t`` and ``b > t`` (None: ``t``
        is the last run): both ends' regions with margins grown by the distance, and matched
        ones interpolated."""
        out = [reg.padded(reg.pad + self.margin(reg.size, t - a)) for _, reg in self.snaps[a]]
        if b is None:
            return out
        ends_b = self.snaps[b]
        out += [reg.padded(reg.pad + self.margin(reg.size, b - t)) for _, reg in ends_b]
        at_a = {tid: reg for tid, reg in self.snaps[a]}
        w = (t - a) / (b - a)
        for tid, rb in ends_b:
            ra = at_a.get(tid)
            if ra is None or ra.poly.shape != rb.poly.shape:
                continue
            poly = ((1 - w) * ra.poly + w * rb.poly).astype(np.float32)
            pad = (1 - w) * ra.pad + w * rb.pad + 0.5 * self.margin(min(ra.size, rb.size), min(t - a, b - t))
            for cat in dict.fromkeys((ra.category, rb.category)):
                out.append(Region(poly, cat, pad, rb.text, rb.dilate))
        return out

    def forget_before(self, a: int) -> None:
        """Drop the runs before ``a`` (no frame before it is asked for any more)."""
        for r in [r for r in self.snaps if r < a]:
            del self.snaps[r]


# ----------------------------------------------------------------------------- the pipeline


class _Part:
    """One guide part: its tracker, its detector thread and its pending runs."""

    def __init__(self, part: Guide, schedule: DetectionSchedule, stats: dict[str, float]) -> None:
        self.part, self.every = part, schedule.every(part)
        # the detector's own copy: its sessions on few threads, as it runs beside the network
        self.detector = part.with_threads(schedule.threads) if isinstance(part, Guide) else part
        # video frames are upright (decoders apply the stream's rotation): the face guide skips
        # its turned passes, which would triple its cost on every scheduled frame, and the text
        # guide does not read unsure lines turned (on vtest's frames: 242 -> 415 ms a run)
        set_upright(self.detector, True)
        self.tracker = RegionTracker(self.every, schedule.grow(part), schedule.min_grow_px, schedule.hold)
        self.refine = schedule.refine_text and part.name in ("text", "textcls")
        self.pool = ThreadPoolExecutor(1, thread_name_prefix=f"veil-detect-{part.name}")
        self.futures: dict[int, Future[list[Region]]] = {}
        self.latest = -1  # the latest scheduled run submitted
        self.stats, self.key = stats, f"detect_{part.name}"
        self.min_side = schedule.face_min_side if part.name == "faces" else 0

    def _detect(self, frame: np.ndarray) -> list[Region]:
        t0 = time.perf_counter()
        scale = self.min_side / min(frame.shape[:2]) if self.min_side else 1.0
        if scale > 1.0:
            import cv2

            big = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
            regions = [Region((r.poly / scale).astype(np.float32), r.category, r.pad, r.text, r.dilate)
                       for r in self.detector.detect(big)]  # type: ignore[attr-defined]
        else:
            regions = self.detector.detect(frame)  # type: ignore[attr-defined]
        self.stats[self.key + "_s"] = self.stats.get(self.key + "_s", 0.0) + time.perf_counter() - t0
        self.stats[self.key + "_runs"] = self.stats.get(self.key + "_runs", 0) + 1
        return list(regions)

    def submit(self, i: int, frame: np.ndarray, extra: bool = False) -> None:
        """Run the detector on frame ``i``: a scheduled run (after the latest) or an ``extra`` one."""
        if i in self.futures or i in self.tracker.snaps or (not extra and i <= self.latest):
            return
        self.futures[i] = self.pool.submit(self._detect, frame)
        if extra:
            self.stats[self.key + "_extra_runs"] = self.stats.get(self.key + "_extra_runs", 0) + 1
        else:
            self.latest = i

    def next_run(self, t: int, last: int | None) -> int | None:
        """The scheduled run after frame ``t`` (the last frame's run at the end); None: ``t`` is the last frame."""
        if last is not None and t == last:
            return None
        b = (t // self.every + 1) * self.every
        return min(b, last) if last is not None else b

    def ready(self, upto: int, frame_at: Callable[[int], np.ndarray | None]) -> None:
        """Wait for the runs up to frame ``upto`` and feed them to the tracker in order, first
        running extra ones halfway between two text runs that disagree (``refine``)."""
        while True:
            due = sorted(k for k in self.futures if k <= upto)
            if not due:
                return
            r = due[0]
            found = self.futures[r].result()
            p = self.tracker.last_run
            if self.refine and p is not None and r - p > 1 and self.tracker.disagrees(r, found, ("public", "unread")):
                m = (p + r) // 2
                mid = frame_at(m)
                if mid is not None:
                    self.submit(m, mid, extra=True)
                    continue
            del self.futures[r]
            self.tracker.add_run(r, found)

    def bracket(self, t: int) -> tuple[int, int | None]:
        """The recorded runs ``a <= t < b`` around frame ``t`` (``b`` None: ``t`` is the last run)."""
        runs = sorted(self.tracker.snaps)
        a = max(r for r in runs if r <= t)
        later = [r for r in runs if r > t]
        return a, (later[0] if later else None)

    def close(self) -> None:
        for f in self.futures.values():
            f.cancel()
        self.pool.shutdown(wait=True, cancel_futures=True)


def scheduled_maps(
    frames: Iterable[np.ndarray],
    guide: Guide,
    schedule: DetectionSchedule = DEFAULT_SCHEDULE,
    stats: dict[str, float] | None = None,
    planar: bool = False,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(frame, maps)`` for every frame, in order, with the detectors run on ``schedule``.

    Args:
        frames: RGB uint8 frames of one video, all of one size.
        guide: a guide whose parts split detection from rendering (:func:`splits_detection`).
        schedule: detector periods, margins and hold-over.
        stats: filled with the detector runs and seconds (``detect_<part>_runs``,
            ``detect_<part>_s``) and the map rendering seconds (``maps_s``).
        planar: maps channel-first (C, H, W) instead of (H, W, C).

    Raises:
        ConfigError: a guide that cannot render regions.
        MediaError: a frame of another size than the first.
    """
    if not splits_detection(guide):
        raise ConfigError(f"guide {guide.spec!r} cannot run on a schedule (a part has no detect/render)")
    st: dict[str, float] = stats if stats is not None else {}
    parts = [_Part(p, schedule, st) for p in guide_parts(guide)]
    pending: deque[tuple[int, np.ndarray]] = deque()

    def frame_at(i: int) -> np.ndarray | None:
        """Frame ``i`` while it is in the buffer (extra detector runs), else None."""
        k = i - pending[0][0] if pending else -1
        return pending[k][1] if 0 <= k < len(pending) else None

    it = iter(frames)
    n, last, shape = 0, None, None
    newest: np.ndarray | None = None  # the last frame read
    try:
        while True:
            while last is None and len(pending) < schedule.lookahead:
                try:
                    frame = next(it)
                except StopIteration:
                    if n == 0:
                        return
                    last = n - 1
                    assert newest is not None
                    for p in parts:  # every detector runs on the last frame too
                        p.submit(last, newest)
                    break
                check_image(frame)
                if shape is not None and frame.shape != shape:
                    raise MediaError(f"frame {n} has size {frame.shape[:2]}, the first frame {shape[:2]}")
                shape = frame.shape
                for p in parts:
                    if n % p.every == 0:
                        p.submit(n, frame)
                pending.append((n, frame))
                newest = frame
                n += 1
            if not pending:
                return
            t, frame = pending[0]
            regions = []
            for p in parts:
                nxt = p.next_run(t, last)
                if nxt is not None and nxt not in p.futures and nxt not in p.tracker.snaps:
                    raise RuntimeError("detection schedule: look-ahead too short for the detector periods")
                p.ready(t if nxt is None else nxt, frame_at)
                a, b = p.bracket(t)
                regions.append(p.tracker.regions_at(t, a, b))
                p.tracker.forget_before(a)
            t0 = time.perf_counter()
            maps = maps_from_regions(guide, frame.shape, regions, planar=planar)
            st["maps_s"] = st.get("maps_s", 0.0) + time.perf_counter() - t0
            pending.popleft()
            yield frame, maps
    finally:
        for p in parts:
            p.close()


def timed_maps(guide: Guide, frame: np.ndarray, stats: dict[str, float]) -> np.ndarray:
    """``guide(frame)`` (the same maps), with each part's detector and the rendering timed into
    ``stats`` as :func:`scheduled_maps` does: the guide on every frame, stage by stage."""
    regions = []
    for part in guide_parts(guide):
        key = f"detect_{part.name}"
        t0 = time.perf_counter()
        regions.append(part.detect(frame))  # type: ignore[attr-defined]
        stats[key + "_s"] = stats.get(key + "_s", 0.0) + time.perf_counter() - t0
        stats[key + "_runs"] = stats.get(key + "_runs", 0) + 1
    t0 = time.perf_counter()
    maps = maps_from_regions(guide, frame.shape, regions)
    stats["maps_s"] = stats.get("maps_s", 0.0) + time.perf_counter() - t0
    return maps


def guided_video(
    frames: Iterable[np.ndarray],
    guide: Guide,
    run: Runner,
    schedule: DetectionSchedule = DEFAULT_SCHEDULE,
    temporal_smoothing: float = 0.0,
    identity_without_regions: bool = False,
    stats: dict[str, float] | None = None,
    planar: bool = False,
) -> Iterator[np.ndarray]:
    """Anonymize a video with a guided network: maps from :func:`scheduled_maps`, the network
    ``run`` on ``schedule.batch_size`` frames at a time, EMA ``temporal_smoothing`` as
    :meth:`~veil.anonymizers.learned.LearnedAnonymizer.iter_video`.

    Args:
        identity_without_regions: the network returns its input where every map is zero
            (``guided-policy``): frames with all-zero maps skip it.
        stats: also gets ``network_s``, ``network_frames`` and ``skipped_frames``.
        planar: ``run`` takes the maps channel-first, (B, C, H, W), as networks do: they are
            rendered so, without interleaving channels and transposing them back (two
            copies of about 16 MB a frame at 768x576 with the ``faces+textcls`` guide).
    """
    st: dict[str, float] = stats if stats is not None else {}
    a = float(temporal_smoothing)
    prev: np.ndarray | None = None
    batch: list[tuple[np.ndarray, np.ndarray]] = []

    def flush() -> Iterator[np.ndarray]:
        nonlocal prev
        outs: list[np.ndarray | None] = [None] * len(batch)
        todo = [i for i, (_, m) in enumerate(batch) if not (identity_without_regions and not m.any())]
        if todo:
            t0 = time.perf_counter()
            res = run(np.stack([batch[i][0] for i in todo]), np.stack([batch[i][1] for i in todo]))
            st["network_s"] = st.get("network_s", 0.0) + time.perf_counter() - t0
            st["network_frames"] = st.get("network_frames", 0) + len(todo)
            for i, r in zip(todo, res, strict=True):
                outs[i] = r
        st["skipped_frames"] = st.get("skipped_frames", 0) + len(batch) - len(todo)
        for (frame, _), out in zip(batch, outs, strict=True):
            o = frame.astype(np.float32) if out is None else out
            if a > 0 and prev is not None:
                o = (1.0 - a) * o + a * prev
            prev = o
            yield np.clip(np.rint(o), 0, 255).astype(np.uint8)
        batch.clear()

    for frame, maps in scheduled_maps(frames, guide, schedule, st, planar=planar):
        batch.append((frame, maps))
        if len(batch) >= schedule.batch_size:
            yield from flush()
    if batch:
        yield from flush()


def with_batch(schedule: DetectionSchedule, batch_size: int) -> DetectionSchedule:
    """``schedule`` with another network batch size."""
    return replace(schedule, batch_size=batch_size)
