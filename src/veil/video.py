"""Video for a black box: k frames per clip, anonymized per frame, sent as several images
or as one grid image; and action-recognition prompting with a robust answer parser.

Sampling (:func:`sample_indices`): ``uniform`` takes k evenly spaced frames including the
first and last; ``segment`` is TSN's: the clip is cut into k equal segments and one frame
is taken from each, the middle one at evaluation and a random one in training.

The anonymizer always sees single frames (:func:`protected_frames`), before anything is
tiled: a per-frame anonymizer is applied to the sampled frames only, which is the same
as applying it to every frame and sampling afterwards; an anonymizer with temporal
smoothing (``temporal_smoothing > 0``) is run over every frame up to the last one
sampled, so its state is exactly what a full pass would give.

Action prompting (:func:`action_prompt`) lists the classes in the prompt, by readable
name (``apply eye makeup``) or as numbered or lettered options; :func:`parse_action`
reads a free-form answer back to a class (case, punctuation, underscores and CamelCase,
plurals and verb forms through the Porter stemmer, compounds written with or without
spaces or hyphens, a few synonyms, extra words around the class, an option number or
letter); :func:`choice_scores` reads the black box's log-probabilities of the options
(score mode) when it returns them.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from veil.blackbox.base import Answer, BlackBox
from veil.data.importing import ACTION_QUESTION, readable_class_name
from veil.data.questions import format_prompt
from veil.data.vqa import porter_stem
from veil.errors import ConfigError, MediaError

SAMPLINGS = ("segment", "uniform")
LAYOUTS = ("grid", "frames")
LABEL_STYLES = ("names", "numbers", "letters")
GRID_HINT = "The image is a grid of frames from one video, in time order from left to right, then top to bottom."
FRAMES_HINT = "The images are frames from one video, in time order."


@dataclass
class VideoConfig:
    """How a clip becomes black-box input.

    Attributes:
        frames: frames sampled per clip (k).
        sampling: ``segment`` (TSN: one per segment; middle at eval, random in training)
            or ``uniform`` (evenly spaced, first and last included).
        layout: ``grid`` (one image, frames tiled row by row) or ``frames`` (k images).
        frame_side: longest side each frame is resized to before anonymization, rounded
            to a multiple of 8 (None: frames keep their size). Training on grids uses the
            same size, so tiles and evaluation frames have the same scale.
        grid_cols: grid columns (None: ceil(sqrt(k))).
    """

    frames: int = 8
    sampling: str = "segment"
    layout: str = "grid"
    frame_side: int | None = 224
    grid_cols: int | None = None

    def __post_init__(self) -> None:
        if self.frames < 1:
            raise ConfigError(f"frames must be >= 1, got {self.frames}")
        if self.sampling not in SAMPLINGS:
            raise ConfigError(f"sampling must be one of {', '.join(SAMPLINGS)}, got {self.sampling!r}")
        if self.layout not in LAYOUTS:
            raise ConfigError(f"layout must be one of {', '.join(LAYOUTS)}, got {self.layout!r}")
        if self.frame_side is not None and self.frame_side < 16:
            raise ConfigError(f"frame_side must be >= 16 or None, got {self.frame_side}")
        if self.grid_cols is not None and self.grid_cols < 1:
            raise ConfigError(f"grid_cols must be >= 1 or None, got {self.grid_cols}")


# ----------------------------------------------------------------------------- sampling and tiling


def sample_indices(
    n_frames: int, k: int, mode: str = "segment", train: bool = False, rng: np.random.Generator | None = None
) -> list[int]:
    """k frame indices of a clip of ``n_frames`` frames, in time order (repeats when n < k).

    >>> sample_indices(100, 4), sample_indices(100, 4, "uniform")
    ([12, 37, 62, 87], [0, 33, 66, 99])
    """
    if n_frames < 1:
        raise MediaError("a clip needs at least one frame")
    if k < 1:
        raise ConfigError(f"k must be >= 1, got {k}")
    if mode == "uniform":
        return [int(round(x)) for x in np.linspace(0, n_frames - 1, k)]
    if mode != "segment":
        raise ConfigError(f"sampling must be one of {', '.join(SAMPLINGS)}, got {mode!r}")
    edges = np.linspace(0, n_frames, k + 1)
    out = []
    for i in range(k):
        lo, hi = int(math.floor(edges[i])), max(int(math.floor(edges[i])) + 1, int(math.ceil(edges[i + 1])))
        hi = min(hi, n_frames)
        if train:
            r = rng if rng is not None else np.random.default_rng()
            out.append(int(r.integers(lo, hi)))
        else:
            out.append(min(int((edges[i] + edges[i + 1]) / 2), n_frames - 1))
    return out


def grid_shape(k: int, cols: int | None = None) -> tuple[int, int]:
    """(rows, cols) of the grid for k frames: ceil(sqrt(k)) columns unless given."""
    c = cols or int(math.ceil(math.sqrt(k)))
    return int(math.ceil(k / c)), c


def tile_grid(frames: Sequence[np.ndarray], cols: int | None = None, fill: int = 127) -> np.ndarray:
    """Frames tiled row by row into one RGB image; empty cells are grey. All frames must
    share the first one's size (sample and resize them first)."""
    if not frames:
        raise MediaError("no frames to tile")
    h, w = frames[0].shape[:2]
    for i, f in enumerate(frames):
        if f.shape[:2] != (h, w):
            raise MediaError(f"frame {i} has size {f.shape[:2]}, the first frame {(h, w)}")
    rows, c = grid_shape(len(frames), cols)
    out = np.full((rows * h, c * w, 3), fill, np.uint8)
    for i, f in enumerate(frames):
        r, cc = divmod(i, c)
        out[r * h:(r + 1) * h, cc * w:(cc + 1) * w] = f
    return out


