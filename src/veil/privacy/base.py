"""The Attacker interface: a privacy adversary that learns attributes from images."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Self

import numpy as np

from veil.registry import Registry

ATTACKERS: Registry[Attacker] = Registry("attacker")


class Attacker(ABC):
    """Multi-label attribute attacker, scikit-learn style.

    ``__init__`` stores keyword arguments only; ``fit(images, labels)`` trains from scratch
    (labels: (N, A) array of 0/1); ``predict_proba(images)`` returns (N, A) probabilities.
    """

    name: str = ""

    @abstractmethod
    def fit(self, images: Sequence[np.ndarray], labels: np.ndarray) -> Self: ...

    @abstractmethod
    def predict_proba(self, images: Sequence[np.ndarray]) -> np.ndarray: ...


def create_attacker(name: str, **kwargs: object) -> Attacker:
    from veil.privacy import register_builtins

    register_builtins()

    return ATTACKERS.get(name)(**kwargs)
