"""Video leak: in how many frames, and in how many tracks, does an attacker still find a
face or read a private string of a protected video?

The measurement runs the real path: :func:`veil.protect.protect_video_file` (decoding, the
anonymizer, with its detection schedule for guided models, encoding), then decodes the
protected file and attacks every frame against the per-frame ground truth of a video
item (:class:`veil.data.street_video.VideoTruth`):

- **faces**: a ground-truth face is *found* when a pretrained detector, given a crop around
  it upscaled so the face is ``face_px`` pixels (the attacker knows where to look), returns
  a box with IoU >= ``iou`` (:func:`veil.privacy.pretrained.face_detection_recall`). The
  detectors are CenterFace at a higher threshold than the guide's on an upscaled crop
  (not what the guide runs: the guide sees the full frame at its own size, threshold 0.2)
  and dlib's HOG; a face found by either counts.
- **private text**: a string is *read* when RapidOCR, on an upscaled crop around it, reads
  it exactly (normalized substring) or within a character error rate of ``fuzzy_cer``
  (:func:`veil.privacy.pretrained.text_recovery`).

A frame *leaks* when any of its faces is found (faces) or any of its strings is read
(text); a *track* (one face or string followed through the clip) leaks when any of its
frames does. Rates are over frames (tracks) that hold at least one face (string).
Unprotected frames give the upper bound (``identity``).
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from veil.anonymizers.base import Anonymizer, create_anonymizer
from veil.data.manifest import Item, load_manifest
from veil.data.street_video import VideoTruth, load_video_truth
from veil.errors import ManifestError
from veil.protect import ProtectConfig

__all__ = ["VIDEO_LEAK_SCHEMA", "VideoLeakConfig", "evaluate_video_item", "evaluate_video_manifest",
           "format_leak_table", "frame_leaks", "is_video_manifest", "leak_row", "video_items"]

VIDEO_LEAK_SCHEMA = "veil.video-leak/1"


@dataclass(frozen=True)
class VideoLeakConfig:
    """How the attackers look.

    Args:
        face_detectors: ``(name, face_px)`` pairs: each detector runs on a crop around each
            ground-truth face, upscaled so the face is ``face_px`` pixels tall.
        centerface_threshold: score threshold of the attacker's CenterFace.
        face_margin: the crop reaches this many face sizes beyond the face on every side.
        iou: overlap for a face to count as found.
        ocr_engine: the OCR attacker.
        fuzzy_cer: a reading within this character error rate counts as read.
        max_frames: attack only the first N frames (None: all).
    """

    face_detectors: tuple[tuple[str, float], ...] = (("centerface", 24.0), ("centerface", 48.0), ("dlib-hog", 100.0))
    centerface_threshold: float = 0.4
    face_margin: float = 1.5
    iou: float = 0.3
    ocr_engine: str = "rapidocr"
    fuzzy_cer: float = 0.2
    max_frames: int | None = None


def video_items(manifest: str | Path) -> list[Item]:
    """The items of a manifest that are videos with per-frame truth (``meta.truth``)."""
    return [it for it in load_manifest(manifest) if it.media.type == "video" and it.meta.get("truth")]


def is_video_manifest(manifest: str | Path) -> bool:
    """True when every item of the manifest is a video with per-frame truth."""
    items = load_manifest(manifest, check_files=False)
    return bool(items) and all(it.media.type == "video" and it.meta.get("truth") for it in items)


def _truth_of(item: Item) -> VideoTruth:
    p = Path(item.meta["truth"])
    return load_video_truth(p if p.is_absolute() else item.root / p)


def frame_leaks(frames: Sequence[np.ndarray], truth: VideoTruth, config: VideoLeakConfig | None = None,
                progress: bool = False) -> dict[str, Any]:
    """Attack every frame against its truth; per-frame and per-track leaks of faces and text.

    Returns:
        ``{"faces": {...}, "text": {...}, "any": {...}}``: each with ``frames`` (frames
        holding truth), ``frames_leaked``, ``frame_leak``, ``tracks``, ``tracks_leaked``,
        ``track_leak``, ``instances`` and ``found``; ``text`` also ``exact`` (readings that
        match exactly) and ``per_track``.
    """
    from tqdm.auto import tqdm

    from veil.privacy.pretrained import CenterFaceDetector, face_detection_recall, get_face_detector, text_recovery

    cfg = config or VideoLeakConfig()
    n = min(len(frames), truth.frames) if cfg.max_frames is None else min(len(frames), truth.frames, cfg.max_frames)
    detectors = [(CenterFaceDetector(cfg.centerface_threshold) if name == "centerface" else get_face_detector(name),
                  px) for name, px in cfg.face_detectors]
    face_rows: list[tuple[int, int, bool]] = []  # (frame, track, found)
    text_rows: list[tuple[int, int, bool, bool, str]] = []  # (frame, track, read, exact, text)
    for i in tqdm(range(n), desc="attack", disable=not progress, leave=False):
        frame = frames[i]
        faces = truth.faces[i]
        if faces:
            boxes = [list(b) for _, b in faces]
            found = np.zeros(len(boxes), bool)
            for det, px in detectors:
                r = face_detection_recall([frame], [boxes], detector=det, iou_threshold=cfg.iou, search="crop",
                                          margin=cfg.face_margin, face_px=px)
                found |= np.asarray(r["ious"]) >= cfg.iou
            face_rows += [(i, t, bool(f)) for (t, _), f in zip(faces, found, strict=True)]
        texts = truth.texts[i]
        if texts:
            tr = text_recovery([frame], [list(texts)], engine=cfg.ocr_engine)
            for t, row in zip(texts, tr["items"], strict=True):
                read = bool(row["exact"]) or float(row["cer"]) <= cfg.fuzzy_cer
                text_rows.append((i, int(t["track"]), read, bool(row["exact"]), str(t["text"])))
    faces_s = _summary([(f, t, hit) for f, t, hit in face_rows])
    text_s = _summary([(f, t, hit) for f, t, hit, _, _ in text_rows])
    text_s["exact"] = sum(ex for _, _, _, ex, _ in text_rows)
    text_s["per_track"] = {
        str(t): {"text": next(x for _, tt, _, _, x in text_rows if tt == t),
                 "frames": sum(1 for _, tt, _, _, _ in text_rows if tt == t),
                 "frames_read": sum(1 for _, tt, r, _, _ in text_rows if tt == t and r)}
        for t in sorted({t for _, t, _, _, _ in text_rows})
    }
    any_rows = [(f, -1, hit) for f, _, hit in face_rows] + [(f, -2, hit) for f, _, hit, _, _ in text_rows]
    both = _summary(any_rows)
    return {"frames": n, "faces": faces_s, "text": text_s,
            "any": {k: both[k] for k in ("frames", "frames_leaked", "frame_leak")}}


def _summary(rows: list[tuple[int, int, bool]]) -> dict[str, Any]:
    frames = {f for f, _, _ in rows}
    leaked = {f for f, _, hit in rows if hit}
    tracks = {t for _, t, _ in rows}
    tracks_leaked = {t for _, t, hit in rows if hit}
    return {
        "frames": len(frames),
        "frames_leaked": len(leaked),
        "frame_leak": len(leaked) / len(frames) if frames else math.nan,
        "tracks": len(tracks),
        "tracks_leaked": len(tracks_leaked),
        "track_leak": len(tracks_leaked) / len(tracks) if tracks else math.nan,
        "instances": len(rows),
        "found": sum(hit for _, _, hit in rows),
    }


def evaluate_video_item(
    item: Item,
    anonymizer: str | Anonymizer,
    detect_every: tuple[int, int] | None = ProtectConfig.detect_every,
    detect_hold: int = ProtectConfig.detect_hold,
    config: VideoLeakConfig | None = None,
    threads: int | None = None,
    work_dir: str | Path | None = None,
    progress: bool = False,
    face_min_side: int = ProtectConfig.detect_face_side,
) -> dict[str, Any]:
    """Protect one video item with ``anonymizer`` (the real ``veil protect`` path, ``detect_every``
    for guided models) and measure its leak (:func:`frame_leaks`).

    Returns:
        ``{"anonymizer", "detect_every", "protect": {protect_fps, seconds, stages, ...},
        "leak": frame_leaks(...)}``.

    Raises:
        ManifestError: the item has no readable per-frame truth.
    """
    from veil.anonymizers.guides import clear_detection_cache
    from veil.media import iter_frames
    from veil.protect import protect_video_file, with_runtime
    from veil.threads import torch_threads

    truth = _truth_of(item)
    an = with_runtime(create_anonymizer(anonymizer), "auto", threads)
    clear_detection_cache()  # the detectors run for this protection (its fps), not from an earlier one's cache
    cfg = ProtectConfig(progress=False, summary=False, resume=False, overwrite=True, detect_every=detect_every,
                        detect_hold=detect_hold, detect_face_side=face_min_side, threads=threads)
    with tempfile.TemporaryDirectory(prefix="veil-videoleak-", dir=work_dir) as tmp:
        out = Path(tmp) / f"protected{item.media_path().suffix}"
        t0 = time.perf_counter()
        with torch_threads(threads):
            details = protect_video_file(item.media_path(), out, an, cfg)
        seconds = time.perf_counter() - t0
        frames = list(iter_frames(out))
    if len(frames) != truth.frames:
        raise ManifestError(f"{item.id}: the protected video has {len(frames)} frames, the truth {truth.frames}")
    leak = frame_leaks(frames, truth, config, progress=progress)
    return {
        "anonymizer": an.spec,
        "detect_every": details.get("detect_every"),
        "protect": {"seconds": round(seconds, 2), "protect_fps": details.get("protect_fps"),
                    "stages": details.get("stages", {}), "frames": details.get("frames")},
        "leak": leak,
        "config": asdict(config or VideoLeakConfig()),
    }


def evaluate_video_manifest(
    manifest: str | Path,
    anonymizer: str | Anonymizer,
    out_dir: str | Path | None = None,
    detect_every: tuple[int, int] | None = ProtectConfig.detect_every,
    detect_hold: int = ProtectConfig.detect_hold,
    config: VideoLeakConfig | None = None,
    threads: int | None = None,
    progress: bool = True,
    face_min_side: int = ProtectConfig.detect_face_side,
) -> dict[str, Any]:
    """``veil eval`` on a manifest of video items: the leak of one anonymizer, pooled over the
    items (frames and tracks summed), written to ``out_dir/metrics.json`` when given.

    Raises:
        ManifestError: the manifest has no video item with per-frame truth.
    """
    from veil import __version__
    from veil.evaluate import write_metrics

    items = video_items(manifest)
    if not items:
        raise ManifestError(f"{manifest}: no video item with per-frame truth (meta.truth)")
    per_item = {it.id: evaluate_video_item(it, anonymizer, detect_every, detect_hold, config, threads,
                                           progress=progress, face_min_side=face_min_side) for it in items}
    rows = list(per_item.values())
    leak = {kind: _pool([r["leak"][kind] for r in rows]) for kind in ("faces", "text", "any")}
    frames = sum(int(r["protect"]["frames"] or 0) for r in rows)
    secs = sum(float(r["protect"]["seconds"]) for r in rows)
    metrics = {
        "schema": VIDEO_LEAK_SCHEMA,
        "veil_version": __version__,
        "anonymizer": rows[0]["anonymizer"],
        "manifest": str(manifest),
        "detect_every": rows[0]["detect_every"],
        "detect_hold": detect_hold,
        "detect_face_side": face_min_side,
        "n_items": len(items),
        "frames": frames,
        "protect_fps": round(frames / secs, 2) if secs > 0 else None,
        "leak": leak,
        "items": per_item,
    }
    if out_dir is not None:
        write_metrics(out_dir, metrics)
    return metrics


def _pool(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum the counts of several items' leak summaries and recompute the rates."""
    out: dict[str, Any] = {}
    for key in ("frames", "frames_leaked", "tracks", "tracks_leaked", "instances", "found", "exact"):
        if all(key in p for p in parts):
            out[key] = sum(int(p[key]) for p in parts)
    out["frame_leak"] = out["frames_leaked"] / out["frames"] if out.get("frames") else math.nan
    if "tracks" in out:
        out["track_leak"] = out["tracks_leaked"] / out["tracks"] if out["tracks"] else math.nan
    return out


