"""ONNX export and the onnxruntime path: parity with PyTorch, self-describing files, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

import veil
from veil.anonymizers import create_anonymizer
from veil.anonymizers.learned import LearnedAnonymizer
from veil.anonymizers.networks import NETWORKS, MaskedObfuscation
from veil.anonymizers.onnx import (
    FLOAT_TOLERANCE,
    FORMAT,
    KNOWN_UNEXPORTABLE,
    UINT8_TOLERANCE,
    OnnxAnonymizer,
    export_onnx,
    read_onnx_config,
)
from veil.errors import ConfigError, ModelError

#: Every network kind with the keywords it is exported with (small widths: fast tests).
CASES = {
    "unet": ("unet", {}),
    "johnson": ("johnson", {}),
    "film-unet": ("film-unet", {}),
    "masked-blur": ("masked", {"obfuscation": "blur", "sigma": 3.0}),
    "masked-pixelate": ("masked", {"obfuscation": "pixelate", "block": 5}),
    "unet-extra": ("unet", {"extra_channels": 2}),
}


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread: None) -> None:
    """Every test here runs on one torch thread (tests/conftest.py)."""


def guide(image: np.ndarray) -> np.ndarray:
    """Deterministic extra maps (two ramps) for the detector-guided case."""
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.stack([yy / max(h - 1, 1), xx / max(w - 1, 1)], axis=2)


def trained(network: str, seed: int = 0, **kwargs: object) -> LearnedAnonymizer:
    """A small model with perturbed weights, so the export is tested away from the identity."""
    a = LearnedAnonymizer(network, width=8, privacy=0.3, **kwargs)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in a.net.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.1)
        if isinstance(a.net, MaskedObfuscation):
            a.net.body.head.bias.fill_(0.0)  # a mask near 0.5: both branches matter
    if a.net.extra_channels:
        a.guide = guide
    return a


def images(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in ((37, 53), (64, 64), (19, 101))]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[LearnedAnonymizer, Path]]:
    root = tmp_path_factory.mktemp("onnx")
    out = {}
    for case, (network, kwargs) in CASES.items():
        a = trained(network, **kwargs)
        folder = a.save(root / case, meta={"steps": 7})
        a = LearnedAnonymizer.load(folder)
        if a.net.extra_channels:
            a.guide = guide
        res = export_onnx(folder, root / f"{case}.onnx")
        assert res.max_abs_diff <= FLOAT_TOLERANCE
        out[case] = (a, res.path)
    return out


class TestParity:
    @pytest.mark.parametrize("case", list(CASES))
    def test_float_and_uint8_outputs_match_pytorch(self, case: str, exported: dict) -> None:
        torch_a, path = exported[case]
        onnx_a = OnnxAnonymizer(path, threads=1)
        if onnx_a.extra_channels:
            onnx_a.guide = guide
        for im in images():
            ref, ref_mask = torch_a._run(im)
            got, got_mask = onnx_a.run_float(im[None])
            assert np.abs(got[0] / 255.0 - ref / 255.0).max() <= FLOAT_TOLERANCE
            assert np.abs(onnx_a(im).astype(int) - torch_a(im)).max() <= UINT8_TOLERANCE
            if ref_mask is not None:
                assert got_mask is not None and np.abs(got_mask[0] - ref_mask).max() <= FLOAT_TOLERANCE
        assert not np.array_equal(onnx_a(images()[0]), images()[0])  # not the identity: the weights travelled

    def test_batches_of_one_size_match_single_images(self, exported: dict) -> None:
        _, path = exported["unet"]
        one = OnnxAnonymizer(path, threads=1)
        batched = OnnxAnonymizer(path, threads=1, batch_size=3)
        ims = images(1) + images(2)
        out = batched.apply_batch(ims)
        assert [o.shape for o in out] == [im.shape for im in ims]
        for o, im in zip(out, ims, strict=True):
            assert np.abs(o.astype(int) - one(im)).max() <= UINT8_TOLERANCE

    def test_privacy_dial_reaches_the_graph(self, exported: dict) -> None:
        torch_a, path = exported["film-unet"]
        im = images()[0]
        low, high = veil.load_anonymizer(f"{path}:privacy=0.1"), create_anonymizer(f"{path}:privacy=0.9")
        assert isinstance(low, OnnxAnonymizer) and isinstance(high, OnnxAnonymizer)
        assert not np.array_equal(low(im), high(im))
        torch_a.privacy = 0.9
        try:
            assert np.abs(high(im).astype(int) - torch_a(im)).max() <= UINT8_TOLERANCE
        finally:
            torch_a.privacy = 0.3
        assert high.spec == f"{path}:privacy=0.9" and OnnxAnonymizer(path).spec == str(path)

    def test_video_smoothing_matches_pytorch(self, exported: dict) -> None:
        torch_a, path = exported["unet"]
        rng = np.random.default_rng(3)
        frames = [rng.integers(0, 256, (24, 40, 3), dtype=np.uint8) for _ in range(5)]
        onnx_a = OnnxAnonymizer(path, temporal_smoothing=0.6, batch_size=2, threads=1)
        torch_a.temporal_smoothing = 0.6
        try:
            want = torch_a.apply_video(frames)
        finally:
            torch_a.temporal_smoothing = 0.0
        got = onnx_a.apply_video(frames)
        assert len(got) == 5
        for g, w in zip(got, want, strict=True):
            assert np.abs(g.astype(int) - w).max() <= UINT8_TOLERANCE
        assert not np.array_equal(got[1], OnnxAnonymizer(path, threads=1)(frames[1]))  # smoothing acted


class TestFile:
    def test_self_describing_metadata(self, exported: dict) -> None:
        _, path = exported["film-unet"]
        model = onnx.load(str(path))
        meta = {m.key: m.value for m in model.metadata_props}
        assert meta["veil.format"] == FORMAT
        cfg = json.loads(meta["veil.config"])
        assert cfg["network"] == "film-unet" and cfg["kwargs"]["width"] == 8
        assert cfg["privacy"] == pytest.approx(0.3) and cfg["meta"] == {"steps": 7}
        assert set(json.loads(meta["veil.inputs"])) == {"image", "privacy"}
        assert read_onnx_config(path) == cfg
        dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
        assert dims == ["batch", 3, "height", "width"]

    def test_masked_exports_its_mask(self, exported: dict) -> None:
        _, path = exported["masked-blur"]
        a = OnnxAnonymizer(path)
        assert a.outputs == ("protected", "mask")
        out, mask = a.apply_with_mask(images()[0])
        assert out.shape == images()[0].shape and mask is not None and mask.shape == out.shape[:2]

    def test_guided_model_needs_its_guide(self, exported: dict) -> None:
        _, path = exported["unet-extra"]
        with pytest.raises(ConfigError, match="guide"):
            OnnxAnonymizer(path)(images()[0])


class TestErrors:
    def test_not_onnx(self, tmp_path: Path) -> None:
        bad = tmp_path / "x.onnx"
        bad.write_bytes(b"not a protobuf at all")
        with pytest.raises(ModelError, match="not a readable ONNX"):
            create_anonymizer(str(bad))
        with pytest.raises(ModelError, match="no ONNX model"):
            veil.load_anonymizer(str(tmp_path / "missing.onnx"))

    def test_onnx_without_veil_metadata(self, tmp_path: Path, exported: dict) -> None:
        _, path = exported["unet"]
        model = onnx.load(str(path))
        del model.metadata_props[:]
        plain = tmp_path / "plain.onnx"
        onnx.save(model, str(plain))
        with pytest.raises(ModelError, match="no Veil metadata"):
            OnnxAnonymizer(plain)

    def test_export_refuses_to_overwrite_and_bad_names(self, tmp_path: Path, exported: dict) -> None:
        torch_a, path = exported["unet"]
        before = path.read_bytes()
        with pytest.raises(ConfigError, match="--overwrite"):
            export_onnx(torch_a, path)
        assert path.read_bytes() == before
        with pytest.raises(ConfigError, match=r"\.onnx"):
            export_onnx(torch_a, tmp_path / "model.bin")
        with pytest.raises(ModelError):
            export_onnx(tmp_path / "no-such-model", tmp_path / "m.onnx")
        assert not (tmp_path / "m.onnx").exists()

    @pytest.mark.parametrize("network", NETWORKS.names())
    def test_every_registered_network_exports_or_says_why(self, network: str, tmp_path: Path) -> None:
        """New network kinds are covered: either the export passes the parity check or it is refused clearly."""
        a = LearnedAnonymizer(network, width=4) if "width" in _params(network) else LearnedAnonymizer(network)
        out = tmp_path / "m.onnx"
        if network in KNOWN_UNEXPORTABLE:
            with pytest.raises(ModelError, match="cannot export"):
                export_onnx(a, out)
            assert not out.exists()
        else:
            assert export_onnx(a, out).max_abs_diff <= FLOAT_TOLERANCE


def _params(network: str) -> set[str]:
    import inspect

    return set(inspect.signature(NETWORKS.get(network)).parameters)


def test_cli_export_then_protect_with_onnxruntime(tmp_path: Path, exported: dict) -> None:
    torch_a, _ = exported["johnson"]
    folder = Path(torch_a.spec)
    out = tmp_path / "johnson.onnx"
    cmd = [sys.executable, "-m", "veil.cli"]
    r = subprocess.run([*cmd, "export", "--anonymizer", str(folder), "--onnx", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert out.is_file() and "max abs difference from PyTorch" in r.stdout
    r = subprocess.run([*cmd, "export", "--anonymizer", str(folder), "--onnx", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "--overwrite" in r.stderr
    from PIL import Image

    im = images()[0]
    Image.fromarray(im).save(tmp_path / "in.png")
    r = subprocess.run([*cmd, "protect", "--anonymizer", str(out), str(tmp_path / "in.png"), "-o",
                        str(tmp_path / "out"), "--quiet"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    got = np.asarray(Image.open(tmp_path / "out" / "in.png").convert("RGB"))
    assert np.abs(got.astype(int) - torch_a(im)).max() <= UINT8_TOLERANCE
    summary = json.loads((tmp_path / "out" / "protect-summary.json").read_text())
    assert summary["anonymizer"] == str(out)
