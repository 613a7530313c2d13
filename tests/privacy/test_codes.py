"""Machine-readable codes: found in any orientation, hidden as IDs by the default guide."""

from __future__ import annotations

import numpy as np
import pytest

zxingcpp = pytest.importorskip("zxingcpp")

from veil.privacy.codes import code_box, find_codes  # noqa: E402

PAYLOAD = "M1WHITFIELD/AURELIE EABC123 LHRJFKBA 0117 123Y014C0042 100"


def _scene(fmt: str, turn: int = 0, size: int = 240) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A textured 480x640 background with one code on a white label at (60, 80)."""
    import cv2

    code = np.asarray(zxingcpp.create_barcode(PAYLOAD, getattr(zxingcpp.BarcodeFormat, fmt)).to_image(scale=1))
    s = size / max(code.shape)
    code = cv2.resize(code, None, fx=s, fy=s, interpolation=cv2.INTER_NEAREST)
    code = np.ascontiguousarray(np.rot90(code, turn // 90))
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8), (0, 0), 3)
    h, w = code.shape
    img[80:80 + h, 60:60 + w] = code[..., None]
    return img, (60, 80, 60 + w, 80 + h)


@pytest.mark.parametrize("fmt", ["QRCode", "Aztec", "PDF417", "DataMatrix"])
@pytest.mark.parametrize("turn", [0, 90])
def test_codes_are_found_where_they_are_in_any_orientation(fmt: str, turn: int) -> None:
    img, (x1, y1, x2, y2) = _scene(fmt, turn)
    codes = find_codes(img)
    assert [c.text for c in codes] == [PAYLOAD]
    lo, hi = codes[0].poly.min(axis=0), codes[0].poly.max(axis=0)
    # the region covers the symbol (the label less its quiet zone) and not much more
    quiet = 0.12 * max(x2 - x1, y2 - y1)
    assert lo[0] <= x1 + quiet and lo[1] <= y1 + quiet and hi[0] >= x2 - quiet and hi[1] >= y2 - quiet
    assert (hi - lo).prod() < 2.5 * (x2 - x1) * (y2 - y1)


def test_no_code_no_region() -> None:
    assert find_codes(np.full((120, 160, 3), 200, np.uint8)) == []
    assert find_codes(np.zeros((120, 160), np.uint8)) == []


def test_a_thin_linear_code_region_is_widened() -> None:
    thin = np.array([[0, 0], [100, 0], [100, 4], [0, 4]], np.float32)
    import cv2

    (_, _), (w, h), _ = cv2.minAreaRect(code_box(thin))
    assert min(w, h) == pytest.approx(30.0, abs=0.5) and max(w, h) == pytest.approx(100.0, abs=0.5)
    square = np.array([[0, 0], [50, 0], [50, 50], [0, 50]], np.float32)
    (_, _), (w, h), _ = cv2.minAreaRect(code_box(square))
    assert (w, h) == pytest.approx((50.0, 50.0), abs=0.5)


@pytest.mark.parametrize("fmt", ["QRCode", "PDF417"])
def test_the_default_guide_hides_a_code_as_an_id_and_it_no_longer_decodes(fmt: str) -> None:
    from veil.anonymizers.guides import create_guide
    from veil.anonymizers.learned import LearnedAnonymizer

    img, (x1, y1, x2, y2) = _scene(fmt)
    guide = create_guide("faces+textcls")
    maps = guide(img)
    names = list(guide.map_names)
    assert maps[y1:y2, x1:x2, names.index("text_id")].mean() > 0.9
    assert maps[..., names.index("text_public")].max() == 0.0
    # the untrained default network: every private category at its starting level
    anon = LearnedAnonymizer("guided-policy", guide="faces+textcls", extra_channels=len(names))
    out = anon(img)
    assert PAYLOAD not in {c.text for c in find_codes(out)}
    # outside the code's region (and its margin) the image is unchanged
    margin = int(0.15 * (x2 - x1)) + 8
    np.testing.assert_array_equal(out[:, x2 + margin + 40:], img[:, x2 + margin + 40:])


def test_a_code_region_keeps_its_own_margin_when_held_over() -> None:
    """A video holds regions over with a growing pad; the code's narrow margin stays."""
    from veil.anonymizers.guides import CODE_MARGIN, Region, render_text_planes
    from veil.privacy.pii import TEXT_CATEGORIES

    poly = np.array([[100, 100], [200, 100], [200, 200], [100, 200]], np.float32)
    code = Region(poly, "id", text="<QRCode>", dilate=CODE_MARGIN)
    assert code.padded(5.0).dilate == CODE_MARGIN
    cats = list(TEXT_CATEGORIES)
    as_code = render_text_planes((400, 400, 3), [code], cats, dilate=0.5, size_scale=0.1)[cats.index("id")]
    as_line = render_text_planes((400, 400, 3), [Region(poly, "id")], cats, dilate=0.5, size_scale=0.1)
    assert as_code[150, 150] > 0.9 and as_code[150, 40] < 0.5  # 15 px of margin, not 50
    assert as_line[cats.index("id")][150, 60] > 0.5
