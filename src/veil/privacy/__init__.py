"""Privacy evaluation: learned attribute attackers, pretrained attackers, metrics.

Importing this package registers the built-in attackers (``cnn``, ``prior``), face
detectors (``dlib-hog``, ``centerface``, ``haar``) and OCR engines (``rapidocr``, and
``tesseract`` when it is on PATH).
"""

from veil.privacy import attackers, pretrained  # noqa: F401  (register implementations)
from veil.privacy.base import ATTACKERS, Attacker, create_attacker

__all__ = ["ATTACKERS", "Attacker", "create_attacker"]
