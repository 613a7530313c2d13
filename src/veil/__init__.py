"""Veil: learned privacy protection for images and video sent to black-box multimodal LLMs."""

__version__ = "0.1.0"
