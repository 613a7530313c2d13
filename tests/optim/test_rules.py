"""Tests of the Pareto update rules and of the hypervolume."""

from __future__ import annotations

import numpy as np
import pytest

from veil.errors import ConfigError, UnknownNameError
from veil.optim.pareto import hypervolume
from veil.optim.rules import (
    PARETO_RULES,
    ConstraintRule,
    MGDARule,
    PreferenceRule,
    WeightedRule,
    constraint_threshold,
    create_rule,
    mgda_min_norm,
    normalize_gradient,
)

A, B = np.array([0.0, 0.0]), np.array([2.0, 0.0])  # L_u = ||x - A||^2, L_p = ||x - B||^2: front = segment AB


def descend(rule, steps: int, lr: float, x0=(1.0, 1.0)) -> tuple[np.ndarray, float, float, dict]:
    """Gradient descent on the toy problem with ``rule``; returns x, L_u, L_p, last info."""
    x = np.array(x0)
    info: dict = {}
    for _ in range(steps):
        lu, lp = float(np.sum((x - A) ** 2)), float(np.sum((x - B) ** 2))
        d, info = rule.combine(2 * (x - A), 2 * (x - B), (lu, lp))
        x = x - lr * d
    return x, float(np.sum((x - A) ** 2)), float(np.sum((x - B) ** 2)), info


class TestMGDA:
    def test_closed_form_matches_grid_search(self) -> None:
        rng = np.random.default_rng(0)
        grid = np.linspace(0.0, 1.0, 20001)
        for _ in range(50):
            g1, g2 = rng.normal(size=(2, 7)) * rng.uniform(0.1, 3.0, size=(2, 1))
            gamma = mgda_min_norm(g1, g2)
            norms = np.linalg.norm(grid[:, None] * g1 + (1 - grid[:, None]) * g2, axis=1)
            best = grid[np.argmin(norms)]
            assert abs(gamma - best) < 1e-3 or np.linalg.norm(gamma * g1 + (1 - gamma) * g2) <= norms.min() + 1e-9
            d = gamma * g1 + (1 - gamma) * g2
            assert d @ g1 >= -1e-12 and d @ g2 >= -1e-12
            assert d @ g1 >= d @ d - 1e-9 and d @ g2 >= d @ d - 1e-9

    def test_edge_cases(self) -> None:
        g = np.array([1.0, 2.0])
        assert mgda_min_norm(g, g) == 0.5
        assert mgda_min_norm(np.zeros(2), g) == 1.0  # zero gradient: Pareto-stationary, d = 0
        assert mgda_min_norm(g, 3 * g) == 1.0
        assert mgda_min_norm(np.array([1.0, 0]), np.array([-1.0, 0])) == 0.5

    def test_rule_normalizes_and_smooths(self) -> None:
        rule = MGDARule()  # normalize="norm", ema=0.9
        g_u, g_p = np.array([10.0, 0.0]), np.array([0.0, 0.1])
        d, info = rule.combine(g_u, g_p, (1.0, 1.0))
        assert info["gamma"] == pytest.approx(0.5)  # equal after normalization
        np.testing.assert_allclose(d, [0.5, 0.5])
        # the EMA (bias-corrected) averages g_u over steps
        rule2 = MGDARule(normalize="none", ema=0.5)
        rule2.combine(np.array([1.0, 0.0]), np.array([0.0, 1.0]), (1.0, 1.0))
        _, info = rule2.combine(np.array([0.0, 1.0]), np.array([0.0, 1.0]), (1.0, 1.0))
        assert info["norm_u"] == pytest.approx(np.linalg.norm([1 / 3, 2 / 3]))

    def test_descends_to_the_front(self) -> None:
        x, lu, lp, _ = descend(MGDARule(ema=0.0), steps=400, lr=0.02)
        assert abs(x[1]) < 1e-3 and 0.0 < x[0] < 2.0  # on the segment AB


class TestPreference:
    def test_rays_trace_the_front_in_order(self) -> None:
        points = []
        for r_u in (0.2, 0.5, 0.8):
            x, lu, lp, _ = descend(PreferenceRule(r_u=r_u), steps=3000, lr=0.01)
            # analytic Tchebycheff point with z* = 0: r_u L_u = r_p L_p on the segment
            t = np.sqrt((1 - r_u) / r_u) / (1 + np.sqrt((1 - r_u) / r_u))
            np.testing.assert_allclose(x, [2 * t, 0.0], atol=0.02)
            points.append((lu, lp))
        lus, lps = np.array(points).T
        assert np.all(np.diff(lus) < -0.3) and np.all(np.diff(lps) > 0.3)  # more utility weight, lower L_u

    def test_smooth_version_and_ideal_point(self) -> None:
        rule = PreferenceRule(r_u=0.5, temperature=1.0, ideal_u=1.0)
        d, info = rule.combine(np.array([1.0, 0.0]), np.array([0.0, 1.0]), (0.5, 2.0))
        assert info["ideal_u"] == 0.5  # lowered to the observed loss
        w = np.exp([0.0, 1.0]) / np.exp([0.0, 1.0]).sum()  # values r (L - z*) = (0, 1)
        np.testing.assert_allclose(d, 0.5 * w)
        assert info["active"] == 1.0
        hard = PreferenceRule(r_u=0.25, r_p=0.5)
        d, info = hard.combine(np.ones(2), -np.ones(2), (4.0, 1.0))
        np.testing.assert_allclose(d, 0.25 * np.ones(2))  # utility active: 0.25 * 4 > 0.5 * 1

    def test_bad_ray(self) -> None:
        with pytest.raises(ConfigError, match="positive"):
            PreferenceRule(r_u=1.0)


