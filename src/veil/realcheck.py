"""The real-photo check: public words and private strings that OCR reads, protected vs not.

An independent measurement for any anonymizer, built so that nothing in it comes from what
a trained anonymizer saw:

* **Photos**: real photographs that the street scenario's *train* split never uses
  (:data:`REAL_PHOTOS`): opencv-doc ``scenetext03/05/06`` (street val/test), the five
  ``scenetext_segmented_word0*`` shop and brand signs (not in the street scenario at all),
  ``licenseplate_motion`` (street val; a real car plate) and two photos of people
  (``astronaut``, ``basketball2``; street test). Each gives several scales and crops.
* **Public text**: the real signs, hand-annotated (text and box; the street annotations are
  reused where they exist). Every word of three or more characters is a public word.
* **Private text**: rendered here, unlike :mod:`veil.data.street`: other fonts (Debian's
  Liberation and URW base35 families when found, matplotlib's italic faces, cmtt/cmr and
  Hershey Plain, Script and Triplex Italic: none of them in :mod:`veil.data.fonts`), other layouts (a paper
  note holding a phone number and an e-mail address, a "HELLO my name is" tag or a lanyard
  badge on a person, an ID card with a number and often a name, a sticker, a licence plate
  over a real car's plate), other strings (names, number formats and plate styles of other
  countries), rotated and in slight perspective, shaded and softened into the photo. Text
  never covers a public sign, other real text or a face. Ground truth keeps each exact
  string and the box of its ink after warping.
* **Attackers**: OCR (``rapidocr``; ``tesseract`` too when its binary is installed) on the
  whole protected image, and on an upscaled crop around each private box (the attacker
  knows where the text is: :func:`veil.privacy.pretrained.text_recovery`, whose
  normalization and exact-substring matching every reading here uses).

Metrics: ``public_words_read`` (fraction of public words any engine reads on the whole
image inside their sign), its ratio to the unprotected images, ``private_read`` (fraction
of private strings any attacker reads exactly after normalization, overall and per kind)
and the mean character error rate of the best reading of each private string (edit
distance to the closest substring of the reading: :func:`substring_cer`).

The build is deterministic for a seed and a font pool (``core``: fonts shipped with
matplotlib and OpenCV; ``core+debian``: plus the Liberation and URW base35 files, looked up
in ``$VEIL_MEDIA/fonts`` and ``/usr/share/fonts``). Photos whose files are missing are left
out and listed under ``photos_missing``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from veil.errors import ConfigError, DataUnavailableError, MediaError

__all__ = [
    "REAL_PHOTOS",
    "REALCHECK_VERSION",
    "CheckImage",
    "PrivateString",
    "PublicWord",
    "RealCheck",
    "RealPhoto",
    "RealSign",
    "build_real_photo_check",
    "format_table",
    "run_real_photo_check",
    "substring_cer",
]

REALCHECK_VERSION = "1"
Box = tuple[int, int, int, int]
KINDS = ("name", "phone", "email", "plate", "id")


# ----------------------------------------------------------------------------- photos


@dataclass(frozen=True)
class RealSign:
    """A real public sign: its text and the box of its lettering (original pixels)."""

    text: str
    box: Box


@dataclass(frozen=True)
class RealPhoto:
    """Hand annotation of one real photo (original pixels).

    ``street_split`` is the split the street scenario gives the photo (``none`` when it
    does not use it). ``avoid`` holds other real text, faces and people that rendered text
    must not cover; ``tag_spots`` are torsos where a name tag may be worn; ``plate`` is a
    real licence plate that a rendered plate replaces.
    """

    key: str
    file: str
    street_split: str
    signs: tuple[RealSign, ...] = ()
    avoid: tuple[Box, ...] = ()
    tag_spots: tuple[Box, ...] = ()
    plate: Box | None = None
    variants: tuple[str, ...] = ("full", "full-large", "full-small", "crop")


def _street_signs(key: str) -> tuple[RealSign, ...]:
    """The street scenario's hand annotation of a photo's real signs."""
    from veil.data.street import PHOTOS

    for p in PHOTOS:
        if p.key == key:
            return tuple(RealSign(s.text, s.box) for s in p.signs)
    raise KeyError(key)  # pragma: no cover - keys below are street keys


REAL_PHOTOS: tuple[RealPhoto, ...] = (
    RealPhoto("scenetext03", "text/scenetext03.jpg", "test", _street_signs("scenetext03"),
              avoid=((438, 890, 498, 958), (0, 660, 100, 735))),
    RealPhoto("scenetext05", "text/scenetext05.jpg", "val", _street_signs("scenetext05"),
              avoid=((100, 0, 300, 70),)),
    RealPhoto("scenetext06", "text/scenetext06.jpg", "test",
              (*_street_signs("scenetext06"),
               RealSign("AT THE SHIP", (234, 274, 596, 332)),
               RealSign("PRIORY GALLERIES AT THE SHIP", (283, 148, 340, 216))),
              avoid=((540, 436, 604, 480), (60, 380, 225, 480), (75, 300, 135, 400))),
    RealPhoto("segword01", "text/scenetext_segmented_word01.jpg", "none",
              (RealSign("HOTEL", (115, 208, 535, 305)),)),
    RealPhoto("segword02", "text/scenetext_segmented_word02.jpg", "none",
              (RealSign("STATIONERY BOX", (50, 215, 600, 305)), RealSign("COMPUTER", (370, 442, 438, 468))),
              avoid=((0, 330, 640, 480),)),
    RealPhoto("segword03", "text/scenetext_segmented_word03.jpg", "none",
              (RealSign("CUSTOMER FREEPHONE PRIVATE HIRE SERVICE", (100, 65, 530, 412)),),
              avoid=((68, 0, 602, 480),)),  # the whole green board
    RealPhoto("segword04", "text/scenetext_segmented_word04.jpg", "none",
              (RealSign("FOSTER'S", (75, 275, 590, 378)),),
              avoid=((265, 135, 425, 245), (0, 380, 640, 480), (585, 290, 625, 335))),
    RealPhoto("segword05", "text/scenetext_segmented_word05.jpg", "none",
              (RealSign("SANYO", (165, 28, 505, 142)),
               RealSign("PRO xtraX MULTIMEDIA PROJECTOR", (170, 315, 490, 414)))),
    RealPhoto("licenseplate_motion", "data/licenseplate_motion.jpg", "val", plate=(226, 226, 354, 292),
              variants=("full", "full-large", "full-small", "crop", "crop")),
    RealPhoto("astronaut", "skimage:astronaut", "test",
              avoid=((140, 10, 310, 175), (270, 335, 335, 378), (128, 342, 212, 428), (270, 340, 512, 512),
                     (20, 10, 365, 512), (350, 0, 470, 290)),
              tag_spots=((35, 215, 135, 345),), variants=("full", "full-large", "crop")),
    RealPhoto("basketball2", "data/basketball2.png", "test",
              avoid=((30, 75, 190, 480), (428, 20, 636, 480), (138, 75, 198, 140), (213, 135, 238, 165)),
              tag_spots=((45, 160, 135, 270), (505, 170, 630, 320)), variants=("full", "full-large", "crop")),
)

VARIANT_SIDE = {"full": 640, "full-large": 960, "full-small": 480, "crop": 640}


# ----------------------------------------------------------------------------- fonts


@dataclass(frozen=True)
class RFont:
    """A font for private text: a TrueType/OpenType file or an OpenCV Hershey face."""

    name: str
    file: str | None = None  # file name; matplotlib's ttf folder or a Debian font folder
    hershey: int | None = None
    thickness: float = 1.0
    debian: bool = False


CORE_FONTS: tuple[RFont, ...] = (
    RFont("DejaVuSerif-Italic", "DejaVuSerif-Italic.ttf"),
    RFont("DejaVuSerif-BoldItalic", "DejaVuSerif-BoldItalic.ttf"),
    RFont("DejaVuSansMono-Oblique", "DejaVuSansMono-Oblique.ttf"),
    RFont("DejaVuSansMono-BoldOblique", "DejaVuSansMono-BoldOblique.ttf"),
    RFont("STIXGeneral-Italic", "STIXGeneralItalic.ttf"),
    RFont("STIXGeneral-BoldItalic", "STIXGeneralBolIta.ttf"),
    RFont("cmtt10", "cmtt10.ttf"),
    RFont("cmr10", "cmr10.ttf"),
    RFont("Hershey-Plain", hershey=cv2.FONT_HERSHEY_PLAIN, thickness=1.6),
    RFont("Hershey-Script", hershey=cv2.FONT_HERSHEY_SCRIPT_COMPLEX, thickness=1.4),
    RFont("Hershey-Triplex-Italic", hershey=cv2.FONT_HERSHEY_TRIPLEX | cv2.FONT_ITALIC, thickness=1.2),
)
DEBIAN_FONTS: tuple[RFont, ...] = (
    RFont("LiberationSans-Regular", "LiberationSans-Regular.ttf", debian=True),
    RFont("LiberationSans-Bold", "LiberationSans-Bold.ttf", debian=True),
    RFont("LiberationSerif-Regular", "LiberationSerif-Regular.ttf", debian=True),
    RFont("LiberationMono-Bold", "LiberationMono-Bold.ttf", debian=True),
    RFont("NimbusSansNarrow-Bold", "NimbusSansNarrow-Bold.otf", debian=True),
    RFont("NimbusMonoPS-Regular", "NimbusMonoPS-Regular.otf", debian=True),
    RFont("C059-Roman", "C059-Roman.otf", debian=True),
    RFont("P052-Italic", "P052-Italic.otf", debian=True),
    RFont("URWBookman-Light", "URWBookman-Light.otf", debian=True),
    RFont("URWGothic-Demi", "URWGothic-Demi.otf", debian=True),
    RFont("Z003-MediumItalic", "Z003-MediumItalic.otf", debian=True),
)
# Fonts each layout draws from (those of the pool in use).
ROLE_FONTS: dict[str, tuple[str, ...]] = {
    "note": ("P052-Italic", "Z003-MediumItalic", "URWBookman-Light", "LiberationSerif-Regular", "DejaVuSerif-Italic",
             "STIXGeneral-Italic", "cmr10", "Hershey-Script", "Hershey-Triplex-Italic"),
    "tag": ("LiberationSans-Bold", "URWGothic-Demi", "C059-Roman", "Z003-MediumItalic", "DejaVuSerif-BoldItalic",
            "STIXGeneral-BoldItalic", "cmr10", "Hershey-Plain"),
    "card": ("LiberationMono-Bold", "NimbusMonoPS-Regular", "LiberationSans-Regular", "C059-Roman", "cmtt10",
             "DejaVuSansMono-Oblique", "Hershey-Plain", "STIXGeneral-Italic"),
    "sticker": ("NimbusSansNarrow-Bold", "LiberationSans-Bold", "URWGothic-Demi", "URWBookman-Light",
                "DejaVuSansMono-BoldOblique", "STIXGeneral-BoldItalic", "Hershey-Triplex-Italic", "cmtt10"),
    "plate": ("NimbusSansNarrow-Bold", "LiberationMono-Bold", "URWGothic-Demi", "LiberationSans-Bold",
              "DejaVuSansMono-BoldOblique", "Hershey-Plain", "cmtt10"),
}


def _font_dirs() -> list[Path]:
    dirs = [Path(os.environ.get("VEIL_MEDIA", ".media")) / "fonts", Path("/usr/share/fonts")]
    return [d for d in dirs if d.is_dir()]


@lru_cache(maxsize=8)
def _find_debian_fonts(dirs: tuple[Path, ...]) -> dict[str, Path] | None:
    """Paths of all :data:`DEBIAN_FONTS`, or None unless every one of them is found."""
    wanted = {f.file for f in DEBIAN_FONTS}
    found: dict[str, Path] = {}
    for d in dirs:
        for root, _, files in os.walk(d):
            for name in files:
                if name in wanted and name not in found:
                    found[name] = Path(root) / name
    return found if len(found) == len(wanted) else None


def font_pool() -> tuple[str, dict[str, tuple[RFont, Path | None]]]:
    """The pool in use (``core`` or ``core+debian``) and its fonts by name (with file paths)."""
    import matplotlib

    mpl = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    fonts: dict[str, tuple[RFont, Path | None]] = {}
    for f in CORE_FONTS:
        fonts[f.name] = (f, mpl / f.file if f.file else None)
    debian = _find_debian_fonts(tuple(_font_dirs()))
    if debian is None:
        return "core", fonts
    for f in DEBIAN_FONTS:
        fonts[f.name] = (f, debian[f.file or ""])
    return "core+debian", fonts


@lru_cache(maxsize=512)
def _pil_font(path: str, size: int) -> Any:
    from PIL import ImageFont

    return ImageFont.truetype(path, size)


@lru_cache(maxsize=64)
def _cap_ratio(path: str) -> float:
    x0, y0, x1, y1 = _pil_font(path, 200).getbbox("H")
    return (y1 - y0) / 200.0


def _tight(mask: np.ndarray) -> np.ndarray:
    ys = np.nonzero((mask > 40).any(axis=1))[0]
    xs = np.nonzero((mask > 40).any(axis=0))[0]
    if len(ys) == 0:
        return np.zeros((1, 1), np.uint8)
    return np.ascontiguousarray(mask[ys[0]: ys[-1] + 1, xs[0]: xs[-1] + 1])


def ink(text: str, font: RFont, path: Path | None, cap_px: float) -> np.ndarray:
    """Anti-aliased ink (uint8 0..255) of one line of ``text``, capitals ``cap_px`` tall, cropped tight."""
    if font.hershey is None:
        from PIL import Image, ImageDraw

        assert path is not None
        size = max(4, int(round(cap_px / _cap_ratio(str(path)))))
        f = _pil_font(str(path), size)
        x0, y0, x1, y1 = f.getbbox(text)
        im = Image.new("L", (x1 - x0 + 8, y1 - y0 + 8), 0)
        ImageDraw.Draw(im).text((4 - x0, 4 - y0), text, font=f, fill=255)
        return _tight(np.asarray(im))
    th = max(1, int(round(font.thickness * cap_px / 11.0)))
    (_, h), _ = cv2.getTextSize("H", font.hershey, 1.0, th)
    scale = cap_px / max(1, h)
    (w, h), base = cv2.getTextSize(text, font.hershey, scale, th)
    pad = th + 6
    m = np.zeros((h + base + 2 * pad, w + 2 * pad), np.uint8)
    cv2.putText(m, text, (pad, pad + h), font.hershey, scale, 255, th, cv2.LINE_AA)
    return _tight(m)


# ----------------------------------------------------------------------------- strings

FIRST_NAMES: tuple[str, ...] = (
    "Ingeborg", "Thandiwe", "Radek", "Ximena", "Oluwaseun", "Bartholomew", "Sunniva", "Eleftheria",
    "Matthias", "Keziah", "Anselm", "Noemi", "Tadeusz", "Yevgenia", "Cormac", "Ludmila", "Rasmus",
    "Parisa", "Florin", "Beatriz", "Ikaika", "Marguerite", "Stellan", "Zainab", "Teodor", "Annelies",
    "Quentin", "Saoirse", "Vikram", "Henrike", "Desmond", "Aurelie",
)
LAST_NAMES: tuple[str, ...] = (
    "Vasquez", "Lindgren", "Abernathy", "Okoye", "Przybylski", "Fairweather", "Castellano", "Hakobyan",
    "Strand", "Moreau", "Achterberg", "Delacroix", "Nwachukwu", "Kowalczyk", "Thorsen", "Bergstrom",
    "Iwasaki", "Oyelaran", "Quintero", "Halvorsen", "Marchetti", "Szabo", "Eriksen", "Villanueva",
    "Whitfield", "Ramaswamy", "Kaczmarek", "Oduya", "Lefebvre", "Brannigan", "Duchesne", "Tomlinson",
)
DOMAINS: tuple[str, ...] = ("fastmail.net", "posteo.de", "gmx.net", "proton.me", "web.de", "outlook.com",
                            "yahoo.co.uk", "icloud.com", "mailbox.org", "orange.fr")
_LETTERS = "ABCDEFGHJKLMNPRSTUVWXY"  # no I, O, Q, Z: they read as digits


def _rng(seed: int, *key: str) -> np.random.Generator:
    return np.random.default_rng([seed, *(zlib.crc32(k.encode()) for k in key)])


def _pick(rng: np.random.Generator, seq: Sequence[Any]) -> Any:
    return seq[int(rng.integers(len(seq)))]


def _d(rng: np.random.Generator, n: int) -> str:
    return "".join(str(int(v)) for v in rng.integers(0, 10, size=n))


def _L(rng: np.random.Generator, n: int) -> str:
    return "".join(_LETTERS[int(i)] for i in rng.integers(len(_LETTERS), size=n))


def make_name(rng: np.random.Generator) -> str:
    """A full name in mixed case, e.g. ``Ingeborg Vasquez``."""
    return f"{_pick(rng, FIRST_NAMES)} {_pick(rng, LAST_NAMES)}"


def make_phone(rng: np.random.Generator) -> str:
    """A phone number written as in France, the US, Germany, the Netherlands, Australia, Sweden."""
    forms: list[Callable[[], str]] = [
        lambda: f"+33 6 {_d(rng, 2)} {_d(rng, 2)} {_d(rng, 2)} {_d(rng, 2)}",
        lambda: f"({rng.integers(201, 990)}) 555-{_d(rng, 4)}",
        lambda: f"+49 30 {_d(rng, 7)}",
        lambda: f"+31 6 {_d(rng, 4)} {_d(rng, 4)}",
        lambda: f"+1 646 555 {_d(rng, 4)}",
        lambda: f"+61 4{_d(rng, 2)} {_d(rng, 3)} {_d(rng, 3)}",
        lambda: f"+46 70 {_d(rng, 3)} {_d(rng, 2)} {_d(rng, 2)}",
        lambda: f"06-{_d(rng, 2)} {_d(rng, 2)} {_d(rng, 2)} {_d(rng, 2)}",
    ]
    return _pick(rng, forms)()


def make_email(rng: np.random.Generator, name: str | None = None) -> str:
    """An e-mail address, usually built from a name."""
    first, last = (name or make_name(rng)).lower().split(" ", 1)
    forms = [f"{first}.{last}", f"{first[0]}{last}{_d(rng, 2)}", f"{first}_{last[:4]}", f"{last}.{first[0]}"]
    return f"{_pick(rng, forms)}@{_pick(rng, DOMAINS)}"


def make_plate(rng: np.random.Generator) -> str:
    """A licence plate in a German, Dutch, US, Spanish, Swiss or Polish style."""
    forms: list[Callable[[], str]] = [
        lambda: f"{_pick(rng, ('B', 'M', 'HH', 'K', 'DO', 'HB'))}-{_L(rng, 2)} {rng.integers(10, 9999)}",
        lambda: f"{_d(rng, 2)}-{_L(rng, 3)}-{_d(rng, 1)}",
        lambda: f"{rng.integers(1, 9)}{_L(rng, 3)}{_d(rng, 3)}",
        lambda: f"{_L(rng, 3)}-{_d(rng, 4)}",
        lambda: f"{_d(rng, 4)} {_L(rng, 3)}",
        lambda: f"{_pick(rng, ('ZH', 'BE', 'VD', 'GE'))} {rng.integers(10000, 999999)}",
        lambda: f"W{_L(rng, 1)} {_d(rng, 5)}",
    ]
    return _pick(rng, forms)()


def make_id(rng: np.random.Generator) -> str:
    """An ID or card number: grouped digits, passport, NIE, SSN-like or staff styles."""
    forms: list[Callable[[], str]] = [
        lambda: f"{_d(rng, 4)} {_d(rng, 4)} {_d(rng, 4)}",
        lambda: f"{_L(rng, 2)}{_d(rng, 7)}",
        lambda: f"{_pick(rng, 'XYZ')}-{_d(rng, 7)}-{_L(rng, 1)}",
        lambda: f"{_d(rng, 3)}-{_d(rng, 2)}-{_d(rng, 4)}",
        lambda: f"EMP-{_d(rng, 5)}-{_L(rng, 1)}",
    ]
    return _pick(rng, forms)()


# ----------------------------------------------------------------------------- the check


@dataclass(frozen=True)
class PublicWord:
    """A public word (three or more characters) and the box of its sign (item pixels)."""

    word: str
    sign: str
    box: Box


@dataclass(frozen=True)
class PrivateString:
    """A rendered private string: exact text, tight box of its ink (item pixels), how it was drawn."""

    kind: str
    text: str
    box: Box
    layout: str
    font: str
    cap_px: float


@dataclass
class CheckImage:
    """One image of the check (a scale or crop of a real photo with private text drawn on it)."""

    id: str
    photo: str
    variant: str
    window: Box
    scale: float
    image: np.ndarray
    public: list[PublicWord] = field(default_factory=list)
    private: list[PrivateString] = field(default_factory=list)


@dataclass
class RealCheck:
    """The built check: images with ground truth, and how it was built."""

    seed: int
    font_pool: str
    images: list[CheckImage]
    photos_missing: list[str]

    def fingerprint(self) -> str:
        """SHA-1 over every image's pixels and ground truth: equal for equal builds."""
        h = hashlib.sha1(f"{REALCHECK_VERSION}:{self.seed}:{self.font_pool}".encode())
        for im in self.images:
            h.update(im.id.encode())
            h.update(np.ascontiguousarray(im.image).tobytes())
            h.update(repr((im.public, im.private)).encode())
        return h.hexdigest()


