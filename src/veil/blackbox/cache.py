"""Persistent response cache: the same query is never paid twice, also across runs.

An entry is keyed by the SHA-256 of everything that decides the answer: the exact image
bytes sent (the encoded payload for HTTP backends, the raw pixels with their shape for
in-process ones), the prompt, the choices, the model and the decoding parameters. Entries
live in one SQLite file in WAL mode; every ``put`` is its own committed transaction, so a
process killed with SIGKILL loses at most the query in flight and the file always opens.
Several processes may share one cache file (SQLite locks, ``busy_timeout``).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from veil.anonymizers.base import check_image
from veil.blackbox.base import Answer, BlackBox
from veil.errors import CacheError

KEY_VERSION = "veil-cache-v1"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    prompt TEXT NOT NULL,
    text TEXT NOT NULL,
    logprobs TEXT,
    usage TEXT,
    created REAL NOT NULL
)
"""


def pixels_payload(image: np.ndarray) -> bytes:
    """Cache payload of an in-process image: its shape and raw pixels (no encoding cost)."""
    image = check_image(image)
    return f"{image.shape[0]}x{image.shape[1]}x{image.shape[2]}:".encode() + np.ascontiguousarray(
        image
    ).tobytes()


def request_key(
    payloads: Sequence[bytes],
    prompt: str,
    model: str,
    params: Mapping[str, Any] | None = None,
    choices: Sequence[str] | None = None,
) -> str:
    """SHA-256 hex key of one query: image payloads, prompt, choices, model, parameters.

    Every part is length-prefixed, so no two different queries share a byte stream.
    """
    h = hashlib.sha256()

    def part(b: bytes) -> None:
        h.update(len(b).to_bytes(8, "big"))
        h.update(b)

    part(KEY_VERSION.encode())
    part(model.encode())
    part(prompt.encode())
    part(json.dumps(list(choices) if choices else None).encode())
    part(json.dumps(dict(params or {}), sort_keys=True, default=str).encode())
    part(len(payloads).to_bytes(4, "big"))
    for p in payloads:
        part(hashlib.sha256(p).digest())
    return h.hexdigest()


@dataclass(frozen=True)
class CachedReply:
    """A stored answer with the token usage it cost when it was paid for."""

    answer: Answer
    usage: dict[str, int] = field(default_factory=dict)


class ResponseCache:
    """SQLite (WAL) store of answers by request key, with per-process hit/miss counters.

    Args:
        path: the cache file; its folder is created. Shared between runs and processes.
        timeout: seconds to wait for another process's write lock.

    Raises:
        CacheError: the file exists but is not a SQLite database or not a Veil cache.
    """

    def __init__(self, path: str | os.PathLike[str], timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(
                self.path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: durable against a killed process; only an OS crash or a
            # power cut may lose the last commits, never the file's consistency.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
            self._db.execute(_SCHEMA)
            cols = {r[1] for r in self._db.execute("PRAGMA table_info(responses)")}
        except sqlite3.DatabaseError as e:
            raise CacheError(
                f"{self.path}: cannot open as a response cache ({e}); "
                "point --cache at a new file or delete this one"
            ) from None
        if not {"key", "text", "logprobs"} <= cols:
            raise CacheError(f"{self.path}: not a Veil response cache; use another file")

    def get(self, key: str) -> CachedReply | None:
        """The stored reply for ``key`` (counted as a hit), or None (counted as a miss)."""
        with self._lock:
            row = self._db.execute(
                "SELECT text, logprobs, usage FROM responses WHERE key = ?", (key,)
            ).fetchone()
            if row is None:
                self.misses += 1
                return None
            self.hits += 1
        text, lp, usage = row
        return CachedReply(Answer(text, json.loads(lp) if lp else None), json.loads(usage or "{}"))

    def put(
        self,
        key: str,
        answer: Answer,
        model: str = "",
        prompt: str = "",
        usage: Mapping[str, int] | None = None,
    ) -> None:
        """Store one answer, committed at once (one transaction per query)."""
        lp = json.dumps(answer.logprobs) if answer.logprobs is not None else None
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO responses (key, model, prompt, text, logprobs, usage, "
                "created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key, model, prompt, answer.text, lp, json.dumps(dict(usage or {})), time.time()),
            )

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return (
                self._db.execute("SELECT 1 FROM responses WHERE key = ?", (key,)).fetchone()
                is not None
            )

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        """Close the connection (the WAL is checkpointed by SQLite when the last one closes)."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ResponseCache({str(self.path)!r}, hits={self.hits}, misses={self.misses})"


def cache_identity(blackbox: BlackBox) -> tuple[str, dict[str, Any]]:
    """(model, decoding parameters) of a black box, as they enter the cache key.

    A black box may define ``cache_identity()``; otherwise its registry name and any
    ``model`` attribute are used.
    """
    fn = getattr(blackbox, "cache_identity", None)
    if callable(fn):
        model, params = fn()
        return str(model), dict(params)
    model = str(getattr(blackbox, "model", "") or "")
    return f"{type(blackbox).__name__}:{blackbox.name}:{model}", init_params(blackbox)


def init_params(obj: object) -> dict[str, Any]:
    """Constructor arguments read back from same-named attributes (scalars only), over
    the whole class hierarchy, so differently configured black boxes never share entries."""
    names: list[str] = []
    for cls in type(obj).__mro__:
        init = cls.__dict__.get("__init__")
        if init is None:
            continue
        try:
            sig = inspect.signature(init)
        except (TypeError, ValueError):
            continue
        names += [p.name for p in sig.parameters.values() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    out: dict[str, Any] = {}
    for n in names:
        if n != "self" and n not in out:
            v = getattr(obj, n, None)
            if isinstance(v, (bool, int, float, str)) or v is None:
                out[n] = v
    return out


def payloads_for(blackbox: BlackBox, images: Sequence[np.ndarray]) -> list[bytes]:
    """The image bytes ``blackbox`` actually sends (``encode_images`` if it has one)."""
    enc = getattr(blackbox, "encode_images", None)
    if callable(enc):
        return list(enc(images))
    return [pixels_payload(im) for im in images]


class CachedBlackBox(BlackBox):
    """Any black box behind the response cache: hits cost nothing and are not queries.

    ``queries`` counts the paid queries (misses) made through this wrapper, ``cache.hits``
    the free ones.
    """

    def __init__(self, inner: BlackBox, cache: ResponseCache | str | os.PathLike[str]) -> None:
        super().__init__()
        self.inner = inner
        self.cache = cache if isinstance(cache, ResponseCache) else ResponseCache(cache)
        self.name = f"cached-{inner.name}"

    def cache_identity(self) -> tuple[str, dict[str, Any]]:
        return cache_identity(self.inner)

    def key(
        self, images: Sequence[np.ndarray], prompt: str, choices: Sequence[str] | None = None
    ) -> str:
        """The cache key of this query for the wrapped black box."""
        model, params = cache_identity(self.inner)
        return request_key(payloads_for(self.inner, images), prompt, model, params, choices)

    def query(
        self, images: Sequence[np.ndarray], prompt: str, choices: Sequence[str] | None = None
    ) -> Answer:
        if not images:
            raise ValueError("a black-box query needs at least one image")
        key = self.key(images, prompt, choices)
        hit = self.cache.get(key)
        if hit is not None:
            return hit.answer
        answer = self.inner.query(images, prompt, choices)
        self.queries += 1
        self.cache.put(key, answer, cache_identity(self.inner)[0], prompt)
        return answer

    def _answer(self, images: list[np.ndarray], prompt: str, choices: list[str] | None) -> Answer:
        return self.query(images, prompt, choices)
