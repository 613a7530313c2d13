"""The real-photo check (:mod:`veil.realcheck`) for several anonymizers, as one table.

For each anonymizer: the share of public sign words OCR reads on the protected images, its
ratio to the unprotected images, the share of private strings (names, phone numbers,
e-mail addresses, plates, ID numbers) any attacker reads exactly, per kind, and their mean
character error rate. Photos, fonts, layouts and attackers are ones no anonymizer trained on
the street scenario saw (see ``docs/realcheck.md``). The check is built once and shared;
the unprotected readings are computed once.

    .venv/bin/python benchmarks/real_photo_check.py                       # identity, faceblur, blur baselines
    .venv/bin/python benchmarks/real_photo_check.py --anonymizer runs/train/model --anonymizer blur:sigma=8

Options: ``--anonymizer SPEC`` (repeat; default identity, faceblur, blur:sigma=3, blur:sigma=8),
``--seed``, ``--engines`` (default ``rapidocr tesseract``; tesseract is skipped with a note
when its binary is missing), ``--photos`` (a subset of keys), ``--out`` (default
``runs/bench/real_photo_check``: one folder per anonymizer with ``real_photo_check.json`` and
a contact sheet ``real_photo_check.png``, and ``summary.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

DEFAULT = ("identity", "faceblur", "blur:sigma=3", "blur:sigma=8")


def slug(spec: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", spec).strip("_") or "anonymizer"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--anonymizer", action="append", help="anonymizer spec or model folder (repeatable)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--engines", nargs="+", default=["rapidocr", "tesseract"])
    ap.add_argument("--photos", nargs="+", default=None, help="subset of photo keys (default: all)")
    ap.add_argument("--out", default="runs/bench/real_photo_check")
    args = ap.parse_args(argv)

    from veil.errors import VeilError
    from veil.realcheck import build_real_photo_check, format_table, run_real_photo_check

    specs = args.anonymizer or list(DEFAULT)
    out = Path(args.out)
    t0 = time.perf_counter()
    try:
        check = build_real_photo_check(args.seed, photos=args.photos)
    except VeilError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    build_s = time.perf_counter() - t0
    results = []
    for spec in specs:
        t = time.perf_counter()
        try:
            r = run_real_photo_check(spec, seed=args.seed, engines=args.engines, out=out / slug(spec), check=check,
                                     progress=sys.stderr.isatty())
        except VeilError as e:
            print(f"error: {spec}: {e}", file=sys.stderr)
            return 2
        print(f"{spec}: {time.perf_counter() - t:.0f} s", file=sys.stderr)
        results.append(r)
    total = time.perf_counter() - t0
    first = results[0]
    print(format_table(results))
    print()
    print(f"seed {first['seed']}, fingerprint {first['fingerprint'][:12]}, font pool {first['font_pool']}, "
          f"engines {', '.join(first['engines'])}")
    for e, why in first["engines_skipped"].items():
        print(f"engine {e} skipped: {why}")
    kinds = ", ".join(f"{k} {v['total']}" for k, v in first["per_kind"].items())
    print(f"{first['images']} images from {len(first['photos'])} photos ({', '.join(first['photos'])}); "
          f"{first['public_words']} public words, {first['private_strings']} private strings ({kinds})")
    if first["photos_missing"]:
        print(f"photos missing from the media folder (left out): {', '.join(first['photos_missing'])}")
    print("unprotected: public {:.1%}, private {:.1%}, CER {:.3f}".format(
        first["public_words_read_unprotected"] or 0, first["private_read_unprotected"] or 0,
        first["private_cer_unprotected"] or 0))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"runtime: build {build_s:.1f} s, total {total:.0f} s (load average {load:.1f})")
    summary = {"seed": args.seed, "engines": args.engines, "runtime_s": round(total, 1),
               "results": [{k: v for k, v in r.items() if k != "items"} for r in results]}
    from veil.fsutil import atomic_write_text

    atomic_write_text(out / "summary.json", json.dumps(summary, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
