"""Registries of implementations chosen by name (anonymizers, black boxes, attackers)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from veil.errors import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to factories. Registering a name twice is an error."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        def deco(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = factory
            return factory

        return deco

    def get(self, name: str) -> Callable[..., T]:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, list(self._entries)) from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries


def _coerce(value: str) -> object:
    low = value.lower()
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


def parse_spec(spec: str) -> tuple[str, dict[str, object]]:
    """Split ``"name:key=value,key=value"`` into the name and typed keyword arguments.

    >>> parse_spec("blur:sigma=4")
    ('blur', {'sigma': 4})
    """
    from veil.errors import ConfigError

    name, _, rest = spec.strip().partition(":")
    if not name:
        raise ConfigError(f"empty spec {spec!r}; expected NAME or NAME:key=value,...")
    kwargs: dict[str, object] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = part.partition("=")
        if not eq or not key.strip():
            raise ConfigError(f"bad parameter {part!r} in spec {spec!r}; expected key=value")
        kwargs[key.strip()] = _coerce(value.strip())
    return name, kwargs
