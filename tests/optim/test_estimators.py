"""Tests of the zeroth-order estimators: contract, accuracy on analytic functions, schedules, state."""

from __future__ import annotations

import numpy as np
import pytest

from veil.errors import ConfigError, UnknownNameError
from veil.optim.estimators import (
    ESTIMATORS,
    RGE,
    SPSA,
    CriticalHistoryEstimator,
    SPSAGCOptimizer,
    create_estimator,
    expected_cosine,
)

N = 64


def quadratic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A random PSD matrix A and a point x0 of f(x) = x^T A x / 2; its gradient at x0 is A x0."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, n))
    return a @ a.T / n, rng.normal(size=n)


def estimate(est, key, rng, f, x0) -> np.ndarray:
    """One ask/evaluate/tell round of the contract."""
    z = est.ask(key, rng)
    r = est.radius(key)
    lp = np.array([f(x0 + r * zi) for zi in z])
    lm = np.array([f(x0 - r * zi) for zi in z])
    return est.tell(key, z, lp, lm)


def cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(params=sorted(ESTIMATORS.names()))
def name(request: pytest.FixtureRequest) -> str:
    return request.param


class TestContract:
    def test_registry(self) -> None:
        assert ESTIMATORS.names() == ["history", "rge", "spsa"]
        with pytest.raises(UnknownNameError, match="unknown estimator 'cma'"):
            create_estimator("cma", dim=4)
        with pytest.raises(ConfigError, match="allowed"):
            create_estimator("rge:sigma=2", dim=4)

    def test_ask_tell_shapes_and_bookkeeping(self, name: str) -> None:
        est = create_estimator(name, dim=12)
        rng = np.random.default_rng(0)
        z = est.ask("a", rng)
        m = est.num_directions
        assert z.shape == (m, 12) and est.queries_per_estimate == 2 * m
        assert est.pending() == ["a"] and est.radius("a") == est.mu
        g = est.tell("a", z, np.ones(m), np.zeros(m))
        assert g.shape == (12,) and g.dtype == np.float64
        assert est.pending() == [] and (est.num_ask, est.num_tell) == (1, 1)

    def test_misuse_raises(self, name: str) -> None:
        est = create_estimator(name, dim=6)
        rng = np.random.default_rng(0)
        m = est.num_directions
        with pytest.raises(ValueError, match="without a pending ask"):
            est.tell(0, np.zeros((m, 6)), np.zeros(m), np.zeros(m))
        with pytest.raises(TypeError, match="Generator"):
            est.ask(0, 0)  # type: ignore[arg-type]
        z = est.ask(0, rng)
        with pytest.raises(ValueError, match="already has a pending ask"):
            est.ask(0, rng)
        with pytest.raises(ValueError, match="unchanged"):
            est.tell(0, z + 1, np.zeros(m), np.zeros(m))
        with pytest.raises(ValueError, match="shape"):
            est.tell(0, z, np.zeros(m + 1), np.zeros(m + 1))
        with pytest.raises(ValueError, match="finite"):
            est.tell(0, z, np.full(m, np.nan), np.zeros(m))
        with pytest.raises(TypeError, match="int or str"):
            est.ask(1.5, rng)  # type: ignore[arg-type]
        est.tell(0, z, np.zeros(m), np.zeros(m))  # still pending after the failed tells

    def test_state_round_trip(self, name: str) -> None:
        a, x0 = quadratic(16, 0)

        def f(x: np.ndarray) -> float:
            return 0.5 * x @ a @ x

        est = create_estimator(name, dim=16)
        rng = np.random.default_rng(1)
        for t in range(6):
            estimate(est, t % 3, rng, f, x0)
        est.ask(0, rng)  # pending asks are not saved
        state = est.state_dict()
        assert all(isinstance(v, np.ndarray | int | float | str | bool) for v in state.values())
        clone = create_estimator(name, dim=16)
        clone.load_state_dict(state)
        assert clone.pending() == []
        est._pending.clear()
        r1, r2 = np.random.default_rng(5), np.random.default_rng(5)
        for t in range(4):
            np.testing.assert_array_equal(estimate(est, t % 3, r1, f, x0), estimate(clone, t % 3, r2, f, x0))
        with pytest.raises(ConfigError, match="saved settings"):
            create_estimator(name, dim=8).load_state_dict(state)


