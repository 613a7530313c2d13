"""Towns and cities on signs against people's names: which does the text classifier keep?

Road signs, station boards, timetables and shop fronts name places ("Southampton 12 km",
"Next stop: Kislovodsk", "Frankfurt am Main"), and users ask where a photo was taken. The
text classifier hides a word no dictionary knows, since most family names are such words;
so are most towns. This check measures both sides on the line as read, with no image and no
OCR (the classifier alone, as ``street_names.py`` and ``name_cues.py`` do):

* **towns**: ``--per-locale`` town names of each ``faker`` locale whose city list is real
  towns (not invented ones: "West Tammyfort"), and the share read as ``public``; apart,
  those the place list (:mod:`veil.privacy.places`, towns of 5,000 people or more) does not
  hold, which only the other cues can keep;
* **cities**: the cities of the IANA time-zone database (``zoneinfo``: a list made apart from
  GeoNames), alone and in the lines signs write around them ("Welcome to ...", "... 12 km",
  "Next stop: ...", "Trains to ...");
* **names**: people's names of many locales (``name()`` and a given name with a surname,
  plain and in capitals) and surnames alone (every locale's ``last_name()``, plain and in
  capitals), the share read as private (any private category): a town's name that is a
  person's too must stay hidden.

    PYTHONHASHSEED=0 .venv/bin/python benchmarks/place_names.py

``faker``'s draws follow Python's string hashing, so the same seed draws the same lines only
with ``PYTHONHASHSEED`` fixed. Writes ``--out`` (default ``runs/bench/place_names.json``) atomically.
"""

from __future__ import annotations

import argparse
import json
import warnings
from typing import Any

from street_names import seeded_faker

#: Faker locales whose ``city()`` draws from a list of real towns.
TOWN_LOCALES = ("de_DE", "de_AT", "de_CH", "nl_NL", "sv_SE", "da_DK", "fi_FI", "es_ES", "pt_PT", "it_IT", "pl_PL",
                "cs_CZ", "sk_SK", "hu_HU", "ro_RO", "hr_HR", "sl_SI", "id_ID", "en_IN")
#: Locales whose people's names are checked.
NAME_LOCALES = ("en_US", "en_GB", "en_AU", "en_IN", "de_DE", "de_AT", "nl_NL", "sv_SE", "da_DK", "no_NO", "fi_FI",
                "fr_FR", "it_IT", "es_ES", "es_MX", "pt_PT", "pt_BR", "pl_PL", "cs_CZ", "sk_SK", "sl_SI", "hr_HR",
                "hu_HU", "ro_RO", "id_ID", "tr_TR", "et_EE", "lv_LV", "lt_LT", "en_PH", "vi_VN", "ga_IE", "yo_NG",
                "zu_ZA", "sw", "az_AZ")
#: How signs write a place's name.
SIGN_FORMS = ("Welcome to {}", "{} 12 km", "Next stop: {}", "Trains to {}")


def towns_read(text_category: Any, per_locale: int, listed: Any) -> dict[str, Any]:
    """Per locale: distinct towns drawn, read public, and those of them the place list lacks."""
    out: dict[str, Any] = {}
    for locale in TOWN_LOCALES:
        fake = seeded_faker(locale)
        towns = list(dict.fromkeys(fake.city() for _ in range(per_locale)))
        hidden = [t for t in towns if text_category(t) != "public"]
        unlisted = [t for t in towns if not listed(t)]
        out[locale] = {"towns": len(towns), "public": len(towns) - len(hidden), "hidden": hidden[:8],
                       "unlisted": len(unlisted),
                       "unlisted_public": sum(text_category(t) == "public" for t in unlisted)}
    return out


def zone_cities() -> list[str]:
    """The city of each IANA time zone ("America/Argentina/Buenos_Aires" is "Buenos Aires")."""
    import zoneinfo

    cities = {zone.rsplit("/", 1)[-1].replace("_", " ") for zone in zoneinfo.available_timezones()
              if "/" in zone and not zone.startswith(("Etc/", "SystemV/", "US/", "Canada/", "Brazil/", "Mexico/",
                                                      "Chile/"))}
    return sorted(c for c in cities if len(c) > 3 and not c.isupper() and not any(ch.isdigit() for ch in c))


def names_read(text_category: Any, per_locale: int) -> dict[str, Any]:
    """People's names and surnames alone: how many read as private, and every one that did not."""
    from faker.config import AVAILABLE_LOCALES

    people: list[str] = []
    for locale in NAME_LOCALES:
        fake = seeded_faker(locale, 1)
        people += [fake.name() for _ in range(per_locale)] + [f"{fake.first_name()} {fake.last_name()}"
                                                              for _ in range(per_locale)]
    surnames: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecated locale aliases
        for locale in AVAILABLE_LOCALES:
            fake = seeded_faker(locale, 5)
            try:
                surnames += [fake.last_name() for _ in range(per_locale)]
            except (AttributeError, TypeError):
                continue
    out: dict[str, Any] = {}
    for kind, lines in (("people", people), ("surnames", surnames)):
        lines = list(dict.fromkeys(lines))
        lines += [n.upper() for n in lines]
        public = [n for n in lines if text_category(n) == "public"]
        out[kind] = {"names": len(lines), "private": len(lines) - len(public), "public": public}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per-locale", type=int, default=150, help="towns, people's names and surnames drawn per locale")
    ap.add_argument("--out", default="runs/bench/place_names.json")
    args = ap.parse_args(argv)

    from veil.fsutil import atomic_write_text
    from veil.privacy.pii import public_place, text_category

    def listed(town: str) -> bool:
        return public_place(town.split())

    towns = towns_read(text_category, args.per_locale, listed)
    print(f"{'locale':8} {'towns public':>13} {'unlisted public':>16}  hidden (examples)")
    for locale, t in towns.items():
        print(f"{locale:8} {t['public']:>6}/{t['towns']:<6} {t['unlisted_public']:>8}/{t['unlisted']:<7}  "
              + ", ".join(t["hidden"][:4]))
    n_towns, n_public = sum(t["towns"] for t in towns.values()), sum(t["public"] for t in towns.values())
    n_unlisted = sum(t["unlisted"] for t in towns.values())
    n_unlisted_public = sum(t["unlisted_public"] for t in towns.values())

    cities = zone_cities()
    city_hidden = [c for c in cities if text_category(c) != "public"]
    signs = {form: sum(text_category(form.format(c)) == "public" for c in cities) for form in SIGN_FORMS}
    names = names_read(text_category, args.per_locale)

    print(f"\nfaker towns: {n_public} of {n_towns} public ({100 * n_public / n_towns:.1f} %); of them outside the "
          f"place list: {n_unlisted_public} of {n_unlisted}")
    print(f"time-zone cities: {len(cities) - len(city_hidden)} of {len(cities)} public; hidden: "
          + ", ".join(city_hidden[:30]))
    for form, n in signs.items():
        print(f"  {form.format('...'):16} {n} of {len(cities)} public")
    for kind, n in names.items():
        print(f"{kind}: {n['private']} of {n['names']} private ({100 * n['private'] / n['names']:.2f} %)"
              + (("; read as public: " + ", ".join(n["public"][:30])) if n["public"] else ""))
    atomic_write_text(args.out, json.dumps({
        "per_locale": args.per_locale, "towns": towns, "towns_public": n_public, "towns_total": n_towns,
        "unlisted_total": n_unlisted, "unlisted_public": n_unlisted_public,
        "zone_cities": len(cities), "zone_cities_hidden": city_hidden, "sign_forms_public": signs,
        "names": names}, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
