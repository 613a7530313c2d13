"""First names before surnames that are dictionary words: does the text classifier see a name?

A name badge reading "Piotr Smith" or "Freya Stone" has no word the dictionaries do not
know, so the classifier's name cue must come from the given name. This check writes every
given name of the real-photo check, of the street scenario and of the Latin-script groups of
``international_names.py`` (the Vietnamese group is left out: its names start with the
family name) before 40 census surnames that are also English words (Stone, Wood, Baker,
Fox, ...), plain and in capitals, and reports the share read as ``name`` by
:func:`veil.privacy.pii.text_category`, with the given names it misses. No image and no OCR:
it measures the classifier alone, on the line as read.

Initials too: every initial but a compass point's (N, E, S, W) with its dot before the same
surnames and the surnames that are place words ("J. Church", "A. PARK"), alone and inside a
sentence ("Property of B. Hall"), should read as names; a compass point before a place word
("E. Hall", "N. PARK"), as street signs abbreviate, should stay public.

    .venv/bin/python benchmarks/name_cues.py

Writes ``--out`` (default ``runs/bench/name_cues.json``) atomically.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

#: Surnames that are place words as well (census names in ``_SURNAME_PLACE_ENDS``).
PLACE_SURNAMES = ("Hall", "Park", "Lane", "Church", "Beach", "Barber", "Temple", "Lake", "Bridge", "Castle")
COMPASS = "NESW"
SENTENCES = ("{}", "Property of {}", "Signed by {}", "Ask for {} at the desk")
WORD_SURNAMES = ("Stone", "Brook", "Field", "Wood", "Hill", "Strand", "Marsh", "Baker", "Fisher", "Cook", "Green",
                 "White", "Black", "Young", "King", "Hunter", "Carpenter", "Bishop", "Knight", "Mason", "Porter",
                 "Shepherd", "Walker", "Bell", "Hall", "Lane", "Rose", "Fox", "Wolf", "Bird", "Swan", "Lamb", "Frost",
                 "Snow", "Rivers", "Banks", "Chamberlain", "Butler", "Taylor", "Turner")


def given_names() -> list[str]:
    """The given names of the real-photo check, the street scenario and the Latin-script
    international groups (first word of each full name), in order, without repeats."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import international_names as intl
    from veil import realcheck
    from veil.data import street

    full = [*realcheck.FIRST_NAMES, *street.FIRST_NAMES,
            *(name for group in intl.LATIN_GROUPS if group != "vietnamese" for name in intl.GROUPS[group])]
    return list(dict.fromkeys(name.split()[0] for name in full))


def initials_read(text_category: Any) -> dict[str, Any]:
    """How many initial-and-surname lines (:data:`SENTENCES`, plain and in capitals) read as
    names, and how many compass-point lines before a place word stay public."""
    surnames = list(dict.fromkeys([*WORD_SURNAMES, *PLACE_SURNAMES]))
    missed: list[str] = []
    total = read = 0
    for letter in (c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in COMPASS):
        for surname in surnames:
            for sentence in SENTENCES:
                for line in (sentence.format(f"{letter}. {surname}"), sentence.format(f"{letter}. {surname}").upper()):
                    total += 1
                    if text_category(line) == "name":
                        read += 1
                    else:
                        missed.append(line)
    compass = [f"{letter}. {place}" for letter in COMPASS for place in PLACE_SURNAMES]
    compass += [line.upper() for line in compass]
    public = sum(text_category(line) == "public" for line in compass)
    return {"lines": total, "names": read, "share": read / total, "missed": missed,
            "compass_lines": len(compass), "compass_public": public}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="runs/bench/name_cues.json")
    args = ap.parse_args(argv)

    from veil.fsutil import atomic_write_text
    from veil.privacy.pii import text_category

    given = given_names()
    missed: dict[str, int] = {}
    read = total = 0
    for first in given:
        for surname in WORD_SURNAMES:
            for line in (f"{first} {surname}", f"{first} {surname}".upper()):
                total += 1
                if text_category(line) == "name":
                    read += 1
                else:
                    missed[first] = missed.get(first, 0) + 1
    share = read / total
    initials = initials_read(text_category)
    print(f"{len(given)} given names x {len(WORD_SURNAMES)} surnames x 2 cases: {read} of {total} lines "
          f"read as names ({100 * share:.1f} %)")
    if missed:
        print("missed (lines): " + ", ".join(f"{k} ({v})" for k, v in sorted(missed.items(), key=lambda kv: -kv[1])))
    print(f"initials: {initials['names']} of {initials['lines']} lines read as names "
          f"({100 * initials['share']:.1f} %); compass points before place words: {initials['compass_public']} "
          f"of {initials['compass_lines']} public")
    if initials["missed"]:
        print("initials missed: " + ", ".join(initials["missed"][:20]))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps({"given_names": len(given), "surnames": len(WORD_SURNAMES), "lines": total,
                                       "names": read, "share": share, "missed": missed,
                                       "initials": initials}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
