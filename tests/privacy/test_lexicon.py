"""The common words of other languages the text classifier reads (``pyspellchecker``'s lists)."""

from __future__ import annotations

import numpy as np
import pytest

from veil.privacy import lexicon


def test_words_as_written_and_without_accents() -> None:
    words = lexicon.foreign_words()
    assert "ausgang" in words and "entrée" in words and "entree" in words
    assert "xqzzyv" not in words and "" not in words and 3 not in words
    assert "abc" not in words  # shorter than MIN_LENGTH


def test_sorted_words_membership_on_an_analytic_case() -> None:
    words = lexicon.SortedWords(np.array(sorted([b"alpha", b"beta", "gr\u00fcn".encode()]), dtype="S32"))
    assert "beta" in words and "grün" in words and "gamma" not in words and "a" * 40 not in words
    assert len(words) == 3


def test_the_cache_is_built_once_and_mapped_after(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VEIL_CACHE_DIR", str(tmp_path))
    lexicon.foreign_words.cache_clear()
    try:
        built = lexicon.foreign_words()
        files = list((tmp_path / "lexicon").glob("words-*.npy"))
        assert len(files) == 1
        lexicon.foreign_words.cache_clear()
        mapped = lexicon.foreign_words()
        assert isinstance(mapped._words, np.memmap) and len(mapped) == len(built)
        files[0].write_bytes(b"not an array")  # a damaged entry is built again, not trusted
        lexicon.foreign_words.cache_clear()
        assert len(lexicon.foreign_words()) == len(built)
    finally:
        lexicon.foreign_words.cache_clear()
