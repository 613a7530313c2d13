"""The Python API: ``veil.load_anonymizer`` and what an anonymizer accepts (PIL, arrays, batches)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import veil
from veil.anonymizers import Anonymizer
from veil.errors import MediaError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def blur() -> Anonymizer:
    return veil.load_anonymizer("blur:sigma=2")


def rgb(h: int = 24, w: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_import_veil_stays_cheap() -> None:
    code = "import sys, veil; assert 'torch' not in sys.modules and 'veil.anonymizers' not in sys.modules; print('ok')"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
    assert "load_anonymizer" in veil.__all__
    with pytest.raises(AttributeError):
        veil.no_such_thing  # noqa: B018


class TestTypes:
    def test_array_in_array_out(self, blur: Anonymizer) -> None:
        im = rgb()
        out = blur(im)
        assert isinstance(out, np.ndarray) and out.shape == im.shape and out.dtype == np.uint8
        assert not np.array_equal(out, im)

    def test_pil_rgb_in_pil_rgb_out(self, blur: Anonymizer) -> None:
        im = rgb()
        out = blur(Image.fromarray(im))
        assert isinstance(out, Image.Image) and out.mode == "RGB" and out.size == (32, 24)
        assert np.array_equal(np.asarray(out), blur(im))
        assert out.info == {}  # no metadata travels

    def test_rgba_keeps_alpha_and_protects_colour(self, blur: Anonymizer) -> None:
        im = rgb()
        alpha = np.random.default_rng(1).integers(0, 256, (24, 32), dtype=np.uint8)
        rgba = Image.fromarray(np.dstack([im, alpha]), mode="RGBA")
        out = blur(rgba)
        assert out.mode == "RGBA"
        arr = np.asarray(out)
        assert np.array_equal(arr[:, :, 3], alpha)
        assert np.array_equal(arr[:, :, :3], blur(im))

    @pytest.mark.parametrize(("mode", "back"), [("L", "L"), ("LA", "LA"), ("CMYK", "CMYK"), ("P", "RGB"),
                                                ("1", "L"), ("I;16", "L"), ("F", "L")])
    def test_other_modes(self, blur: Anonymizer, mode: str, back: str) -> None:
        src = Image.fromarray(rgb()).convert(mode) if mode not in ("I;16", "F") else Image.new(mode, (32, 24), 7)
        out = blur(src)
        assert out.mode == back and out.size == src.size

    def test_grey_is_protected_as_rgb(self, blur: Anonymizer) -> None:
        grey = Image.fromarray(rgb()).convert("L")
        want = Image.fromarray(blur(np.asarray(grey.convert("RGB")))).convert("L")
        assert np.array_equal(np.asarray(blur(grey)), np.asarray(want))

    def test_exif_orientation_is_applied(self, blur: Anonymizer, tmp_path: Path) -> None:
        exif = Image.Exif()
        exif[0x0112] = 6  # rotate 90 degrees clockwise to display
        Image.fromarray(rgb(24, 32)).save(tmp_path / "o.jpg", exif=exif.tobytes())
        with Image.open(tmp_path / "o.jpg") as im:
            out = blur(im)
        assert out.size == (24, 32)  # upright: the anonymizer saw what a viewer shows

    def test_batches(self, blur: Anonymizer) -> None:
        ims = [rgb(seed=i) for i in range(3)]
        stacked = blur(np.stack(ims))
        assert stacked.shape == (3, 24, 32, 3)
        for i, im in enumerate(ims):
            assert np.array_equal(stacked[i], blur(im))
        mixed = blur([Image.fromarray(ims[0]), ims[1]])
        assert isinstance(mixed, list) and isinstance(mixed[0], Image.Image) and isinstance(mixed[1], np.ndarray)
        assert np.array_equal(np.asarray(mixed[0]), blur(ims[0])) and np.array_equal(mixed[1], blur(ims[1]))
        assert isinstance(blur((ims[0], ims[1])), tuple)
        assert blur([]) == []
        assert blur(np.zeros((0, 24, 32, 3), np.uint8)).shape == (0, 24, 32, 3)

    @pytest.mark.parametrize(
        ("bad", "match"),
        [
            (np.zeros((8, 8, 3), np.float32), "uint8"),
            (np.zeros((8, 8), np.uint8), "PIL image"),
            (np.zeros((2, 8, 8, 4), np.uint8), "PIL image"),
            ("photo.jpg", "got str"),
            ([np.zeros((8, 8, 3), np.uint8), 3], "got int"),
        ],
        ids=["float", "grey-array", "rgba-batch", "str", "list-with-int"],
    )
    def test_refused_with_the_fix(self, blur: Anonymizer, bad: object, match: str) -> None:
        with pytest.raises(MediaError, match=match):
            blur(bad)


class TestLoad:
    def test_specs_models_and_dials(self, tmp_path: Path) -> None:
        from veil.anonymizers.learned import LearnedAnonymizer

        folder = LearnedAnonymizer("film-unet", width=4).save(tmp_path / "model")
        a = veil.load_anonymizer(str(folder))
        assert isinstance(a, LearnedAnonymizer) and a.privacy == 0.5
        b = veil.load_anonymizer(f"{folder}:privacy=0.8")
        assert b.privacy == 0.8
        out = b(Image.fromarray(rgb()))
        assert isinstance(out, Image.Image) and out.size == (32, 24)
        assert veil.load_anonymizer("pixelate:block=4").spec == "pixelate:block=4"
        assert veil.load_anonymizer(a) is a


def _readme_section(title: str) -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", text, flags=re.S | re.M)
    assert m, f"README.md has no section '## {title}'"
    return re.findall(r"```python\n(.*?)```", m.group(1), flags=re.S)


def test_readme_python_api_examples_run(tmp_path: Path) -> None:
    blocks = _readme_section("Python API")
    assert blocks
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        for code in blocks:
            exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    finally:
        os.chdir(cwd)


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread: None) -> None:
    """Every test here runs on one torch thread (tests/conftest.py)."""
