"""Common words of other languages, so a sign in German, French, Spanish, Italian, Dutch or
Portuguese is not hidden as a person's name.

The text classifier (:mod:`veil.privacy.pii`) counts a word no English dictionary knows as a
possible family name, and hides it. So it hid most signs of most of Europe: "Ausgang",
"Boulangerie", "Farmacia", "Geschlossen", "Uitgang". This module holds the words of the
frequency lists the ``pyspellchecker`` package ships for those languages (words seen in
film subtitles, 50 times or more: about 1.4 million, 4 letters or more, lower case, as
written and without their accents). Subtitles name people, so the lists hold names too:
the classifier counts a word only where no name list holds it.

Reading the lists takes seconds, so the first process builds a sorted array of them once
and keeps it in ``$VEIL_CACHE_DIR/lexicon`` (as the ONNX cache does; ``VEIL_CACHE_DIR=off``:
built in memory by each process); later processes map it from disk in milliseconds.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import logging
import unicodedata
from importlib import resources
from importlib.metadata import version
from typing import Any

import numpy as np

from veil.fsutil import cache_root, load_or_build

log = logging.getLogger(__name__)

#: Languages whose words count as known (``pyspellchecker``'s lists).
LANGUAGES = ("de", "fr", "es", "it", "nl", "pt")
#: Shorter words are left out (dictionaries of every language hold short oddities).
MIN_LENGTH = 4
#: Longer words are left out (the array's width, in UTF-8 bytes).
MAX_BYTES = 32
_FORMAT = "1"


def plain(word: str) -> str:
    """``word`` lower case without its accents ("Entrée" -> "entree")."""
    return "".join(c for c in unicodedata.normalize("NFKD", word.lower()) if not unicodedata.combining(c))


class SortedWords:
    """Membership in a sorted array of UTF-8 words (mapped from disk or in memory)."""

    def __init__(self, words: np.ndarray) -> None:
        self._words = words

    def __len__(self) -> int:
        return len(self._words)

    def __contains__(self, word: object) -> bool:
        if not isinstance(word, str):
            return False
        key = word.encode("utf-8")
        if not key or len(key) > MAX_BYTES:
            return False
        i = int(np.searchsorted(self._words, key))
        return i < len(self._words) and bytes(self._words[i]) == key


def _read_lists() -> np.ndarray:
    words: set[str] = set()
    for language in LANGUAGES:
        with resources.files("spellchecker").joinpath("resources", f"{language}.json.gz").open("rb") as raw:
            counts: dict[str, Any] = json.loads(gzip.decompress(raw.read()))
        for word in counts:
            if len(word) >= MIN_LENGTH and word.isalpha():
                words.add(word.lower())
                words.add(plain(word))
    encoded = sorted(w.encode("utf-8") for w in words if len(w.encode("utf-8")) <= MAX_BYTES)
    return np.array(encoded, dtype=f"S{MAX_BYTES}")


def _key() -> str:
    h = hashlib.sha256(f"{_FORMAT}|{LANGUAGES}|{MIN_LENGTH}|{MAX_BYTES}".encode())
    h.update(f"pyspellchecker={version('pyspellchecker')}".encode())
    return h.hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def foreign_words() -> SortedWords:
    """The common words of :data:`LANGUAGES`, lower case, as written and without accents."""
    root = cache_root()
    path = None if root is None else root / "lexicon" / f"words-{_key()}.npy"
    return SortedWords(load_or_build(path, _read_lists, lambda p: np.load(p, mmap_mode="r"), np.save,
                                     what="lexicon cache", log=log, binary=True))
