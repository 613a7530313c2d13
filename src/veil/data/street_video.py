"""The "street-video" scenario: a clip of real pedestrians with per-frame privacy truth.

``prepare_street_video`` cuts the first ``frames`` frames (default 150) of ``vtest.avi``
(opencv-doc; 768x576, 10 fps), renders two private strings on them and writes:

* ``clip.mkv``: the clip, FFV1 (lossless but for the RGB -> YUV 4:4:4 rounding);
* ``truth.json``: per frame, the faces and the private strings with a *track* id each
  (format ``veil.video-truth/1``, see :class:`VideoTruth`);
* ``manifest.jsonl``: one test item of media type ``video`` whose ``meta.truth`` names the
  truth file (``veil eval`` measures the video leak on such items);
* ``build.json``: what was built (reused when the seed, frame count and version match).

Ground truth:

* **Private text** (exact): a licence plate on a white plate that slides across the lower
  part of the frame in 150 frames (``moving``, about 4 px per frame) and a name badge that
  stays in place (``static``), in test fonts (serif, mono) and strings drawn from the street
  scenario's generators for the seed; the box is the tight box of the ink in each frame.
* **Faces**: a heavier pass than any guide runs: CenterFace on every frame upscaled 2x
  (threshold 0.4), boxes mapped back to frame pixels, linked into tracks across frames
  (nearest centre within a distance that grows with the gap; gaps of up to
  :data:`TRACK_GAP` frames are bridged). The pass does not depend on the seed and is
  cached under ``cache_dir``. vtest's faces are small (5-10 px): an attacker finds them,
  but they carry little identity; the metric is whether they are still found.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from veil.data.fonts import paint_mask, text_mask
from veil.data.manifest import Item, Media, write_manifest
from veil.data.street import _rng, _swap_into_place, default_media_dir, detect_faces, random_name, random_plate
from veil.errors import ConfigError, DataUnavailableError, ManifestError
from veil.fsutil import atomic_write_text

__all__ = ["TRUTH_FORMAT", "VIDEO_SCENARIO_VERSION", "VideoTruth", "load_video_truth", "prepare_street_video"]

VIDEO_SCENARIO_VERSION = "1"
TRUTH_FORMAT = "veil.video-truth/1"
#: Frames a face track may skip (the heavy pass missing it) and still be one track.
TRACK_GAP = 4
FACE_UPSCALE = 2.0
FACE_THRESHOLD = 0.4
#: Frames the plate takes to cross the frame (about 4 px per frame at 768 px), whatever the clip's length.
PLATE_CROSSING = 150
PLATE_FONT = "DejaVuSansMono-Bold"
BADGE_FONT = "DejaVuSerif-Bold"


@dataclass(frozen=True)
class VideoTruth:
    """Per-frame ground truth of a video item.

    Attributes:
        frames: number of frames.
        faces: per frame, ``(track, [x1, y1, x2, y2])`` of every face.
        texts: per frame, ``{"track", "kind", "text", "box"}`` of every private string.
    """

    frames: int
    faces: tuple[tuple[tuple[int, tuple[float, float, float, float]], ...], ...]
    texts: tuple[tuple[dict[str, Any], ...], ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": TRUTH_FORMAT,
            "frames": self.frames,
            "per_frame": [
                {"faces": [{"track": t, "box": list(b)} for t, b in f], "texts": [dict(x) for x in tx]}
                for f, tx in zip(self.faces, self.texts, strict=True)
            ],
        }


def load_video_truth(path: str | os.PathLike[str]) -> VideoTruth:
    """Read a ``truth.json`` written by :func:`prepare_street_video`.

    Raises:
        ManifestError: the file is missing, not JSON, or of another format.
    """
    p = Path(path)
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ManifestError(f"{p}: cannot read the video truth ({e})") from None
    if not isinstance(d, dict) or d.get("format") != TRUTH_FORMAT or not isinstance(d.get("per_frame"), list):
        raise ManifestError(f"{p}: not a {TRUTH_FORMAT} file")
    try:
        faces = tuple(tuple((int(x["track"]), tuple(float(v) for v in x["box"])) for x in fr["faces"])
                      for fr in d["per_frame"])
        texts = tuple(tuple({"track": int(x["track"]), "kind": str(x["kind"]), "text": str(x["text"]),
                             "box": [float(v) for v in x["box"]]} for x in fr["texts"]) for fr in d["per_frame"])
    except (KeyError, TypeError, ValueError) as e:
        raise ManifestError(f"{p}: malformed per-frame truth ({e})") from None
    return VideoTruth(len(faces), faces, texts)  # type: ignore[arg-type]


def prepare_street_video(
    root: str | os.PathLike[str] = "data",
    seed: int = 0,
    frames: int = 150,
    media_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Build (or reuse) the video scenario under ``root/street-video`` and return its manifest.

    Raises:
        ConfigError: a negative seed or fewer than 8 frames.
        DataUnavailableError: ``vtest.avi`` is not in the media folder.
    """
    if int(seed) < 0 or int(frames) < 8:
        raise ConfigError(f"street-video: seed >= 0 and frames >= 8 are required, got {seed}, {frames}")
    seed, frames = int(seed), int(frames)
    root = Path(root)
    media = Path(media_dir) if media_dir is not None else default_media_dir()
    video = media / "data" / "vtest.avi"
    if not video.is_file():
        raise DataUnavailableError(f"{video} not found: the video scenario needs opencv-doc's vtest.avi "
                                   "(run `make media`)")
    target = root / "street-video"
    stamp = {"scenario": "street-video", "version": VIDEO_SCENARIO_VERSION, "seed": seed, "frames": frames}
    try:
        have = json.loads((target / "build.json").read_text(encoding="utf-8"))
        if all(have.get(k) == v for k, v in stamp.items()) and (target / "manifest.jsonl").is_file():
            return target / "manifest.jsonl"
    except (OSError, ValueError):
        pass
    cache = Path(cache_dir) if cache_dir is not None else root / ".cache"
    originals = _read(video, frames)
    faces = _face_pass(originals, cache, progress)
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".street-video.tmp-", dir=root))
    try:
        rendered, texts = _render_texts(originals, seed, faces)
        tracks = _link_tracks(faces)
        truth = VideoTruth(len(rendered), tuple(tuple(f) for f in tracks), tuple(tuple(t) for t in texts))
        _write_clip(tmp / "clip.mkv", rendered, 10)
        atomic_write_text(tmp / "truth.json", json.dumps(truth.to_json()) + "\n")
        n_face_tracks = len({t for f in tracks for t, _ in f})
        item = Item(id=f"vtest-video-{frames}", split="test", media=Media("video", "clip.mkv"),
                    attributes={"face": 1, "name_text": 1, "plate_text": 1},
                    source=f"vtest.avi#0-{frames - 1}",
                    meta={"truth": "truth.json", "frames": frames, "fps": 10, "face_tracks": n_face_tracks,
                          "text_tracks": {"moving": texts[0][0]["text"], "static": texts[0][1]["text"]}})
        write_manifest(tmp / "manifest.jsonl", [item])
        atomic_write_text(tmp / "build.json", json.dumps({**stamp, "face_tracks": n_face_tracks}, indent=1,
                                                         sort_keys=True) + "\n")
        _swap_into_place(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target / "manifest.jsonl"


def _read(video: Path, n: int) -> list[np.ndarray]:
    from veil.media import iter_frames

    out = []
    for frame in iter_frames(video):
        out.append(frame)
        if len(out) == n:
            break
    if len(out) < n:
        raise DataUnavailableError(f"{video} has only {len(out)} frames; asked for {n}")
    return out


def _face_pass(frames: Sequence[np.ndarray], cache: Path, progress: bool) -> list[list[tuple[float, ...]]]:
    """CenterFace on every frame upscaled 2x; cached (it does not depend on the seed)."""
    key = cache / f"street-video-faces-v{VIDEO_SCENARIO_VERSION}-{len(frames)}.json"
    try:
        return [[tuple(b) for b in f] for f in json.loads(key.read_text(encoding="utf-8"))]
    except (OSError, ValueError):
        pass
    out: list[list[tuple[float, ...]]] = []
    for i, frame in enumerate(frames):
        if progress and i % 25 == 0:
            print(f"street-video: face pass {i}/{len(frames)}", file=sys.stderr)
        up = cv2.resize(frame, None, fx=FACE_UPSCALE, fy=FACE_UPSCALE, interpolation=cv2.INTER_CUBIC)
        out.append([tuple(round(v / FACE_UPSCALE, 1) for v in d[:4]) + (d[4],)
                    for d in detect_faces(up, FACE_THRESHOLD)])
    cache.mkdir(parents=True, exist_ok=True)
    atomic_write_text(key, json.dumps(out) + "\n")
    return out


def _link_tracks(faces: Sequence[Sequence[Sequence[float]]]) -> list[list[tuple[int, tuple[float, ...]]]]:
    """Face boxes linked into tracks: nearest centre within a distance that grows with the gap."""
    active: list[tuple[int, int, np.ndarray, float]] = []  # (track, last frame, centre, size)
    next_id = 0
    out: list[list[tuple[int, tuple[float, ...]]]] = []
    for i, dets in enumerate(faces):
        boxes = [tuple(float(v) for v in d[:4]) for d in dets]
        cands = []
        for ai, (_, last, c, s) in enumerate(active):
            gap = i - last
            for di, b in enumerate(boxes):
                cb = np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2])
                d = float(np.linalg.norm(cb - c))
                if d <= (0.5 + 1.0 * gap) * max(s, 4.0):
                    cands.append((d, ai, di))
        used_a: set[int] = set()
        used_d: set[int] = set()
        row: list[tuple[int, tuple[float, ...]]] = []
        for _, ai, di in sorted(cands):
            if ai in used_a or di in used_d:
                continue
            used_a.add(ai)
            used_d.add(di)
            row.append((active[ai][0], boxes[di]))
        for di, b in enumerate(boxes):
            if di not in used_d:
                row.append((next_id, b))
                next_id += 1
        seen = {t for t, _ in row}
        active = [a for a in active if a[0] not in seen and i - a[1] < TRACK_GAP]
        for t, b in row:
            active.append((t, i, np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2]), max(b[2] - b[0], b[3] - b[1])))
        out.append(sorted(row))
    return out