def leak_row(label: str, metrics: dict[str, Any]) -> dict[str, Any]:
    """One flat row of a video-leak metrics dict (for tables)."""
    lk = metrics["leak"]
    return {
        "label": label,
        "fps": metrics.get("protect_fps"),
        "face_frames": lk["faces"]["frame_leak"], "face_tracks": lk["faces"]["track_leak"],
        "text_frames": lk["text"]["frame_leak"], "text_tracks": lk["text"]["track_leak"],
        "any_frames": lk["any"]["frame_leak"],
        "n": f"{lk['faces']['frames']}f/{lk['faces']['tracks']}t faces, {lk['text']['frames']}f/"
             f"{lk['text']['tracks']}t text",
    }


def format_leak_table(rows: Sequence[dict[str, Any]]) -> str:
    """A plain-text table of :func:`leak_row` rows (leak: share of frames / tracks an attacker gets)."""
    head = ["anonymizer", "fps", "face frames", "face tracks", "text frames", "text tracks", "any frame"]
    keys = ["fps", "face_frames", "face_tracks", "text_frames", "text_tracks", "any_frames"]

    def cell(v: Any) -> str:
        if v is None or (isinstance(v, float) and not math.isfinite(v)):
            return "-"
        return f"{v:.2f}" if isinstance(v, float) else str(v)

    cells = [head] + [[str(r["label"])] + [cell(r[k]) for k in keys] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    lines = ["  ".join(c[i].ljust(widths[i]) if i == 0 else c[i].rjust(widths[i]) for i in range(len(head)))
             for c in cells]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])
