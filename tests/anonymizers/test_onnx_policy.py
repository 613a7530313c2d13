"""The default network (``guided-policy``) in ONNX: parity with PyTorch on real photos, the
fast channel-first guide maps, and the command line (export, protect, ``--runtime auto``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from veil.anonymizers.guides import create_guide, planar_maps
from veil.anonymizers.learned import LearnedAnonymizer
from veil.anonymizers.networks import POLICY_CATEGORIES
from veil.anonymizers.onnx import FLOAT_TOLERANCE, KNOWN_UNEXPORTABLE, UINT8_TOLERANCE, OnnxAnonymizer, export_onnx
from veil.anonymizers.onnx_policy import policy_model
from veil.media import load_image
from veil.protect import with_runtime

MEDIA = Path(os.environ.get("VEIL_MEDIA", ".media")) / "opencv"
needs_media = pytest.mark.skipif(not (MEDIA / "text" / "scenetext01.jpg").is_file(), reason="run `make media`")

#: Strength logits set by hand: faces, names, phones... hidden (levels 4.4 to 5.7 of 6), an
#: unread line half way (level 3), public text kept (level 0.04, lower still when tall).
STRENGTHS = {"face": 2.0, "name": 3.0, "phone": 1.0, "plate": 0.5, "email": 1.0, "id": 1.0, "unread": 0.0,
             "public": -5.0}
#: Real photos at sizes the OCR reads differently: 4:3, odd sides, wide and tall (name of the
#: file under .media/opencv, width, height).
PHOTOS = [("data/messi5.jpg", 1024, 768), ("text/scenetext06.jpg", 517, 333),
          ("text/scenetext02.jpg", 901, 391), ("data/basketball2.png", 333, 517)]


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread: None) -> None:
    """Every test here runs on one torch thread (tests/conftest.py)."""


def policy(strengths: dict[str, float] = STRENGTHS, height_weight: float = -2.0) -> LearnedAnonymizer:
    """A default-guide policy model with the given strengths (a floor on faces)."""
    a = LearnedAnonymizer("guided-policy", guide="faces+textcls", floor_categories=["face"], floor_level=1.0)
    with torch.no_grad():
        a.net.strength.copy_(torch.tensor([strengths[c] for c in POLICY_CATEGORIES]))
        a.net.height_weight.fill_(height_weight)
    return a


def photo(name: str, w: int, h: int) -> np.ndarray:
    return cv2.resize(load_image(MEDIA / name), (w, h), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[LearnedAnonymizer, Path]:
    root = tmp_path_factory.mktemp("policy")
    folder = policy().save(root / "model", meta={"steps": 3})
    res = export_onnx(folder, root / "policy.onnx")
    assert res.outputs == ("protected", "mask") and res.max_abs_diff <= FLOAT_TOLERANCE
    return LearnedAnonymizer.load(folder), res.path


def test_policy_is_exportable_and_guided_masked_still_says_why() -> None:
    assert "guided-policy" not in KNOWN_UNEXPORTABLE and "guided-masked" in KNOWN_UNEXPORTABLE


@pytest.mark.parametrize(("n", "h", "w"), [(1, 1, 1), (1, 2, 3), (2, 5, 200), (1, 200, 5), (3, 17, 9), (1, 61, 97),
                                           (2, 240, 320), (1, 481, 641), (1, 1001, 357)])
def test_graph_matches_the_network_on_any_size(n: int, h: int, w: int) -> None:
    """Random images and maps that fire in a few rectangles (all levels, pooled and direct,
    the box, the floor), against the PyTorch network, at sizes from 1 pixel to 1001x357."""
    import onnxruntime as ort

    a = policy()
    session = ort.InferenceSession(policy_model(a.net, 17).SerializeToString(), providers=["CPUExecutionProvider"])
    g = torch.Generator().manual_seed(h * 1000 + w)
    x = torch.rand(n, 3, h, w, generator=g)
    maps = torch.zeros(n, len(POLICY_CATEGORIES) + 1, h, w)
    for b in range(n):
        for c in torch.randint(0, len(POLICY_CATEGORIES), (4,), generator=g).tolist():
            y0, x0 = int(torch.randint(0, h, (1,), generator=g)), int(torch.randint(0, w, (1,), generator=g))
            maps[b, c, y0:y0 + 1 + h // 4, x0:x0 + 1 + w // 3] = 0.05 + 0.95 * float(torch.rand(1, generator=g))
    maps[:, -1] = torch.rand(n, h, w, generator=g)
    with torch.no_grad():
        ref = a.net(x, maps).numpy()
        ref_mask = a.net.last_mask.numpy()
    got, got_mask = session.run(None, {"image": x.numpy(), "extra": maps.numpy()})
    assert got.shape == ref.shape and np.abs(got - ref).max() <= FLOAT_TOLERANCE
    assert np.abs(got_mask - ref_mask).max() <= FLOAT_TOLERANCE
    if min(h, w) >= 40:
        assert np.abs(ref - x.numpy()).max() > 0.05  # something was blurred: the comparison means something
    none = session.run(None, {"image": x.numpy(), "extra": np.zeros_like(maps.numpy())})[0]
    np.testing.assert_array_equal(none, x.numpy())  # no detection: the image exactly


def test_graph_matches_the_network_where_the_text_floor_binds() -> None:
    """Private lines of every height under weak learned strengths: the floor (a whole level
    from the line height) decides their level, in the graph as in the network."""
    import onnxruntime as ort

    a = policy({c: -3.0 for c in POLICY_CATEGORIES})
    session = ort.InferenceSession(policy_model(a.net, 17).SerializeToString(), providers=["CPUExecutionProvider"])
    h, w = 170, 200
    x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(3))
    maps = torch.zeros(1, len(POLICY_CATEGORIES) + 1, h, w)
    lines = [("name", 1.0), ("phone", 0.5), ("unread", 0.25), ("plate", 0.1), ("public", 1.0),
             ("email", 2.5), ("id", 3.0), ("public", 3.0)]  # above 1: lines taller than 0.1 of the short side
    for i, (cat, height) in enumerate(lines):
        maps[0, POLICY_CATEGORIES.index(cat), 10 + 20 * i:26 + 20 * i, 20:180] = 1.0
        maps[0, -1, 10 + 20 * i:26 + 20 * i, 20:180] = height
    with torch.no_grad():
        ref = a.net(x, maps).numpy()
        ref_mask = a.net.last_mask.numpy()
    got, got_mask = session.run(None, {"image": x.numpy(), "extra": maps.numpy()})
    assert np.abs(got - ref).max() <= FLOAT_TOLERANCE and np.abs(got_mask - ref_mask).max() <= FLOAT_TOLERANCE
    levels = ref_mask[0, 0, [18 + 20 * i for i in range(len(lines))], 100] * len(a.net.levels)
    # 0.03, 0.015, 0.0075, 0.003, then 0.075 and 0.09 of the short side
    np.testing.assert_allclose(levels[[0, 1, 2, 3, 5, 6]], [4.0, 3.0, 2.0, 1.0, 5.0, 6.0], atol=1e-5)
    assert levels[4] < 0.5  # public text: no floor
    # the learned strengths see the height clipped to 1: a public line 3 x 0.1 of the short side
    # tall gets the level of one 0.1 tall (height weight -2)
    assert levels[7] == pytest.approx(levels[4], abs=1e-5)


@pytest.mark.parametrize("hide_nudity", [True, False])
def test_graph_matches_the_network_with_a_fixed_category(hide_nudity: bool, tmp_path: Path) -> None:
    """The default guide's nudity map (after the height map) at the strongest blur, or kept
    when the policy leaves it out: the graph equals the network, and ``veil export`` checks it."""
    import onnxruntime as ort

    cats = [*POLICY_CATEGORIES[:-1], "nudity"] if hide_nudity else list(POLICY_CATEGORIES[:-1])
    a = LearnedAnonymizer("guided-policy", guide="faces+textcls+nudity", fixed_categories=["nudity"], policy=cats)
    session = ort.InferenceSession(policy_model(a.net, 17).SerializeToString(), providers=["CPUExecutionProvider"])
    g = torch.Generator().manual_seed(7)
    h, w = 120, 160
    x = torch.rand(2, 3, h, w, generator=g)
    maps = torch.zeros(2, len(POLICY_CATEGORIES) + 2, h, w)
    maps[:, POLICY_CATEGORIES.index("face"), 10:30, 10:30] = 1.0
    maps[:, -1, 60:110, 40:120] = 1.0  # nudity
    maps[1, -1, 0:20, 140:160] = 0.5
    with torch.no_grad():
        ref = a.net(x, maps).numpy()
    got = session.run(None, {"image": x.numpy(), "extra": maps.numpy()})[0]
    assert np.abs(got - ref).max() <= FLOAT_TOLERANCE
    moved = float(np.abs(ref[..., 70:100, 50:110] - x.numpy()[..., 70:100, 50:110]).mean())
    assert (moved > 0.1) if hide_nudity else (moved == 0.0)
    res = export_onnx(a.save(tmp_path / "model"), tmp_path / "nudity.onnx")
    assert res.max_abs_diff <= FLOAT_TOLERANCE


def test_detections_far_apart_are_composited_apart_with_the_same_result() -> None:
    """Rectangles in two row bands, two of them side by side in one band, two just closer and
    two just farther than 2 x GAP: the graph cuts them into pieces; the output is the network's."""
    import onnxruntime as ort

    from veil.anonymizers.onnx_policy import GAP

    a = policy()
    session = ort.InferenceSession(policy_model(a.net, 17).SerializeToString(), providers=["CPUExecutionProvider"])
    h, w = 300, 401
    x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(5))
    maps = torch.zeros(1, len(POLICY_CATEGORIES) + 1, h, w)
    face, name, public, unread = (POLICY_CATEGORIES.index(c) for c in ("face", "name", "public", "unread"))
    maps[0, face, 10:60, 5:50] = 1.0  # top band, left
    maps[0, name, 20:40, 300:390] = 0.8  # top band, right: its own piece
    maps[0, public, 200:230, 100:180] = 1.0  # bottom band
    maps[0, unread, 200:230, 180 + 2 * GAP - 1:260] = 0.6  # closer than 2 x GAP: the same piece
    maps[0, unread, 250:290, 260 + 2 * GAP + 1:400] = 0.9  # farther: another piece
    maps[0, -1] = 0.5
    with torch.no_grad():
        ref = a.net(x, maps).numpy()
    got = session.run(None, {"image": x.numpy(), "extra": maps.numpy()})[0]
    assert np.abs(got - ref).max() <= FLOAT_TOLERANCE
    assert np.abs(ref - x.numpy())[..., 20:40, 300:390].mean() > 0.05  # every piece was blurred
    assert np.abs(ref - x.numpy())[..., 250:290, 330:400].mean() > 0.05


