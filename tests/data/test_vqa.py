"""VQA soft accuracy and the official answer normalization, case by case (each expected
value worked out by hand from the rules in veil.data.vqa's docstring)."""

from __future__ import annotations

import pytest

from veil.data.vqa import normalize_vqa_answer, porter_stem, vqa_accuracy, vqa_score


@pytest.mark.parametrize(
    ("raw", "expected", "rule"),
    [
        ("Yes", "yes", "lower case"),
        ("\tyes\n", "yes", "tabs/newlines -> spaces, stripped"),
        ("yes!", "yes", "punctuation not next to a space becomes a space, then collapsed"),
        ("fire-truck", "fire truck", "hyphen inside a word becomes a space"),
        ("fire - truck", "fire truck", "a mark next to a space is deleted"),
        ("red, white", "red white", "comma followed by a space is deleted"),
        ("1,000", "1000", "digit,digit: every mark is deleted, not spaced"),
        ("1,000 people, roughly.", "1000 people roughly", "digit-comma rule applies to the whole text"),
        ("black/white", "black white", "slash becomes a space"),
        ("(a) cat", "cat", "brackets, then the article goes"),
        ("3.5", "3.5", "a period before a digit stays"),
        ("mr. smith", "mr smith", "other periods are deleted"),
        ("12:30", "12:30", "colon is not in the official mark list"),
        ("don't", "don't", "apostrophes are kept"),
        ("dont", "don't", "contractions table restores the apostrophe"),
        ("isnt it", "isn't it", "contractions table, word by word"),
        ("two", "2", "number word -> digit"),
        ("None", "0", "'none' counts as zero"),
        ("Ten", "10", "number words up to ten, after lower case"),
        ("a dog", "dog", "article a"),
        ("An apple", "apple", "article an"),
        ("the beatles", "beatles", "article the"),
        ("the two dogs", "2 dogs", "article and number together"),
        ("rock & roll", "rock & roll", "& is not in the official mark list"),
    ],
)
def test_normalization_rules(raw: str, expected: str, rule: str) -> None:
    assert normalize_vqa_answer(raw) == expected, rule


TENS = ["2", "2", "2", "3", "3", "3", "3", "3", "3", "3"]


@pytest.mark.parametrize(
    ("pred", "gts", "expected"),
    [
        ("3", TENS, 1.0),  # 7 matches: every leave-one-out subset keeps >= 3
        ("2", TENS, 0.9),  # 3 matches: 3 subsets see 2 (2/3), 7 see 3 (1) -> (2 + 7) / 10
        ("two", TENS, 0.9),  # number word normalized first
        ("5", TENS, 0.0),
        ("cat", ["cat", "cat"] + ["dog"] * 8, 0.6),  # 2 matches: 2 x 1/3 + 8 x 2/3 = 6 / 10
        ("cat", ["cat"] + ["dog"] * 9, 0.3),  # 1 match: 9 x 1/3 / 10
        ("cat", ["cat"] * 4 + ["dog"] * 6, 1.0),  # 4 matches: every subset keeps >= 3
        ("The Cat!", ["cat"] * 3 + ["dog"] * 7, 0.9),  # normalization on the prediction
        ("cat", ["the cat", "a cat", "cat."] + ["dog"] * 7, 0.9),  # and on the human answers
        ("cat", ["cat"], 1.0),  # a single answer: exact match
        ("dog", ["cat"], 0.0),
    ],
)
def test_soft_accuracy(pred: str, gts: list[str], expected: float) -> None:
    assert vqa_accuracy(pred, gts) == pytest.approx(expected)


def test_okvqa_stemming_matches_stemmed_ground_truth() -> None:
    # OK-VQA v1.1 stores stemmed answers ("morn"); a raw prediction only matches when stemmed
    gts = ["morn"] * 6 + ["night"] * 4
    assert vqa_accuracy("morning", gts, stem=False) == 0.0
    assert vqa_accuracy("morning", gts, stem=True) == 1.0
    assert vqa_accuracy("Riding", ["ride"] * 10, stem=True) == 1.0
    assert normalize_vqa_answer("the buildings", stem=True) == "build"


@pytest.mark.parametrize(
    ("word", "stem"),
    [
        # examples from Porter (1980) and stems seen in OK-VQA v1.1 answers
        ("caresses", "caress"), ("ponies", "poni"), ("cats", "cat"), ("agreed", "agre"), ("feed", "feed"),
        ("plastered", "plaster"), ("motoring", "motor"), ("sing", "sing"), ("conflated", "conflat"),
        ("hopping", "hop"), ("falling", "fall"), ("filing", "file"), ("happy", "happi"), ("relational", "relat"),
        ("generalization", "gener"), ("hopeful", "hope"), ("goodness", "good"), ("adjustment", "adjust"),
        ("adoption", "adopt"), ("controll", "control"), ("rate", "rate"), ("morning", "morn"), ("riding", "ride"),
        ("elevators", "elev"), ("hamburgers", "hamburg"), ("pudding", "pud"), ("directions", "direct"), ("as", "as"),
    ],
)
def test_porter_stemmer(word: str, stem: str) -> None:
    assert porter_stem(word) == stem


def test_score_and_errors() -> None:
    assert vqa_score(["3", "5"], [TENS, TENS]) == pytest.approx(0.5)
    assert vqa_score([], []) == 0.0
    with pytest.raises(ValueError):
        vqa_accuracy("x", [])
    with pytest.raises(ValueError):
        vqa_score(["x"], [])
