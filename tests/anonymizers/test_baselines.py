"""Tests of the baseline anonymizers, parametrised over the registry where it makes sense."""

from __future__ import annotations

import copy
import inspect
import pickle
from typing import Any

import cv2
import numpy as np
import pytest
from skimage import data

from veil.anonymizers import (
    ANONYMIZERS,
    BASELINE_NAMES,
    Anonymizer,
    baseline_sweep,
    create_anonymizer,
)
from veil.anonymizers.baselines import (
    Downsample,
    GaussianBlur,
    GaussianNoise,
    Identity,
    Pixelate,
    gaussian_blur,
)
from veil.anonymizers.faceblur import FaceBlur
from veil.errors import ConfigError, MediaError, UnknownNameError


def cls_of(name: str) -> Any:
    """The registered class (the registry is typed with factories, these are classes)."""
    return ANONYMIZERS.get(name)


NAMES = ANONYMIZERS.names()
SWEPT = [n for n in NAMES if cls_of(n).strength_param is not None]
SIZES = [(1, 1), (1, 9), (9, 1), (5, 7), (33, 65), (480, 640)]

# Far from the astronaut's face (detected near x 180-270, y 45-180 of 512x512).
FAR = (slice(330, 512), slice(0, 512))
FACE = (slice(90, 160), slice(195, 255))


def random_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return data.astronaut()


class TestRegistry:
    def test_baselines_registered(self) -> None:
        assert set(BASELINE_NAMES) <= set(NAMES)

    @pytest.mark.parametrize("name", NAMES)
    def test_class_contract(self, name: str) -> None:
        cls = cls_of(name)
        assert isinstance(cls, type) and issubclass(cls, Anonymizer)
        assert cls.name == name
        params = {
            k: p
            for k, p in inspect.signature(cls.__init__).parameters.items()
            if k != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        }
        if cls.strength_param is None:
            assert cls.default_strengths == ()
        else:
            assert cls.strength_param in params
            assert 3 <= len(cls.default_strengths) <= 4
            assert list(cls.default_strengths) == sorted(set(cls.default_strengths))
        # Every keyword has a default, so the bare name builds.
        assert all(p.default is not inspect.Parameter.empty for p in params.values())

    def test_create_from_spec(self) -> None:
        a = create_anonymizer("blur:sigma=8")
        assert isinstance(a, GaussianBlur) and a.sigma == 8
        assert a.spec == "blur:sigma=8"
        assert create_anonymizer(a) is a
        assert isinstance(create_anonymizer("identity"), Identity)
        assert create_anonymizer("identity").spec == "identity"

    @pytest.mark.parametrize(
        "spec", [*baseline_sweep(), "noise:std=7.5,seed=3", "downsample:factor=2.5"]
    )
    def test_spec_round_trip(self, spec: str) -> None:
        a = create_anonymizer(spec)
        b = create_anonymizer(a.spec)
        assert type(b) is type(a) and b.params() == a.params() and b.spec == a.spec

    def test_unknown_name_lists_known(self) -> None:
        with pytest.raises(UnknownNameError) as e:
            create_anonymizer("nosuch:sigma=1")
        for name in BASELINE_NAMES:
            assert name in str(e.value)
        assert isinstance(e.value, ConfigError)

    @pytest.mark.parametrize("spec", ["blur:radius=3", "identity:sigma=1", "pixelate:sigma=2"])
    def test_unknown_parameter(self, spec: str) -> None:
        with pytest.raises(ConfigError):
            create_anonymizer(spec)

    @pytest.mark.parametrize(
        ("spec", "param"),
        [
            ("blur:sigma=-1", "sigma"),
            ("blur:sigma=abc", "sigma"),
            ("blur:sigma=nan", "sigma"),
            ("blur:sigma=true", "sigma"),
            ("pixelate:block=0", "block"),
            ("pixelate:block=2.5", "block"),
            ("downsample:factor=1", "factor"),
            ("downsample:factor=0.5", "factor"),
            ("noise:std=-5", "std"),
            ("noise:seed=-1", "seed"),
            ("noise:seed=1.5", "seed"),
            ("faceblur:threshold=0", "threshold"),
            ("faceblur:threshold=1.5", "threshold"),
            ("faceblur:mask_scale=0.9", "mask_scale"),
            ("faceblur:sigma=0", "sigma"),
            ("faceblur:sigma=2", "sigma"),
        ],
    )
    def test_bad_values(self, spec: str, param: str) -> None:
        with pytest.raises(ConfigError, match=param) as e:
            create_anonymizer(spec)
        assert "must be" in str(e.value)  # names the allowed range

    def test_integral_float_block_accepted(self) -> None:
        assert Pixelate(block=8.0).block == 8
        assert isinstance(Pixelate(block=8.0).block, int)


