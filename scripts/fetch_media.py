"""Fetch the embedded scenario's real media from Debian's `opencv-doc` package.

Only the files the street scenario and the real-photo check (``veil.realcheck``) use are
kept (about 11 MB), plus a few Debian font files the real-photo check draws private text
with (``fonts-liberation2``, ``fonts-urw-base35``; about 2 MB, under ``<dest>/fonts``).
Idempotent: does nothing when they are already there. Where the package cannot be had (no apt, no registry), it
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
    *[f"text/scenetext_segmented_word0{i}.jpg" for i in range(1, 6)],  # real-photo check only
]
PREFIX = "usr/share/doc/opencv-doc/examples"
# Debian font packages -> files kept, for the real-photo check's private text (veil.realcheck.DEBIAN_FONTS)
FONT_PACKAGES = {
    "fonts-liberation2": ["LiberationSans-Regular.ttf", "LiberationSans-Bold.ttf", "LiberationSerif-Regular.ttf",
                          "LiberationMono-Bold.ttf"],
    "fonts-urw-base35": ["NimbusSansNarrow-Bold.otf", "NimbusMonoPS-Regular.otf", "C059-Roman.otf", "P052-Italic.otf",
                         "URWBookman-Light.otf", "URWGothic-Demi.otf", "Z003-MediumItalic.otf"],
}


def fetch_fonts(dest: Path) -> None:
    """Keep FONT_PACKAGES' files in ``dest`` (flat); says so and returns when they cannot be had."""
    todo = {pkg: files for pkg, files in FONT_PACKAGES.items() if not all((dest / f).is_file() for f in files)}
    if not todo:
        return
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        print("media: apt-get/dpkg-deb not found; the real-photo check will use its core fonts", file=sys.stderr)
        return
    with tempfile.TemporaryDirectory() as tmp:
        for pkg, files in todo.items():
            r = subprocess.run(["apt-get", "download", pkg], cwd=tmp, capture_output=True, text=True)
            debs = list(Path(tmp).glob(f"{pkg}_*.deb"))
            if r.returncode != 0 or not debs:
                print(f"media: could not download {pkg} ({r.stderr.strip()[-300:]}); the real-photo check will "
                      "use its core fonts", file=sys.stderr)
                return
            ex = Path(tmp) / pkg
            subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(ex)], check=True)
            found = {p.name: p for p in ex.rglob("*") if p.is_file()}
            dest.mkdir(parents=True, exist_ok=True)
            for f in files:
                if f not in found:
                    print(f"media: {f} missing from {pkg}", file=sys.stderr)
                    continue
                shutil.copyfile(found[f], dest / (f + ".part"))
                (dest / (f + ".part")).replace(dest / f)
    print(f"media: fonts ready in {dest}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dest", default=".media", help="folder to put the media in")
    args = ap.parse_args()
    dest = Path(args.dest) / "opencv"
    fetch_fonts(Path(args.dest) / "fonts")
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