@needs_media
@pytest.mark.parametrize(("name", "w", "h"), PHOTOS)
def test_export_matches_pytorch_on_real_photos(name: str, w: int, h: int, exported: tuple) -> None:
    torch_a, path = exported
    onnx_a = OnnxAnonymizer(path, threads=1)
    assert onnx_a.guide is not None and onnx_a.guide.spec == "faces+textcls"  # from the metadata
    im = photo(name, w, h)
    ref, ref_mask = torch_a._run(im)
    got, got_mask = onnx_a.run_float(im[None])
    assert np.abs(got[0] - ref).max() / 255.0 <= FLOAT_TOLERANCE
    assert np.abs(onnx_a(im).astype(int) - torch_a(im)).max() <= UINT8_TOLERANCE
    assert got_mask is not None and np.abs(got_mask[0] - ref_mask).max() <= FLOAT_TOLERANCE
    level = ref_mask * len(torch_a.net.levels)
    assert level.max() > 4.0  # a face or a private line is hidden on every photo
    assert np.abs(ref - im).max() > 40  # and the blur shows


@needs_media
def test_parity_check_can_fail(exported: tuple) -> None:
    """An export of other strengths (public text blurred) differs from the model by far more
    than the tolerance: the comparison above sees a wrong graph."""
    torch_a, _ = exported
    other = policy({**STRENGTHS, "public": 3.0})
    onnx_other = OnnxAnonymizer.from_learned(other, threads=1)
    im = photo(*PHOTOS[0])
    assert np.abs(onnx_other(im).astype(int) - torch_a(im)).max() > 10 * UINT8_TOLERANCE


