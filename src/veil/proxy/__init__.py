"""``veil proxy``: an OpenAI-compatible privacy proxy that anonymizes every image and fails closed.

Put it in front of the service an application already uses and change only the base
URL. The parts:

- :mod:`veil.proxy.config`: :class:`ProxyConfig` (every default);
- :mod:`veil.proxy.transform`: :class:`PayloadTransform`, the pure request -> request
  transform (decode, anonymize, re-encode without metadata; typed refusals);
- :mod:`veil.proxy.fetch`: opt-in, allow-listed download of remote images;
- :mod:`veil.proxy.app`: the app factory :func:`create_app` and :func:`serve`.

See docs/proxy.md.
"""

from veil.proxy.config import ProxyConfig
from veil.proxy.errors import AnonymizerFailure, ProxyError, ProxyRefusal
from veil.proxy.transform import PayloadTransform, TransformResult, encode_png, inspect_request_image

__all__ = [
    "AnonymizerFailure",
    "PayloadTransform",
    "ProxyConfig",
    "ProxyError",
    "ProxyRefusal",
    "TransformResult",
    "create_app",
    "encode_png",
    "inspect_request_image",
    "serve",
]


def __getattr__(name: str) -> object:
    """``create_app`` and ``serve`` import FastAPI lazily."""
    if name in ("create_app", "serve"):
        from veil.proxy import app

        return getattr(app, name)
    raise AttributeError(f"module 'veil.proxy' has no attribute {name!r}")
