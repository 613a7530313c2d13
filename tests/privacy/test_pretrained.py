"""Pretrained attackers: face detectors, re-identification and OCR on real and rendered media."""

from __future__ import annotations

import math
import os
from pathlib import Path

import cv2
import matplotlib
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from veil.data.manifest import PrivateText
from veil.errors import ConfigError, MediaError, UnknownNameError
from veil.privacy.pretrained import (
    FACE_DETECTORS,
    OCR_ENGINES,
    OcrEngine,
    OcrLine,
    _parse_tesseract_tsv,
    _reading_order,
    box_iou,
    create_face_detector,
    face_detection_recall,
    get_face_detector,
    reidentification,
    text_recovery,
)

REPO = Path(__file__).resolve().parents[2]


def media_file(rel: str) -> Path:
    """A file under $VEIL_MEDIA (default .media, relative to the cwd or the repo); skip if absent."""
    root = Path(os.environ.get("VEIL_MEDIA", ".media"))
    for base in (root, REPO / root):
        if (base / rel).is_file():
            return base / rel
    pytest.skip(f"media file {rel} not found under {root} (run `make media` or set VEIL_MEDIA)")


@pytest.fixture(scope="module")
def basketball() -> np.ndarray:
    bgr = cv2.imread(str(media_file("opencv/data/basketball1.png")))
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def basketball_faces(basketball: np.ndarray) -> np.ndarray:
    faces = get_face_detector("centerface").detect(basketball)
    assert len(faces) >= 1
    return faces


def strong_blur(image: np.ndarray, sigma: float = 12) -> np.ndarray:
    return cv2.GaussianBlur(image, (0, 0), sigma)


# ----------------------------------------------------------------------------- geometry


def test_box_iou_hand_cases() -> None:
    a = [0, 0, 10, 10]
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 5, 5]])
    np.testing.assert_allclose(box_iou(a, b), [1.0, 50 / 150, 0.0, 0.25])
    assert box_iou(a, np.zeros((0, 4))).shape == (0,)


# ----------------------------------------------------------------------------- face detectors


class TestFaceDetectors:
    def test_registry_names(self) -> None:
        assert {"dlib-hog", "centerface", "haar"} <= set(FACE_DETECTORS.names())
        with pytest.raises(UnknownNameError):
            create_face_detector("nope")

    @pytest.mark.parametrize("name", FACE_DETECTORS.names())
    def test_empty_result_has_shape_0_4(self, name: str) -> None:
        out = create_face_detector(name).detect(np.full((120, 160, 3), 128, np.uint8))
        assert isinstance(out, np.ndarray) and out.shape == (0, 4) and out.dtype == np.float64

    @pytest.mark.parametrize("name", FACE_DETECTORS.names())
    def test_finds_a_face_on_real_image(self, name: str, basketball: np.ndarray) -> None:
        out = create_face_detector(name).detect(basketball)
        assert out.ndim == 2 and out.shape[1] == 4 and len(out) >= 1
        assert (out[:, 2] > out[:, 0]).all() and (out[:, 3] > out[:, 1]).all()

    def test_rejects_non_rgb(self) -> None:
        with pytest.raises(MediaError):
            create_face_detector("haar").detect(np.zeros((10, 10), np.uint8))


class TestFaceDetectionRecall:
    def test_centerface_redetects_its_faces(self, basketball: np.ndarray, basketball_faces: np.ndarray) -> None:
        r = face_detection_recall([basketball], [basketball_faces], detector="centerface")
        assert r["total"] == len(basketball_faces)
        assert r["hits"] == r["total"] and r["recall"] == 1.0
        assert len(r["ious"]) == r["total"]

    @pytest.mark.parametrize("search", ["crop", "full", "both"])
    def test_blur_hides_faces(self, search: str, basketball: np.ndarray, basketball_faces: np.ndarray) -> None:
        r = face_detection_recall([strong_blur(basketball)], [basketball_faces], detector="centerface", search=search)
        assert r["recall"] < 1.0

    def test_both_is_at_least_each_search(self, basketball: np.ndarray, basketball_faces: np.ndarray) -> None:
        rec = {
            s: face_detection_recall([basketball], [basketball_faces], "dlib-hog", search=s)["hits"]
            for s in ("crop", "full", "both")
        }
        assert rec["both"] >= max(rec["crop"], rec["full"])

    def test_min_size_and_empty(self, basketball: np.ndarray) -> None:
        r = face_detection_recall([basketball], [[[10, 10, 20, 20]]], "haar", min_size=30)
        assert r["total"] == 0 and math.isnan(r["recall"])
        with pytest.raises(ConfigError, match="one list per image"):
            face_detection_recall([basketball], [], "haar")
        with pytest.raises(ConfigError, match="search"):
            face_detection_recall([basketball], [[]], "haar", search="everywhere")


