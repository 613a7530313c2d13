"""Veil: learned privacy protection for images and video sent to black-box multimodal LLMs."""

import warnings
from typing import TYPE_CHECKING, Any

# face_recognition_models imports pkg_resources, which warns on every import; the pin
# (setuptools<81) keeps it working, so the warning only adds noise to every command.
warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)

__version__ = "0.1.0"

__all__ = ["__version__", "load_anonymizer"]

if TYPE_CHECKING:
    from veil.anonymizers.learned import load_anonymizer


def __getattr__(name: str) -> Any:
    """Lazy top-level API: ``import veil`` stays cheap; ``veil.load_anonymizer`` imports on first use."""
    if name == "load_anonymizer":
        from veil.anonymizers.learned import load_anonymizer

        return load_anonymizer
    raise AttributeError(f"module 'veil' has no attribute {name!r}")
