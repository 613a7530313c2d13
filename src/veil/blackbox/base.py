"""The BlackBox interface: what Veil needs from a multimodal model it cannot see inside."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from veil.anonymizers.base import check_image
from veil.registry import Registry

BLACKBOXES: Registry[BlackBox] = Registry("black box")


@dataclass(frozen=True)
class Answer:
    """A black box's reply: the answer text and, when available, the log-probability of
    each candidate answer (the choices), as OpenAI-compatible services expose through
    ``logprobs``/``top_logprobs``."""

    text: str
    logprobs: dict[str, float] | None = None


class BlackBox(ABC):
    """Answers a prompt about one or more RGB uint8 images. Counts its queries."""

    name: str = ""

    def __init__(self) -> None:
        self.queries = 0

    def query(
        self, images: Sequence[np.ndarray], prompt: str, choices: Sequence[str] | None = None
    ) -> Answer:
        """Ask ``prompt`` about ``images``; ``choices`` (optional) are the candidate answers."""
        if not images:
            raise ValueError("a black-box query needs at least one image")
        for im in images:
            check_image(im)
        self.queries += 1
        return self._answer(list(images), prompt, list(choices) if choices else None)

    @abstractmethod
    def _answer(self, images: list[np.ndarray], prompt: str, choices: list[str] | None) -> Answer:
        """Implementation hook: answer one validated query."""


def create_blackbox(name: str, **kwargs: object) -> BlackBox:
    """Build a registered black box by name (``reference`` is the offline default)."""
    import veil.blackbox  # noqa: F401  (registers the built-in implementations)

    return BLACKBOXES.get(name)(**kwargs)
