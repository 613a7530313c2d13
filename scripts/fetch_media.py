"""Fetch the embedded scenario's real media from Debian's `opencv-doc` package.

Only the files the street scenario uses are kept (about 10 MB). Idempotent: does nothing
when they are already there. Where the package cannot be had (no apt, no registry), it
says so and exits 0: `veil data prepare street` then builds a smaller scenario from the
scikit-image photos and says that it did.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

WANTED = [
    "data/vtest.avi",
    "data/messi5.jpg",
    "data/basketball1.png",
    "data/basketball2.png",
    "data/licenseplate_motion.jpg",
    *[f"text/scenetext0{i}.jpg" for i in range(1, 7)],
]
PREFIX = "usr/share/doc/opencv-doc/examples"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dest", default=".media", help="folder to put the media in")
    args = ap.parse_args()
    dest = Path(args.dest) / "opencv"
    if all((dest / w).is_file() for w in WANTED):
        print(f"media: already in {dest}")
        return 0
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        print("media: apt-get/dpkg-deb not found; the street scenario will use the smaller "
              "scikit-image fallback", file=sys.stderr)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        print("media: downloading Debian package opencv-doc (about 96 MB) ...")
        r = subprocess.run(["apt-get", "download", "opencv-doc"], cwd=tmp, capture_output=True, text=True)
        debs = list(Path(tmp).glob("opencv-doc_*.deb"))
        if r.returncode != 0 or not debs:
            print(f"media: could not download opencv-doc ({r.stderr.strip()[-300:]}); the street "
                  "scenario will use the smaller scikit-image fallback", file=sys.stderr)
            return 0
        ex = Path(tmp) / "x"
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(ex)], check=True)
        for w in WANTED:
            src = ex / PREFIX / w
            if not src.is_file():
                print(f"media: {w} missing from the package", file=sys.stderr)
                continue
            (dest / w).parent.mkdir(parents=True, exist_ok=True)
            tmpdst = dest / (w + ".part")
            shutil.copyfile(src, tmpdst)
            tmpdst.replace(dest / w)
    print(f"media: ready in {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
