"""The video leak (``veil eval`` on video items), the street-video scenario, and guided models
protecting video on a detection schedule through ``veil protect``."""

from __future__ import annotations

import json
import os
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from veil.anonymizers.learned import LearnedAnonymizer
from veil.cli import main
from veil.data.street_video import load_video_truth, prepare_street_video
from veil.media import iter_frames
from veil.protect import ProtectConfig, protect_paths
from veil.videoleak import evaluate_video_manifest, frame_leaks, is_video_manifest, video_items

MEDIA = Path(os.environ.get("VEIL_MEDIA", ".media")) / "opencv"
VTEST = MEDIA / "data" / "vtest.avi"
pytestmark = pytest.mark.skipif(not VTEST.is_file(), reason="run `make media`")


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepare_street_video(tmp_path_factory.mktemp("data"), frames=10, progress=False)


@pytest.fixture(scope="module")
def guided(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A guided-policy model at its start (every detection heavily blurred), saved."""
    return LearnedAnonymizer("guided-policy", guide="faces+textcls").save(tmp_path_factory.mktemp("m") / "model")


@pytest.mark.slow
def test_scenario_has_per_frame_truth_and_is_reused(scenario: Path) -> None:
    assert is_video_manifest(scenario)
    (item,) = video_items(scenario)
    truth = load_video_truth(item.root / item.meta["truth"])
    assert truth.frames == 10 and all(len(t) == 2 for t in truth.texts)
    moving = [t[0]["box"][0] for t in truth.texts]
    assert moving == sorted(moving) and moving[-1] > moving[0] + 30  # one string moves...
    assert len({tuple(t[1]["box"]) for t in truth.texts}) == 1  # ...one stays
    assert sum(len(f) for f in truth.faces) > 0
    assert len(list(iter_frames(item.media_path()))) == 10
    stamp = (scenario.parent / "build.json").stat().st_mtime_ns
    assert prepare_street_video(scenario.parent.parent, frames=10, progress=False) == scenario
    assert (scenario.parent / "build.json").stat().st_mtime_ns == stamp


@pytest.mark.slow
def test_unprotected_frames_leak_and_heavy_blur_does_not(scenario: Path) -> None:
    (item,) = video_items(scenario)
    truth = load_video_truth(item.root / item.meta["truth"])
    raw = frame_leaks(list(iter_frames(item.media_path())), truth)
    assert raw["text"]["frame_leak"] == 1.0 and raw["text"]["track_leak"] == 1.0
    assert raw["faces"]["frame_leak"] >= 0.5
    m = evaluate_video_manifest(scenario, "blur:sigma=12", None, progress=False)
    assert m["leak"]["text"]["frames_leaked"] == 0 and m["leak"]["faces"]["frames_leaked"] == 0
    assert m["frames"] == 10 and m["protect_fps"] > 0


@pytest.mark.slow
def test_guided_model_on_a_schedule_leaks_no_more_than_frame_by_frame(scenario: Path, guided: Path,
                                                                       tmp_path: Path) -> None:
    per_frame = evaluate_video_manifest(scenario, str(guided), None, detect_every=None, progress=False)
    sched = evaluate_video_manifest(scenario, str(guided), tmp_path / "ev", detect_every=(2, 8), progress=False)
    assert per_frame["detect_every"] == "frame" and sched["detect_every"] == [2, 8]
    for kind in ("faces", "text"):
        assert sched["leak"][kind]["frames_leaked"] <= per_frame["leak"][kind]["frames_leaked"], kind
    assert sched["leak"]["text"]["frames_leaked"] == 0
    stages = next(iter(sched["items"].values()))["protect"]["stages"]
    assert stages["detect_faces_runs"] == 6 and stages["detect_textcls_runs"] == 3  # 0,2,...,8,9; 0,8,9
    saved = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert saved["schema"] == "veil.video-leak/1" and saved["leak"]["text"]["frame_leak"] == 0


@pytest.mark.slow
def test_veil_eval_on_the_video_scenario(scenario: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--anonymizer", "identity", "--out", str(tmp_path / "ev"), "--quiet"]) == 2  # no data
    assert main(["eval", "--data", str(scenario), "--anonymizer", "identity", "--out", str(tmp_path / "ev"),
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "face frames" in out and "text tracks" in out
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert m["leak"]["text"]["track_leak"] == 1.0


def _clip(path: Path, n: int = 9) -> Path:
    """The first frames of vtest at half size, H.264 in MP4, with a phone number that stays."""
    with av.open(str(path), "w", format="mp4") as c:
        vs = c.add_stream("h264", rate=10)
        vs.width, vs.height, vs.pix_fmt = 384, 288, "yuv420p"
        for i, f in enumerate(iter_frames(VTEST)):
            if i == n:
                break
            f = cv2.resize(f, (384, 288), interpolation=cv2.INTER_AREA)
            cv2.rectangle(f, (8, 240), (200, 272), (250, 250, 250), -1)
            cv2.putText(f, "CALL 0161 496 0734", (12, 264), cv2.FONT_HERSHEY_DUPLEX, 0.6, (20, 20, 20), 1,
                        cv2.LINE_AA)
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts, vf.time_base = i, Fraction(1, 10)
            c.mux(vs.encode(vf))
        c.mux(vs.encode(None))
    return path


def test_protect_runs_a_guided_model_on_the_schedule_and_reports_fps(guided: Path, tmp_path: Path) -> None:
    src = _clip(tmp_path / "clip.mp4")
    assert main(["protect", str(src), "-o", str(tmp_path / "out"), "--anonymizer", str(guided),
                 "--detect-every", "2,4", "--detect-face-side", "576", "--quiet"]) == 0
    summary = json.loads((tmp_path / "out" / "protect-summary.json").read_text())
    d = summary["files"][0]["details"]
    assert d["detect_every"] == [2, 4] and d["frames"] == 9 and d["protect_fps"] > 0
    assert summary["video_fps"] > 0
    s = d["stages"]
    assert s["detect_faces_runs"] == 5 and s["detect_textcls_runs"] == 3  # 0,2,4,6,8; 0,4,8
    assert s["network_frames"] + s["skipped_frames"] == 9 and s["decode_s"] >= 0 and s["encode_s"] >= 0
    out = list(iter_frames(tmp_path / "out" / "clip.mp4"))
    orig = list(iter_frames(src))
    assert all(np.abs(o[240:272, 8:200].astype(int) - c[240:272, 8:200]).mean() > 8 for o, c in
               zip(out, orig, strict=True))  # the phone number is hidden in every frame
    frame = protect_paths([src], tmp_path / "out2", str(guided), ProtectConfig(progress=False, detect_every=None))
    assert frame.files[0].details["detect_every"] == "frame"
    assert "detect_every" not in protect_paths([src], tmp_path / "out3", "blur:sigma=2",
                                               ProtectConfig(progress=False)).files[0].details


def test_damaged_packet_with_a_guided_model_drops_its_frame_and_hides_the_text_in_every_other(
        guided: Path, tmp_path: Path) -> None:
    src = _clip(tmp_path / "clip.mp4", n=12)
    with av.open(str(src)) as c:
        packets = [(p.pos, p.size) for p in c.demux(video=0) if p.size]
    data = bytearray(src.read_bytes())
    pos, size = packets[6]  # mid-stream, between two detector runs
    for j in range(pos + 4, pos + size):
        data[j] ^= 0xA5
    bad = tmp_path / "in" / "clip.mp4"
    bad.parent.mkdir()
    bad.write_bytes(bytes(data))
    report = protect_paths([bad], tmp_path / "out", str(guided),
                           ProtectConfig(progress=False, detect_every=(2, 4), detect_face_side=0))
    res = report.files[0]
    assert res.status == "protected" and res.details["damaged_packets"] == 1 and res.frames == 11
    assert "damaged" in res.details["warning"]
    out = list(iter_frames(tmp_path / "out" / "clip.mp4"))
    text = next(iter(iter_frames(src)))[240:272, 8:200].astype(int)  # the phone number, the same in every frame
    assert len(out) == 11
    assert all(np.abs(o[240:272, 8:200] - text).mean() > 8 for o in out)  # hidden in every frame written
    assert not [p for p in (tmp_path / "out").rglob("*.veil-part")]