class TestBaselineSweep:
    def test_contents(self) -> None:
        specs = baseline_sweep()
        assert specs[0] == "identity" and specs.count("identity") == 1
        assert "blur:sigma=2" in specs and "pixelate:block=16" in specs
        expected = 1 + sum(len(cls_of(n).default_strengths) for n in BASELINE_NAMES)
        assert len(specs) == expected
        for spec in specs:
            create_anonymizer(spec)

    def test_subset(self) -> None:
        assert baseline_sweep(["downsample"]) == [
            "downsample:factor=2",
            "downsample:factor=4",
            "downsample:factor=8",
        ]


class TestSmoke:
    @pytest.mark.parametrize("name", NAMES)
    @pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
    def test_shape_dtype(self, name: str, size: tuple[int, int]) -> None:
        image = random_image(*size)
        before = image.copy()
        out = create_anonymizer(name)(image)
        assert out.shape == image.shape and out.dtype == np.uint8
        assert np.array_equal(image, before), "input was modified"

    @pytest.mark.parametrize("spec", baseline_sweep())
    def test_sweep_on_tiny_image(self, spec: str) -> None:
        out = create_anonymizer(spec)(random_image(5, 7))
        assert out.shape == (5, 7, 3) and out.dtype == np.uint8

    @pytest.mark.parametrize("name", NAMES)
    def test_deterministic(self, name: str, astronaut: np.ndarray) -> None:
        a = create_anonymizer(name)
        first = a(astronaut)
        assert np.array_equal(first, a(astronaut))
        assert np.array_equal(first, create_anonymizer(name)(astronaut))

    @pytest.mark.parametrize("name", NAMES)
    def test_views(self, name: str, astronaut: np.ndarray) -> None:
        a = create_anonymizer(name)
        for view in (astronaut[:, ::-1], astronaut[::2, ::3], astronaut[10:100, 20:200]):
            assert np.array_equal(a(view), a(np.ascontiguousarray(view)))

    @pytest.mark.parametrize("name", NAMES)
    @pytest.mark.parametrize(
        "bad",
        [
            np.zeros((8, 8, 3), np.float32),
            np.zeros((8, 8), np.uint8),
            np.zeros((8, 8, 4), np.uint8),
            np.zeros((0, 8, 3), np.uint8),
            [[0, 0, 0]],
        ],
        ids=["float", "gray", "rgba", "empty", "list"],
    )
    def test_check_image(self, name: str, bad: object) -> None:
        with pytest.raises(MediaError):
            create_anonymizer(name)(bad)  # type: ignore[arg-type]

    @pytest.mark.parametrize("name", SWEPT)
    def test_stronger_changes_more(self, name: str, astronaut: np.ndarray) -> None:
        cls = cls_of(name)
        diffs = [
            mad(create_anonymizer(f"{name}:{cls.strength_param}={s}")(astronaut), astronaut)
            for s in cls.default_strengths
        ]
        assert diffs[0] > 0.5
        assert all(b > a for a, b in zip(diffs, diffs[1:], strict=False)), diffs