class TestAccuracy:
    def test_rge_cosine_rises_with_directions(self) -> None:
        means = []
        for q in (2, 8, 32):
            cs = []
            for seed in range(20):
                a, x0 = quadratic(N, seed)
                est = RGE(N, num_directions=q, mu=0.1)
                g = estimate(est, 0, np.random.default_rng(100 + seed), lambda x, a=a: 0.5 * x @ a @ x, x0)
                cs.append(cos(g, a @ x0))
            means.append(np.mean(cs))
        assert means[0] < means[1] < means[2]
        # close to the prediction 1/sqrt(1 + (n+1)/q)
        np.testing.assert_allclose(means, [expected_cosine(1.0, 0.0, N, 4, q) for q in (2, 8, 32)], atol=0.08)

    @pytest.mark.parametrize("spec", ["rge", "spsa", "history:record=false", "history:alpha=1.0,alpha_max=1.0"])
    def test_unbiased_on_linear(self, spec: str) -> None:
        n = 10
        c = np.random.default_rng(0).normal(size=n)
        est = create_estimator(spec, dim=n)
        if isinstance(est, CriticalHistoryEstimator) and est.alpha == 1.0:
            est.history.add(np.eye(n)[0], loss_change=1.0)  # a history that alpha = 1 ignores
            est.record = False
        rng = np.random.default_rng(1)
        mean = np.mean([estimate(est, 0, rng, lambda x: c @ x, np.zeros(n)) for _ in range(1500)], axis=0)
        assert np.linalg.norm(mean - c) < 0.12 * np.linalg.norm(c)

    def test_guided_expectation_is_n_sigma_grad(self) -> None:
        n, k = 10, 2
        rng = np.random.default_rng(2)
        c = rng.normal(size=n)
        est = CriticalHistoryEstimator(n, k=k, alpha=0.5, adapt_alpha=False, record=False, item_prior=False)
        for v in np.eye(n)[:k]:
            est.history.add(v, loss_change=1.0)
        u = est.guiding_basis()
        mean = np.mean([estimate(est, 0, rng, lambda x: c @ x, np.zeros(n)) for _ in range(3000)], axis=0)
        expected = (0.5 * np.eye(n) + 0.5 * n / k * u @ u.T) @ c
        assert np.linalg.norm(mean - expected) < 0.1 * np.linalg.norm(expected)

    def test_empty_history_is_rge(self) -> None:
        a, x0 = quadratic(N, 3)

        def f(x: np.ndarray) -> float:
            return 0.5 * x @ a @ x

        for est in (CriticalHistoryEstimator(N), CriticalHistoryEstimator(N, use_history=False, item_prior=False)):
            rge = RGE(N)
            for t in range(3):
                r1, r2 = np.random.default_rng(t), np.random.default_rng(t)
                g_rge = estimate(rge, t, r1, f, x0)
                g_hist = estimate(est, t, r2, f, x0)  # new keys: no item prior either
                if not est.use_history or t == 0:
                    np.testing.assert_array_equal(g_hist, g_rge)

    def test_item_prior_enters_the_basis(self) -> None:
        est = CriticalHistoryEstimator(8, use_history=False, item_prior=True)
        rng = np.random.default_rng(0)
        g = estimate(est, "x", rng, lambda x: x[0] + 2 * x[1], np.zeros(8))
        u = est.guiding_basis("x")
        assert u.shape == (8, 1)
        assert abs(cos(u[:, 0], g)) == pytest.approx(1.0)
        assert est.guiding_basis("other").shape == (8, 0)

    def _guided_vs_rge(self, case: str, seed: int, warmup: int = 25, measure: int = 10) -> tuple[float, float, float]:
        rng = np.random.default_rng(seed)
        a, x0 = quadratic(N, seed)
        g_true = a @ x0

        def f(x: np.ndarray) -> float:
            return 0.5 * x @ a @ x

        est = CriticalHistoryEstimator(N, k=4, record=False, item_prior=False)
        basis = np.linalg.qr(rng.normal(size=(N, 4)))[0]
        if case == "inside":  # history holds a noisy copy of the gradient and three random directions
            noisy = g_true + 0.3 * np.linalg.norm(g_true) / np.sqrt(N) * rng.normal(size=N)
            directions = np.vstack([noisy, basis[:, :3].T])
        else:  # history orthogonal to the gradient
            directions = (basis - np.outer(g_true, g_true @ basis) / (g_true @ g_true)).T
        for v in directions:
            est.history.add(v, loss_change=1.0)
        rge = RGE(N)
        c_hist, c_rge = [], []
        for t in range(warmup + measure):
            gh, gr = estimate(est, 0, rng, f, x0), estimate(rge, 0, rng, f, x0)
            if t >= warmup:
                c_hist.append(cos(gh, g_true))
                c_rge.append(cos(gr, g_true))
        return float(np.mean(c_hist)), float(np.mean(c_rge)), est.alpha

    def test_guided_beats_rge_when_gradient_in_history(self) -> None:
        res = np.array([self._guided_vs_rge("inside", s) for s in range(12)])
        assert res[:, 0].mean() > res[:, 1].mean() + 0.2
        assert res[:, 2].mean() < 0.3  # alpha moved toward the subspace

    def test_guided_no_worse_when_gradient_orthogonal(self) -> None:
        res = np.array([self._guided_vs_rge("orthogonal", s) for s in range(24)])
        assert res[:, 0].mean() - res[:, 1].mean() > -0.05
        assert res[:, 2].mean() > 0.75  # alpha moved toward the full space

    def test_guide_rows_enter_the_basis_and_are_checked(self) -> None:
        est = CriticalHistoryEstimator(8, item_prior=False)
        guide = np.eye(8)[:2] * 3.0
        np.testing.assert_allclose(np.abs(est.guiding_basis(0, guide)), np.eye(8)[:, :2], atol=1e-12)
        assert est.guiding_basis(0, None).shape == (8, 0)
        rng = np.random.default_rng(0)
        with pytest.raises(ValueError, match="guide"):
            est.ask(0, rng, np.ones((2, 7)))
        with pytest.raises(ValueError, match="guide"):
            est.ask(0, rng, np.full((1, 8), np.nan))
        off = CriticalHistoryEstimator(8, item_prior=False, param_history=False)
        assert off.guiding_basis(0, guide).shape == (8, 0)
        # RGE and SPSA accept a guide and ignore it: same draws, same directions
        for name in ("rge", "spsa"):
            a, b = create_estimator(name, dim=8), create_estimator(name, dim=8)
            np.testing.assert_array_equal(a.ask(0, np.random.default_rng(1), guide), b.ask(0, np.random.default_rng(1)))

    def test_parameter_history_state_round_trip(self) -> None:
        est = CriticalHistoryEstimator(6, param_k=2)
        assert not est.wants_parameter_guide and est.parameter_basis().shape == (0, 0)
        rng = np.random.default_rng(0)
        for t in range(3):
            est.record_parameters(rng.normal(size=40), loss_change=float(t + 1))
        assert est.wants_parameter_guide and est.parameter_basis().shape == (40, 3)  # weighted mean + top 2
        clone = CriticalHistoryEstimator(6, param_k=2)
        clone.load_state_dict(est.state_dict())
        np.testing.assert_array_equal(clone.parameter_basis(), est.parameter_basis())
        fresh = CriticalHistoryEstimator(6)
        fresh.load_state_dict(CriticalHistoryEstimator(6).state_dict())
        assert fresh.param_store is None
        assert est.parameter_slots == 3 and CriticalHistoryEstimator(6, param_history=False).parameter_slots == 0

    @staticmethod
    def _high_frequency_case(slots: bool, seed: int, steps: int = 30) -> float:
        """A linear "network" ``x̃ = x0 + J θ`` whose moves are high-frequency, a loss ``<c, x̃>`` that is too.

        The 4x4 grid sees almost nothing of either (unblurring is like that), so the grid-only
        estimate carries no information about ∇_θ L = J^T c. With the parameter history in
        slots (AugmentedSubspace of J u, u the history's basis) the estimate samples the
        network's own moves. Returns the mean cosine of the θ-gradient estimate with J^T c
        over the last half of the steps.
        """
        from veil.optim.subspace import AugmentedSubspace, create_subspace

        rng = np.random.default_rng(seed)
        h, w, p = 16, 16, 12
        base = create_subspace("grid:r=4", h, w)
        checker = np.indices((h, w)).sum(axis=0) % 2 * 2.0 - 1.0  # +-1 checkerboard: orthogonal to smooth images
        jac = checker[None, :, :, None] * rng.normal(size=(p, 1, 1, 3)) * rng.normal(size=(p, h, w, 1)) ** 2
        c = (checker[:, :, None] * rng.normal(size=(1, 1, 3))) + 0.01 * rng.normal(size=(h, w, 3))
        true = jac.reshape(p, -1) @ c.reshape(-1)
        n_slots = 3 if slots else 0
        est = CriticalHistoryEstimator(base.dim + n_slots, num_directions=8, k=2, item_prior=False,
                                       param_history=slots, param_k=2, use_history=False)
        cosines = []
        for t in range(steps):
            directions = np.zeros((0,))
            if slots and est.wants_parameter_guide:
                directions = np.einsum("pr,phwc->rhwc", est.parameter_basis(), jac)
            space = AugmentedSubspace(base, directions, n_slots) if slots else base
            guide = space.guide_rows() if slots else None
            z = est.ask(t, rng, guide)
            r = est.radius(t)
            d = space.lift(z)
            lp, lm = (np.sum(sign * r * d * c, axis=(1, 2, 3)) for sign in (1.0, -1.0))
            g_theta = jac.reshape(p, -1) @ space.image_gradient(est.tell(t, z, lp, lm)).reshape(-1)
            est.record_parameters(g_theta, loss_change=float(np.mean(np.abs(lp - lm))))
            if t >= steps // 2:
                cosines.append(g_theta @ true / (np.linalg.norm(g_theta) * np.linalg.norm(true) + 1e-300))
        return float(np.mean(cosines))

    def test_parameter_slots_see_what_the_grid_cannot(self) -> None:
        with_slots = [self._high_frequency_case(True, s) for s in range(8)]
        grid_only = [self._high_frequency_case(False, s) for s in range(8)]
        assert np.mean(grid_only) < 0.35 < 0.6 < np.mean(with_slots), (grid_only, with_slots)

    @staticmethod
    def _shared_parameter_gradient(mode: str, seed: int, steps: int = 40, n: int = 48, p: int = 24) -> float:
        """Items with unrelated image gradients but one shared parameter gradient (what a network sees).

        Item i's anonymized image is ``x̃ = A_i θ`` (A_i: n x p, random per item) and its loss
        ``L_i = c_i . x̃`` with ``c_i`` chosen so that ``A_i^T c_i = w`` for one w: the image-space
        gradients c_i of different items are nearly orthogonal, the parameter gradient is w
        for all. The θ-gradient estimate is ``A_i^T ĝ_z``; returns its mean cosine with w over
        the second half of the run. The parameter history (``param``) records those estimates
        and guides each item along ``A_i U``; the image-space history (``image``) and RGE cannot
        transfer across items.
        """
        rng = np.random.default_rng(seed)
        w = rng.normal(size=p)
        if mode == "rge":
            est = RGE(n, num_directions=8)
        else:
            est = CriticalHistoryEstimator(n, num_directions=8, k=2, param_k=2, item_prior=False,
                                           param_history=(mode == "param"), use_history=(mode == "image"))
        cosines = []
        for t in range(steps):
            a = rng.normal(size=(n, p))
            c = a @ np.linalg.solve(a.T @ a, w)
            guide = None
            if mode == "param" and est.wants_parameter_guide:
                guide = (a @ est.parameter_basis()).T
            z = est.ask(t, rng, guide)
            r = est.radius(t)
            g_z = est.tell(t, z, z @ c * r, -(z @ c) * r)
            g_theta = a.T @ g_z
            if mode == "param":
                est.record_parameters(g_theta, loss_change=float(np.mean(np.abs(2 * r * z @ c))))
            if t >= steps // 2:
                cosines.append(cos(g_theta, w))
        return float(np.mean(cosines))

    def test_parameter_history_transfers_across_items(self) -> None:
        res = {m: [self._shared_parameter_gradient(m, s) for s in range(16)] for m in ("param", "image", "rge")}
        gain = np.array(res["param"]) - np.array(res["rge"])  # paired: same seed, same items
        assert gain.mean() > max(0.1, 3 * gain.std(ddof=1) / np.sqrt(len(gain)))  # beyond the seed noise
        assert np.mean(res["param"]) > np.mean(res["image"])
        # the image-space history has nothing to transfer here: within noise of isotropic sampling
        assert abs(np.mean(res["image"]) - np.mean(res["rge"])) < 0.05

    def test_expected_cosine(self) -> None:
        n, k, q = 64, 4, 8
        assert expected_cosine(1.0, 0.3, n, k, q) == pytest.approx(1 / np.sqrt(1 + (n + 1) / q))
        grid = np.linspace(0.1, 0.9, 9)
        assert np.argmax(expected_cosine(grid, 0.0, n, k, q)) == 8  # gradient outside: full space
        assert np.argmax(expected_cosine(grid, 1.0, n, k, q)) == 0  # gradient inside: subspace


