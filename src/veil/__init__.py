"""Veil: learned privacy protection for images and video sent to black-box multimodal LLMs."""

import warnings

# face_recognition_models imports pkg_resources, which warns on every import; the pin
# (setuptools<81) keeps it working, so the warning only adds noise to every command.
warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)

__version__ = "0.1.0"
