"""The least-recently-used cache behind Veil's caches (detections, protected images, embeddings, ...)."""

from __future__ import annotations

from veil.lru import LruCache


def test_least_recently_used_dropped_beyond_its_size() -> None:
    cache = LruCache(10, size_of=len)
    cache.put(b"a", b"1234")
    cache.put(b"b", b"5678")
    assert cache.get(b"a") == b"1234"  # now the most recent
    cache.put(b"c", b"9abc")  # 12 bytes: "b" goes
    assert cache.get(b"b") is None and cache.get(b"a") == b"1234" and cache.get(b"c") == b"9abc"
    cache.put(b"d", b"x" * 11)  # larger than the whole cache: not kept
    assert cache.get(b"d") is None and cache.size == 8


def test_bounded_by_entries_by_default_and_replacing_a_key() -> None:
    cache = LruCache(2)
    cache.put("a", [1])
    cache.put("a", [2])  # replaced, still one entry
    cache.put("b", [])
    assert cache.size == 2 and len(cache) == 2 and cache.get("a") == [2] and cache.get("b") == []
    cache.put("c", [3])  # "b" was used last: "a" goes
    assert cache.snapshot() == {"b": [], "c": [3]}
    cache.clear()
    assert cache.size == 0 and len(cache) == 0 and cache.get("a") is None
