"""Tests of the perturbation subspaces: shapes, adjointness, scaling, bases, registry."""

from __future__ import annotations

import numpy as np
import pytest

from veil.errors import ConfigError, UnknownNameError
from veil.optim.subspace import SUBSPACES, bilinear_matrix, create_subspace, dct_matrix

SPECS = ["grid", "grid:r=3,r_x=5", "dct", "dct:k=4,k_x=2"]


@pytest.fixture(params=SPECS)
def sub(request: pytest.FixtureRequest):
    return create_subspace(request.param, 20, 28)


class TestSubspace:
    def test_registry_lists_builtins(self) -> None:
        assert SUBSPACES.names() == ["dct", "grid"]

    def test_shapes(self, sub) -> None:
        rng = np.random.default_rng(0)
        n = sub.dim
        assert n == np.prod(sub.coef_shape)
        assert sub.lift(rng.normal(size=n)).shape == (20, 28, 3)
        assert sub.lift(rng.normal(size=(5, n))).shape == (5, 20, 28, 3)
        assert sub.project(rng.normal(size=(20, 28, 3))).shape == (n,)
        assert sub.project(rng.normal(size=(4, 20, 28, 3))).shape == (4, n)
        assert sub.lift(np.zeros(n)).dtype == np.float64

    def test_adjoint(self, sub) -> None:
        rng = np.random.default_rng(1)
        z = rng.normal(size=sub.dim)
        g = rng.normal(size=(20, 28, 3))
        assert np.dot(sub.lift(z).ravel(), g.ravel()) == pytest.approx(np.dot(z, sub.project(g)), rel=1e-12)
        # batched forms agree with the single forms
        zs = rng.normal(size=(3, sub.dim))
        np.testing.assert_allclose(sub.lift(zs)[1], sub.lift(zs[1]))

    def test_unit_pixel_rms_for_standard_normal_z(self, sub) -> None:
        # ||B||_F^2 = 3HW exactly, i.e. E||lift(z)||^2 = 3HW for z ~ N(0, I)
        eye = np.eye(sub.dim)
        assert np.sum(sub.lift(eye) ** 2) == pytest.approx(3 * 20 * 28, rel=1e-10)

    def test_image_gradient_is_projection(self, sub) -> None:
        rng = np.random.default_rng(2)
        g = rng.normal(size=(20, 28, 3))
        p = sub.image_gradient(sub.project(g))
        # P g is idempotent and g - P g is orthogonal to the subspace
        np.testing.assert_allclose(sub.image_gradient(sub.project(p)), p, atol=1e-10)
        np.testing.assert_allclose(sub.project(g - p), 0.0, atol=1e-9)
        z = rng.normal(size=sub.dim)
        np.testing.assert_allclose(sub.project(sub.image_gradient(z)), z, atol=1e-9)

    def test_coefficients_invert_lift(self, sub) -> None:
        rng = np.random.default_rng(3)
        z = rng.normal(size=(3, sub.dim))
        np.testing.assert_allclose(sub.coefficients(sub.lift(z)), z, atol=1e-9)
        np.testing.assert_allclose(sub.coefficients(sub.lift(z[0])), z[0], atol=1e-9)
        # the least-squares fit of any image: its residual is orthogonal to the subspace
        g = rng.normal(size=(20, 28, 3))
        np.testing.assert_allclose(sub.project(g - sub.lift(sub.coefficients(g))), 0.0, atol=1e-9)

    def test_bad_shapes_raise(self, sub) -> None:
        with pytest.raises(ValueError, match="z must be"):
            sub.lift(np.zeros(sub.dim + 1))
        with pytest.raises(ValueError, match="image must be"):
            sub.project(np.zeros((20, 27, 3)))


class TestBases:
    def test_dct_orthonormal_and_lowest_frequencies(self) -> None:
        c = dct_matrix(16, 5)
        np.testing.assert_allclose(c.T @ c, np.eye(5), atol=1e-12)
        np.testing.assert_allclose(c[:, 0], 1 / 4)
        sub = create_subspace("dct:k=3", 16, 16)
        np.testing.assert_allclose(
            sub.project(sub.lift(np.eye(sub.dim))), (3 * 256 / sub.dim) * np.eye(sub.dim), atol=1e-10
        )

    def test_bilinear_matches_torch(self) -> None:
        torch = pytest.importorskip("torch")
        rng = np.random.default_rng(3)
        sub = create_subspace("grid:r=3,r_x=4", 11, 13)
        z = rng.normal(size=(3, 4, 3))
        ours = sub.lift(z.ravel())
        t = torch.from_numpy(z.transpose(2, 0, 1)[None])
        ref = torch.nn.functional.interpolate(t, size=(11, 13), mode="bilinear", align_corners=False)[0].numpy()
        ref = ref.transpose(1, 2, 0)
        # same map up to the global scale of the normalisation
        scale = np.sum(ours * ref) / np.sum(ref * ref)
        np.testing.assert_allclose(ours, scale * ref, atol=1e-10)
        np.testing.assert_allclose(bilinear_matrix(7, 3).sum(axis=1), 1.0)

    def test_grid_of_full_resolution_is_identity_up_to_scale(self) -> None:
        np.testing.assert_allclose(bilinear_matrix(5, 5), np.eye(5))


