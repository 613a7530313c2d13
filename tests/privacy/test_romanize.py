"""Names in the scripts of India spelled as badges spell them in Latin letters."""

from __future__ import annotations

import pytest

from veil.privacy.romanize import romanize_indic


@pytest.mark.parametrize(("written", "latin"), [
    ("राजेश", "rajesh"), ("विजय", "vijay"), ("संजय", "sanjay"), ("संपत", "sampat"),  # Devanagari
    ("मित्र", "mitra"),  # a final consonant cluster keeps its vowel
    ("ज़ाकिर", "zakir"),  # a nukta: the loan sound
    ("রাজেশ", "rajesh"), ("প্রিয়া", "priya"),  # Bengali
    ("અંકિતા", "ankita"),  # Gujarati
    ("ଅକ୍ଷୟ", "akshay"),  # Oriya
    ("சுரேஷ்", "suresh"),  # Tamil: the vowel killer ends the word, no inherent vowel dropped
    ("रवि कुमार", "ravi kumar"),
])
def test_brahmic_names_are_spelled_as_in_latin(written: str, latin: str) -> None:
    assert romanize_indic(written) == latin


def test_other_text_passes_through() -> None:
    assert romanize_indic("Rajesh Hill, 14 Elm Road") == "Rajesh Hill, 14 Elm Road"
    assert romanize_indic("Иван 王") == "Иван 王"
    assert romanize_indic("") == ""


def test_a_name_listed_only_in_its_own_script_is_a_name_cue() -> None:
    """Faker's hi_IN locale lists "राजेश" only in Devanagari; spelled in Latin letters it makes
    "MARSH, RAJESH" and "Property of Rajesh Hill" names (both read off real photos before)."""
    from veil.privacy.pii import text_category

    assert text_category("MARSH, RAJESH") == "name"
    assert text_category("Property of Rajesh Hill") == "name"
    assert text_category("Suresh Baker") == "name"