class TestSPSA:
    def test_perturbation_and_schedule(self) -> None:
        est = SPSA(20)  # defaults of METHOD.md §5: S=5, c=0.01, gamma=0.1
        assert est.queries_per_estimate == 10
        rng = np.random.default_rng(0)
        for k in range(1, 6):
            assert est.mu == pytest.approx(0.01 / k**0.1)
            z = est.ask(0, rng)
            assert np.all((np.abs(z) >= 0.5) & (np.abs(z) <= 1.0))
            assert est.radius(0) == pytest.approx(0.01 / k**0.1)
            est.tell(0, z, np.zeros(5), np.zeros(5))

    def test_estimate_formula(self) -> None:
        est = SPSA(3, num_directions=2, c=0.5, gamma=0.0)
        z = est.ask(0, np.random.default_rng(1))
        lp, lm = np.array([1.0, 2.0]), np.array([0.0, 3.0])
        g = est.tell(0, z, lp, lm)
        np.testing.assert_allclose(g, np.mean([(lp[i] - lm[i]) / (2 * 0.5) / z[i] for i in range(2)], axis=0))

    def test_gradient_correction_schedule(self) -> None:
        opt = SPSAGCOptimizer()  # [o, a, alpha] = [1, 0.01, 0.4], beta = 0.9
        params, m = np.zeros(2), np.zeros(2)
        rng = np.random.default_rng(0)
        for k in range(1, 5):
            g = rng.normal(size=2)
            assert opt.learning_rate == pytest.approx(0.01 / (k + 1) ** 0.4)
            m = 0.9 * m + g
            expected = params - 0.01 / (k + 1) ** 0.4 * (g + 0.9 * m)
            params = opt.step(params, g)
            np.testing.assert_allclose(params, expected)
        clone = SPSAGCOptimizer()
        clone.load_state_dict(opt.state_dict())
        np.testing.assert_array_equal(clone.step(params, np.ones(2)), opt.step(params, np.ones(2)))
        with pytest.raises(ValueError, match="shapes"):
            opt.step(np.zeros(3), np.zeros(2))