class TestIdentity:
    def test_equal_pixels_new_array(self, astronaut: np.ndarray) -> None:
        out = Identity()(astronaut)
        assert np.array_equal(out, astronaut) and out is not astronaut


class TestBlur:
    def test_zero_sigma_is_identity(self, astronaut: np.ndarray) -> None:
        assert np.array_equal(GaussianBlur(sigma=0)(astronaut), astronaut)

    @pytest.mark.parametrize("name", ["blur", "pixelate", "downsample", "faceblur"])
    def test_uniform_stays_uniform(self, name: str) -> None:
        grey = np.full((48, 64, 3), 77, np.uint8)
        assert np.array_equal(create_anonymizer(name)(grey), grey)

    def test_matches_cv2(self, astronaut: np.ndarray) -> None:
        """OpenCV's blur in floating point, rounded once (its 8-bit path, within a grey level,
        keeps a trace of the sharp image that deconvolution reads: tests/privacy/test_deblur.py)."""
        ref = cv2.GaussianBlur(astronaut.astype(np.float32), (25, 25), 4, borderType=cv2.BORDER_REFLECT)
        out = GaussianBlur(sigma=4)(astronaut)
        assert out.dtype == np.uint8 and np.array_equal(out, np.clip(np.rint(ref), 0, 255).astype(np.uint8))
        fixed_point = cv2.GaussianBlur(astronaut, (25, 25), 4, borderType=cv2.BORDER_REFLECT)
        assert np.abs(out.astype(int) - fixed_point).max() <= 1

    @pytest.mark.parametrize("sigma", [9.0, 16.0, 40.0])
    def test_large_sigma_approximation(self, sigma: float, astronaut: np.ndarray) -> None:
        k = 2 * int(np.ceil(3 * sigma)) + 1
        ref = cv2.GaussianBlur(astronaut, (k, k), sigma, borderType=cv2.BORDER_REFLECT)
        out = gaussian_blur(astronaut, sigma)
        assert mad(out, ref) < 0.5
        assert np.abs(out.astype(int) - ref).max() <= 8

    @pytest.mark.parametrize("sigma", [7.0, 30.0, 100.0, 1e9])
    def test_large_sigma_on_tiny_gives_mean(self, sigma: float) -> None:
        image = random_image(5, 7)
        out = gaussian_blur(image, sigma)
        mean = image.reshape(-1, 3).mean(0)
        assert out.shape == (5, 7, 3)
        assert np.abs(out.reshape(-1, 3) - mean).max() <= (8 if sigma < 10 else 1)


class TestPixelate:
    def test_exact_block_means(self) -> None:
        image = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
        out = Pixelate(block=4)(image)
        for rows, cols in [(slice(0, 4), slice(0, 4)), (slice(0, 4), slice(4, 6))]:
            tile = image[rows, cols].reshape(-1, 3).astype(float).mean(0)
            expected = np.broadcast_to(np.floor(tile + 0.5), out[rows, cols].shape)  # half up
            assert np.array_equal(out[rows, cols], expected)

    def test_block_larger_than_image_gives_mean(self) -> None:
        image = random_image(5, 7)
        out = Pixelate(block=32)(image)
        assert (out == out[0, 0]).all()
        assert np.abs(out[0, 0].astype(float) - image.reshape(-1, 3).mean(0)).max() <= 0.5

    def test_block_one_is_identity(self, astronaut: np.ndarray) -> None:
        assert np.array_equal(Pixelate(block=1)(astronaut), astronaut)

    def test_distinct_from_downsample(self, astronaut: np.ndarray) -> None:
        assert mad(Pixelate(block=8)(astronaut), Downsample(factor=8)(astronaut)) > 1