def _render_texts(frames: Sequence[np.ndarray], seed: int, faces: Sequence[Sequence[Sequence[float]]]
                  ) -> tuple[list[np.ndarray], list[list[dict[str, Any]]]]:
    """A plate sliding left to right along the lower part of the frame, and a name badge that stays."""
    rng = _rng(seed, "street-video")
    plate, name = random_plate(rng), random_name(rng)
    h, w = frames[0].shape[:2]
    plate_ink = text_mask(plate, PLATE_FONT, cap_px=15)
    badge_ink = text_mask(name, BADGE_FONT, cap_px=13)
    pad = 6
    plate_y = int(0.80 * h)
    badge_x, badge_y = int(0.04 * w), int(0.90 * h)
    x0, x1 = int(0.02 * w), w - plate_ink.shape[1] - 2 * pad - int(0.02 * w)
    out, truth = [], []
    for i, frame in enumerate(frames):
        img = frame.copy()
        px = int(round(x0 + (x1 - x0) * min(i / (PLATE_CROSSING - 1), 1.0)))
        boxes = []
        for ink, x, y, bg, fg in ((plate_ink, px, plate_y, (236, 236, 228), (20, 20, 24)),
                                  (badge_ink, badge_x, badge_y, (250, 250, 250), (30, 40, 120))):
            bh, bw = ink.shape[0] + 2 * pad, ink.shape[1] + 2 * pad
            cv2.rectangle(img, (x, y), (x + bw, y + bh), bg, -1)
            cv2.rectangle(img, (x, y), (x + bw, y + bh), (60, 60, 60), 1)
            boxes.append(paint_mask(img, ink, x + pad, y + pad, fg))
        for f in faces[i]:  # the text never covers a face
            for b in boxes:
                if not (f[2] < b[0] or f[0] > b[2] or f[3] < b[1] or f[1] > b[3]):
                    raise ConfigError("street-video: rendered text would cover a face; move the text")
        out.append(img)
        truth.append([{"track": 0, "kind": "plate", "text": plate, "box": list(boxes[0])},
                      {"track": 1, "kind": "name", "text": name, "box": list(boxes[1])}])
    return out, truth


def _write_clip(path: Path, frames: Sequence[np.ndarray], fps: int) -> None:
    import av

    h, w = frames[0].shape[:2]
    with av.open(str(path), "w", format="matroska") as c:
        vs = c.add_stream("ffv1", rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv444p"
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts, vf.time_base = i, Fraction(1, fps)
            c.mux(vs.encode(vf))
        c.mux(vs.encode(None))
