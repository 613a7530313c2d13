"""The text classifier's word lists kept on disk between processes (``veil.privacy.listcache``)."""

from __future__ import annotations

import json
import logging

import pytest

from veil.privacy import listcache, pii


def _counted(calls: list[int]):
    @listcache.on_disk("test-words", listcache.words_to_json, listcache.words_from_json)
    def build() -> frozenset[str]:
        calls.append(1)
        return frozenset({"beta", "alpha", "grün"})

    return build


def test_a_list_is_built_once_then_read_back(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VEIL_CACHE_DIR", str(tmp_path))
    calls: list[int] = []
    build = _counted(calls)
    assert build() == {"alpha", "beta", "grün"} and build() == {"alpha", "beta", "grün"}
    assert len(calls) == 1  # the second call read the file
    files = list((tmp_path / "lists").glob("test-words-*.json"))
    assert len(files) == 1 and json.loads(files[0].read_text(encoding="utf-8")) == ["alpha", "beta", "grün"]


@pytest.mark.parametrize("damage", [b"not json", b'{"a": 1}', b"[1, 2]", b""])
def test_a_damaged_entry_is_built_again_with_a_warning(tmp_path, monkeypatch: pytest.MonkeyPatch,
                                                        caplog: pytest.LogCaptureFixture, damage: bytes) -> None:
    monkeypatch.setenv("VEIL_CACHE_DIR", str(tmp_path))
    calls: list[int] = []
    build = _counted(calls)
    build()
    path = listcache.cache_path("test-words")
    assert path is not None
    path.write_bytes(damage)
    with caplog.at_level(logging.WARNING, logger="veil.privacy.listcache"):
        assert build() == {"alpha", "beta", "grün"}
    assert len(calls) == 2 and "building it again" in caplog.text
    assert json.loads(path.read_text(encoding="utf-8")) == ["alpha", "beta", "grün"]  # written again


def test_caching_off_writes_nothing(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VEIL_CACHE_DIR", "off")
    monkeypatch.chdir(tmp_path)
    calls: list[int] = []
    build = _counted(calls)
    build(), build()
    assert len(calls) == 2 and listcache.cache_path("test-words") is None and not any(tmp_path.iterdir())


def test_an_unwritable_cache_keeps_the_list_in_memory(tmp_path, monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("VEIL_CACHE_DIR", str(blocker))
    with caplog.at_level(logging.WARNING, logger="veil.privacy.listcache"):
        assert _counted([])() == {"alpha", "beta", "grün"}
    assert "cannot be written" in caplog.text


def test_the_classifiers_lists_read_back_equal_built(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each list pii keeps on disk reads back as the builder makes it (set, counts, pair of sets)."""
    monkeypatch.setenv("VEIL_CACHE_DIR", str(tmp_path))
    for fn in (pii._listed_given, pii._world_given_locales, pii._public_places):
        cached = fn.__wrapped__  # below lru_cache: the on-disk layer
        built = cached.__wrapped__()
        assert cached() == built  # built and written
        assert cached() == built  # read back
    names = {f.name.rsplit("-", 1)[0] for f in (tmp_path / "lists").glob("*.json")}
    assert {"listed-given", "world-given", "public-places"} <= names


def test_the_key_follows_the_sources_and_the_code() -> None:
    key = listcache._key()
    assert len(key) == 16 and key == listcache._key()
    assert set(listcache.BUILDERS) <= {p.name for p in listcache.Path(listcache.__file__).parent.glob("*.py")}


def test_an_entry_of_another_key_is_deleted_when_the_list_is_built(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VEIL_CACHE_DIR", str(tmp_path))
    old = tmp_path / "lists" / "test-words-0000000000000000.json"
    other = tmp_path / "lists" / "other-list-0000000000000000.json"
    old.parent.mkdir(parents=True)
    old.write_text('["stale"]', encoding="utf-8")
    other.write_text('["kept"]', encoding="utf-8")
    assert _counted([])() == {"alpha", "beta", "grün"}
    assert not old.exists() and other.exists()
