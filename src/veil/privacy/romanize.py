"""Names written in the scripts of India read as they are written in Latin letters.

Name lists that only exist in their own script (Faker's ``hi_IN``, ``ta_IN``, ``bn_BD``
locales: "राजेश", "சுரேஷ்") say nothing to a text cue that sees what a Latin OCR engine
reads off a badge ("Rajesh"). :func:`romanize_indic` spells such a name the way it is
commonly written in Latin letters: one table for every Brahmic script whose Unicode block
follows Devanagari's layout (Devanagari, Bengali, Gurmukhi, Gujarati, Oriya, Tamil,
Telugu, Kannada, Malayalam), the inherent vowel ``a`` after a consonant that carries no
vowel sign, and the final inherent vowel dropped in the northern scripts, as Hindi, Bengali
or Gujarati speakers drop it ("राजेश" is "rajesh", "विजय" "vijay", not "rajesha").
A pure function over the text; anything else is passed through unchanged.
"""

from __future__ import annotations

__all__ = ["BRAHMIC_BLOCKS", "romanize_indic"]

#: First code point of each Brahmic block laid out as Devanagari's, and whether the script's
#: languages drop a word's final inherent vowel.
BRAHMIC_BLOCKS: dict[int, bool] = {
    0x0900: True,  # Devanagari (Hindi, Marathi, Nepali)
    0x0980: True,  # Bengali
    0x0A00: True,  # Gurmukhi
    0x0A80: True,  # Gujarati
    0x0B00: True,  # Oriya
    0x0B80: False,  # Tamil
    0x0C00: False,  # Telugu
    0x0C80: False,  # Kannada
    0x0D00: False,  # Malayalam
}

# Offsets within a block (Devanagari's meaning).
_VIRAMA, _NUKTA = 0x4D, 0x3C
_VOWELS = {0x05: "a", 0x06: "a", 0x07: "i", 0x08: "i", 0x09: "u", 0x0A: "u", 0x0B: "ri", 0x0C: "li", 0x0D: "e",
           0x0E: "e", 0x0F: "e", 0x10: "ai", 0x11: "o", 0x12: "o", 0x13: "o", 0x14: "au", 0x60: "ri", 0x61: "li"}
_SIGNS = {0x3E: "a", 0x3F: "i", 0x40: "i", 0x41: "u", 0x42: "u", 0x43: "ri", 0x44: "ri", 0x45: "e", 0x46: "e",
          0x47: "e", 0x48: "ai", 0x49: "o", 0x4A: "o", 0x4B: "o", 0x4C: "au", 0x62: "li", 0x63: "li"}
_CONSONANTS = {0x15: "k", 0x16: "kh", 0x17: "g", 0x18: "gh", 0x19: "n", 0x1A: "ch", 0x1B: "chh", 0x1C: "j",
               0x1D: "jh", 0x1E: "n", 0x1F: "t", 0x20: "th", 0x21: "d", 0x22: "dh", 0x23: "n", 0x24: "t",
               0x25: "th", 0x26: "d", 0x27: "dh", 0x28: "n", 0x29: "n", 0x2A: "p", 0x2B: "ph", 0x2C: "b",
               0x2D: "bh", 0x2E: "m", 0x2F: "y", 0x30: "r", 0x31: "r", 0x32: "l", 0x33: "l", 0x34: "zh",
               0x35: "v", 0x36: "sh", 0x37: "sh", 0x38: "s", 0x39: "h", 0x58: "q", 0x59: "kh", 0x5A: "gh",
               0x5B: "z", 0x5C: "r", 0x5D: "rh", 0x5E: "f", 0x5F: "y", 0x70: "r", 0x71: "w"}
#: A consonant with a nukta: the sound of loan words ("ज़" z, "फ़" f, "ड़" r).
_NUKTA_CONSONANTS = {0x15: "q", 0x16: "kh", 0x17: "gh", 0x1C: "z", 0x21: "r", 0x22: "rh", 0x2B: "f", 0x2F: "y"}
#: Signs with a sound of their own: candrabindu, anusvara (m before p, ph, b, bh, m), visarga.
_NASALS = {0x01: "n", 0x02: "n", 0x03: "h"}
_LABIALS = {0x2A, 0x2B, 0x2C, 0x2D, 0x2E}
#: Consonants written without a vowel of their own: Bengali's khanda ta, Malayalam's chillus.
_DEAD = {(0x0980, 0x4E): "t", (0x0D00, 0x7A): "n", (0x0D00, 0x7B): "n", (0x0D00, 0x7C): "r",
         (0x0D00, 0x7D): "l", (0x0D00, 0x7E): "l", (0x0D00, 0x7F): "k"}


def _split(ch: str) -> tuple[int, int] | None:
    """(block start, offset) of a Brahmic character, None for any other."""
    code = ord(ch)
    base = code & ~0x7F
    return (base, code - base) if base in BRAHMIC_BLOCKS else None


def romanize_indic(text: str) -> str:
    """``text`` with every word in a Brahmic script spelled in lower-case Latin letters
    ("राजेश" -> "rajesh", "सुरेश" -> "suresh", "சுரேஷ்" -> "suresh", "প্রিয়া" -> "priya");
    other characters pass through. Lengths of vowels are not marked ("आ" and "अ" are both
    "a"), as names are written on badges."""
    out: list[str] = []
    chars = [(_split(c), c) for c in text if c not in "\u200c\u200d"]  # joiners only shape the glyphs
    i, n = 0, len(chars)
    while i < n:
        where, ch = chars[i]
        if where is None:
            out.append(ch)
            i += 1
            continue
        base, off = where
        nxt = chars[i + 1][0] if i + 1 < n else None
        if off in _CONSONANTS and (base, off) not in _DEAD:
            sound = "s" if (base, off) == (0x0B80, 0x1A) else _CONSONANTS[off]  # Tamil ச: "Suresh"
            if nxt is not None and nxt[0] == base and nxt[1] == _NUKTA:
                sound = _NUKTA_CONSONANTS.get(off, sound)
                i += 1
                nxt = chars[i + 1][0] if i + 1 < n else None
            out.append(sound)
            if nxt is not None and nxt[0] == base and nxt[1] in _SIGNS:
                out.append(_SIGNS[nxt[1]])
                i += 2
            elif nxt is not None and nxt[0] == base and nxt[1] == _VIRAMA:
                i += 2
            else:  # the inherent vowel; dropped at a word's end in the northern scripts
                clustered = i >= 2 and chars[i - 1][0] == (base, _VIRAMA)
                end = nxt is None or nxt[0] != base or nxt[1] not in _CONSONANTS and nxt[1] not in _NASALS
                if not (end and BRAHMIC_BLOCKS[base] and not clustered and len(out) > 1):
                    out.append("a")
                i += 1
        elif (base, off) in _DEAD:
            out.append(_DEAD[(base, off)])
            i += 1
        elif off in _VOWELS:
            out.append(_VOWELS[off])
            i += 1
        elif off in _NASALS:
            labial = nxt is not None and nxt[0] == base and nxt[1] in _LABIALS and off == 0x02
            out.append("m" if labial else _NASALS[off])
            i += 1
        else:  # a virama, nukta or length mark on its own, a digit, a dot: nothing to say
            i += 1
    return "".join(out)
