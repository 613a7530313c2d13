"""Atomic file writes: a temp file in the destination folder, then ``os.replace``.

Readers never see half-written outputs, and a crash leaves either the old file or the
new one, never a truncated mix. Also the folder of Veil's caches (:func:`cache_root`) and
the load-or-build step its caches share (:func:`load_or_build`).
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, TypeVar

T = TypeVar("T")


@contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temp file beside ``path`` for writing; rename it over ``path`` on success."""
    if "r" in mode or "a" in mode:
        raise ValueError("atomic_open is for writing only ('w' or 'wb')")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    if "b" not in mode:
        kwargs.setdefault("encoding", "utf-8")
    try:
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    with atomic_open(path, "wb") as fh:
        fh.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    with atomic_open(path, "w") as fh:
        fh.write(text)
    return Path(path)


#: Environment variable naming Veil's cache folder (``off``: no cache).
CACHE_ENV = "VEIL_CACHE_DIR"
_CACHE_OFF = {"", "0", "off", "none", "false", "no"}


def cache_root() -> Path | None:
    """The folder of Veil's caches: ``$VEIL_CACHE_DIR`` (default ``$XDG_CACHE_HOME/veil``, else
    ``~/.cache/veil``), or None when ``VEIL_CACHE_DIR=off`` turns caching off."""
    env = os.environ.get(CACHE_ENV)
    if env is not None:
        return None if env.strip().lower() in _CACHE_OFF else Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "veil"


def load_or_build(path: Path | None, build: Callable[[], T], load: Callable[[Path], T],
                  save: Callable[[IO[Any], T], None], *, what: str, log: logging.Logger, binary: bool = False,
                  errors: tuple[type[BaseException], ...] = (OSError, ValueError),
                  written: Callable[[], None] | None = None) -> T:
    """A value kept in a cache file: ``load(path)`` when the file is there and loads, else
    ``build()``, written to ``path`` atomically by ``save`` (then ``written`` runs). A file that
    fails to load with one of ``errors`` is built again, and a failed write leaves the value in
    memory, each with a warning on ``log`` naming ``what``. ``path`` None: no cache, built."""
    if path is not None and path.exists():
        try:
            return load(path)
        except errors as e:
            log.warning("%s %s does not load (%s); building it again", what, path, e)
    value = build()
    if path is not None:
        try:
            with atomic_open(path, "wb" if binary else "w") as fh:
                save(fh, value)
            if written is not None:
                written()
        except OSError as e:
            log.warning("%s %s cannot be written (%s); kept in memory", what, path, e)
    return value

