"""Errors raised by Veil.

Every error subclasses :class:`VeilError` *and* the closest builtin, so callers can catch
either (``except VeilError`` or ``except ValueError``). Messages name the file, line or
value at fault and say how to fix it; the CLI prints them as one line and exits non-zero.
"""

from __future__ import annotations


class VeilError(Exception):
    """Base class of every error Veil raises on purpose."""


class ConfigError(VeilError, ValueError):
    """A configuration value, CLI option or spec string is invalid."""


class UnknownNameError(ConfigError):
    """A name (anonymizer, black box, attacker, scenario) is not registered."""

    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        self.kind, self.name, self.known = kind, name, sorted(known)
        super().__init__(f"unknown {kind} {name!r}; choose one of: {', '.join(self.known)}")


class ManifestError(VeilError, ValueError):
    """A manifest file is missing or one of its lines is malformed."""


class MediaError(VeilError, ValueError):
    """An image or video is missing, unreadable, corrupt or too large."""


class DataUnavailableError(VeilError, RuntimeError):
    """Media that a scenario needs could not be found or fetched."""


class BudgetExceededError(VeilError, RuntimeError):
    """A hard query budget is reached; no further paid query is sent."""

    def __init__(self, limit: int, used: int) -> None:
        self.limit, self.used = limit, used
        super().__init__(
            f"query budget of {limit} reached ({used} queries paid); raise the budget "
            "(e.g. --budget) or reuse the response cache to continue"
        )


class BackendError(VeilError, RuntimeError):
    """A black-box service failed to answer. ``transient`` errors are worth retrying.

    Attributes:
        status: HTTP status code, or None when no response arrived.
        retry_after: seconds the service asked to wait (``Retry-After``), or None.
    """

    transient: bool = False

    def __init__(
        self, message: str, status: int | None = None, retry_after: float | None = None
    ) -> None:
        self.status, self.retry_after = status, retry_after
        super().__init__(message)


class BackendUnreachableError(BackendError):
    """No connection could be opened, or it dropped before a response arrived."""

    transient = True


class BackendTimeoutError(BackendError):
    """The service did not answer within the timeout."""

    transient = True


class BackendRateLimitError(BackendError):
    """HTTP 429: too many requests or tokens; retried after ``retry_after``."""

    transient = True


class BackendServerError(BackendError):
    """HTTP 5xx: the service failed on its side."""

    transient = True


class MalformedResponseError(BackendError):
    """The service answered with a body that is not the expected JSON."""

    transient = True


class BackendAuthError(BackendError):
    """HTTP 401/403: the API key is missing, wrong or lacks access."""


class BackendRequestError(BackendError):
    """HTTP 4xx other than 401/403/429: the service refused the request as sent."""


class ModelNotFoundError(BackendRequestError):
    """The service does not know the requested model."""


class VisionNotSupportedError(BackendRequestError):
    """The model or service does not accept images, or rejected the image sent."""


class CacheError(VeilError, RuntimeError):
    """The response cache file cannot be opened or is not a Veil cache."""


class BackendConnectError(BackendUnreachableError):
    """No connection could be opened at all (refused, unknown host): retried only briefly."""


class ModelError(VeilError, ValueError):
    """A saved model (folder, ``config.json`` or weights) is missing, corrupt or does not match."""