class TestNoise:
    def test_deterministic_per_image(self) -> None:
        a, b = random_image(32, 48, seed=1), random_image(32, 48, seed=2)
        noise = GaussianNoise(std=25)
        assert np.array_equal(noise(a), noise(a.copy()))
        grey = np.full((32, 48, 3), 128, np.uint8)
        other = grey.copy()
        other[0, 0, 0] = 129
        na = noise(grey).astype(int) - grey
        nb = noise(other).astype(int) - other
        assert (na != nb).mean() > 0.5, "different images must get different noise"
        assert not np.array_equal(noise(a), noise(b))

    def test_seed_changes_noise(self) -> None:
        grey = np.full((32, 48, 3), 128, np.uint8)
        assert not np.array_equal(GaussianNoise(seed=0)(grey), GaussianNoise(seed=1)(grey))

    def test_statistics(self) -> None:
        grey = np.full((256, 256, 3), 128, np.uint8)
        d = GaussianNoise(std=10)(grey).astype(float) - 128
        assert abs(d.mean()) < 0.2 and abs(d.std() - 10) < 0.3

    def test_zero_std_is_identity(self, astronaut: np.ndarray) -> None:
        assert np.array_equal(GaussianNoise(std=0)(astronaut), astronaut)


class TestFaceBlur:
    def test_detects_astronaut_face(self, astronaut: np.ndarray) -> None:
        dets = FaceBlur().detect(astronaut)
        assert dets.shape[1] == 5 and dets.dtype == np.float32 and len(dets) >= 1
        x1, y1, x2, y2, score = dets[np.argmax(dets[:, 4])]
        assert score > 0.5 and x1 < 225 < x2 and y1 < 125 < y2

    def test_blurs_face_only(self, astronaut: np.ndarray) -> None:
        out = FaceBlur()(astronaut)
        assert mad(out[FACE], astronaut[FACE]) > 8
        assert np.array_equal(out[FAR], astronaut[FAR])
        assert np.array_equal(out[:, 400:], astronaut[:, 400:])

    def test_mask_scale_widens_region(self, astronaut: np.ndarray) -> None:
        small = (FaceBlur(mask_scale=1.0)(astronaut) != astronaut).any(-1).sum()
        large = (FaceBlur(mask_scale=1.6)(astronaut) != astronaut).any(-1).sum()
        assert large > 1.5 * small > 0

    def test_no_face_no_change(self) -> None:
        grey = np.full((480, 640, 3), 128, np.uint8)
        a = FaceBlur()
        assert a.detect(grey).shape == (0, 5)
        assert np.array_equal(a(grey), grey)

    def test_one_detector_per_size(self, astronaut: np.ndarray) -> None:
        a = FaceBlur()
        ref = a(astronaut)
        a(np.full((48, 64, 3), 128, np.uint8))
        a(np.full((48, 64, 3), 90, np.uint8))
        assert len(a._detectors) == 2
        # Switching sizes must not disturb detection (a shared OpenCV net would).
        assert np.array_equal(a(astronaut), ref)
        assert len(a._detectors) == 2

    def test_detector_cache_bounded(self) -> None:
        a = FaceBlur()
        for w in range(10, 10 + FaceBlur.max_cached_sizes + 3):
            a(np.full((12, w, 3), 128, np.uint8))
        assert len(a._detectors) == FaceBlur.max_cached_sizes

    def test_face_cut_by_border(self, astronaut: np.ndarray) -> None:
        crop = astronaut[:, 215:]  # the left part of the face is outside the image
        out = FaceBlur()(crop)
        assert mad(out[90:160, 0:30], crop[90:160, 0:30]) > 5

    def test_pickle_and_copy(self, astronaut: np.ndarray) -> None:
        a = FaceBlur(sigma=0.1)
        ref = a(astronaut)
        for b in (pickle.loads(pickle.dumps(a)), copy.deepcopy(a)):
            assert b.params() == a.params()
            assert np.array_equal(b(astronaut), ref)
