"""The real-photo check (veil.realcheck): build, ground truth, errors, and OCR readings (slow)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from veil.errors import ConfigError, MediaError, UnknownNameError
from veil.realcheck import (
    CORE_FONTS,
    FIRST_NAMES,
    KINDS,
    LAST_NAMES,
    REAL_PHOTOS,
    build_real_photo_check,
    format_table,
    run_real_photo_check,
    substring_cer,
)

# Photos the repository's .media holds (scripts/fetch_media.py) plus scikit-image ones.
SMALL = ("scenetext05", "scenetext06", "licenseplate_motion", "astronaut")


@pytest.fixture(scope="module")
def check():
    return build_real_photo_check(0, photos=SMALL)


def test_photos_are_never_street_train_photos() -> None:
    from veil.data.street import PHOTOS

    train = {p.file for p in PHOTOS if p.split == "train"}
    split = {p.file: p.split for p in PHOTOS}
    for p in REAL_PHOTOS:
        assert p.file not in train, p.key
        assert split.get(p.file, "none") == p.street_split, p.key


def test_private_strings_differ_from_street() -> None:
    from veil.data import fonts, street

    assert not {n.upper() for n in FIRST_NAMES} & set(street.FIRST_NAMES)
    assert not {n.upper() for n in LAST_NAMES} & set(street.LAST_NAMES)
    files = {f.ttf for f in fonts.FONTS.values()}
    hershey = {f.hershey for f in fonts.FONTS.values()}
    for f in CORE_FONTS:
        assert f.file is None or f.file not in files, f.name
        assert f.hershey is None or f.hershey not in hershey, f.name


def test_build_is_deterministic(check) -> None:
    again = build_real_photo_check(0, photos=SMALL)
    assert again.fingerprint() == check.fingerprint()
    assert [im.private for im in again.images] == [im.private for im in check.images]
    other = build_real_photo_check(1, photos=SMALL)
    assert other.fingerprint() != check.fingerprint()


def test_ground_truth(check) -> None:
    assert len(check.images) >= 12
    assert not check.photos_missing
    kinds = {s.kind for im in check.images for s in im.private}
    assert kinds == set(KINDS)
    assert sum(len(im.public) for im in check.images) >= 20
    for im in check.images:
        H, W = im.image.shape[:2]
        assert im.image.dtype == np.uint8 and im.image.ndim == 3
        for s in im.private:
            x1, y1, x2, y2 = s.box
            assert 0 <= x1 < x2 <= W and 0 <= y1 < y2 <= H
            assert s.text.strip()
            for p in im.public:  # private text never covers a public sign
                assert min(x2, p.box[2]) <= max(x1, p.box[0]) or min(y2, p.box[3]) <= max(y1, p.box[1])
        for p in im.public:
            assert len(p.word) >= 3


def test_core_font_pool_without_debian_fonts(monkeypatch) -> None:
    import veil.realcheck as rc

    monkeypatch.setattr(rc, "_font_dirs", lambda: [])
    built = build_real_photo_check(0, photos=("scenetext05",))
    assert built.font_pool == "core"
    core = {f.name for f in CORE_FONTS}
    assert all(s.font in core for im in built.images for s in im.private)


def test_substring_cer() -> None:
    assert substring_cer("EMP-23635-L", "No. EMP-23635-L") == 0.0
    assert substring_cer("+49 30 1234567", "tel 4930 1234587 x") == pytest.approx(1 / 11)
    assert substring_cer("abc", "") == 1.0
    assert substring_cer("", "anything") == 0.0


def test_errors() -> None:
    with pytest.raises(UnknownNameError, match="unknown anonymizer 'no-such-thing'"):
        run_real_photo_check("no-such-thing", photos=("astronaut",))
    with pytest.raises(ConfigError, match="unknown OCR engine"):
        run_real_photo_check("identity", engines=("no-such-ocr",), photos=("astronaut",))
    with pytest.raises(ConfigError, match="unknown real-check photo"):
        build_real_photo_check(0, photos=("nope",))
    with pytest.raises(ConfigError, match="seed"):
        build_real_photo_check(-1)


def test_bad_anonymizer_output(check) -> None:
    with pytest.raises(MediaError, match="same size"):
        run_real_photo_check(lambda im: im[::2], check=check)
    with pytest.raises(ConfigError, match="seed 0, not 1"):
        run_real_photo_check("identity", seed=1, check=check)


def test_missing_tesseract_is_skipped_with_a_note(check, monkeypatch) -> None:
    import veil.privacy.pretrained as pre
    import veil.realcheck as rc

    if "tesseract" in pre.OCR_ENGINES:
        pytest.skip("tesseract is installed here")
    used, skipped = rc._engines(("rapidocr", "tesseract"))
    assert used == ["rapidocr"] and "tesseract" in skipped


@pytest.mark.slow
def test_identity_reads_and_blur_hides(check, tmp_path) -> None:
    ident = run_real_photo_check("identity", check=check, out=tmp_path / "id")
    assert ident["private_read"] >= 0.8
    assert ident["public_words_read"] >= 0.6
    assert ident["public_ratio"] == pytest.approx(1.0)
    assert ident["private_read"] == ident["private_read_unprotected"]
    data = json.loads((tmp_path / "id" / "real_photo_check.json").read_text())
    assert data["fingerprint"] == check.fingerprint() and data["private_strings"] == ident["private_strings"]
    assert (tmp_path / "id" / "real_photo_check.png").read_bytes()[:4] == b"\x89PNG"

    blur = run_real_photo_check("blur:sigma=8", check=check)
    assert blur["private_read"] <= 0.05
    assert blur["private_cer"] > 0.5
    assert blur["public_words_read"] < ident["public_words_read"]

    table = format_table([ident, blur])
    assert "identity" in table and "blur:sigma=8" in table


@pytest.mark.slow
def test_callable_anonymizer_and_json_path(check, tmp_path) -> None:
    def black(im: np.ndarray) -> np.ndarray:
        return np.zeros_like(im)

    out = tmp_path / "r.json"
    r = run_real_photo_check(black, check=check, out=out)
    assert r["anonymizer"] == "black"
    assert r["private_read"] == 0.0 and r["public_words_read"] == 0.0
    assert out.is_file() and out.with_suffix(".png").is_file()
