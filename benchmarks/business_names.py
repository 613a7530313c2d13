"""Banks, firms and shops by name against people's names: which does the text classifier keep?

A firm's name is public text on its own sign, but many are made of words no dictionary
knows ("Alpha Bank", "Monzo Bank", "Royal Bank of Scotland", "HDFC Bank"), which the
classifier may read as a person's name. This check measures both sides on the line as read,
with no image and no OCR, as ``place_names.py`` does:

* **banks**: the real bank names ``faker`` lists for eleven locales (Latin script only;
  written by others, not for this check), the share read ``public``;
* **firms**: ``faker``'s made-up company names of ten locales (many named after surnames,
  "Schmidt GmbH"), the share read ``public``;
* **names**: people's names and surnames alone (``place_names.py``'s draws), the share read
  as private.

    PYTHONHASHSEED=0 .venv/bin/python benchmarks/business_names.py

Writes ``--out`` (default ``runs/bench/business_names.json``) atomically.
"""

from __future__ import annotations

import argparse
import importlib
import json
from typing import Any

from place_names import names_read
from street_names import seeded_faker

#: ``faker`` locales with a list of real banks.
BANK_LOCALES = ("az_AZ", "de_CH", "el_GR", "en_GB", "en_IN", "es_AR", "es_CO", "es_MX", "nl_BE", "pt_BR", "uk_UA")
#: ``faker`` locales whose company names are drawn.
FIRM_LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pt_BR", "pl_PL", "sv_SE")


def bank_names() -> list[str]:
    """Every distinct bank name of :data:`BANK_LOCALES` mostly in Latin letters."""
    from veil.privacy.pii import FOREIGN_SCRIPT_SHARE, foreign_script_share

    banks: dict[str, None] = {}
    for locale in BANK_LOCALES:
        for name in importlib.import_module(f"faker.providers.bank.{locale}").Provider.banks:
            if foreign_script_share(name) < FOREIGN_SCRIPT_SHARE:
                banks[name] = None
    return list(banks)


def firm_names(locale: str, n: int) -> list[str]:
    """``n`` company names ``faker`` makes up for ``locale`` (distinct)."""
    fake = seeded_faker(locale)
    return list(dict.fromkeys(fake.company() for _ in range(n)))


def public_read(text_category: Any, lines: list[str]) -> dict[str, Any]:
    """How many of ``lines`` read ``public``, and a few that did not."""
    hidden = [line for line in lines if text_category(line) != "public"]
    return {"lines": len(lines), "public": len(lines) - len(hidden), "hidden": hidden[:12]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per-locale", type=int, default=150, help="firms, people's names and surnames per locale")
    ap.add_argument("--out", default="runs/bench/business_names.json")
    args = ap.parse_args(argv)

    from veil.fsutil import atomic_write_text
    from veil.privacy.pii import text_category

    banks = public_read(text_category, bank_names())
    firms = {loc: public_read(text_category, firm_names(loc, args.per_locale)) for loc in FIRM_LOCALES}
    names = names_read(text_category, args.per_locale)
    print(f"banks: {banks['public']} of {banks['lines']} public; hidden e.g. {', '.join(banks['hidden'][:8])}")
    for loc, row in firms.items():
        print(f"firms {loc}: {row['public']} of {row['lines']} public; hidden e.g. {', '.join(row['hidden'][:4])}")
    for kind, n in names.items():
        print(f"{kind}: {n['private']} of {n['names']} private ({100 * n['private'] / n['names']:.2f} %)")
    atomic_write_text(args.out, json.dumps({"banks": banks, "firms": firms, "names": names}, indent=1,
                                           ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
