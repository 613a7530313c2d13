"""The ONNX export cache of saved models: a second run needs neither the export nor PyTorch,
gives the same pixels and spec, and never serves a graph for another model or dial."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from veil.anonymizers.learned import LearnedAnonymizer, load_anonymizer
from veil.anonymizers.networks import POLICY_CATEGORIES
from veil.anonymizers.onnx import OnnxAnonymizer
from veil.anonymizers.onnx_cache import CACHE_ENV, cache_dir, cached_runtime
from veil.media import load_image
from veil.protect import load_runtime, with_runtime

MEDIA = Path(os.environ.get("VEIL_MEDIA", ".media")) / "opencv"
needs_media = pytest.mark.skipif(not (MEDIA / "data" / "messi5.jpg").is_file(), reason="run `make media`")


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache" / "onnx"


def _policy(folder: Path, face: float = 3.0) -> Path:
    a = LearnedAnonymizer("guided-policy", guide="faces+textcls")
    with torch.no_grad():
        a.net.strength.copy_(torch.tensor([face if c == "face" else 1.0 for c in POLICY_CATEGORIES]))
    return a.save(folder, meta={"steps": 1})


def _photo() -> np.ndarray:
    return cv2.resize(load_image(MEDIA / "data" / "messi5.jpg"), (480, 300), interpolation=cv2.INTER_AREA)


def _entries() -> list[Path]:
    folder = cache_dir()
    return sorted(folder.glob("*.onnx")) if folder and folder.is_dir() else []


@needs_media
def test_second_run_comes_from_the_cache_with_the_same_pixels_and_spec(tmp_path: Path) -> None:
    folder = _policy(tmp_path / "model")
    assert cached_runtime(str(folder)) is None  # nothing cached yet
    first = load_runtime(str(folder))
    assert isinstance(first, OnnxAnonymizer) and len(_entries()) == 1
    second = cached_runtime(str(folder))
    assert isinstance(second, OnnxAnonymizer) and second.spec == first.spec == str(folder)
    im = _photo()
    np.testing.assert_array_equal(second(im), first(im))
    assert not np.array_equal(second(im), im)  # the face is hidden: a real model, not the identity
    for dial in ("upright=true", "temporal_smoothing=0.5"):  # a run-time dial: its own spec, the same pixels
        spec = f"{folder}:{dial}"
        hit = load_runtime(spec)
        assert hit.spec == spec == with_runtime(load_anonymizer(spec)).spec
    assert load_runtime(f"{folder}:upright=true").upright and len(_entries()) == 2  # smoothing: another entry
    # a later run imports neither PyTorch nor scikit-learn / SciPy (about 1 s each before a first image)
    code = ("import sys, numpy as np; from veil.protect import load_runtime; a = load_runtime(sys.argv[1]); "
            "a(np.full((48, 64, 3), 128, np.uint8)); "
            "print(type(a).__name__, *(m in sys.modules for m in ('torch', 'sklearn', 'scipy')))")
    r = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True, timeout=300,
                       env={**os.environ})
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["OnnxAnonymizer", "False", "False", "False"]


@needs_media
def test_a_model_saved_again_or_a_damaged_entry_is_exported_again(tmp_path: Path) -> None:
    folder = _policy(tmp_path / "model")
    load_runtime(str(folder))
    _policy(folder, face=-5.0)  # the same folder, other weights: faces kept
    assert cached_runtime(str(folder)) is None
    im = _photo()
    again = load_runtime(str(folder))
    np.testing.assert_array_equal(again(im), with_runtime(LearnedAnonymizer.load(folder))(im))
    assert len(_entries()) == 2  # one per weights
    for entry in _entries():
        entry.write_bytes(b"not a graph")
    assert cached_runtime(str(folder)) is None and len(_entries()) == 1  # the model's entry is dropped
    assert isinstance(load_runtime(str(folder)), OnnxAnonymizer) and len(_entries()) == 2
    np.testing.assert_array_equal(cached_runtime(str(folder))(im), again(im))


def test_conditioned_dial_spec_matches_the_pytorch_load(tmp_path: Path) -> None:
    folder = LearnedAnonymizer("film-unet", width=4, depth=2).save(tmp_path / "film")
    for spec in (str(folder), f"{folder}:privacy=0.5", f"{folder}:privacy=0.8"):
        load_runtime(spec)  # a dial the model was not saved with is a graph of its own (its default)
        hit = cached_runtime(spec)
        want = with_runtime(load_anonymizer(spec))
        assert hit is not None and hit.spec == want.spec and hit.privacy == want.privacy


def test_off_unsaved_and_invalid_are_never_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with_runtime(LearnedAnonymizer("unet", width=4, depth=2))  # a network in memory: not stored
    assert not _entries()
    folder = LearnedAnonymizer("unet", width=4, depth=2).save(tmp_path / "unet")
    assert cached_runtime(f"{folder}:colour=red") is None and cached_runtime("blur:sigma=2") is None
    monkeypatch.setenv(CACHE_ENV, "off")
    assert cache_dir() is None
    assert isinstance(load_runtime(str(folder)), OnnxAnonymizer) and cached_runtime(str(folder)) is None
