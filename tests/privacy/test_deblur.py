"""The deblurring attacker: Wiener deconvolution undoes light blur, not heavy blur."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from veil.data.manifest import PrivateText
from veil.errors import ConfigError
from veil.privacy.deblur import deblur_recovery, gaussian_psf, wiener_deblur
from veil.privacy.pretrained import OcrEngine, OcrLine


def _stripes(period: int, size: int = 96) -> np.ndarray:
    """Vertical black and white bars, ``period`` pixels per black-white pair (grey uint8)."""
    x = np.arange(size)
    row = np.where((x // (period // 2)) % 2 == 0, 30, 220).astype(np.uint8)
    return np.tile(row, (size, 1))


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """A Gaussian blur in floating point with a kernel wide enough (5 sigma) that its
    truncation leaves nothing, rounded to 8 bits as an image is sent."""
    k = 2 * int(np.ceil(5 * sigma)) + 1
    out = cv2.GaussianBlur(img.astype(np.float64), (k, k), sigma, borderType=cv2.BORDER_REFLECT)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _contrast(img: np.ndarray) -> float:
    """Peak-to-peak of the middle row (the bars' contrast left), in grey levels."""
    mid = img[img.shape[0] // 2, 16:-16].astype(float)
    return float(mid.max() - mid.min())


def test_gaussian_psf_is_normalised_and_symmetric() -> None:
    k = gaussian_psf(2.0)
    assert k.shape == (13, 13)
    assert k.sum() == pytest.approx(1.0)
    assert np.allclose(k, k.T) and np.allclose(k, k[::-1, ::-1])
    assert k.argmax() == k.size // 2


def test_light_blur_is_undone() -> None:
    """Bars 8 px apart blurred by 1.5 px: the known width brings the contrast back."""
    original = _stripes(8)
    blurred = _blur(original, 1.5)
    restored = wiener_deblur(blurred, 1.5, 0.002)
    err_blurred = np.abs(blurred.astype(int) - original).mean()
    err_restored = np.abs(restored.astype(int) - original).mean()
    assert err_restored < 0.75 * err_blurred
    assert _contrast(restored) > 1.5 * _contrast(blurred)


def test_heavy_blur_is_beyond_deconvolution() -> None:
    """Bars 8 px apart blurred by 6 px keep less than a grey level of contrast: the 8-bit
    rounding has erased them, and no width or balance brings them back."""
    original = _stripes(8)
    blurred = _blur(original, 6.0)
    assert _contrast(blurred) <= 2.0
    for sigma in (3.0, 6.0):
        for balance in (0.002, 0.02):
            restored = wiener_deblur(blurred, sigma, balance)
            corr = np.corrcoef(restored[48, 16:-16].astype(float), original[48, 16:-16].astype(float))[0, 1]
            assert not corr > 0.5, (sigma, balance, corr)


def test_rgb_keeps_its_shape_and_type() -> None:
    img = np.dstack([_stripes(8)] * 3)
    out = wiener_deblur(img, 1.0)
    assert out.shape == img.shape and out.dtype == np.uint8


@pytest.mark.parametrize("kwargs", [{"sigma": 0.0}, {"sigma": -1.0}, {"sigma": 1.0, "balance": 0.0}])
def test_bad_arguments_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        wiener_deblur(_stripes(8), **kwargs)


def test_non_uint8_is_refused() -> None:
    with pytest.raises(ConfigError):
        wiener_deblur(_stripes(8).astype(np.float32), 1.0)


def test_veil_blur_leaves_no_trace_to_deconvolve() -> None:
    """``gaussian_blur`` (the ``blur`` baseline and ``faceblur``) blurs in floating point:
    OpenCV's 8-bit path keeps a faint sharp copy that deconvolution reads (correlation about
    0.99 on these bars under the same blur)."""
    from veil.anonymizers.baselines import gaussian_blur

    original = _stripes(8, 192)
    for sigma in (6.0, 9.0):
        blurred = gaussian_blur(original, sigma)
        for width in (1.0, 2.0, 3.0, 6.0):
            for balance in (0.002, 0.02):
                restored = wiener_deblur(blurred, width, balance)
                row = restored[96, 24:-24].astype(float)
                corr = np.corrcoef(row, original[96, 24:-24].astype(float))[0, 1] if row.std() > 0 else 0.0
                assert not corr > 0.5, (sigma, width, balance, corr)


class _TemplateOcr(OcrEngine):
    """Reads the secret as a single line when the crop holds the sharp label (normalised
    cross-correlation with it above ``threshold``), else nothing: a stand-in for OCR that
    fails on blurred text and on ringing alike, to test the attempts and the bookkeeping of
    :func:`deblur_recovery` (crops at scale 1)."""

    name = "template"

    def __init__(self, secret: str, template: np.ndarray, threshold: float = 0.92) -> None:
        self.secret, self.threshold = secret, threshold
        self.template = cv2.cvtColor(template, cv2.COLOR_RGB2GRAY).astype(np.float32)

    def read(self, image: np.ndarray) -> list[OcrLine]:
        return []

    def read_line(self, image: np.ndarray) -> str | None:
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
        th, tw = self.template.shape
        if grey.shape[0] < th or grey.shape[1] < tw:
            return ""
        score = cv2.matchTemplate(grey, self.template, cv2.TM_CCOEFF_NORMED).max()
        return self.secret if score > self.threshold else ""


def _label() -> tuple[np.ndarray, PrivateText]:
    img = np.full((160, 420, 3), 235, np.uint8)
    cv2.putText(img, "AB 4821", (40, 100), cv2.FONT_HERSHEY_SIMPLEX, 1.6, (20, 20, 20), 3)
    return img, PrivateText("plate", "AB 4821", (40, 60, 230, 102))


def test_deblur_recovery_reads_what_deconvolution_gives_back() -> None:
    from veil.anonymizers.baselines import gaussian_blur

    img, text = _label()
    ocr = _TemplateOcr(text.text, img[60:102, 40:230])
    sharp = deblur_recovery([img], [[text]], engine=ocr, upscale=1.0)
    assert sharp["exact"] == 1 and sharp["items"][0]["sigma"] is None  # read as it is: no attempt needed
    light = deblur_recovery([gaussian_blur(img, 2.0)], [[text]], engine=ocr, upscale=1.0)
    assert light["exact"] == 1 and light["items"][0]["sigma"] is not None  # only a deconvolution reads it
    assert light["per_kind"]["plate"]["exact"] == 1
    heavy = deblur_recovery([gaussian_blur(img, 8.0)], [[text]], engine=ocr, upscale=1.0)
    assert heavy["exact"] == 0 and heavy["total"] == 1


def test_deblur_recovery_refuses_mismatched_inputs() -> None:
    img, text = _label()
    with pytest.raises(ConfigError):
        deblur_recovery([img, img], [[text]], engine="rapidocr")
    with pytest.raises(ConfigError):
        deblur_recovery([img], [[text]], engine="rapidocr", sigmas=())