def frame_size(width: int, height: int, side: int | None) -> tuple[int, int]:
    """(w, h) after scaling the longest side to ``side``, each a multiple of 8 (>= 8)."""
    if side is None:
        return width, height
    s = side / max(width, height)
    return max(8, int(round(width * s / 8)) * 8), max(8, int(round(height * s / 8)) * 8)


def resize_frame(frame: np.ndarray, side: int | None) -> np.ndarray:
    """A frame with its longest side at ``side`` (multiple-of-8 sides); unchanged for None."""
    if side is None:
        return frame
    w, h = frame_size(frame.shape[1], frame.shape[0], side)
    if (w, h) == (frame.shape[1], frame.shape[0]):
        return frame
    interp = cv2.INTER_AREA if w < frame.shape[1] else cv2.INTER_LINEAR
    return cv2.resize(frame, (w, h), interpolation=interp)


def grid_size(cfg: VideoConfig, width: int, height: int) -> tuple[int, int]:
    """(w, h) of the grid image for clips of ``width`` x ``height`` frames."""
    w, h = frame_size(width, height, cfg.frame_side)
    rows, cols = grid_shape(cfg.frames, cfg.grid_cols)
    return cols * w, rows * h


# ----------------------------------------------------------------------------- reading clips


def clip_sources(item: Any) -> tuple[str, Path | list[Path]]:
    """("video", path) or ("frames", [paths]) of a manifest item of a clip."""
    if item.media.type == "video":
        return "video", item.media_path()
    if item.media.type == "frames":
        return "frames", [item.media_path(i) for i in range(len(item.media.paths))]
    raise MediaError(f"item {item.id}: media type {item.media.type!r} is not a clip (video or frames)")


def count_frames(path: str | os.PathLike[str]) -> int:
    """Frames a video really yields (the container's count when it can be trusted)."""
    from veil.media import iter_frames, video_info

    n = video_info(path)[1]
    if n > 0:
        return n
    return sum(1 for _ in iter_frames(path))


def protected_frames(
    item: Any,
    cfg: VideoConfig,
    anonymizer: Any = None,
    train: bool = False,
    rng: np.random.Generator | None = None,
) -> list[np.ndarray]:
    """The k sampled frames of a clip item, resized (``cfg.frame_side``) and anonymized
    one by one, in time order.

    Raises:
        MediaError: the clip is missing or unreadable.
    """
    from veil.media import iter_frames, load_image, read_frames

    kind, src = clip_sources(item)
    if kind == "frames":
        assert isinstance(src, list)
        paths = src
        n = len(paths)

        def read(idx: list[int]) -> dict[int, np.ndarray]:
            return {i: load_image(paths[i]) for i in sorted(set(idx))}

        def prefix(last: int) -> Iterable[np.ndarray]:
            return (load_image(p) for p in paths[: last + 1])
    else:
        assert isinstance(src, Path)
        video = src
        n = count_frames(video)

        def read(idx: list[int]) -> dict[int, np.ndarray]:
            return read_frames(video, sorted(set(idx)))

        def prefix(last: int) -> Iterable[np.ndarray]:
            for i, f in enumerate(iter_frames(video)):
                yield f
                if i >= last:
                    break

    state = rng.bit_generator.state if rng is not None else None
    idx = sample_indices(n, cfg.frames, cfg.sampling, train, rng)
    if anonymizer is not None and float(getattr(anonymizer, "temporal_smoothing", 0) or 0) > 0:
        # the exact stateful path: every frame up to the last sampled one, in order
        outs = anonymizer.apply_video(resize_frame(f, cfg.frame_side) for f in prefix(max(idx)))
        return [outs[min(i, len(outs) - 1)] for i in idx]
    try:
        got = read(idx)
    except MediaError:
        if kind == "frames":
            raise
        # the container's frame count overstated the clip: sample again from the real count
        n = sum(1 for _ in iter_frames(video))
        if state is not None and rng is not None:
            rng.bit_generator.state = state
        idx = sample_indices(n, cfg.frames, cfg.sampling, train, rng)
        got = read(idx)
    frames = {i: resize_frame(f, cfg.frame_side) for i, f in got.items()}
    if anonymizer is not None:
        frames = {i: anonymizer(f) for i, f in frames.items()}
    return [frames[i] for i in idx]


