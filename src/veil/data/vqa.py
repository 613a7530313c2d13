"""VQA soft accuracy with the official answer normalization, and OK-VQA's stemming variant.

Pure functions. :func:`normalize_vqa_answer` follows the official VQA evaluation script
(``vqaEval.py``) step by step:

1. newlines and tabs become spaces, outer spaces are stripped;
2. punctuation (``; / [ ] " { } ( ) = + \\ _ - > < @ ` , ? !``): a mark next to a space,
   or any mark at all when the text holds a digit-comma-digit group such as ``1,000``, is
   deleted; otherwise it becomes a space (``fire-truck`` -> ``fire truck``). Apostrophes
   and colons are kept (``don't``, ``12:30``);
3. periods not followed by a digit are deleted (``3.5`` keeps its point). As in the
   official script (``periodStrip.sub("", text, re.UNICODE)`` passes 32 as the count), at
   most 32 periods are deleted;
4. lower case; number words zero..ten and ``none`` become digits; the articles ``a``,
   ``an``, ``the`` are dropped; the official contractions table restores apostrophes
   (``dont`` -> ``don't``).

One deliberate difference: the official script skips steps 2-4 when all human answers
are identical (so ``Yes`` would not match ``yes`` there); here every answer is always
normalized, as most re-implementations do.

:func:`vqa_accuracy` is ``min(1, #humans that gave the answer / 3)`` averaged over the
10 leave-one-out subsets of the human answers (``10 choose 9``).

OK-VQA (v1.1) stems its answers (``morning`` -> ``morn``, ``buildings`` -> ``build``,
``elevators`` -> ``elev``): those are the outputs of the Porter stemmer. No stemming
library is installed here (NLTK is not), so :func:`porter_stem` implements M. F. Porter's
1980 algorithm ("An algorithm for suffix stripping", Program 14(3)) in this module. With
``stem=True`` every word of the prediction *and* of the human answers is stemmed after
normalization, so already-stemmed ground truth (``morn``) and raw words (``morning``)
meet in the same form.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["normalize_vqa_answer", "porter_stem", "vqa_accuracy", "vqa_score"]

_PUNCT = (";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",", "?", "!")
_PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")  # sic: the official pattern (a lookahead, not a lookbehind)
_COMMA_STRIP = re.compile(r"(\d)(,)(\d)")
_NUMBERS = {"none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
            "seven": "7", "eight": "8", "nine": "9", "ten": "10"}
_ARTICLES = frozenset(("a", "an", "the"))
# The official contractions table (keys without apostrophes -> the apostrophe form), verbatim in content.
_CONTRACTIONS = {
    "aint": "ain't", "arent": "aren't", "cant": "can't", "couldve": "could've", "couldnt": "couldn't",
    "couldn'tve": "couldn't've", "couldnt've": "couldn't've", "didnt": "didn't", "doesnt": "doesn't",
    "dont": "don't", "hadnt": "hadn't", "hadnt've": "hadn't've", "hadn'tve": "hadn't've", "hasnt": "hasn't",
    "havent": "haven't", "hed": "he'd", "hed've": "he'd've", "he'dve": "he'd've", "hes": "he's", "howd": "how'd",
    "howll": "how'll", "hows": "how's", "Id've": "I'd've", "I'dve": "I'd've", "Im": "I'm", "Ive": "I've",
    "isnt": "isn't", "itd": "it'd", "itd've": "it'd've", "it'dve": "it'd've", "itll": "it'll", "let's": "let's",
    "maam": "ma'am", "mightnt": "mightn't", "mightnt've": "mightn't've", "mightn'tve": "mightn't've",
    "mightve": "might've", "mustnt": "mustn't", "mustve": "must've", "neednt": "needn't", "notve": "not've",
    "oclock": "o'clock", "oughtnt": "oughtn't", "ow's'at": "'ow's'at", "'ows'at": "'ow's'at", "'ow'sat": "'ow's'at",
    "shant": "shan't", "shed've": "she'd've", "she'dve": "she'd've", "she's": "she's", "shouldve": "should've",
    "shouldnt": "shouldn't", "shouldnt've": "shouldn't've", "shouldn'tve": "shouldn't've",
    "somebody'd": "somebodyd", "somebodyd've": "somebody'd've", "somebody'dve": "somebody'd've",
    "somebodyll": "somebody'll", "somebodys": "somebody's", "someoned": "someone'd", "someoned've": "someone'd've",
    "someone'dve": "someone'd've", "someonell": "someone'll", "someones": "someone's", "somethingd": "something'd",
    "somethingd've": "something'd've", "something'dve": "something'd've", "somethingll": "something'll",
    "thats": "that's", "thered": "there'd", "thered've": "there'd've", "there'dve": "there'd've",
    "therere": "there're", "theres": "there's", "theyd": "they'd", "theyd've": "they'd've", "they'dve": "they'd've",
    "theyll": "they'll", "theyre": "they're", "theyve": "they've", "twas": "'twas", "wasnt": "wasn't",
    "wed've": "we'd've", "we'dve": "we'd've", "weve": "we've", "werent": "weren't", "whatll": "what'll",
    "whatre": "what're", "whats": "what's", "whatve": "what've", "whens": "when's", "whered": "where'd",
    "wheres": "where's", "whereve": "where've", "whod": "who'd", "whod've": "who'd've", "who'dve": "who'd've",
    "wholl": "who'll", "whos": "who's", "whove": "who've", "whyll": "why'll", "whyre": "why're", "whys": "why's",
    "wont": "won't", "wouldve": "would've", "wouldnt": "wouldn't", "wouldnt've": "wouldn't've",
    "wouldn'tve": "wouldn't've", "yall": "y'all", "yall'll": "y'all'll", "y'allll": "y'all'll",
    "yall'd've": "y'all'd've", "y'alld've": "y'all'd've", "y'all'dve": "y'all'd've", "youd": "you'd",
    "youd've": "you'd've", "you'dve": "you'd've", "youll": "you'll", "youre": "you're", "youve": "you've",
}


def _process_punctuation(text: str) -> str:
    out = text
    comma_number = _COMMA_STRIP.search(text) is not None
    for p in _PUNCT:
        delete = (p + " " in text or " " + p in text) or comma_number
        out = out.replace(p, "" if delete else " ")
    return _PERIOD_STRIP.sub("", out, count=32)


def _process_digit_article(text: str) -> str:
    words = [_NUMBERS.get(w, w) for w in text.lower().split()]
    words = [w for w in words if w not in _ARTICLES]
    return " ".join(_CONTRACTIONS.get(w, w) for w in words)


def normalize_vqa_answer(text: str, stem: bool = False) -> str:
    """An answer in the official VQA evaluation's normal form (module docstring);
    ``stem`` also Porter-stems every word (OK-VQA).

    >>> normalize_vqa_answer("Two dogs!"), normalize_vqa_answer("the fire-truck")
    ('2 dogs', 'fire truck')
    """
    s = text.replace("\n", " ").replace("\t", " ").strip()
    s = _process_digit_article(_process_punctuation(s))
    if stem:
        s = " ".join(porter_stem(w) for w in s.split())
    return s


def vqa_accuracy(prediction: str, gt_answers: Sequence[str], stem: bool = False) -> float:
    """VQA soft accuracy of one predicted answer against the human answers.

    ``min(1, matches / 3)`` over each leave-one-out subset of ``gt_answers``, averaged
    (the official metric, made for 10 answers). With a single ground-truth answer the
    score is its exact match (a leave-one-out subset would be empty).

    Args:
        prediction: the model's answer text.
        gt_answers: the human answers, duplicates kept (OK-VQA: 5 answers each twice).
        stem: OK-VQA's variant: Porter-stem the words of both sides after normalization.

    Returns:
        A score in [0, 1].

    Raises:
        ValueError: no ground-truth answer.

    >>> vqa_accuracy("two", ["2", "2", "2", "3", "3", "3", "3", "3", "3", "3"])
    0.9
    """
    if not gt_answers:
        raise ValueError("vqa_accuracy needs at least one ground-truth answer")
    pred = normalize_vqa_answer(prediction, stem)
    gts = [normalize_vqa_answer(a, stem) for a in gt_answers]
    if len(gts) == 1:
        return float(pred == gts[0])
    hits = [g == pred for g in gts]
    total = sum(hits)
    accs = [min(1.0, (total - h) / 3.0) for h in hits]
    return round(sum(accs) / len(accs), 10)


def vqa_score(predictions: Sequence[str], gt_answers: Sequence[Sequence[str]], stem: bool = False) -> float:
    """Mean :func:`vqa_accuracy` over questions (0.0 for none)."""
    if len(predictions) != len(gt_answers):
        raise ValueError(f"{len(predictions)} predictions for {len(gt_answers)} questions")
    if not predictions:
        return 0.0
    return sum(vqa_accuracy(p, g, stem) for p, g in zip(predictions, gt_answers, strict=True)) / len(predictions)


# ----------------------------------------------------------------------------- Porter stemmer (1980)

_VOWELS = frozenset("aeiou")


def _is_consonant(w: str, i: int) -> bool:
    c = w[i]
    if c in _VOWELS:
        return False
    if c == "y":
        return i == 0 or not _is_consonant(w, i - 1)
    return True


def _measure(stem: str) -> int:
    """m in [C](VC)^m[V]: the number of vowel-consonant sequences."""
    m, prev_vowel = 0, False
    for i in range(len(stem)):
        vowel = not _is_consonant(stem, i)
        if prev_vowel and not vowel:
            m += 1
        prev_vowel = vowel
    return m


def _has_vowel(stem: str) -> bool:
    return any(not _is_consonant(stem, i) for i in range(len(stem)))


def _double_consonant(w: str) -> bool:
    return len(w) >= 2 and w[-1] == w[-2] and _is_consonant(w, len(w) - 1)


def _cvc(w: str) -> bool:
    """*o: ends consonant-vowel-consonant, the last not w, x or y."""
    if len(w) < 3:
        return False
    return (_is_consonant(w, len(w) - 3) and not _is_consonant(w, len(w) - 2) and _is_consonant(w, len(w) - 1)
            and w[-1] not in "wxy")


def _replace_longest(w: str, rules: Sequence[tuple[str, str]], min_m: int) -> str:
    """Apply the rule with the longest matching suffix if its stem has m > min_m."""
    for suffix, repl in sorted(rules, key=lambda r: -len(r[0])):
        if w.endswith(suffix):
            stem = w[: len(w) - len(suffix)]
            return stem + repl if _measure(stem) > min_m else w
    return w


_STEP2 = (("ational", "ate"), ("tional", "tion"), ("enci", "ence"), ("anci", "ance"), ("izer", "ize"),
          ("abli", "able"), ("alli", "al"), ("entli", "ent"), ("eli", "e"), ("ousli", "ous"), ("ization", "ize"),
          ("ation", "ate"), ("ator", "ate"), ("alism", "al"), ("iveness", "ive"), ("fulness", "ful"),
          ("ousness", "ous"), ("aliti", "al"), ("iviti", "ive"), ("biliti", "ble"))
_STEP3 = (("icate", "ic"), ("ative", ""), ("alize", "al"), ("iciti", "ic"), ("ical", "ic"), ("ful", ""), ("ness", ""))
_STEP4 = ("al", "ance", "ence", "er", "ic", "able", "ible", "ant", "ement", "ment", "ent", "ion", "ou", "ism", "ate",
          "iti", "ous", "ive", "ize")


def porter_stem(word: str) -> str:
    """The Porter (1980) stem of one lower-case word; words of 1-2 letters are kept.

    >>> [porter_stem(w) for w in ("morning", "riding", "buildings", "elevators", "ponies")]
    ['morn', 'ride', 'build', 'elev', 'poni']
    """
    w = word
    if len(w) <= 2 or not w.isalpha():
        return w
    # step 1a
    if w.endswith(("sses", "ies")):
        w = w[:-2]
    elif w.endswith("s") and not w.endswith("ss"):
        w = w[:-1]
    # step 1b
    cleanup = False
    if w.endswith("eed"):
        if _measure(w[:-3]) > 0:
            w = w[:-1]
    elif w.endswith("ed") and _has_vowel(w[:-2]):
        w, cleanup = w[:-2], True
    elif w.endswith("ing") and _has_vowel(w[:-3]):
        w, cleanup = w[:-3], True
    if cleanup:
        if w.endswith(("at", "bl", "iz")):
            w += "e"
        elif _double_consonant(w) and w[-1] not in "lsz":
            w = w[:-1]
        elif _measure(w) == 1 and _cvc(w):
            w += "e"
    # step 1c
    if w.endswith("y") and _has_vowel(w[:-1]):
        w = w[:-1] + "i"
    # steps 2 and 3
    w = _replace_longest(w, _STEP2, 0)
    w = _replace_longest(w, _STEP3, 0)
    # step 4 (longest suffix; "ion" only after s or t)
    for suffix in sorted(_STEP4, key=len, reverse=True):
        if w.endswith(suffix):
            stem = w[: len(w) - len(suffix)]
            if _measure(stem) > 1 and (suffix != "ion" or stem.endswith(("s", "t"))):
                w = stem
            break
    # step 5a
    if w.endswith("e"):
        stem = w[:-1]
        m = _measure(stem)
        if m > 1 or (m == 1 and not _cvc(stem)):
            w = stem
    # step 5b
    if _measure(w) > 1 and _double_consonant(w) and w.endswith("l"):
        w = w[:-1]
    return w