class TestConstraint:
    @pytest.mark.parametrize("kwargs", [{"eps": 0.25}, {"tau": 0.75, "reference_loss": 0.0}])
    def test_reaches_the_utility_target(self, kwargs: dict) -> None:
        x, lu, lp, info = descend(ConstraintRule(eta=0.5, **kwargs), steps=1500, lr=0.05)
        assert lu == pytest.approx(0.25, abs=0.01)  # L_u <= eps is active at the optimum
        np.testing.assert_allclose(x, [0.5, 0.0], atol=0.01)  # the most private point allowed
        assert info["lambda"] == pytest.approx(3.0, abs=0.1)  # KKT: 2(x - B) + lambda 2(x - A) = 0

    def test_thresholds(self) -> None:
        assert constraint_threshold(0.9, 0.2, "one_minus") == pytest.approx(0.28)
        assert constraint_threshold(0.5, 0.1, "neg_log") == pytest.approx(0.1 + np.log(2))
        rule = ConstraintRule(tau=0.9)
        rule.set_reference(0.2)
        assert rule.threshold == pytest.approx(0.28)
        with pytest.raises(ConfigError, match="tau"):
            ConstraintRule(tau=1.5)
        with pytest.raises(ConfigError, match="loss kind"):
            ConstraintRule(loss_kind="hinge")

    def test_dual_ascent_step(self) -> None:
        rule = ConstraintRule(eps=0.5, eta=2.0, convex=False)
        g_u, g_p = np.array([1.0, 0.0]), np.array([0.0, 1.0])
        d, info = rule.combine(g_u, g_p, (0.75, 0.0))
        np.testing.assert_allclose(d, g_p)  # lambda starts at 0
        assert rule.lam == pytest.approx(0.5)  # 0 + 2 * (0.75 - 0.5)
        d, info = rule.combine(g_u, g_p, (0.0, 0.0))
        np.testing.assert_allclose(d, g_p + 0.5 * g_u)
        assert info["lambda"] == 0.5 and rule.lam == 0.0  # clipped at 0


class TestWeightedAndCommon:
    def test_weighted_formula(self) -> None:
        rng = np.random.default_rng(0)
        g_u, g_p = rng.normal(size=(2, 9))
        d, info = WeightedRule(w=0.3).combine(g_u, g_p, (1.0, 2.0))
        np.testing.assert_array_equal(d, 0.3 * g_u + 0.7 * g_p)
        d, _ = WeightedRule(w=0.3, normalize="loss").combine(g_u, g_p, (1.0, -2.0))
        np.testing.assert_allclose(d, 0.3 * g_u + 0.7 * g_p / 2.0)

    def test_normalize_gradient(self) -> None:
        g = np.array([3.0, 4.0])
        np.testing.assert_allclose(normalize_gradient(g, 2.0, "norm"), [0.6, 0.8])
        np.testing.assert_allclose(normalize_gradient(g, -2.0, "loss"), [1.5, 2.0])
        np.testing.assert_array_equal(normalize_gradient(np.zeros(2), 0.0, "norm"), 0.0)

    def test_registry_and_errors(self) -> None:
        assert PARETO_RULES.names() == ["constraint", "mgda", "preference", "weighted"]
        with pytest.raises(UnknownNameError, match="unknown pareto rule 'epo'"):
            create_rule("epo")
        with pytest.raises(ConfigError, match="allowed"):
            create_rule("weighted:lam=2")
        with pytest.raises(ConfigError, match="normalization"):
            create_rule("mgda:normalize=max")
        assert isinstance(create_rule("preference:r_u=0.3,temperature=0.1"), PreferenceRule)
        rule = create_rule("weighted")
        with pytest.raises(ValueError, match="one shape"):
            rule.combine(np.zeros(2), np.zeros(3), (0.0, 0.0))
        with pytest.raises(ValueError, match="finite"):
            rule.combine(np.zeros(2), np.zeros(2), (np.nan, 0.0))

    @pytest.mark.parametrize("name", sorted(PARETO_RULES.names()))
    def test_state_round_trip(self, name: str) -> None:
        kwargs = {"ema": 0.8, "normalize": "loss"} if name != "mgda" else {}
        rule, clone = create_rule(name, **kwargs), create_rule(name, **kwargs)
        rng = np.random.default_rng(1)
        for _ in range(5):
            rule.combine(*rng.normal(size=(2, 4)), tuple(rng.uniform(0.1, 2.0, 2)))
        clone.load_state_dict(rule.state_dict())
        for _ in range(3):
            g_u, g_p = rng.normal(size=(2, 4))
            losses = tuple(rng.uniform(0.1, 2.0, 2))
            d1, i1 = rule.combine(g_u, g_p, losses)
            d2, i2 = clone.combine(g_u, g_p, losses)
            np.testing.assert_array_equal(d1, d2)
            assert i1 == i2
        with pytest.raises(ConfigError, match="state is for"):
            create_rule("weighted" if name != "weighted" else "mgda").load_state_dict(rule.state_dict())


class TestHypervolume:
    def test_values(self) -> None:
        ref = np.array([1.0, 1.0])
        assert hypervolume(np.array([[0.5, 0.5], [0.2, 0.8]]), ref) == pytest.approx(0.31)
        assert hypervolume(np.array([[0.5, 0.5], [2.0, 0.1], [np.nan, 0.0]]), ref) == pytest.approx(0.25)
        assert hypervolume(np.zeros((0, 2)), ref) == 0.0
        assert hypervolume(np.array([[0.0, 0.0, 0.0]]), np.ones(3)) == pytest.approx(1.0)
        with pytest.raises(ValueError, match="match ref"):
            hypervolume(np.zeros((2, 3)), ref)
