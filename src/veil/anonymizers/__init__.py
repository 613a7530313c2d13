"""Anonymizers: the interface, the registry, and the built-in implementations.

Importing this package registers every built-in anonymizer, so ``create_anonymizer`` and
``ANONYMIZERS.names()`` see them all.
"""

from veil.anonymizers import baselines, faceblur, learned  # noqa: F401  (register by import)
from veil.anonymizers.base import ANONYMIZERS, Anonymizer, check_image, create_anonymizer
from veil.anonymizers.baselines import BASELINE_NAMES, baseline_sweep

__all__ = [
    "ANONYMIZERS",
    "BASELINE_NAMES",
    "Anonymizer",
    "baseline_sweep",
    "check_image",
    "create_anonymizer",
]
