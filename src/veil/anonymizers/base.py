"""The Anonymizer interface, its registry, and construction from spec strings."""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from veil.errors import ConfigError, MediaError
from veil.registry import Registry, parse_spec

ANONYMIZERS: Registry[Anonymizer] = Registry("anonymizer")


def check_image(image: np.ndarray) -> np.ndarray:
    """Validate an RGB image: HxWx3 uint8. Returns it unchanged.

    Raises:
        MediaError: for any other dtype or shape.
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        got = f"{getattr(image, 'dtype', type(image).__name__)} {getattr(image, 'shape', '')}"
        raise MediaError(f"expected an RGB image as uint8 array of shape (H, W, 3), got {got}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise MediaError(f"empty image of shape {image.shape}")
    return image


class Anonymizer(ABC):
    """Maps an RGB uint8 image (H, W, 3) to an anonymized image of the same shape.

    Subclasses set ``name`` (the registry key) and, for baselines, ``strength_param`` (the
    keyword that sets how strong the protection is) and ``default_strengths`` (the sweep
    the demo evaluates). ``__init__`` only stores its keyword arguments.
    """

    name: ClassVar[str] = ""
    strength_param: ClassVar[str | None] = None
    default_strengths: ClassVar[tuple[float, ...]] = ()

    @abstractmethod
    def apply(self, image: np.ndarray) -> np.ndarray:
        """Anonymize one validated image; must return uint8 of the same shape."""

    def __call__(self, image: Any) -> Any:
        """Anonymize and return the same type: an RGB uint8 array (H, W, 3) goes straight to
        :meth:`apply`; PIL images, grey or RGBA arrays and batches (lists, (N, H, W, C) arrays)
        are converted around it (see :mod:`veil.anonymizers.convert`)."""
        if not (isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3):
            from veil.anonymizers.convert import anonymize_any

            return anonymize_any(self, image)
        out = self.apply(check_image(image))
        if out.shape != image.shape or out.dtype != np.uint8:
            raise RuntimeError(f"{self.name} returned {out.dtype} {out.shape} for {image.shape}")
        return out

    def apply_batch(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Anonymize a batch (a list of images, possibly of different sizes)."""
        return [self(im) for im in images]

    def params(self) -> dict[str, Any]:
        """The constructor keyword arguments, read back from attributes of the same name."""
        sig = inspect.signature(type(self).__init__)
        return {k: getattr(self, k) for k in sig.parameters if k != "self" and hasattr(self, k)}

    @property
    def spec(self) -> str:
        """A spec string that rebuilds this anonymizer with ``create_anonymizer``."""
        p = self.params()
        return self.name + (":" + ",".join(f"{k}={v}" for k, v in p.items()) if p else "")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r})"


def create_anonymizer(spec: str | Anonymizer, **overrides: Any) -> Anonymizer:
    """Build an anonymizer from ``"name:key=value,..."`` (or return one given as is).

    A path to a saved model folder (or its ``model.safetensors``) loads that model; a path
    ending in ``.onnx`` (written by ``veil export``) runs it with onnxruntime.

    Raises:
        ModelError: a path that holds no valid saved model.
        UnknownNameError: the name is not registered.
        ConfigError: a parameter is unknown or has a bad value.
    """
    if isinstance(spec, Anonymizer):
        return spec
    import veil.anonymizers  # noqa: F401  (registers the built-in implementations)
    from veil.anonymizers.learned import is_model_path, load_anonymizer

    if is_model_path(spec):  # a saved model folder or file: "runs/train/model[:privacy=0.8]"
        return load_anonymizer(spec, **overrides)
    name, kwargs = parse_spec(spec)
    kwargs.update(overrides)
    factory = ANONYMIZERS.get(name)
    try:
        inspect.signature(factory).bind(**kwargs)
    except TypeError:
        allowed = [p for p in inspect.signature(factory).parameters if p != "self"]
        raise ConfigError(
            f"bad parameters {sorted(kwargs)} for anonymizer {name!r}; allowed: {', '.join(allowed) or 'none'}"
        ) from None
    return factory(**kwargs)
