"""A small thread-safe least-recently-used cache, bounded by entries or by bytes.

Veil keeps a few things it computed, keyed by a hash of the input: a guide's detections
of recently seen images (:mod:`veil.anonymizers.guides`: a trained model and its step-0
start detect once per image), the proxy's protected re-encodings of recent images (a
chat re-sends its images every turn), the reference black box's perception of recent
images (one image is asked several questions), re-identification's face embeddings (every
evaluation row compares with the same originals), faceblur's detectors per input size and
the review UI's built anonymizers and protected files.

Example:
    >>> from veil.lru import LruCache
    >>> c = LruCache(10, size_of=len)  # at most 10 bytes of values
    >>> c.put("a", b"1234"); c.put("b", b"5678"); c.put("c", b"9abc")
    >>> c.get("a"), c.get("c"), c.size
    (None, b'9abc', 8)
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

__all__ = ["LruCache"]


class LruCache:
    """Values by key, the least recently used dropped when their total size passes ``max_size``.

    Args:
        max_size: the bound on the total size of the values kept.
        size_of: the size of one value (None: every value counts 1, so ``max_size`` is a
            number of entries). A value larger than ``max_size`` is not kept.
    """

    def __init__(self, max_size: int, size_of: Callable[[Any], int] | None = None) -> None:
        self.max_size, self.size = int(max_size), 0
        self._size_of = size_of or (lambda _: 1)
        self._d: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        """The value of ``key`` (now the most recently used), or None."""
        with self._lock:
            hit = self._d.get(key)
            if hit is None:
                return None
            self._d.move_to_end(key)
            return hit[0]

    def put(self, key: Hashable, value: Any) -> None:
        """Keep ``value`` under ``key`` (replacing it), then drop the least recently used beyond the bound."""
        n = int(self._size_of(value))
        if n > self.max_size:
            return
        with self._lock:
            old = self._d.pop(key, None)
            if old is not None:
                self.size -= old[1]
            self._d[key] = (value, n)
            self.size += n
            while self.size > self.max_size:
                _, (_, dropped) = self._d.popitem(last=False)
                self.size -= dropped

    def __len__(self) -> int:
        """The number of entries kept."""
        with self._lock:
            return len(self._d)

    def clear(self) -> None:
        with self._lock:
            self._d.clear()
            self.size = 0

    def snapshot(self) -> dict[Hashable, Any]:
        """Every entry (key -> value), e.g. to hand to another process."""
        with self._lock:
            return {k: v for k, (v, _) in self._d.items()}