@needs_media
def test_batches_and_runtime_auto(exported: tuple) -> None:
    torch_a, path = exported
    ims = [photo("text/scenetext06.jpg", 517, 333), photo("data/basketball2.png", 517, 333)]
    batched = OnnxAnonymizer(path, threads=1, batch_size=2).apply_batch(ims)
    for got, im in zip(batched, ims, strict=True):
        assert np.abs(got.astype(int) - torch_a(im)).max() <= UINT8_TOLERANCE
    auto = with_runtime(torch_a, "auto")
    assert isinstance(auto, OnnxAnonymizer) and auto.spec == torch_a.spec and auto.outputs == ("protected", "mask")


@needs_media
@pytest.mark.parametrize(("name", "w", "h"), [*PHOTOS, ("text/scenetext01.jpg", 800, 600)])
def test_planar_maps_equal_the_guide(name: str, w: int, h: int) -> None:
    guide = create_guide("faces+textcls")
    im = photo(name, w, h)
    np.testing.assert_array_equal(planar_maps(guide, im), guide(im).transpose(2, 0, 1))
    blank = np.full((40, 64, 3), 127, np.uint8)
    assert planar_maps(guide, blank).shape == (9, 40, 64) and not planar_maps(guide, blank).any()
    text = create_guide("faces+text")  # not drawn here: called and transposed
    np.testing.assert_array_equal(planar_maps(text, im), text(im).transpose(2, 0, 1))


