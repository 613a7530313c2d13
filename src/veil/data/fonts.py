"""Fonts for rendering scenario text, from files that ship inside installed packages.

Two kinds of font need no download: the TrueType fonts inside matplotlib
(``matplotlib.get_data_path()/fonts/ttf``: DejaVu, STIX, Computer Modern) and OpenCV's
Hershey vector fonts. Scenario builders pick fonts by name from :data:`FONTS`, size them by
*cap height* in pixels (the height of a capital letter, which is what makes text readable
or not) and get back the exact box of the ink they drew, so private-text ground truth is
pixel-tight whatever the font.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from veil.errors import DataUnavailableError

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Font:
    """A named font: a matplotlib TTF file (``ttf``) or an OpenCV Hershey font id."""

    name: str
    family: str
    ttf: str | None = None
    hershey: int | None = None
    thickness: int = 1


FONTS: dict[str, Font] = {
    f.name: f
    for f in (
        Font("DejaVuSans", "sans", ttf="DejaVuSans.ttf"),
        Font("DejaVuSans-Bold", "sans", ttf="DejaVuSans-Bold.ttf"),
        Font("DejaVuSans-Oblique", "sans-oblique", ttf="DejaVuSans-Oblique.ttf"),
        Font("DejaVuSans-BoldOblique", "sans-oblique", ttf="DejaVuSans-BoldOblique.ttf"),
        Font("DejaVuSerif", "serif", ttf="DejaVuSerif.ttf"),
        Font("DejaVuSerif-Bold", "serif", ttf="DejaVuSerif-Bold.ttf"),
        Font("DejaVuSansMono", "mono", ttf="DejaVuSansMono.ttf"),
        Font("DejaVuSansMono-Bold", "mono", ttf="DejaVuSansMono-Bold.ttf"),
        Font("STIXGeneral", "serif-stix", ttf="STIXGeneral.ttf"),
        Font("STIXGeneral-Bold", "serif-stix", ttf="STIXGeneralBol.ttf"),
        Font("cmss10", "sans-cm", ttf="cmss10.ttf"),
        Font("cmb10", "serif-cm", ttf="cmb10.ttf"),
        Font("Hershey-Simplex", "hershey-sans", hershey=cv2.FONT_HERSHEY_SIMPLEX, thickness=2),
        Font("Hershey-Duplex", "hershey-sans", hershey=cv2.FONT_HERSHEY_DUPLEX, thickness=2),
        Font("Hershey-Complex", "hershey-serif", hershey=cv2.FONT_HERSHEY_COMPLEX, thickness=2),
        Font("Hershey-Triplex", "hershey-serif", hershey=cv2.FONT_HERSHEY_TRIPLEX, thickness=2),
    )
}


def ttf_dir() -> Path:
    """Folder of the TrueType fonts that ship inside matplotlib."""
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


@lru_cache(maxsize=256)
def _pil_font(file: str, size: int) -> ImageFont.FreeTypeFont:
    path = ttf_dir() / file
    if not path.is_file():
        raise DataUnavailableError(f"font {path} not found; reinstall matplotlib")
    return ImageFont.truetype(str(path), size)


@lru_cache(maxsize=64)
def _cap_ratio(font: Font) -> float:
    """Cap height in pixels per unit of size (point size for TTF, fontScale for Hershey)."""
    if font.ttf is not None:
        f = _pil_font(font.ttf, 200)
        x0, y0, x1, y1 = f.getbbox("H")
        return (y1 - y0) / 200.0
    assert font.hershey is not None
    mask = _hershey_mask("H", font, 4.0)
    ys = np.nonzero(mask.any(axis=1))[0]
    return float(ys[-1] - ys[0] + 1) / 4.0


def _hershey_mask(text: str, font: Font, scale: float, thickness: int | None = None) -> np.ndarray:
    assert font.hershey is not None
    th = font.thickness if thickness is None else thickness
    (w, h), base = cv2.getTextSize(text, font.hershey, scale, th)
    pad = th + 4
    mask = np.zeros((h + base + 2 * pad, w + 2 * pad), np.uint8)
    cv2.putText(mask, text, (pad, pad + h), font.hershey, scale, 255, th, cv2.LINE_AA)
    return mask


def text_mask(text: str, font: Font | str, cap_px: float, spacing: float = 0.35) -> np.ndarray:
    """Anti-aliased ink of ``text`` (uint8, 0..255) cropped tight, capitals ``cap_px`` tall.

    ``text`` may hold several lines separated by ``\\n`` (centred, ``spacing`` × cap height
    apart). The result has no margin: its shape is the tight ink box.
    """
    if isinstance(font, str):
        font = FONTS[font]
    lines = text.split("\n")
    if len(lines) > 1:
        masks = [text_mask(line, font, cap_px) for line in lines]
        gap = max(2, int(round(spacing * cap_px)))
        w = max(m.shape[1] for m in masks)
        h = sum(m.shape[0] for m in masks) + gap * (len(masks) - 1)
        out = np.zeros((h, w), np.uint8)
        y = 0
        for m in masks:
            x = (w - m.shape[1]) // 2
            out[y : y + m.shape[0], x : x + m.shape[1]] = m
            y += m.shape[0] + gap
        return out
    if font.ttf is not None:
        size = max(4, int(round(cap_px / _cap_ratio(font))))
        f = _pil_font(font.ttf, size)
        x0, y0, x1, y1 = f.getbbox(text)
        im = Image.new("L", (x1 - x0 + 8, y1 - y0 + 8), 0)
        ImageDraw.Draw(im).text((4 - x0, 4 - y0), text, font=f, fill=255)
        mask = np.asarray(im)
    else:
        scale = cap_px / _cap_ratio(font)
        th = max(1, int(round(font.thickness * cap_px / 20.0)))
        mask = _hershey_mask(text, font, scale, th)
    return _tight(mask)


def _tight(mask: np.ndarray) -> np.ndarray:
    ys = np.nonzero((mask > 40).any(axis=1))[0]
    xs = np.nonzero((mask > 40).any(axis=0))[0]
    if len(ys) == 0:
        return mask[:1, :1] * 0
    return np.ascontiguousarray(mask[ys[0] : ys[-1] + 1, xs[0] : xs[-1] + 1])


def paint_mask(image: np.ndarray, mask: np.ndarray, x: int, y: int, color: tuple[int, int, int]) -> Box:
    """Blend ``color`` into ``image`` (RGB uint8, in place) through ``mask`` at (x, y).

    Returns the box ``[x1, y1, x2, y2]`` of the painted ink, clipped to the image.
    """
    h, w = mask.shape
    H, W = image.shape[:2]
    x1, y1, x2, y2 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
    if x2 <= x1 or y2 <= y1:
        raise ValueError("text lies outside the image")
    a = mask[y1 - y : y2 - y, x1 - x : x2 - x].astype(np.float32)[..., None] / 255.0
    region = image[y1:y2, x1:x2].astype(np.float32)
    region = region * (1.0 - a) + np.asarray(color, np.float32) * a
    image[y1:y2, x1:x2] = np.clip(np.rint(region), 0, 255).astype(np.uint8)
    return (x1, y1, x2, y2)