def clip_images(frames: Sequence[np.ndarray], cfg: VideoConfig) -> list[np.ndarray]:
    """What the black box receives: ``[grid]`` or the frames themselves."""
    if cfg.layout == "grid":
        return [tile_grid(frames, cfg.grid_cols)]
    return list(frames)


# ----------------------------------------------------------------------------- action prompting


def option_labels(n: int, style: str) -> list[str]:
    """Labels of n options: readable names are not labels (``names`` gives [])."""
    if style == "numbers":
        return [str(i + 1) for i in range(n)]
    if style == "letters":
        if n > 26:
            raise ConfigError(f"letter options allow at most 26 classes, got {n}; use numbers or names")
        return [chr(ord("A") + i) for i in range(n)]
    if style == "names":
        return []
    raise ConfigError(f"option style must be one of {', '.join(LABEL_STYLES)}, got {style!r}")


def action_prompt(
    classes: Sequence[str], layout: str = "grid", labels: str = "names", question: str = ACTION_QUESTION
) -> tuple[str, list[str]]:
    """The prompt for one clip and the choices whose log-probabilities score it.

    ``names``: the question and "Answer with exactly one of: a; b; c." (the readable
    class names are the choices); ``numbers``/``letters``: the options one per line
    ("12. apply eye makeup"), then "Answer with exactly one of: 1; 2; ...", the labels
    being the choices. Both end in :func:`veil.data.questions.format_prompt`'s line, so
    ``parse_prompt`` reads the choices back and formatting again changes nothing.
    """
    names = [readable_class_name(c) for c in classes]
    hint = GRID_HINT if layout == "grid" else FRAMES_HINT
    q = f"{question} {hint}"
    if labels == "names":
        return format_prompt(q, names), names
    labs = option_labels(len(names), labels)
    opts = "\n".join(f"{lab}. {n}" for lab, n in zip(labs, names, strict=True))
    return format_prompt(f"{q}\nOptions:\n{opts}", labs), labs