def _load_photo(photo: RealPhoto, media: Path) -> np.ndarray | None:
    if photo.file.startswith("skimage:"):
        import skimage.data

        rgb = np.asarray(getattr(skimage.data, photo.file.split(":", 1)[1])())
        if rgb.ndim == 2:
            rgb = np.stack([rgb] * 3, axis=-1)
        return np.ascontiguousarray(rgb[..., :3].astype(np.uint8))
    path = media / photo.file
    if not path.is_file():
        return None
    from veil.media import load_image

    return load_image(path)


def _inter(a: Sequence[float], b: Sequence[float]) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def _area(b: Sequence[float]) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def _union(boxes: Iterable[Sequence[int]]) -> Box:
    bs = list(boxes)
    return (min(b[0] for b in bs), min(b[1] for b in bs), max(b[2] for b in bs), max(b[3] for b in bs))


def _window(photo: RealPhoto, variant: str, W: int, H: int, rng: np.random.Generator) -> Box:
    """Source window of a variant: the whole photo, or a crop that keeps every sign whole."""
    if not variant.startswith("crop"):
        return (0, 0, W, H)
    keep = list(s.box for s in photo.signs)
    if photo.plate is not None:
        keep.append(photo.plate)
    if not keep and photo.tag_spots:
        keep.append(photo.tag_spots[int(rng.integers(len(photo.tag_spots)))])
    U = _union(keep) if keep else (W // 3, H // 3, 2 * W // 3, 2 * H // 3)
    frac = rng.uniform(0.55, 0.85)
    aspect = rng.uniform(1.2, 1.5)
    w = int(min(W, max(frac * W, (U[2] - U[0]) * 1.08)))
    h = int(min(H, max(w / aspect, (U[3] - U[1]) * 1.08)))
    lo_x, hi_x = max(0, U[2] - w), min(U[0], W - w)
    lo_y, hi_y = max(0, U[3] - h), min(U[1], H - h)
    x = int(rng.integers(lo_x, hi_x + 1)) if hi_x >= lo_x else max(0, min(W - w, (U[0] + U[2] - w) // 2))
    y = int(rng.integers(lo_y, hi_y + 1)) if hi_y >= lo_y else max(0, min(H - h, (U[1] + U[3] - h) // 2))
    return (x, y, x + w, y + h)


def _mapper(window: Box, scale: float, size: tuple[int, int]) -> Callable[[Sequence[float]], Box]:
    x0, y0 = window[:2]
    W, H = size

    def f(b: Sequence[float]) -> Box:
        return (int(np.clip(round((b[0] - x0) * scale), 0, W)), int(np.clip(round((b[1] - y0) * scale), 0, H)),
                int(np.clip(round((b[2] - x0) * scale), 0, W)), int(np.clip(round((b[3] - y0) * scale), 0, H)))

    return f


def _words(text: str) -> list[str]:
    from veil.privacy.metrics import normalize_text

    return [w for w in text.split() if len(normalize_text(w)) >= 3]


def build_real_photo_check(
    seed: int = 0,
    media_dir: str | os.PathLike[str] | None = None,
    photos: Sequence[str] | None = None,
) -> RealCheck:
    """Build the check's images and ground truth (deterministic for a seed and font pool).

    Args:
        seed: non-negative seed of every random choice (windows, strings, fonts, layouts).
        media_dir: folder holding the opencv-doc files (default ``$VEIL_MEDIA/opencv``).
        photos: keys of :data:`REAL_PHOTOS` to use (default all).

    Raises:
        ConfigError: a negative seed or an unknown photo key.
        DataUnavailableError: no photo with public text could be loaded.
    """
    if int(seed) < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed}")
    seed = int(seed)
    from veil.data.street import default_media_dir

    media = Path(media_dir) if media_dir is not None else default_media_dir()
    known = {p.key: p for p in REAL_PHOTOS}
    keys = list(photos) if photos is not None else list(known)
    bad = [k for k in keys if k not in known]
    if bad:
        raise ConfigError(f"unknown real-check photo(s) {bad}; choose from: {', '.join(known)}")
    pool_name, pool = font_pool()
    images: list[CheckImage] = []
    missing: list[str] = []
    for key in keys:
        photo = known[key]
        src = _load_photo(photo, media)
        if src is None:
            missing.append(key)
            continue
        H, W = src.shape[:2]
        for v, variant in enumerate(photo.variants):
            item_id = f"{key}-v{v}-{variant}"
            rng = _rng(seed, item_id, "window")
            win = _window(photo, variant, W, H, rng)
            side = VARIANT_SIDE[variant]
            scale = side / max(win[2] - win[0], win[3] - win[1])
            size = (int(round((win[2] - win[0]) * scale)), int(round((win[3] - win[1]) * scale)))
            crop = src[win[1]: win[3], win[0]: win[2]]
            img = cv2.resize(crop, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
            img = np.ascontiguousarray(img)
            m = _mapper(win, scale, size)
            signs = [s for s in photo.signs if _inter(s.box, win) >= 0.999 * _area(s.box)]
            public = [PublicWord(w.upper(), s.text, m(s.box)) for s in signs for w in _words(s.text)]
            avoid = [m(b) for b in photo.avoid if _inter(b, win) > 0]
            avoid += [_grow(m(s.box), 6) for s in photo.signs if _inter(s.box, win) > 0]
            spots = [m(b) for b in photo.tag_spots if _inter(b, win) >= 0.8 * _area(b)]
            plate = m(photo.plate) if photo.plate is not None and _inter(photo.plate, win) >= 0.95 * _area(
                photo.plate) else None
            private = _Painter(img, _rng(seed, item_id, "text"), pool, avoid, spots, plate).paint()
            images.append(CheckImage(item_id, key, variant, win, round(scale, 5), img, public, private))
    if not images or (photos is None and not any(im.public for im in images)):
        raise DataUnavailableError(
            f"no photo with public text found in {media} (missing: {', '.join(missing)}); "
            "run `python scripts/fetch_media.py` (or point VEIL_MEDIA at the opencv-doc media)"
        )
    return RealCheck(seed, pool_name, images, missing)


def _grow(b: Sequence[int], m: int) -> Box:
    return (b[0] - m, b[1] - m, b[2] + m, b[3] + m)


# ----------------------------------------------------------------------------- rendering


@dataclass
class _Patch:
    """A flat label before warping: colours, opacity and the ink of each private string."""

    rgb: np.ndarray  # float32 (h, w, 3)
    alpha: np.ndarray  # float32 (h, w) in 0..1
    layout: str
    strings: list[tuple[str, str, str, float, np.ndarray]] = field(default_factory=list)  # kind, text, font, cap, mask

    @staticmethod
    def blank(w: int, h: int, color: Sequence[int], layout: str, radius: int = 0) -> _Patch:
        rgb = np.empty((h, w, 3), np.float32)
        rgb[:] = np.asarray(color, np.float32)
        a = np.zeros((h, w), np.uint8)
        if radius > 0:
            r = min(radius, w // 2 - 1, h // 2 - 1)
            cv2.rectangle(a, (r, 0), (w - 1 - r, h - 1), 255, -1)
            cv2.rectangle(a, (0, r), (w - 1, h - 1 - r), 255, -1)
            for cx, cy in ((r, r), (w - 1 - r, r), (r, h - 1 - r), (w - 1 - r, h - 1 - r)):
                cv2.circle(a, (cx, cy), r, 255, -1, cv2.LINE_AA)
        else:
            a[:] = 255
        return _Patch(rgb, a.astype(np.float32) / 255.0, layout)

    def fill(self, box: Sequence[int], color: Sequence[int]) -> None:
        x1, y1, x2, y2 = box
        self.rgb[y1:y2, x1:x2] = np.asarray(color, np.float32)

    def put(self, m: np.ndarray, x: int, y: int, color: Sequence[int], kind: str | None = None,
            text: str | None = None, font: str = "", cap: float = 0.0) -> None:
        h, w = m.shape
        H, W = self.alpha.shape
        if x < 0 or y < 0 or x + w > W or y + h > H:
            raise ValueError("ink does not fit the patch")
        a = m.astype(np.float32)[..., None] / 255.0
        reg = self.rgb[y: y + h, x: x + w]
        self.rgb[y: y + h, x: x + w] = reg * (1 - a) + np.asarray(color, np.float32) * a
        if kind is not None:
            full = np.zeros((H, W), np.uint8)
            full[y: y + h, x: x + w] = m
            self.strings.append((kind, text or "", font, cap, full))


PAPER = ((250, 248, 240), (255, 241, 140), (236, 244, 255), (255, 226, 232), (246, 246, 246))
PEN = ((20, 40, 140), (25, 25, 30), (120, 20, 30), (70, 70, 80))
TAG_HEADERS = ((200, 30, 40), (30, 90, 180), (20, 130, 70), (230, 120, 20))
CARD_BG = ((214, 232, 245), (222, 240, 222), (240, 232, 214), (232, 228, 240))
CARD_TITLES = ("IDENTITY CARD", "STAFF PASS", "MEMBER", "STUDENT CARD", "VISITOR")
STICKERS = (((255, 255, 255), (200, 35, 35)), ((15, 15, 15), (255, 170, 30)), ((255, 255, 255), (30, 110, 60)),
            ((20, 20, 60), (250, 250, 250)), ((250, 250, 250), (40, 40, 120)))
STICKER_LEADS = {"phone": ("IF FOUND CALL", "Call me", "Tel."), "email": ("Contact", "Write to", "E-mail"),
                 "name": ("PROPERTY OF", "This belongs to", "Owner")}


class _Painter:
    """Draws the private-text layouts of one image and records their ground truth."""

    def __init__(self, img: np.ndarray, rng: np.random.Generator, pool: dict[str, tuple[RFont, Path | None]],
                 avoid: list[Box], spots: list[Box], plate: Box | None) -> None:
        self.img, self.rng, self.pool = img, rng, pool
        self.avoid = list(avoid)
        self.spots, self.plate = spots, plate
        self.out: list[PrivateString] = []
        self.gray = bool(np.abs(img.astype(np.int16) - img[..., :1]).max() <= 3)

    def font(self, role: str) -> tuple[str, RFont, Path | None]:
        names = [n for n in ROLE_FONTS[role] if n in self.pool]
        name = _pick(self.rng, names)
        f, p = self.pool[name]
        return name, f, p

    def ink(self, text: str, role_font: tuple[str, RFont, Path | None], cap: float) -> np.ndarray:
        return ink(text, role_font[1], role_font[2], cap)

    def paint(self) -> list[PrivateString]:
        rng = self.rng
        if self.plate is not None:
            self._plate()
        order = [("note", "tag", "card", "sticker")[int(i)] for i in rng.permutation(4)]
        if self.spots:  # a person to wear the tag: always try it first
            order.remove("tag")
            order.insert(0, "tag")
        want = int(rng.integers(2, 4))
        placed = 0
        for layout in order:
            if placed >= want:
                break
            spot = None
            if layout == "tag" and self.spots:  # worn on a torso, as wide as fits there
                spot = self.spots[int(rng.integers(len(self.spots)))]
                patch = self._tag(max_w=int(0.9 * (spot[2] - spot[0])))
            else:
                patch = getattr(self, f"_{layout}")()
            if self._place(patch, 6.0 if layout == "tag" else 10.0, region=spot):
                placed += 1
        return self.out

    # -------------------------------------------------------------- layouts

    def _note(self) -> _Patch:
        rng = self.rng
        f = self.font("note")
        cap = float(rng.uniform(12, 17))
        name = make_name(rng)
        lines = [("phone", make_phone(rng)), ("email", make_email(rng, name))]
        if rng.random() < 0.5:
            lines.reverse()
        head = _pick(rng, ("call me!", "Contact:", "my details", "ring me", ""))
        masks = [self.ink(t, f, cap) for _, t in lines]
        hmask = self.ink(head, f, cap * 0.9) if head else None
        gap = int(cap * 0.9)
        w = max(m.shape[1] for m in masks + ([hmask] if hmask is not None else [])) + 2 * int(cap * 0.9)
        h = sum(m.shape[0] + gap for m in masks) + (hmask.shape[0] + gap if hmask is not None else 0) + int(cap * 1.2)
        p = _Patch.blank(w, h, _pick(rng, PAPER), "note")
        if rng.random() < 0.4:  # ruled paper
            for yy in range(int(cap * 1.6), h, int(cap * 1.9)):
                p.rgb[yy, :] = p.rgb[yy, :] * 0.8 + np.asarray((150, 180, 230), np.float32) * 0.2
        pen = _pick(rng, PEN)
        x0, y = int(cap * 0.9), int(cap * 0.7)
        if hmask is not None:
            p.put(hmask, x0, y, pen)
            y += hmask.shape[0] + gap
        for (kind, text), m in zip(lines, masks, strict=True):
            p.put(m, x0 + int(rng.integers(0, max(1, int(cap * 0.5)))) if m.shape[1] < w - 2 * x0 else x0,
                  y, pen, kind, text, f[0], cap)
            y += m.shape[0] + gap
        return p

    def _tag(self, max_w: int | None = None) -> _Patch:
        rng = self.rng
        f = self.font("tag")
        name = make_name(rng)
        cap = float(rng.uniform(11, 15) if max_w else rng.uniform(13, 19))
        two = max_w is not None or rng.random() < 0.3
        text = name.replace(" ", "\n", 1) if two else name
        head_col = _pick(rng, TAG_HEADERS)
        hello = rng.random() < 0.5
        while True:
            masks = [self.ink(t, f, cap) for t in text.split("\n")]
            tw = max(m.shape[1] for m in masks)
            if max_w is None or cap <= 9 or tw + 2.0 * cap <= max_w:
                break
            cap -= 0.5
        lgap = int(cap * 0.45)
        th = sum(m.shape[0] for m in masks) + lgap * (len(masks) - 1)
        pad = int(cap * 0.6)
        w = tw + 2 * pad
        if hello:
            big = ink("HELLO", self.pool["Hershey-Plain"][0], None, cap * 0.8)
            small = ink("my name is", self.pool["Hershey-Plain"][0], None, cap * 0.45)
            w = max(w, big.shape[1] + 2 * pad, small.shape[1] + 2 * pad)
            head_h = big.shape[0] + small.shape[0] + 3 * int(cap * 0.25)
            h = head_h + th + 2 * pad
            p = _Patch.blank(w, h, (252, 252, 252), "tag", radius=int(cap * 0.5))
            p.fill((0, 0, w, head_h), head_col)
            p.fill((0, h - int(cap * 0.35), w, h), head_col)
            p.put(big, (w - big.shape[1]) // 2, int(cap * 0.25), (255, 255, 255))
            p.put(small, (w - small.shape[1]) // 2, int(cap * 0.5) + big.shape[0], (255, 255, 255))
            y = head_h + pad
        else:  # a lanyard badge: white card with a coloured band on the left
            band = int(cap * 0.7)
            w += band
            h = th + 2 * pad
            p = _Patch.blank(w, h, (248, 248, 244), "tag", radius=int(cap * 0.3))
            p.fill((0, 0, band, h), head_col)
            y = pad
        ink_col = _pick(rng, ((15, 15, 15), (20, 30, 100)))
        full = np.zeros(p.alpha.shape, np.uint8)
        for m in masks:
            x = (w - m.shape[1]) // 2 if hello else w - pad - tw
            p.put(m, x, y, ink_col)
            full[y: y + m.shape[0], x: x + m.shape[1]] = np.maximum(full[y: y + m.shape[0], x: x + m.shape[1]], m)
            y += m.shape[0] + lgap
        p.strings.append(("name", name, f[0], cap, full))
        return p

    def _card(self) -> _Patch:
        rng = self.rng
        f = self.font("card")
        cap = float(rng.uniform(11, 15))
        number = make_id(rng)
        with_name = rng.random() < 0.5
        name = make_name(rng)
        title = _pick(rng, CARD_TITLES)
        nm = self.ink(number, f, cap)
        lab = ink("No.", self.pool["Hershey-Plain"][0], None, cap * 0.7)
        name_m = self.ink(name, f, cap) if with_name else None
        title_m = ink(title, self.pool["Hershey-Plain"][0], None, cap * 0.75)
        photo_w = int(cap * 3.4)
        pad = int(cap * 0.6)
        text_w = max(nm.shape[1] + lab.shape[1] + pad // 2, name_m.shape[1] if name_m is not None else 0)
        w = max(photo_w + text_w + 3 * pad, title_m.shape[1] + 2 * pad)
        head_h = title_m.shape[0] + 2 * int(cap * 0.35)
        body_h = max(int(photo_w * 1.2), nm.shape[0] + (name_m.shape[0] + pad if name_m is not None else 0) + 2 * pad)
        h = head_h + body_h + pad
        p = _Patch.blank(w, h, _pick(rng, CARD_BG), "card", radius=int(cap * 0.5))
        p.fill((0, 0, w, head_h), (40, 60, 110))
        p.put(title_m, pad, int(cap * 0.35), (255, 255, 255))
        # photo placeholder: a grey square with a head-and-shoulders silhouette
        py = head_h + pad // 2
        ph = int(photo_w * 1.2)
        p.fill((pad, py, pad + photo_w, py + ph), (190, 190, 195))
        c = (pad + photo_w // 2, py + int(ph * 0.38))
        cv2.circle(p.rgb, c, int(photo_w * 0.22), (120, 120, 128), -1, cv2.LINE_AA)
        cv2.ellipse(p.rgb, (c[0], py + ph), (int(photo_w * 0.42), int(ph * 0.35)), 0, 180, 360, (120, 120, 128), -1,
                    cv2.LINE_AA)
        x = 2 * pad + photo_w
        y = head_h + pad
        col = (20, 20, 25)
        if name_m is not None:
            p.put(name_m, x, y, col, "name", name, f[0], cap)
            y += name_m.shape[0] + pad
        p.put(lab, x, y + nm.shape[0] - lab.shape[0], (90, 90, 100))
        p.put(nm, x + lab.shape[1] + pad // 2, y, col, "id", number, f[0], cap)
        return p

    def _sticker(self) -> _Patch:
        rng = self.rng
        f = self.font("sticker")
        cap = float(rng.uniform(12, 17))
        kind = _pick(rng, ("phone", "email", "name"))
        text = {"phone": make_phone, "email": make_email, "name": make_name}[kind](rng)
        fg, bg = _pick(rng, STICKERS)
        lead = _pick(rng, STICKER_LEADS[kind])
        m = self.ink(text, f, cap)
        lm = self.ink(lead, f, cap * 0.7)
        pad = int(cap * 0.7)
        w = max(m.shape[1], lm.shape[1]) + 2 * pad
        h = m.shape[0] + lm.shape[0] + int(cap * 0.5) + 2 * pad
        p = _Patch.blank(w, h, bg, "sticker", radius=int(cap * 0.9))
        p.put(lm, pad, pad, fg)
        p.put(m, (w - m.shape[1]) // 2, pad + lm.shape[0] + int(cap * 0.5), fg, kind, text, f[0], cap)
        return p

    def _plate(self) -> None:
        rng = self.rng
        assert self.plate is not None
        f = self.font("plate")
        text = make_plate(rng)
        tx1, ty1, tx2, ty2 = self.plate
        tw, th = tx2 - tx1, ty2 - ty1
        ph = int(th * rng.uniform(0.55, 0.75))
        cap = ph * 0.6
        m = self.ink(text, f, cap)
        eu = rng.random() < 0.5
        strip = int(ph * 0.42) if eu else 0
        pad = int(ph * 0.2)
        while m.shape[1] + 2 * pad + strip > tw * 1.05 and cap > 8:
            cap -= 1
            m = self.ink(text, f, cap)
        w = m.shape[1] + 2 * pad + strip
        bg = _pick(rng, ((246, 246, 240), (250, 205, 25), (240, 240, 240)))
        p = _Patch.blank(w, ph, bg, "plate", radius=max(1, ph // 10))
        cv2.rectangle(p.rgb, (1, 1), (w - 2, ph - 2), (30, 30, 30), max(1, ph // 18))
        if eu:
            p.fill((2, 2, strip, ph - 2), (20, 50, 160))
        p.put(m, strip + pad, (ph - m.shape[0]) // 2, (12, 12, 12), "plate", text, f[0], cap)
        region = (tx1 - 4, ty1 - 4, tx2 + 4, ty2 + 4)
        self._place(p, 3.0, region=region, blur=0.9)

    # -------------------------------------------------------------- placement

    def _place(self, patch: _Patch, max_angle: float, region: Box | None = None, blur: float = 0.6) -> bool:
        """Warp ``patch`` (rotation, slight perspective) to a free spot; record its strings."""
        rng = self.rng
        img = self.img
        H, W = img.shape[:2]
        h, w = patch.alpha.shape
        src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
        a = math.radians(rng.uniform(-max_angle, max_angle))
        rot = np.float32([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        dst = (src - np.float32([w / 2, h / 2])) @ rot.T
        dst += rng.uniform(-0.05, 0.05, size=(4, 2)).astype(np.float32) * np.float32([w, h])
        dst -= dst.min(axis=0)
        cw, ch = int(math.ceil(dst[:, 0].max())) + 1, int(math.ceil(dst[:, 1].max())) + 1
        rx1, ry1, rx2, ry2 = region if region is not None else (0, 0, W, H)
        if region is not None and (cw > (rx2 - rx1) * 1.15 + 8 or ch > (ry2 - ry1) * 1.15 + 8):
            return False
        for _ in range(120):
            if region is not None:  # centre of the label inside the region
                cx = rng.uniform(rx1 + min(cw, rx2 - rx1) / 2, rx2 - min(cw, rx2 - rx1) / 2)
                cy = rng.uniform(ry1 + min(ch, ry2 - ry1) / 2, ry2 - min(ch, ry2 - ry1) / 2)
                x, y = int(round(cx - cw / 2)), int(round(cy - ch / 2))
            else:
                if W - cw - 4 <= 4 or H - ch - 4 <= 4:
                    return False
                x, y = int(rng.integers(4, W - cw - 4)), int(rng.integers(4, H - ch - 4))
            box = (x, y, x + cw, y + ch)
            if x < 2 or y < 2 or box[2] > W - 2 or box[3] > H - 2:
                continue
            avoid = self.avoid if region is None else [b for b in self.avoid if _inter(b, region) < _area(region) * 0.9]
            if all(_inter(_grow(box, 3), b) == 0 for b in avoid):
                break
        else:
            return False
        M = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
        warp = lambda z, interp=cv2.INTER_LINEAR: cv2.warpPerspective(  # noqa: E731
            z, M, (cw, ch), flags=interp, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        rgb = warp(patch.rgb)
        alpha = warp(patch.alpha)[..., None]
        region_img = img[y: y + ch, x: x + cw].astype(np.float32)
        lum = float(region_img.mean())
        shade = float(np.clip(0.78 + 0.3 * lum / 150.0, 0.8, 1.0))
        cast = region_img.reshape(-1, 3).mean(axis=0)
        if self.gray:  # a black-and-white photo: the label is grey too
            rgb = np.repeat(rgb @ np.float32([[0.299], [0.587], [0.114]]), 3, axis=2)
        rgb = (rgb * shade) * 0.92 + cast * 0.08 * alpha
        # soft shadow down and to the right, then the label
        sh = cv2.GaussianBlur(np.roll(np.roll(alpha[..., 0], 2, axis=0), 2, axis=1), (0, 0), 2.0)[..., None]
        out = region_img * (1 - 0.35 * sh)
        out = out * (1 - alpha) + rgb * alpha
        out += rng.normal(0, 2.0, size=out.shape).astype(np.float32) * alpha
        out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
        img[y: y + ch, x: x + cw] = cv2.GaussianBlur(out, (0, 0), blur)
        for kind, text, font, cap, mask in patch.strings:
            wm = warp(mask)
            ys, xs = np.nonzero(wm > 100)
            if len(ys) == 0:
                continue
            tb = (x + int(xs.min()), y + int(ys.min()), x + int(xs.max()) + 1, y + int(ys.max()) + 1)
            self.out.append(PrivateString(kind, text, tb, patch.layout, font, round(cap, 2)))
        self.avoid.append(box)
        return True


# ----------------------------------------------------------------------------- attackers

OPTIONAL_ENGINES = {"tesseract": "tesseract is not installed (Debian: apt-get install tesseract-ocr)"}


def _engines(engines: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    from veil.privacy.pretrained import OCR_ENGINES

    use, skipped = [], {}
    for e in engines:
        if e in OCR_ENGINES:
            use.append(e)
        elif e in OPTIONAL_ENGINES:
            skipped[e] = OPTIONAL_ENGINES[e]
        else:
            raise ConfigError(f"unknown OCR engine {e!r}; choose from: {', '.join(OCR_ENGINES.names())}")
    if not use:
        raise ConfigError(f"no OCR engine available among {list(engines)}: {skipped}")
    return use, skipped


def _line_box(line: Any) -> tuple[float, float, float, float]:
    b = np.asarray(line.box, np.float64)
    return (float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 0].max()), float(b[:, 1].max()))


def _crop_upscale(cap_px: float) -> float:
    """How much the crop attacker enlarges a crop: capitals to about 32 px, between 2x and 4x."""
    return float(np.clip(32.0 / max(cap_px, 1.0), 2.0, 4.0))


def substring_cer(reference: str, hypothesis: str) -> float:
    """Edit distance from the normalized ``reference`` to the closest substring of the
    normalized ``hypothesis``, over the reference length (capped at 1).

    Text read around a private string (a "No." label, a neighbouring line) costs nothing,
    as with exact matching, which asks for the reference as a substring: 0 when exact.
    """
    from veil.privacy.metrics import normalize_text

    ref, hyp = normalize_text(reference), normalize_text(hypothesis)
    if not ref:
        return 0.0
    prev = [0] * (len(hyp) + 1)  # a match may start anywhere in the hypothesis
    for i, a in enumerate(ref, start=1):
        cur = [i]
        for j, b in enumerate(hyp, start=1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a != b)))
        prev = cur
    return min(1.0, min(prev) / len(ref))  # ... and end anywhere


def _attack(ci: CheckImage, image: np.ndarray, engines: list[str]) -> dict[str, Any]:
    """OCR readings of one image: public words on the whole image, private strings on the
    whole image and on upscaled crops around each box."""
    from veil.data.manifest import PrivateText
    from veil.privacy.metrics import normalize_text
    from veil.privacy.pretrained import _reading_order, get_ocr_engine, text_recovery

    public: list[dict[str, Any]] = [{"word": p.word, "sign": p.sign, "read": False, "by": []} for p in ci.public]
    private: list[dict[str, Any]] = [
        {"kind": s.kind, "text": s.text, "layout": s.layout, "font": s.font, "box": list(s.box), "exact": False,
         "cer": 1.0, "read": "", "by": []} for s in ci.private
    ]
    for name in engines:
        ocr = get_ocr_engine(name)
        lines = ocr.read(image)
        boxes = [_line_box(ln) for ln in lines]
        for p, rec in zip(ci.public, public, strict=True):
            inside = [ln for ln, b in zip(lines, boxes, strict=True) if _inter(b, p.box) >= 0.5 * max(_area(b), 1e-6)]
            texts = [normalize_text(ln.text) for ln in _reading_order(inside)]
            if normalize_text(p.word) in "".join(texts):
                rec["read"] = True
                rec["by"].append(name)
        for s, rec in zip(ci.private, private, strict=True):
            gt = normalize_text(s.text)
            near = [ln for ln, b in zip(lines, boxes, strict=True)
                    if _inter(b, s.box) >= 0.3 * min(max(_area(b), 1e-6), max(_area(s.box), 1e-6))]
            cands = [" ".join(ln.text for ln in _reading_order(near)), *(ln.text for ln in near)]
            cands = [c for c in cands if c]
            if cands:
                best = min(cands, key=lambda c: substring_cer(s.text, c))
                cer = substring_cer(s.text, best)
                if cer < rec["cer"]:
                    rec["cer"], rec["read"] = cer, best
                if any(gt in normalize_text(c) for c in cands):
                    rec["exact"] = True
                    rec["by"].append(f"{name}/full")
            r = text_recovery([image], [[PrivateText(s.kind, s.text, s.box)]], engine=ocr,
                              upscale=_crop_upscale(s.cap_px))["items"]
            if r:
                cer = substring_cer(s.text, r[0]["read"])
                if cer < rec["cer"]:
                    rec["cer"], rec["read"] = cer, r[0]["read"]
                if r[0]["exact"]:
                    rec["exact"] = True
                    rec["by"].append(f"{name}/crop")
    for rec in private:
        if rec["exact"]:
            rec["cer"] = 0.0  # exact means some reading holds the string; substring_cer agrees
    return {"public": public, "private": private}


# ----------------------------------------------------------------------------- metrics


def _rate(n: int, d: int) -> float:
    return n / d if d else math.nan


def _summary(readings: list[dict[str, Any]], engines: list[str]) -> dict[str, Any]:
    pub = [p for r in readings for p in r["public"]]
    priv = [s for r in readings for s in r["private"]]
    out: dict[str, Any] = {
        "public_words": len(pub),
        "public_words_read": _rate(sum(p["read"] for p in pub), len(pub)),
        "private_strings": len(priv),
        "private_read": _rate(sum(s["exact"] for s in priv), len(priv)),
        "private_cer": float(np.mean([s["cer"] for s in priv])) if priv else math.nan,
        "per_kind": {},
        "per_attacker": {},
    }
    for k in KINDS:
        rows = [s for s in priv if s["kind"] == k]
        out["per_kind"][k] = {"total": len(rows), "read": _rate(sum(s["exact"] for s in rows), len(rows)),
                              "cer": float(np.mean([s["cer"] for s in rows])) if rows else math.nan}
    for e in engines:
        out["per_attacker"][f"{e}/public"] = _rate(sum(e in p["by"] for p in pub), len(pub))
        for a in ("full", "crop"):
            out["per_attacker"][f"{e}/{a}"] = _rate(sum(f"{e}/{a}" in s["by"] for s in priv), len(priv))
    return out


def _anonymize(anon: Callable[[np.ndarray], np.ndarray], image: np.ndarray, item: str) -> np.ndarray:
    out = anon(image.copy())
    out = np.asarray(out)
    if out.dtype != np.uint8 or out.shape != image.shape:
        raise MediaError(f"anonymizer returned {out.dtype} {out.shape} for {item} of {image.shape}; "
                         "it must return an RGB uint8 image of the same size")
    return out


_BASELINE: dict[tuple[str, tuple[str, ...]], list[dict[str, Any]]] = {}


def _resolve(anonymizer: Any) -> tuple[Callable[[np.ndarray], np.ndarray], str]:
    if callable(anonymizer) and not isinstance(anonymizer, (str, os.PathLike)):
        spec = getattr(anonymizer, "spec", None)
        return anonymizer, str(spec) if spec else getattr(anonymizer, "__name__", type(anonymizer).__name__)
    import veil

    anon = veil.load_anonymizer(anonymizer)
    return anon, str(anonymizer)


def run_real_photo_check(
    anonymizer_spec_or_callable: Any,
    seed: int = 0,
    engines: Sequence[str] = ("rapidocr",),
    out: str | os.PathLike[str] | None = None,
    *,
    media_dir: str | os.PathLike[str] | None = None,
    photos: Sequence[str] | None = None,
    check: RealCheck | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Run the real-photo check for one anonymizer and return its result (see module doc).

    Args:
        anonymizer_spec_or_callable: a spec for :func:`veil.load_anonymizer` (``"identity"``,
            ``"blur:sigma=8"``, ``"faceblur"``, a trained model folder) or a callable mapping an
            RGB uint8 (H, W, 3) array to one of the same shape.
        seed: seed of the build.
        engines: OCR engines to attack with; ``tesseract`` is skipped (and said so under
            ``engines_skipped``) when its binary is missing.
        out: a folder (written: ``real_photo_check.json`` and ``real_photo_check.png``) or a
            ``.json`` path (the contact sheet goes beside it, ``.png``); written atomically.
        media_dir, photos: passed to :func:`build_real_photo_check`.
        check: a check already built with the same seed, to share the build between anonymizers.

    Returns:
        A JSON-ready dict: the anonymizer, build facts (seed, fingerprint, font pool, photos,
        missing photos, engines), ``public_words_read`` / ``public_words_read_unprotected`` /
        ``public_ratio``, ``private_read`` / ``private_read_unprotected``, ``private_cer``,
        ``per_kind`` and ``per_attacker`` (protected), ``unprotected`` (the same summary on
        the unprotected images), ``per_photo`` and ``items`` (every reading), ``runtime_s``.
        Rates with nothing to count are None.

    Raises:
        ConfigError: an unknown anonymizer or engine, a bad seed or photo key.
        DataUnavailableError: no photo with public text available.
        MediaError: the anonymizer returned an image of another size or type.
    """
    t0 = time.perf_counter()
    anon, spec = _resolve(anonymizer_spec_or_callable)
    use, skipped = _engines(engines)
    if check is not None and check.seed != int(seed):
        raise ConfigError(f"the check given was built with seed {check.seed}, not {seed}")
    rc = check if check is not None else build_real_photo_check(seed, media_dir, photos)
    fp = rc.fingerprint()
    key = (fp, tuple(use))
    protected = [_anonymize(anon, ci.image, ci.id) for ci in rc.images]
    if key not in _BASELINE:
        _BASELINE[key] = [_attack(ci, ci.image, use) for ci in _bar(rc.images, "real-photo check: unprotected",
                                                                    progress)]
    base = _BASELINE[key]
    readings = []
    for i in _bar(range(len(rc.images)), f"real-photo check: {spec}", progress):
        ci, prot = rc.images[i], protected[i]
        readings.append(base[i] if np.array_equal(prot, ci.image) else _attack(ci, prot, use))
    s_prot, s_base = _summary(readings, use), _summary(base, use)
    per_photo: dict[str, Any] = {}
    for key_ in dict.fromkeys(ci.photo for ci in rc.images):
        idx = [i for i, ci in enumerate(rc.images) if ci.photo == key_]
        sp = _summary([readings[i] for i in idx], use)
        sb = _summary([base[i] for i in idx], use)
        per_photo[key_] = {"images": len(idx), "public_words": sp["public_words"],
                           "public_words_read": sp["public_words_read"],
                           "public_words_read_unprotected": sb["public_words_read"],
                           "private_strings": sp["private_strings"], "private_read": sp["private_read"],
                           "private_read_unprotected": sb["private_read"]}
    pr = s_prot["public_words_read"]
    pb = s_base["public_words_read"]
    result: dict[str, Any] = {
        "check": "real-photo",
        "version": REALCHECK_VERSION,
        "anonymizer": spec,
        "seed": rc.seed,
        "fingerprint": fp,
        "font_pool": rc.font_pool,
        "engines": use,
        "engines_skipped": skipped,
        "photos": list(dict.fromkeys(ci.photo for ci in rc.images)),
        "photos_missing": rc.photos_missing,
        "images": len(rc.images),
        "public_words": s_prot["public_words"],
        "public_words_read": pr,
        "public_words_read_unprotected": pb,
        "public_ratio": pr / pb if pb and not math.isnan(pr) else math.nan,
        "private_strings": s_prot["private_strings"],
        "private_read": s_prot["private_read"],
        "private_read_unprotected": s_base["private_read"],
        "private_cer": s_prot["private_cer"],
        "private_cer_unprotected": s_base["private_cer"],
        "per_kind": s_prot["per_kind"],
        "per_attacker": s_prot["per_attacker"],
        "unprotected": {k: s_base[k] for k in ("public_words_read", "private_read", "private_cer", "per_kind",
                                               "per_attacker")},
        "per_photo": per_photo,
        "items": [{"id": ci.id, "photo": ci.photo, "variant": ci.variant, "window": list(ci.window),
                   "size": [int(ci.image.shape[1]), int(ci.image.shape[0])], **r}
                  for ci, r in zip(rc.images, readings, strict=True)],
    }
    result["runtime_s"] = round(time.perf_counter() - t0, 2)
    result = _jsonable(result)
    if out is not None:
        _write(result, rc, protected, Path(out))
    return result


def _bar(it: Sequence[Any], desc: str, progress: bool) -> Iterable[Any]:
    if not progress:
        return it
    from tqdm.auto import tqdm

    return tqdm(it, desc=desc, file=sys.stderr, leave=False)


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (float, np.floating)):
        return None if math.isnan(float(x)) else float(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def _write(result: dict[str, Any], rc: RealCheck, protected: list[np.ndarray], out: Path) -> None:
    from veil.fsutil import atomic_write_bytes, atomic_write_text

    if out.suffix.lower() == ".json":
        jpath, ppath = out, out.with_suffix(".png")
    else:
        jpath, ppath = out / "real_photo_check.json", out / "real_photo_check.png"
    atomic_write_text(jpath, json.dumps(result, indent=1, sort_keys=True) + "\n")
    sheet = contact_sheet(rc, protected)
    ok, png = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    if not ok:  # pragma: no cover - OpenCV always encodes uint8 RGB
        raise MediaError("could not encode the contact sheet")
    atomic_write_bytes(ppath, png.tobytes())


def contact_sheet(rc: RealCheck, protected: list[np.ndarray], n: int = 6, cell: int = 400) -> np.ndarray:
    """A grid of ``n`` protected images (one per photo, those with most private text first):
    private boxes in red, public sign boxes in green."""
    first: dict[str, int] = {}
    for i, ci in enumerate(rc.images):
        if ci.photo not in first or len(ci.private) > len(rc.images[first[ci.photo]].private):
            first[ci.photo] = i
    picks = sorted(first.values(), key=lambda i: (-bool(rc.images[i].public), -len(rc.images[i].private), i))[:n]
    cols = 3
    rows = max(1, -(-len(picks) // cols))
    sheet = np.full((rows * (cell + 24), cols * cell, 3), 255, np.uint8)
    for k, i in enumerate(picks):
        ci, img = rc.images[i], protected[i].copy()
        for p in ci.public:
            cv2.rectangle(img, p.box[:2], (p.box[2] - 1, p.box[3] - 1), (0, 200, 0), 2)
        for s in ci.private:
            cv2.rectangle(img, s.box[:2], (s.box[2] - 1, s.box[3] - 1), (230, 0, 0), 2)
        s = cell / max(img.shape[:2])
        img = cv2.resize(img, (int(img.shape[1] * s), int(img.shape[0] * s)), interpolation=cv2.INTER_AREA)
        r, c = divmod(k, cols)
        y, x = r * (cell + 24), c * cell
        sheet[y: y + img.shape[0], x: x + img.shape[1]] = img
        cv2.putText(sheet, ci.id, (x + 4, y + cell + 17), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return sheet


# ----------------------------------------------------------------------------- table


def _pct(x: Any) -> str:
    return "  -  " if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:5.1f}"


def format_table(results: Sequence[dict[str, Any]]) -> str:
    """A plain-text table of results of :func:`run_real_photo_check` (percentages)."""
    head = ["anonymizer", "public", "ratio", "private", *KINDS, "CER"]
    rows = []
    for r in results:
        ratio = r.get("public_ratio")
        rows.append([r["anonymizer"], _pct(r["public_words_read"]),
                     "  -  " if ratio is None else f"{ratio:5.2f}", _pct(r["private_read"]),
                     *(_pct(r["per_kind"][k]["read"]) for k in KINDS), _pct(r["private_cer"])])
    width = [max(len(head[i]), *(len(row[i]) for row in rows)) for i in range(len(head))]

    def fmt(row: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, width, strict=True)))

    return "\n".join([fmt(head), fmt(["-" * w for w in width]), *map(fmt, rows)])
