"""The `veil` command: exit codes and one-line errors for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from veil.cli import main


def _veil(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "veil.cli", *args], capture_output=True, text=True)


def test_data_check_ok(street_manifest: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "check", str(street_manifest)]) == 0
    assert "OK" in capsys.readouterr().out


def test_data_check_broken_line_names_it(street_manifest: Path, tmp_path: Path) -> None:
    lines = street_manifest.read_text().splitlines()
    bad = json.loads(lines[2])
    del bad["split"]
    lines[2] = json.dumps(bad)
    lines[4] = lines[4][:-5]  # truncated JSON
    p = tmp_path / "broken.jsonl"
    p.write_text("\n".join(lines) + "\n")
    # Relative media paths must still resolve: point them at the real images.
    root = street_manifest.parent
    p.write_text(p.read_text().replace('"images/', f'"{root}/images/'))
    r = _veil("data", "check", str(p))
    assert r.returncode != 0
    assert "line 3: split" in r.stderr
    assert "line 5: <json>" in r.stderr


def test_missing_manifest_is_one_line_error(tmp_path: Path) -> None:
    r = _veil("eval", "--data", str(tmp_path / "nope.jsonl"), "--anonymizer", "identity",
              "--out", str(tmp_path / "o"))
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "nope.jsonl" in r.stderr
    assert not (tmp_path / "o").exists()


def test_unknown_anonymizer_names_the_value(street_manifest: Path, tmp_path: Path) -> None:
    r = _veil("eval", "--data", str(street_manifest), "--anonymizer", "sparkle:x=1", "--out",
              str(tmp_path / "o"), "--max-items", "4", "--quiet")
    assert r.returncode == 2
    assert "sparkle" in r.stderr and "blur" in r.stderr


def test_bad_anonymizer_parameter(street_manifest: Path, tmp_path: Path) -> None:
    r = _veil("eval", "--data", str(street_manifest), "--anonymizer", "blur:radius=3", "--out",
              str(tmp_path / "o"), "--quiet")
    assert r.returncode == 2 and "radius" in r.stderr


def test_list_names_everything(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("identity", "blur", "pixelate", "faceblur", "reference", "cnn", "prior", "street"):
        assert name in out


@pytest.mark.parametrize("command", [["protect", "IN", "--anonymizer", "x", "--out", "OUT"],
                                     ["eval", "--anonymizer", "x", "--out", "OUT"]])
def test_video_schedule_defaults_are_the_library_defaults(command: list[str]) -> None:
    """The parser keeps its defaults as literals (its import stays light); they must be the
    library's, so `veil protect` and `veil eval` do what ProtectConfig() does."""
    from veil.anonymizers.schedule import DetectionSchedule
    from veil.cli import build_parser
    from veil.protect import ProtectConfig

    a = build_parser().parse_args(command)
    sched = DetectionSchedule.parse(a.detect_every)
    assert sched is not None and (sched.faces_every, sched.text_every) == ProtectConfig.detect_every
    assert (a.detect_hold, a.detect_face_side) == (ProtectConfig.detect_hold, ProtectConfig.detect_face_side)
