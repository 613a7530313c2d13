"""Privacy metrics: cMAP and macro F1 of attribute attackers, text-recovery error rates.

Pure functions over numpy arrays and strings. Attribute columns whose ground truth has a
single class (all 0 or all 1) carry no ranking information and are skipped, as in the
privacy-preserving action recognition literature (SPAct, Wu et al.); when no column is
left the result is ``nan``.
"""

from __future__ import annotations

import math
import re

import numpy as np

__all__ = [
    "char_error_rate",
    "cmap",
    "levenshtein",
    "macro_f1",
    "normalize_text",
    "per_attribute_ap",
    "per_attribute_f1",
]


def _as_2d(y_true: np.ndarray, y_score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both arrays as (N, A); a 1-D array is one attribute column."""
    yt = np.asarray(y_true)
    ys = np.asarray(y_score, dtype=np.float64)
    if yt.ndim == 1:
        yt = yt[:, None]
    if ys.ndim == 1:
        ys = ys[:, None]
    if yt.ndim != 2 or yt.shape != ys.shape:
        raise ValueError(
            f"y_true and y_score must both have shape (N, A); got {np.shape(y_true)} and {np.shape(y_score)}"
        )
    if yt.size and not np.isin(yt, (0, 1)).all():
        raise ValueError("y_true must contain only 0 and 1")
    return yt.astype(np.int64), ys


def _informative_columns(yt: np.ndarray) -> list[int]:
    """Columns whose ground truth has both classes."""
    return [a for a in range(yt.shape[1]) if np.unique(yt[:, a]).size == 2]


def per_attribute_ap(y_true: np.ndarray, y_score: np.ndarray) -> dict[int, float]:
    """Average precision of each attribute column with both classes present.

    Args:
        y_true: (N, A) 0/1 ground truth (or (N,) for one attribute).
        y_score: (N, A) scores or probabilities, higher means "attribute present".

    Returns:
        ``{column index: AP}``; single-class columns are absent.
    """
    yt, ys = _as_2d(y_true, y_score)
    from sklearn.metrics import average_precision_score  # imported here: scikit-learn takes 1 s to import,
    # and `veil protect` reaches this module (OCR text helpers, box IoU) without needing it

    return {a: float(average_precision_score(yt[:, a], ys[:, a])) for a in _informative_columns(yt)}


def cmap(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """Class-mean average precision (macro AP over informative columns); nan if none.

    A constant predictor scores the mean prevalence of the kept columns (the prior lower
    bound); a perfect ranking scores 1.
    """
    aps = per_attribute_ap(y_true, y_score)
    return float(np.mean(list(aps.values()))) if aps else math.nan


def per_attribute_f1(y_true: np.ndarray, y_score: np.ndarray, threshold: float = 0.5) -> dict[int, float]:
    """Binary F1 of each informative column, predicting present when ``score >= threshold``."""
    yt, ys = _as_2d(y_true, y_score)
    pred = (ys >= threshold).astype(np.int64)
    from sklearn.metrics import f1_score  # imported here, as average_precision_score above

    return {a: float(f1_score(yt[:, a], pred[:, a], zero_division=0)) for a in _informative_columns(yt)}


def macro_f1(y_true: np.ndarray, y_score: np.ndarray, threshold: float = 0.5) -> float:
    """Macro F1 over informative columns at a fixed threshold (zero_division=0); nan if none."""
    f1s = per_attribute_f1(y_true, y_score, threshold)
    return float(np.mean(list(f1s.values()))) if f1s else math.nan


_NOT_ALNUM = re.compile(r"[^A-Z0-9]")


def normalize_text(s: str) -> str:
    """Upper case, keep only A-Z and 0-9: ``"+44 161-496 0734"`` -> ``"441614960734"``.

    Private strings (names, phone numbers, plates) are compared in this form, so OCR
    spacing and punctuation differences do not count as errors.
    """
    return _NOT_ALNUM.sub("", s.upper())


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions of one character each)."""
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        cur = [i]
        for j, cb in enumerate(b, start=1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def char_error_rate(reference: str, hypothesis: str) -> float:
    """Levenshtein distance of the normalized strings over the normalized reference length.

    Capped at 1.0 (a hypothesis far longer than the reference is no worse than nothing).
    An empty normalized reference gives 0.0 if the hypothesis is empty too, else 1.0.
    """
    ref, hyp = normalize_text(reference), normalize_text(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    return min(1.0, levenshtein(ref, hyp) / len(ref))