@needs_media
def test_cli_export_protect_and_runtime_auto(tmp_path: Path, exported: tuple) -> None:
    torch_a, _ = exported
    from PIL import Image

    im = photo("text/scenetext06.jpg", 517, 333)
    Image.fromarray(im).save(tmp_path / "in.png")
    cmd = [sys.executable, "-m", "veil.cli"]
    out = tmp_path / "policy.onnx"
    r = subprocess.run([*cmd, "export", "--anonymizer", torch_a.spec, "--onnx", str(out)], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    for spec, folder in ((str(out), "a"), (torch_a.spec, "b")):  # the .onnx file, and the folder with auto
        r = subprocess.run([*cmd, "protect", "--anonymizer", spec, str(tmp_path / "in.png"), "-o",
                            str(tmp_path / folder), "--quiet"], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        got = np.asarray(Image.open(tmp_path / folder / "in.png").convert("RGB"))
        assert np.abs(got.astype(int) - torch_a(im)).max() <= UINT8_TOLERANCE
        summary = json.loads((tmp_path / folder / "protect-summary.json").read_text())
        assert summary["runtime"] == "onnxruntime" and summary["anonymizer"] == spec


def test_close_up_faces_match_the_network_in_a_batch() -> None:
    """A close-up (a face map over most of the frame) raises the blur of the whole batch (the
    largest face of the batch sets the reference length): the graph computes the same."""
    import onnxruntime as ort

    a = policy()
    session = ort.InferenceSession(policy_model(a.net, 17).SerializeToString(), providers=["CPUExecutionProvider"])
    h, w = 180, 240
    x = torch.rand(2, 3, h, w, generator=torch.Generator().manual_seed(7))
    maps = torch.zeros(2, len(POLICY_CATEGORIES) + 1, h, w)
    face = POLICY_CATEGORIES.index("face")
    maps[0, face, 10:170, 40:200] = 1.0  # a close-up
    maps[1, face, 20:50, 20:50] = 1.0  # a small face
    with torch.no_grad():
        assert a.net.reference_length(maps) > min(h, w)
        ref = a.net(x, maps).numpy()
    got = session.run(None, {"image": x.numpy(), "extra": maps.numpy()})[0]
    assert np.abs(got - ref).max() <= FLOAT_TOLERANCE
