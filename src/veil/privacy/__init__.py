"""Privacy evaluation: learned attribute attackers, pretrained attackers, metrics.

Importing this package is light: the built-in attackers (``cnn``, ``prior``), face
detectors (``dlib-hog``, ``centerface``, ``haar``) and OCR engines (``rapidocr``, and
``tesseract`` when it is on PATH) are registered when ``ATTACKERS`` or
``create_attacker`` is first used, or when their modules (``veil.privacy.attackers``,
``veil.privacy.pretrained``) are imported. ``veil.privacy.pii`` (what the text guides
use to classify what they read) thus does not load PyTorch and scikit-learn.
"""

from __future__ import annotations

import importlib
from typing import Any

from veil.privacy.base import Attacker

__all__ = ["ATTACKERS", "Attacker", "create_attacker"]


def register_builtins() -> None:
    """Import the modules that register the built-in attackers, face detectors and OCR engines."""
    importlib.import_module("veil.privacy.attackers")
    importlib.import_module("veil.privacy.pretrained")


def __getattr__(name: str) -> Any:
    if name in ("ATTACKERS", "create_attacker"):
        register_builtins()
        from veil.privacy import base

        return getattr(base, name)
    raise AttributeError(f"module 'veil.privacy' has no attribute {name!r}")
