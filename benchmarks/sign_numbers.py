"""Numbers on signs against private numbers: which does the text classifier keep?

Shop windows and notices are full of numbers: opening hours ("Mo-Sa 9.00-20.00",
"Breakfast 7:00 - 11:00"), prices ("Pint £4.50", "Kaffee 2,80 €"), sales ("SALE 50% OFF"),
founding years ("Est. 1902"), spans of years ("1914-1918") and measures ("Max 3.5 t",
"30 km/h"). Read as formats, many looked like a phone number (seven digits in groups) or a
plate (letters and digits), and were hidden. This check measures both sides on the line as
read, with no image and no OCR, as ``private_formats.py`` does:

* **sign numbers**: lines drawn from :data:`TEMPLATES` (English, German, French, Spanish,
  Italian, Dutch; numbers drawn at random), per kind; the share read ``public``;
* **private strings**: ``private_formats.py``'s draws (phone numbers, plates, IDs, cards,
  IBANs, e-mails, passports, names of 54 ``faker`` locales); the share read private.

    PYTHONHASHSEED=0 .venv/bin/python benchmarks/sign_numbers.py

Writes ``--out`` (default ``runs/bench/sign_numbers.json``) atomically.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Callable
from typing import Any

from private_formats import formats_read, print_formats


def _hour(r: random.Random, lo: int = 6, hi: int = 23) -> int:
    return r.randint(lo, hi)


def _hours(r: random.Random, sep: str) -> str:
    start, end = _hour(r, 6, 12), _hour(r, 13, 23)
    span = f"{start}{sep}{r.choice(['00', '30'])} - {end}{sep}{r.choice(['00', '30'])}"
    return span.replace(" ", r.choice(["", " "]))


def _price(r: random.Random, comma: bool = False) -> str:
    whole, cents = r.randint(1, 60), r.choice(["00", "50", "90", "95", "99", str(r.randint(10, 99))])
    return f"{whole}{',' if comma else '.'}{cents}"


#: Sign lines with numbers, per kind; ``r`` draws the numbers.
TEMPLATES: dict[str, tuple[Callable[[random.Random], str], ...]] = {
    "opening hours": (
        lambda r: f"Open {_hours(r, ':')}",
        lambda r: f"Mon-Fri {_hours(r, ':')}",
        lambda r: f"Breakfast {_hours(r, ':')}",
        lambda r: f"Happy hour {_hour(r, 16, 18)}:00-{_hour(r, 19, 21)}:00",
        lambda r: f"Mo-Sa {_hours(r, '.')}",
        lambda r: f"Öffnungszeiten {_hours(r, '.')} Uhr",
        lambda r: f"Lun-Ven {_hour(r, 8, 10)}h30-{_hour(r, 17, 20)}h00",
        lambda r: f"Horario {_hours(r, ':')}",
        lambda r: f"Orario {_hours(r, '.')}",
        lambda r: f"Ma t/m Vr {_hours(r, ':')}",
        lambda r: f"Last entry {_hour(r, 15, 22)}:{r.choice(['00', '15', '30', '45'])}",
    ),
    "prices": (
        lambda r: f"Pint £{_price(r)}",
        lambda r: f"Coffee {_price(r)}",
        lambda r: f"Coffee {_price(r)} Tea {_price(r)} Cake {_price(r)}",
        lambda r: f"Only ${_price(r)}",
        lambda r: f"Kaffee {_price(r, True)} €",
        lambda r: f"Menu du jour {_price(r, True)}€",
        lambda r: f"Menú del día {_price(r, True)} €",
        lambda r: f"Pizza Margherita € {_price(r, True)}",
        lambda r: f"Was £{r.randint(20, 90)} now £{r.randint(5, 19)}",
        lambda r: f"{_price(r)} EUR",
        lambda r: f"Alles {_price(r, True)} EUR",
        lambda r: f"Prijs {_price(r, True)} euro",
    ),
    "sales": (
        lambda r: f"SALE {r.randint(1, 9) * 10}% OFF",
        lambda r: f"Up to {r.randint(2, 8) * 10}% off",
        lambda r: f"-{r.randint(1, 7) * 10}% on everything",
        lambda r: f"Rabatt {r.randint(1, 7) * 10} %",
        lambda r: f"Soldes -{r.randint(1, 7) * 10}%",
        lambda r: f"Rebajas {r.randint(1, 7) * 10}%",
        lambda r: f"Saldi fino al {r.randint(3, 7) * 10}%",
        lambda r: f"Korting {r.randint(1, 7) * 10}%",
    ),
    "years": (
        lambda r: f"Est. {r.randint(1850, 2015)}",
        lambda r: f"Since {r.randint(1850, 2015)}",
        lambda r: f"Seit {r.randint(1850, 2015)}",
        lambda r: f"Depuis {r.randint(1850, 2015)}",
        lambda r: f"Desde {r.randint(1850, 2015)}",
        lambda r: f"Dal {r.randint(1850, 2015)}",
        lambda r: f"Founded in {r.randint(1850, 2015)}",
        lambda r: f"{(y := r.randint(1850, 1990))}-{y + r.randint(4, 30)}",
        lambda r: f"{(y := r.randint(1850, 1990))} – {y + r.randint(4, 30)}",
    ),
    "measures": (
        lambda r: f"Max {r.randint(2, 7)}.{r.randint(1, 9)} t",
        lambda r: f"Max height {r.randint(1, 3)}.{r.randint(0, 9)}m",
        lambda r: f"Höhe {r.randint(1, 3)},{r.randint(10, 99)} m",
        lambda r: f"{r.randint(2, 13) * 10} km/h",
        lambda r: f"Zone {r.choice([20, 30])} km/h",
        lambda r: f"Centre {r.randint(1, 40)} km",
    ),
}


def sign_numbers_read(text_category: Any, per_template: int, seed: int = 0) -> dict[str, Any]:
    """Per kind: lines drawn, read ``public``, and every one read otherwise (with its category)."""
    r = random.Random(seed)
    out: dict[str, Any] = {}
    for kind, templates in TEMPLATES.items():
        row = {"lines": 0, "public": 0, "hidden": []}
        for make in templates:
            for _ in range(per_template):
                line = make(r)
                cat = text_category(line)
                row["lines"] += 1
                if cat == "public":
                    row["public"] += 1
                else:
                    row["hidden"].append([line, cat])
        out[kind] = row
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per-template", type=int, default=20, help="lines drawn per template")
    ap.add_argument("--per-locale", type=int, default=40, help="private strings of each kind per faker locale")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/bench/sign_numbers.json")
    args = ap.parse_args(argv)

    from veil.fsutil import atomic_write_text
    from veil.privacy.pii import text_category

    signs = sign_numbers_read(text_category, args.per_template, args.seed)
    private = formats_read(text_category, args.per_locale)
    print(f"{'sign numbers':14} {'public':>14}  hidden (examples)")
    for kind, row in signs.items():
        share = 100 * row["public"] / max(1, row["lines"])
        examples = ", ".join(f"{line} ({cat})" for line, cat in row["hidden"][:5])
        print(f"{kind:14} {row['public']:>6}/{row['lines']:<6} {share:5.1f} %  {examples}")
    print()
    print_formats(private, examples=5)
    atomic_write_text(args.out, json.dumps({"per_template": args.per_template, "seed": args.seed, "signs": signs,
                                            "private": private}, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