# ----------------------------------------------------------------------------- re-identification


class TestReidentification:
    def test_identical_images_match(self, basketball: np.ndarray, basketball_faces: np.ndarray) -> None:
        r = reidentification([basketball], [basketball.copy()], [basketball_faces])
        assert r["total"] == len(basketball_faces)
        assert r["rate"] == 1.0 and r["matched"] == r["total"]
        assert r["distances"] == pytest.approx([0.0] * r["total"])

    def test_strong_blur_lowers_the_rate(self, basketball: np.ndarray, basketball_faces: np.ndarray) -> None:
        r = reidentification([basketball], [strong_blur(basketball)], [basketball_faces])
        assert r["total"] == len(basketball_faces)
        assert r["rate"] < 1.0
        assert np.mean(r["distances"]) > 0.5

    def test_originals_embedded_once_across_rows(self, basketball: np.ndarray, basketball_faces: np.ndarray,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
        import face_recognition

        from veil.privacy import pretrained

        pretrained._EMBEDDINGS.clear()
        first = reidentification([basketball], [strong_blur(basketball)], [basketball_faces])
        calls: list[int] = []
        real = face_recognition.face_encodings
        monkeypatch.setattr(face_recognition, "face_encodings", lambda *a, **k: calls.append(1) or real(*a, **k))
        noisy = np.clip(basketball.astype(np.int16) + 9, 0, 255).astype(np.uint8)
        second = reidentification([basketball], [noisy], [basketball_faces])
        assert len(calls) == first["total"]  # the new protected faces only; the originals came from the cache
        again = reidentification([basketball], [strong_blur(basketball)], [basketball_faces])
        assert len(calls) == first["total"] and again["distances"] == first["distances"]
        pretrained._EMBEDDINGS.clear()
        fresh = reidentification([basketball], [noisy], [basketball_faces])
        assert fresh["distances"] == second["distances"]

    def test_small_faces_skipped_and_sizes_checked(self, basketball: np.ndarray) -> None:
        r = reidentification([basketball], [basketball], [[[10, 10, 20, 20]]], min_size=24)
        assert r["total"] == 0 and math.isnan(r["rate"]) and r["distances"] == []
        with pytest.raises(MediaError, match="differ in size"):
            reidentification([basketball], [basketball[:100]], [[[10, 10, 40, 40]]])


# ----------------------------------------------------------------------------- OCR


def render_text_image() -> tuple[np.ndarray, list[PrivateText]]:
    """A plain background with a name and a phone number at ~22 px in DejaVu Sans."""
    font_path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    font = ImageFont.truetype(str(font_path), 22)
    img = Image.new("RGB", (400, 200), (235, 235, 225))
    draw = ImageDraw.Draw(img)
    texts = []
    for kind, text, xy in [("name", "JOHN SMITH", (30, 40)), ("phone", "0161 496 0734", (60, 120))]:
        draw.text(xy, text, fill=(20, 20, 20), font=font)
        box = tuple(float(v) for v in draw.textbbox(xy, text, font=font))
        texts.append(PrivateText(kind=kind, text=text, box=box))  # type: ignore[arg-type]
    return np.array(img), texts


class FakeOcr(OcrEngine):
    """Returns fixed lines, in scrambled order, whatever the image."""

    name = "fake"

    def __init__(self, lines: list[tuple[float, float, str]], line: str | None = None) -> None:
        self.lines, self.line = lines, line

    def read(self, image: np.ndarray) -> list[OcrLine]:
        quad = lambda x, y: np.array([[x, y], [x + 20, y], [x + 20, y + 10], [x, y + 10]], float)  # noqa: E731
        return [OcrLine(quad(x, y), t, 0.9) for x, y, t in self.lines]

    def read_line(self, image: np.ndarray) -> str | None:
        return self.line


class TestTextRecovery:
    def test_registry(self) -> None:
        assert "rapidocr" in OCR_ENGINES

    def test_reading_order(self) -> None:
        lines = FakeOcr([(50, 31, "B"), (0, 60, "C"), (0, 30, "A"), (90, 62, "D")]).read(np.zeros((1, 1, 3), np.uint8))
        assert [ln.text for ln in _reading_order(lines)] == ["A", "B", "C", "D"]

    def test_scoring_with_fake_engine(self) -> None:
        image = np.zeros((100, 200, 3), np.uint8)
        texts = [[PrivateText("phone", "0161 496 0734", (10, 10, 150, 30))]]
        # Joined in reading order "0161 496" + "0734" contains the number exactly.
        r = text_recovery([image], texts, engine=FakeOcr([(60, 0, "0734"), (0, 0, "0161 496")]))
        assert r["exact"] == 1 and r["exact_rate"] == 1.0 and r["cer"] == 0.0
        # One wrong digit and nothing else: CER = 1/11; the single-line reading can help.
        r = text_recovery([image], texts, engine=FakeOcr([(0, 0, "0161 496 0735")]))
        assert r["exact"] == 0 and r["cer"] == pytest.approx(1 / 11)
        r = text_recovery([image], texts, engine=FakeOcr([], line="01614960734"))
        assert r["exact"] == 1
        r = text_recovery([image], texts, engine=FakeOcr([], line=""), read_line=True)
        assert r["exact"] == 0 and r["cer"] == 1.0
        assert r["per_kind"] == {"phone": {"exact": 0, "total": 1, "exact_rate": 0.0, "cer": 1.0}}

    def test_dict_texts_and_errors(self) -> None:
        image = np.zeros((50, 50, 3), np.uint8)
        r = text_recovery(
            [image],
            [[{"kind": "name", "text": "AB", "box": [1, 1, 20, 10]}, {"kind": "x", "text": "--", "box": [1, 1, 5, 5]}]],
            engine=FakeOcr([(0, 0, "ab")]),
        )
        assert r["total"] == 1 and r["exact"] == 1  # "--" normalizes to nothing: skipped
        with pytest.raises(ConfigError):
            text_recovery([image], [[{"text": "AB"}]], engine=FakeOcr([]))
        with pytest.raises(ConfigError):
            text_recovery([image], [], engine=FakeOcr([]))
        empty = text_recovery([image], [[]], engine=FakeOcr([]))
        assert empty["total"] == 0 and math.isnan(empty["exact_rate"]) and empty["per_kind"] == {}

    def test_rapidocr_reads_rendered_text(self) -> None:
        image, texts = render_text_image()
        r = text_recovery([image], [texts], engine="rapidocr")
        assert r["total"] == 2 and r["exact"] == 2 and r["cer"] == 0.0
        assert set(r["per_kind"]) == {"name", "phone"}
        assert r["per_kind"]["phone"]["exact_rate"] == 1.0

    def test_rapidocr_fails_after_strong_blur(self) -> None:
        image, texts = render_text_image()
        r = text_recovery([strong_blur(image, 8)], [texts], engine="rapidocr")
        assert r["exact"] == 0 and r["cer"] > 0.5


def test_tesseract_tsv_parser() -> None:
    header = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext"
    rows = [
        "1\t1\t0\t0\t0\t0\t0\t0\t400\t200\t-1\t",
        "5\t1\t1\t1\t1\t1\t30\t40\t60\t20\t96\tJOHN",
        "5\t1\t1\t1\t1\t2\t100\t41\t70\t20\t90\tSMITH",
        "5\t1\t2\t1\t1\t1\t60\t120\t160\t18\t80\t0161-496-0734",
    ]
    lines = _parse_tesseract_tsv("\n".join([header, *rows]))
    assert [ln.text for ln in lines] == ["JOHN SMITH", "0161-496-0734"]
    np.testing.assert_allclose(lines[0].box, [[30, 40], [170, 40], [170, 61], [30, 61]])
    assert lines[0].score == pytest.approx(0.93)
