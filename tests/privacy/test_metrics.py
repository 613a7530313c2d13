"""Metrics on hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from veil.privacy.metrics import (
    char_error_rate,
    cmap,
    levenshtein,
    macro_f1,
    normalize_text,
    per_attribute_ap,
    per_attribute_f1,
)


class TestAveragePrecision:
    def test_perfect_ranking_is_one(self) -> None:
        y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
        s = np.array([[0.9, 0.1], [0.2, 0.8], [0.8, 0.7], [0.1, 0.2]])
        assert cmap(y, s) == pytest.approx(1.0)

    def test_known_ranking(self) -> None:
        # Ranked: pos (P=1), neg, pos (P=2/3), neg -> AP = (1 + 2/3) / 2 = 5/6.
        y = np.array([1, 0, 1, 0])
        s = np.array([0.9, 0.8, 0.7, 0.1])
        assert per_attribute_ap(y, s) == {0: pytest.approx(5 / 6)}
        assert cmap(y, s) == pytest.approx(5 / 6)

    def test_macro_average_of_columns(self) -> None:
        y = np.array([[1, 1], [0, 0], [1, 0], [0, 1]])
        # column 0: perfect (1.0); column 1: ranked neg, pos, neg, pos -> (1/2 + 2/4) / 2 = 1/2
        s = np.array([[0.9, 0.3], [0.1, 0.9], [0.8, 0.2], [0.2, 0.1]])
        assert per_attribute_ap(y, s) == {0: pytest.approx(1.0), 1: pytest.approx(0.5)}
        assert cmap(y, s) == pytest.approx(0.75)

    def test_single_class_columns_are_skipped(self) -> None:
        y = np.array([[1, 1, 0], [0, 1, 0], [1, 1, 0], [0, 1, 0]])
        s = np.array([[0.9, 0.1, 0.5], [0.8, 0.2, 0.5], [0.7, 0.3, 0.5], [0.1, 0.4, 0.5]])
        assert set(per_attribute_ap(y, s)) == {0}
        assert cmap(y, s) == pytest.approx(5 / 6)

    def test_nan_when_no_column_left(self) -> None:
        y = np.ones((3, 2), int)
        assert math.isnan(cmap(y, np.random.default_rng(0).random((3, 2))))
        assert math.isnan(macro_f1(y, np.zeros((3, 2))))

    def test_constant_scores_give_prevalence(self) -> None:
        y = np.array([[1], [0], [0], [0], [1], [0], [0], [0]])
        assert cmap(y, np.full((8, 1), 0.3)) == pytest.approx(0.25)

    def test_shape_mismatch_raises(self) -> None:
        with pytest.raises(ValueError, match="shape"):
            cmap(np.zeros((3, 2)), np.zeros((3, 3)))
        with pytest.raises(ValueError, match="only 0 and 1"):
            cmap(np.array([0, 2, 1]), np.zeros(3))


class TestMacroF1:
    def test_hand_computed(self) -> None:
        y = np.array([[1, 0], [0, 0], [1, 1], [0, 1]])
        # column 0: pred [1, 1, 0, 0] -> TP 1, FP 1, FN 1 -> F1 = 2 / 4 = 0.5; column 1: perfect.
        s = np.array([[0.9, 0.1], [0.6, 0.2], [0.4, 0.8], [0.1, 0.9]])
        assert per_attribute_f1(y, s) == {0: pytest.approx(0.5), 1: pytest.approx(1.0)}
        assert macro_f1(y, s) == pytest.approx(0.75)

    def test_threshold_and_zero_division(self) -> None:
        y = np.array([1, 0, 1, 0])
        s = np.array([0.4, 0.3, 0.4, 0.1])
        assert macro_f1(y, s) == 0.0  # nothing predicted positive: F1 defined as 0
        assert macro_f1(y, s, threshold=0.35) == pytest.approx(1.0)


class TestText:
    @pytest.mark.parametrize(
        "a, b",
        [
            ("+44 161-496 0734", "+441614960734"),
            ("0161 496 0734", "(0161) 496-0734"),
            ("John Smith", "JOHN-SMITH"),
            ("ab 12 cd", "AB12CD"),
        ],
    )
    def test_normalize_matches_formats(self, a: str, b: str) -> None:
        assert normalize_text(a) == normalize_text(b)

    def test_normalize_keeps_only_upper_alnum(self) -> None:
        assert normalize_text("+44 161-496 0734") == "441614960734"
        assert normalize_text("Mr. O'Neil, #7!") == "MRONEIL7"

    @pytest.mark.parametrize(
        "a, b, d", [("kitten", "sitting", 3), ("", "abc", 3), ("abc", "abc", 0), ("flaw", "lawn", 2)]
    )
    def test_levenshtein(self, a: str, b: str, d: int) -> None:
        assert levenshtein(a, b) == d
        assert levenshtein(b, a) == d

    @pytest.mark.parametrize(
        "ref, hyp, cer",
        [
            ("ABC", "ABD", 1 / 3),
            ("ABC", "ABC", 0.0),
            ("abc", "A B C", 0.0),
            ("ABC", "", 1.0),
            ("AB", "XXXXXXXX", 1.0),  # capped
            ("0161 496 0734", "0161 496 O734", 1 / 11),
            ("", "", 0.0),
            ("--", "X", 1.0),
        ],
    )
    def test_char_error_rate(self, ref: str, hyp: str, cer: float) -> None:
        assert char_error_rate(ref, hyp) == pytest.approx(cer)


def test_rank1_identification_on_analytic_galleries() -> None:
    from veil.errors import ConfigError
    from veil.privacy.pretrained import rank1_identification

    gallery = [np.eye(4)[i] for i in range(4)]
    assert rank1_identification(gallery, gallery) == 1.0
    swapped = [gallery[1], gallery[0], gallery[2] + 0.4 * gallery[3], np.full(4, 0.5)]
    assert rank1_identification(swapped, gallery) == 0.25  # only the third stays nearest to itself
    assert np.isnan(rank1_identification([], []))
    with pytest.raises(ConfigError):
        rank1_identification(gallery[:2], gallery)
