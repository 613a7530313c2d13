"""Street signs of many countries against people's names: which does the text classifier keep?

Street signs are the public text users ask about most ("What street is this?"), and most
streets are named after someone: "Olof Palmes gata", "Willy-Brandt-Platz", "avenue Augustin
Poirier", "Kyle Stream". A sign the classifier reads as a name is hidden, and the answer is
lost; a name it reads as a street is sent in the clear. This check measures both sides on
the line as read, with no image and no OCR (the classifier alone, as ``name_cues.py`` does):

* **streets**: ``--per-locale`` street names of each Latin-script locale of the ``faker``
  package (its street lists and formats: namesakes, street words of each language), and
  :data:`REAL_STREETS`, real streets of 40 countries written out here (not from faker);
  the share read as ``public``, per locale;
* **names**: as many people's names of each locale (``name()`` and a given name with a
  surname), plain and in capitals; the share read as private (any private category).

    .venv/bin/python benchmarks/street_names.py

Writes ``--out`` (default ``runs/bench/street_names.json``) atomically.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

#: Faker locales in Latin script (or romanized), with street lists or formats of their own.
LOCALES = ("en_US", "en_GB", "en_AU", "en_NZ", "en_IN", "de_DE", "de_AT", "de_CH", "nl_NL", "nl_BE", "sv_SE",
           "da_DK", "no_NO", "fi_FI", "fr_FR", "it_IT", "es_ES", "es_MX", "pt_PT", "pt_BR", "pl_PL", "cs_CZ",
           "sk_SK", "sl_SI", "hr_HR", "hu_HU", "ro_RO", "id_ID", "tr_TR", "et_EE", "lv_LV", "lt_LT")
#: Locales whose people's names are checked besides (names only: their streets use English formats or another script).
NAME_ONLY_LOCALES = ("en_PH", "fil_PH", "vi_VN", "ga_IE", "yo_NG", "zu_ZA", "tw_GH", "sw")

#: Real streets, squares and avenues, as their signs write them.
REAL_STREETS = (
    "Kurfürstendamm", "Unter den Linden", "Karl-Liebknecht-Straße", "Rosa-Luxemburg-Platz", "Konrad-Adenauer-Ufer",
    "Leopoldstraße", "Königsallee", "Reeperbahn", "Mariahilfer Straße", "Bahnhofstrasse", "Rämistrasse",
    "Keizersgracht", "Damrak", "Leidseplein", "Vondelstraat", "Johan Huizingalaan", "Meir", "Grote Markt",
    "Strøget", "Nyhavn", "H.C. Andersens Boulevard", "Vesterbrogade", "Karl Johans gate", "Bogstadveien",
    "Drottninggatan", "Sveavägen", "Götgatan", "Stureplan", "Mannerheimintie", "Aleksanterinkatu", "Esplanadi",
    "Champs-Élysées", "Rue de Rivoli", "Boulevard Saint-Germain", "Avenue des Champs-Élysées",
    "Place de la Concorde", "Rue du Faubourg Saint-Honoré", "Quai d'Orsay", "Gran Vía", "Calle de Alcalá",
    "Paseo de la Castellana", "Plaza Mayor", "La Rambla", "Avinguda Diagonal", "Via del Corso", "Via Condotti",
    "Piazza Navona", "Corso Vittorio Emanuele II", "Via Giuseppe Garibaldi", "Rua Augusta", "Avenida da Liberdade",
    "Avenida Paulista", "Rua Oscar Freire", "Praça da Sé", "Avenida Insurgentes Sur", "Paseo de la Reforma",
    "Calle Madero", "Avenida 9 de Julio", "Andrássy út", "Váci utca", "Nowy Świat", "ul. Marszałkowska",
    "Václavské náměstí", "Nerudova", "Strada Lipscani", "Bulevardul Unirii", "Jalan Thamrin", "Jl. Sudirman",
    "Orchard Road", "Nathan Road", "Oxford Street", "Abbey Road", "Baker Street", "Downing Street",
    "Portobello Road", "Carnaby Street", "Princes Street", "Royal Mile", "Grafton Street", "O'Connell Street",
    "Fifth Avenue", "Wall Street", "Lombard Street", "Bourbon Street", "Hollywood Boulevard", "Rodeo Drive",
    "Michigan Avenue", "Pennsylvania Avenue", "Peachtree Street", "Martin Luther King Jr. Boulevard",
    "Yonge Street", "Sainte-Catherine Street", "Collins Street", "George Street", "Queen Street", "Lambton Quay",
    "Cuba Street", "Long Street", "Nelson Mandela Boulevard", "Chandni Chowk", "Mahatma Gandhi Road",
    "Linking Road", "Connaught Place", "Sukhumvit Road", "Khao San Road", "Orchard Boulevard", "Jane Street",
    "Elm Grove", "Maple Close", "Kings Cross", "Penny Lane", "Abbey Lane", "Acacia Avenue", "Harley Street",
    "Savile Row", "Church Street", "Mill Lane", "Station Road", "High Street",
)


def seeded_faker(locale: str, seed: int = 0) -> Any:
    """A ``faker`` instance for ``locale`` whose draws follow ``seed`` (and ``PYTHONHASHSEED``):
    the format and name benchmarks draw their lines with it."""
    from faker import Faker

    fake = Faker(locale)
    fake.seed_instance(seed)
    return fake


def streets_read(text_category: Any, per_locale: int) -> dict[str, Any]:
    """Per locale: how many distinct faker street names read as public, and a few that did not."""
    out: dict[str, Any] = {}
    for locale in LOCALES:
        fake = seeded_faker(locale)
        names = list(dict.fromkeys(fake.street_name() for _ in range(per_locale)))
        hidden = [n for n in names if text_category(n) != "public"]
        out[locale] = {"streets": len(names), "public": len(names) - len(hidden), "hidden": hidden[:8]}
    return out


def names_read(text_category: Any, per_locale: int) -> dict[str, Any]:
    """Per locale: how many distinct people's names (plain and capitals) read as private, and
    every one that did not."""
    out: dict[str, Any] = {}
    for locale in (*LOCALES, *NAME_ONLY_LOCALES):
        fake = seeded_faker(locale)
        names = list(dict.fromkeys([fake.name() for _ in range(per_locale)]
                                   + [f"{fake.first_name()} {fake.last_name()}" for _ in range(per_locale)]))
        names += [n.upper() for n in names]
        public = [n for n in names if text_category(n) == "public"]
        out[locale] = {"names": len(names), "private": len(names) - len(public), "public": public}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per-locale", type=int, default=150, help="street names and people's names drawn per locale")
    ap.add_argument("--out", default="runs/bench/street_names.json")
    args = ap.parse_args(argv)

    from veil.fsutil import atomic_write_text
    from veil.privacy.pii import text_category

    streets = streets_read(text_category, args.per_locale)
    real_hidden = [s for s in REAL_STREETS if text_category(s) != "public"]
    names = names_read(text_category, args.per_locale)
    print(f"{'locale':8} {'streets public':>15} {'names private':>14}  streets hidden (examples)")
    for locale in (*LOCALES, *NAME_ONLY_LOCALES):
        s, n = streets.get(locale), names[locale]
        street_col = f"{s['public']}/{s['streets']}" if s else "-"
        examples = ", ".join(s["hidden"][:4]) if s else ""
        print(f"{locale:8} {street_col:>15} {n['private']:>7}/{n['names']:<6}  {examples}")
    n_streets = sum(s["streets"] for s in streets.values())
    n_public = sum(s["public"] for s in streets.values())
    n_names = sum(n["names"] for n in names.values())
    n_private = sum(n["private"] for n in names.values())
    real_public = len(REAL_STREETS) - len(real_hidden)
    print(f"\nfaker streets: {n_public} of {n_streets} public ({100 * n_public / n_streets:.1f} %); real streets: "
          f"{real_public} of {len(REAL_STREETS)} public; people's names: {n_private} of {n_names} private "
          f"({100 * n_private / n_names:.2f} %)")
    print("real streets hidden: " + ", ".join(real_hidden))
    leaked = [name for n in names.values() for name in n["public"]]
    if leaked:
        print("names read as public: " + ", ".join(leaked[:30]))
    atomic_write_text(args.out, json.dumps({
        "per_locale": args.per_locale, "streets": streets, "streets_public": n_public, "streets_total": n_streets,
        "real_streets": len(REAL_STREETS), "real_public": real_public, "real_hidden": real_hidden,
        "names": names, "names_private": n_private, "names_total": n_names}, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