_STOP = frozenset((
    "a", "an", "the", "is", "are", "was", "be", "being", "this", "that", "these", "those", "it", "its", "of", "in",
    "on", "at", "to", "with", "and", "or", "his", "her", "their", "someone", "somebody", "person", "people", "man",
    "woman", "men", "women", "boy", "girl", "child", "kid", "video", "clip", "frame", "frames", "image", "images",
    "grid", "show", "shows", "showing", "shown", "doing", "performing", "perform", "action", "activity", "answer",
    "i", "think", "probably", "likely", "looks", "like", "seems", "appears",
))
_SYNONYMS = {"bicycl": "bike", "cycl": "bike"}
_SPLIT = re.compile(r"[^a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def _words(s: str) -> list[str]:
    """Lower-case words with CamelCase and underscores split and filler words dropped."""
    return [w for w in _SPLIT.split(_CAMEL.sub(" ", s).lower()) if w and w not in _STOP]


def _stem(w: str) -> str:
    t = porter_stem(w)
    return _SYNONYMS.get(t, t)


def _forms(words: Sequence[str]) -> set[str]:
    """A word run in two joined forms: its stems joined ("sky"+"dive") and the stem of the
    words joined ("skydiv"), so a compound matches written whole or in parts."""
    return {"".join(_stem(w) for w in words), _stem("".join(words))}


_NUM_HEAD = re.compile(r"^\W*(?:(?:option|choice|answer|number|class|label)\s*(?:is)?\s*[:#]?\s*)?\(?(\d{1,3})\)?"
                       r"(?:[.):\-]|\s|$)", re.I)
_NUM_ANY = re.compile(r"\b(?:option|choice|number|answer is|answer:)\s*[:#]?\s*\(?(\d{1,3})\b", re.I)
_LETTER_HEAD = re.compile(r"^\W*(?:(?:option|choice|answer)\s*(?:is)?\s*[:#]?\s*)?\(?([A-Za-z])\)?(?:[.):\-]|$)")
_LETTER_ANY = re.compile(r"\b(?:option|choice|answer is|answer:)\s*\(?([A-Za-z])\b\)?", re.I)


def _label_index(text: str, n: int, style: str) -> int | None:
    if style == "numbers":
        for rx in (_NUM_HEAD, _NUM_ANY):
            m = rx.search(text)
            if m and 1 <= int(m.group(1)) <= n:
                return int(m.group(1)) - 1
    elif style == "letters":
        for rx in (_LETTER_HEAD, _LETTER_ANY):
            m = rx.search(text)
            if m:
                i = ord(m.group(1).upper()) - ord("A")
                if 0 <= i < n:
                    return i
    return None


def _name_index(text: str, classes: Sequence[str]) -> int | None:
    words = _words(text)
    if not words:
        return None
    spans: set[str] = set()
    for i in range(len(words)):
        for j in range(i + 1, min(len(words), i + 8) + 1):
            spans |= _forms(words[i:j])
    stems = {_stem(w) for w in words}
    joined = "".join(_stem(w) for w in words)
    best: tuple[int, int] | None = None
    winners: list[int] = []
    for ci, c in enumerate(classes):
        cw = _words(c)
        if not cw:
            continue
        forms = _forms(cw)
        size = max(len(f) for f in forms)
        if forms & spans:
            score = (size, 2)
        elif all(_stem(w) in stems or _stem(w) in joined for w in cw):
            score = (size, 1)
        else:
            continue
        if best is None or score > best:
            best, winners = score, [ci]
        elif score == best:
            winners.append(ci)
    return winners[0] if len(winners) == 1 else None


def parse_action(text: str, classes: Sequence[str], labels: str = "names") -> int | None:
    """The class index a free-form answer names, or None when it names none (or several
    equally well).

    An option label is tried first (``numbers``: "12", "(12)", "Option 12: ...", "The
    answer is 12"; ``letters``: "B", "(b)", "B. ..."), then the class names: the answer's
    words (CamelCase and underscores split, lower case, Porter-stemmed, filler words such
    as "the person is" dropped) must contain the class's words, contiguously (compounds
    may be joined: "push-ups" = "PushUps") or at least all of them; the longest class
    wins ("basketball dunk" over "basketball").

    >>> parse_action("The person is applying eye make-up.", ["ApplyEyeMakeup", "ApplyLipstick"])
    0
    """
    if not text or not text.strip():
        return None
    if labels != "names":
        i = _label_index(text, len(classes), labels)
        if i is not None:
            return i
    return _name_index(text, classes)


def choice_scores(answer: Answer, choices: Sequence[str]) -> np.ndarray | None:
    """Log-probabilities of ``choices`` from the answer (score mode), or None without them.
    Choices the black box did not score get -inf."""
    if not answer.logprobs:
        return None
    lp = {k.strip().lower(): v for k, v in answer.logprobs.items()}
    return np.array([lp.get(c.strip().lower(), -math.inf) for c in choices], dtype=np.float64)


def top1(predicted: Sequence[int | None], targets: Sequence[int]) -> float:
    """Share of clips whose predicted class is the target (None counts as wrong)."""
    if len(predicted) != len(targets):
        raise ValueError(f"{len(predicted)} predictions for {len(targets)} targets")
    if not targets:
        return math.nan
    return float(np.mean([p is not None and p == t for p, t in zip(predicted, targets, strict=True)]))


class ActionAnswerBlackBox(BlackBox):
    """A black box whose free-form answers to action prompts come back as the canonical
    choice (via :func:`parse_action`), log-probabilities untouched. Exact-match utilities
    (the trainer's answer mode) then see ``apply eye makeup`` where the model wrote "The
    person is applying eye make-up."; answers that name no class are passed through.

    Args:
        inner: the black box asked.
        classes: the class names, in option order.
        labels: the option style of the prompts (``names``, ``numbers``, ``letters``).
    """

    def __init__(self, inner: BlackBox, classes: Sequence[str], labels: str = "names") -> None:
        super().__init__()
        self.inner = inner
        self.classes = [readable_class_name(c) for c in classes]
        self.labels = labels
        self.name = f"action-answers({inner.name})"
        self.thread_safe = bool(getattr(inner, "thread_safe", False))

    def _answer(self, images: list[np.ndarray], prompt: str, choices: list[str] | None) -> Answer:
        a = self.inner.query(images, prompt, choices)
        if not choices:
            return a
        i = parse_action(a.text, self.classes, self.labels)
        if i is None:
            return a
        canon = choices[i] if len(choices) == len(self.classes) else a.text
        return Answer(canon, a.logprobs)

    def cache_identity(self) -> tuple[str, dict[str, Any]]:
        from veil.blackbox.cache import cache_identity

        model, params = cache_identity(self.inner)
        return model, {**params, "answer_parser": f"action/1/{self.labels}"}

    def encode_images(self, images: Sequence[np.ndarray]) -> list[bytes]:
        from veil.blackbox.cache import payloads_for

        return payloads_for(self.inner, images)

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if callable(close):
            close()
