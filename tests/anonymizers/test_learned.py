"""LearnedAnonymizer: uint8 inference, save/load round trips, clear errors, the dial, video smoothing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from veil.anonymizers import ANONYMIZERS, create_anonymizer
from veil.anonymizers.baselines import GaussianBlur
from veil.anonymizers.learned import (
    CONFIG_FILE,
    FORMAT,
    WEIGHTS_FILE,
    LearnedAnonymizer,
    is_model_path,
    load_anonymizer,
)
from veil.anonymizers.networks import MaskedObfuscation, create_network
from veil.errors import ConfigError, MediaError, ModelError, VeilError


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread: None) -> None:
    """Every test here runs on one torch thread (tests/conftest.py)."""


def image(h: int = 29, w: int = 41, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def trained(network: str = "unet", seed: int = 0, **kwargs: object) -> LearnedAnonymizer:
    """A small anonymizer with perturbed weights, so it is not the identity."""
    a = LearnedAnonymizer(network, width=8, **kwargs)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in a.net.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.1)
        if isinstance(a.net, MaskedObfuscation):
            a.net.body.head.bias.zero_()
    return a


@pytest.fixture
def saved(tmp_path: Path) -> tuple[LearnedAnonymizer, Path]:
    a = trained("film-unet", privacy=0.7)
    return a, a.save(tmp_path / "runs" / "model", meta={"steps": 12, "queries": 340})


def test_registered_and_identity_by_default() -> None:
    assert "learned" in ANONYMIZERS
    a = create_anonymizer("learned")
    im = image()
    assert np.array_equal(a(im), im)  # the identity at init, exactly after rounding
    b = create_anonymizer("learned:network=johnson,width=4,seed=3")
    assert b.spec == "learned:network=johnson,width=4,seed=3"
    c = create_anonymizer(b.spec)
    assert all(torch.equal(p, q) for p, q in zip(b.net.state_dict().values(), c.net.state_dict().values(), strict=True))


def test_bad_parameters() -> None:
    with pytest.raises(ConfigError, match="allowed"):
        create_anonymizer("learned:network=unet,sigma=3")
    with pytest.raises(ConfigError, match="privacy"):
        LearnedAnonymizer(privacy=1.5)
    with pytest.raises(ConfigError, match="temporal_smoothing"):
        LearnedAnonymizer(temporal_smoothing=1.0)


@pytest.mark.parametrize("network", ["unet", "johnson", "film-unet", "masked"])
def test_save_load_identical(tmp_path: Path, network: str) -> None:
    a = trained(network)
    im = image()
    ref = a(im)
    assert not np.array_equal(ref, im)
    folder = a.save(tmp_path / "m")
    assert sorted(os.listdir(folder)) == sorted([CONFIG_FILE, WEIGHTS_FILE])
    assert os.listdir(tmp_path) == ["m"]  # no temp leftovers beside it
    for b in (LearnedAnonymizer.load(folder), LearnedAnonymizer.load(folder / WEIGHTS_FILE),
              create_anonymizer(str(folder))):
        assert isinstance(b, LearnedAnonymizer) and b.network == network
        assert np.array_equal(b(im), ref)
        assert b.spec == str(folder)


def test_config_contents_and_meta(saved: tuple[LearnedAnonymizer, Path]) -> None:
    a, folder = saved
    cfg = json.loads((folder / CONFIG_FILE).read_text())
    assert cfg["format"] == FORMAT and cfg["network"] == "film-unet"
    assert cfg["kwargs"] == a.net.hparams and cfg["privacy"] == 0.7 and cfg["temporal_smoothing"] == 0.0
    assert cfg["meta"] == {"steps": 12, "queries": 340} and "veil_version" in cfg
    b = LearnedAnonymizer.load(folder)
    assert b.meta == cfg["meta"] and b.privacy == 0.7
    assert a.spec == str(folder)  # after saving, the spec names the folder


def test_privacy_dial_from_spec(saved: tuple[LearnedAnonymizer, Path]) -> None:
    a, folder = saved
    im = image()
    low = create_anonymizer(f"{folder}:privacy=0.1")
    assert isinstance(low, LearnedAnonymizer) and low.privacy == 0.1
    assert low.spec == f"{folder}:privacy=0.1"
    assert create_anonymizer(low.spec).privacy == 0.1
    assert not np.array_equal(low(im), a(im))
    assert np.array_equal(load_anonymizer(folder, privacy=0.7)(im), a(im))
    with pytest.raises(ConfigError, match="only privacy"):
        load_anonymizer(f"{folder}:width=3")


def test_save_replaces_model_but_not_other_files(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    trained(seed=1).save(folder)
    second = trained(seed=2)
    second.save(folder)
    im = image()
    assert np.array_equal(LearnedAnonymizer.load(folder)(im), second(im))
    assert sorted(os.listdir(tmp_path)) == ["m"]
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="other files"):
        second.save(folder)
    (tmp_path / "f").write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        second.save(tmp_path / "f")
    with pytest.raises(ConfigError, match="JSON"):
        second.save(tmp_path / "n", meta={"bad": object()})
    assert not (tmp_path / "n").exists() and sorted(os.listdir(tmp_path)) == ["f", "m"]


class TestLoadErrors:
    def test_missing_folder(self, tmp_path: Path) -> None:
        missing = tmp_path / "runs" / "nosuch"
        with pytest.raises(ModelError, match="no saved model at .*nosuch"):
            LearnedAnonymizer.load(missing)
        with pytest.raises(ModelError, match="nosuch"):
            create_anonymizer(str(missing))
        assert issubclass(ModelError, VeilError) and issubclass(ModelError, ValueError)

    def test_missing_files(self, saved: tuple[LearnedAnonymizer, Path]) -> None:
        _, folder = saved
        (folder / WEIGHTS_FILE).unlink()
        with pytest.raises(ModelError, match="no weights file"):
            LearnedAnonymizer.load(folder)
        (folder / CONFIG_FILE).unlink()
        with pytest.raises(ModelError, match="has no config.json"):
            LearnedAnonymizer.load(folder)

    def test_other_file(self, tmp_path: Path) -> None:
        (tmp_path / "x.txt").write_text("hello")
        with pytest.raises(ModelError, match="not a saved model"):
            LearnedAnonymizer.load(tmp_path / "x.txt")

    def test_corrupt_config(self, saved: tuple[LearnedAnonymizer, Path]) -> None:
        _, folder = saved
        cfg_path = folder / CONFIG_FILE
        cfg = json.loads(cfg_path.read_text())
        cfg_path.write_text("{not json")
        with pytest.raises(ModelError, match="not valid JSON"):
            LearnedAnonymizer.load(folder)
        cfg_path.write_text(json.dumps({**cfg, "format": "something/2"}))
        with pytest.raises(ModelError, match="format 'something/2'"):
            LearnedAnonymizer.load(folder)
        cfg_path.write_text(json.dumps({**cfg, "network": "nosuch"}))
        with pytest.raises(ModelError, match="cannot build network 'nosuch'"):
            LearnedAnonymizer.load(folder)

    def test_corrupt_weights(self, saved: tuple[LearnedAnonymizer, Path]) -> None:
        _, folder = saved
        w = folder / WEIGHTS_FILE
        w.write_bytes(w.read_bytes()[:100])
        with pytest.raises(ModelError, match="not a readable safetensors file"):
            LearnedAnonymizer.load(folder)

    def test_mismatched_weights(self, saved: tuple[LearnedAnonymizer, Path]) -> None:
        _, folder = saved
        cfg_path = folder / CONFIG_FILE
        cfg = json.loads(cfg_path.read_text())
        cfg["kwargs"]["width"] = 16
        cfg_path.write_text(json.dumps(cfg))
        with pytest.raises(ModelError, match="do not fit the network") as e:
            LearnedAnonymizer.load(folder)
        assert str(folder / WEIGHTS_FILE) in str(e.value) and "save them together" in str(e.value)
        cfg["network"], cfg["kwargs"] = "unet", {"width": 8}
        cfg_path.write_text(json.dumps(cfg))
        with pytest.raises(ModelError, match="unexpected: film"):
            LearnedAnonymizer.load(folder)


class TestInference:
    def test_apply_tensor_differentiable(self) -> None:
        a = trained("film-unet")
        x = torch.rand(2, 3, 17, 19, requires_grad=True)
        a.apply_tensor(x, lam=torch.tensor([0.2, 0.9])).mean().backward()
        assert x.grad is not None and all(p.grad is not None for p in a.net.parameters())

    def test_apply_matches_tensor_path(self) -> None:
        a = trained("unet")
        im = image()
        x = torch.from_numpy(im).permute(2, 0, 1)[None].float() / 255
        with torch.no_grad():
            ref = (a.apply_tensor(x)[0].permute(1, 2, 0) * 255).round().byte().numpy()
        assert np.abs(a(im).astype(int) - ref.astype(int)).max() <= 1

    def test_mask_for_review(self) -> None:
        out, mask = trained("masked").apply_with_mask(image())
        assert out.shape == (29, 41, 3) and mask is not None and mask.shape == (29, 41)
        assert mask.dtype == np.float32 and mask.min() >= 0 and mask.max() <= 1
        assert trained("unet").apply_with_mask(image())[1] is None

    def test_guide_for_extra_channels(self) -> None:
        a = trained("unet", extra_channels=2)
        with pytest.raises(ConfigError, match="guide"):
            a(image())
        a.guide = lambda im: np.ones((*im.shape[:2], 2), np.float32)
        assert a(image()).shape == (29, 41, 3)
        a.guide = lambda im: np.ones((3, 3, 2), np.float32)
        with pytest.raises(ConfigError, match="guide returned"):
            a(image())

    def test_video_smoothing(self) -> None:
        frames = [image(seed=i) for i in range(3)]
        a = trained("unet")
        per_frame = [a(f) for f in frames]
        assert all(np.array_equal(x, y) for x, y in zip(a.apply_video(frames), per_frame, strict=True))
        a.temporal_smoothing = 0.5
        smooth = a.apply_video(iter(frames))
        assert np.array_equal(smooth[0], per_frame[0])
        expected1 = 0.5 * a._run(frames[1])[0] + 0.5 * a._run(frames[0])[0]
        assert np.abs(smooth[1].astype(float) - expected1).max() <= 0.5 + 1e-3
        assert np.array_equal(a.apply_video(frames), smooth)  # no state carried between calls
        with pytest.raises(MediaError, match="frame 1"):
            a.apply_video([image(), image(10, 10)])


def test_load_anonymizer_and_path_detection(tmp_path: Path) -> None:
    assert isinstance(load_anonymizer("blur:sigma=2"), GaussianBlur)
    assert not is_model_path("blur:sigma=2") and not is_model_path("learned:network=unet")
    assert is_model_path("runs/train/model") and is_model_path("m.safetensors") and is_model_path(tmp_path)
    with pytest.raises(ModelError):
        load_anonymizer("runs/does-not-exist/model:privacy=0.3")


def test_from_network_wraps_trainer_module(tmp_path: Path) -> None:
    net = create_network("masked", width=4)
    a = LearnedAnonymizer.from_network(net, meta={"run": "x"})
    assert a.net is net and a.network == "masked"
    b = LearnedAnonymizer.load(a.save(tmp_path / "m"))
    assert b.meta == {"run": "x"} and b.net.hparams == net.hparams
    with pytest.raises(ConfigError, match="registered network"):
        LearnedAnonymizer.from_network(torch.nn.Conv2d(3, 3, 1))  # type: ignore[arg-type]
