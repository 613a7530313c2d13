"""Errors of the privacy proxy, each carrying the HTTP status and OpenAI error code it maps to.

A :class:`ProxyRefusal` (4xx) means the client sent something the proxy will not
forward (bad JSON, an image it cannot decode safely, a remote URL, a body too large...);
an :class:`AnonymizerFailure` (500) means the proxy itself failed to protect an image.
Both stop the request before anything reaches the upstream: the proxy fails closed.
Messages name the offending field (``messages[0].content[1]``) and the fix, but never
echo image bytes, URLs' data or headers.
"""

from __future__ import annotations

from veil.errors import VeilError


class ProxyError(VeilError):
    """Base of the proxy's request errors: an HTTP status and an OpenAI-style error body.

    Attributes:
        status: HTTP status code the client gets.
        code: stable machine-readable ``error.code`` (e.g. ``invalid_image``).
        type: OpenAI's ``error.type`` (``invalid_request_error`` or ``server_error``).
        param: the request field at fault (``messages[0].content[1]``), or None.
    """

    status: int = 400
    type: str = "invalid_request_error"

    def __init__(self, message: str, code: str, param: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.param = param
        if status is not None:
            self.status = status

    def body(self) -> dict[str, dict[str, str | None]]:
        """The OpenAI error JSON: ``{"error": {"message", "type", "param", "code"}}``."""
        return {"error": {"message": str(self), "type": self.type, "param": self.param, "code": self.code}}


class ProxyRefusal(ProxyError, ValueError):
    """The request is refused as sent (a 4xx); nothing of it is forwarded."""


class AnonymizerFailure(ProxyError, RuntimeError):
    """The anonymizer raised on an image (a 500); the request is dropped, nothing is forwarded."""

    status = 500
    type = "server_error"