class TestCreate:
    def test_unknown_name(self) -> None:
        with pytest.raises(UnknownNameError, match="unknown subspace 'wavelet'"):
            create_subspace("wavelet", 8, 8)

    def test_bad_parameter(self) -> None:
        with pytest.raises(ConfigError, match="allowed: height, width, r, r_x"):
            create_subspace("grid:k=4", 8, 8)

    def test_too_large(self) -> None:
        with pytest.raises(ConfigError, match="lower r"):
            create_subspace("grid:r=9", 8, 8)
        with pytest.raises(ConfigError, match="lower k"):
            create_subspace("dct:k=9", 8, 32)

    def test_instance_passthrough(self) -> None:
        sub = create_subspace("dct:k=2", 8, 8)
        assert create_subspace(sub, 8, 8) is sub
        with pytest.raises(ConfigError):
            create_subspace(sub, 8, 9)
        assert "DCTSubspace(height=8, width=8, k=2" in repr(sub)


@pytest.mark.parametrize("spec", ["grid:r=4", "dct:k=3"])
def test_augmented_subspace_adjoint_and_projection(spec: str) -> None:
    from veil.optim.subspace import AugmentedSubspace

    base = create_subspace(spec, 24, 32)
    rng = np.random.default_rng(3)
    dirs = rng.standard_normal((2, 24, 32, 3))
    aug = AugmentedSubspace(base, dirs, slots=3)
    assert aug.dim == base.dim + 3 and aug.used_slots == 2
    z, g = rng.standard_normal((4, aug.dim)), rng.standard_normal((4, 24, 32, 3))
    # exact adjoint
    np.testing.assert_allclose(np.sum(aug.lift(z) * g, axis=(1, 2, 3)), np.sum(z * aug.project(g), axis=1))
    # image_gradient is the orthogonal projection on span([B, W]): identity on the span, and the
    # residual of any gradient is orthogonal to every direction of the space
    v = aug.lift(z[0])
    np.testing.assert_allclose(aug.image_gradient(aug.project(v)), v, atol=1e-9)
    resid = g[0] - aug.image_gradient(aug.project(g[0]))
    np.testing.assert_allclose(aug.project(resid), 0.0, atol=1e-8)
    # the given directions lie in the augmented span (their base part is spanned by B)
    for d in dirs:
        np.testing.assert_allclose(aug.image_gradient(aug.project(d)), d, atol=1e-8)
    # slots hold what the base cannot express, at the scale of one base coefficient
    slot = aug.lift(np.eye(aug.dim)[base.dim : base.dim + 2])
    np.testing.assert_allclose(base.project(slot), 0.0, atol=1e-8)
    np.testing.assert_allclose(np.sum(slot**2, axis=(1, 2, 3)), 24 * 32 * 3 / base.dim)
    # the unused slot lifts to nothing
    np.testing.assert_array_equal(aug.lift(np.eye(aug.dim)[-1]), 0.0)
    # guide rows are the coordinates of the given directions (unit norm, lifting back to them up to scale)
    rows = aug.guide_rows()
    assert rows.shape == (2, aug.dim)
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0)
    for row, d in zip(rows, dirs, strict=True):
        back = aug.lift(row)
        np.testing.assert_allclose(back / np.linalg.norm(back), d / np.linalg.norm(d), atol=1e-9)


def test_augmented_subspace_drops_directions_the_base_already_spans() -> None:
    from veil.optim.subspace import AugmentedSubspace

    base = create_subspace("grid:r=4", 24, 32)
    inside = base.lift(np.random.default_rng(0).standard_normal((2, base.dim)))
    within = AugmentedSubspace(base, inside, slots=2)
    assert within.used_slots == 0 and within.guide_rows().shape == (2, within.dim)  # guided inside B, as before
    twice = np.random.default_rng(1).standard_normal((1, 24, 32, 3)).repeat(2, axis=0)
    assert AugmentedSubspace(base, twice, slots=2).used_slots == 1
    assert AugmentedSubspace(base, np.zeros((0,)), slots=2).used_slots == 0
    with pytest.raises(ValueError, match="slots"):
        AugmentedSubspace(base, twice, slots=1)
