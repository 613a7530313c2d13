"""Tests of the critical history and the critical-item replay sampler."""

from __future__ import annotations

import numpy as np
import pytest

from veil.errors import ConfigError
from veil.optim.history import CriticalHistory, ReplaySampler, orthonormal_basis


class TestOrthonormalBasis:
    def test_drops_dependent_and_zero_rows(self) -> None:
        rng = np.random.default_rng(0)
        a, b = rng.normal(size=(2, 10))
        u = orthonormal_basis(np.stack([a, 2 * a, np.zeros(10), b, a - 3 * b]))
        assert u.shape == (10, 2)
        np.testing.assert_allclose(u.T @ u, np.eye(2), atol=1e-12)
        np.testing.assert_allclose(abs(u[:, 0] @ a) / np.linalg.norm(a), 1.0)  # first row keeps priority

    def test_empty(self) -> None:
        assert orthonormal_basis(np.zeros((0, 6))).shape == (6, 0)


class TestCriticalHistory:
    def test_top_k_by_score_and_fifo_capacity(self) -> None:
        h = CriticalHistory(dim=5, capacity=3, k=2)
        eye = np.eye(5)
        for i, s in enumerate([5.0, 1.0, 3.0]):
            h.add(eye[i], loss_change=s)
        np.testing.assert_array_equal(h.critical(), eye[[0, 2]])
        h.add(eye[3], loss_change=0.5)  # evicts the oldest (eye[0]), even though it scored highest
        assert len(h) == 3
        np.testing.assert_array_equal(h.critical(), eye[[2, 1]])

    def test_norm_score_and_decay(self) -> None:
        h = CriticalHistory(dim=3, capacity=4, k=1, score="norm", decay=0.5)
        h.add(np.array([3.0, 0, 0]))
        h.add(np.array([0, 2.0, 0]))
        h.add(np.array([0, 0, 1.0]))
        # decayed scores: 3 * 0.25, 2 * 0.5, 1 -> the middle one (1.0) ties the newest; newer wins ties
        np.testing.assert_allclose(h.effective_scores()[:3], [0.75, 1.0, 1.0])
        np.testing.assert_array_equal(h.critical(), [[0, 0, 1.0]])

    def test_loss_change_needed(self) -> None:
        with pytest.raises(ValueError, match="loss_change"):
            CriticalHistory(dim=3).add(np.ones(3))

    def test_ignores_zero_and_nonfinite(self) -> None:
        h = CriticalHistory(dim=3)
        h.add(np.zeros(3), loss_change=1.0)
        h.add(np.array([np.nan, 1, 1]), loss_change=1.0)
        assert len(h) == 0
        assert h.basis().shape == (3, 0)

    def test_basis_with_item_prior_first(self) -> None:
        rng = np.random.default_rng(1)
        h = CriticalHistory(dim=8, k=2)
        for v in rng.normal(size=(4, 8)):
            h.add(v, loss_change=1.0)
        prior = rng.normal(size=8)
        h.add(prior, loss_change=0.1, key="item-7")
        u = h.basis("item-7", item_prior=True)
        assert u.shape == (8, 3)
        np.testing.assert_allclose(u.T @ u, np.eye(3), atol=1e-12)
        np.testing.assert_allclose(np.linalg.norm(u.T @ prior), np.linalg.norm(prior))
        assert h.basis("item-7", critical=False, item_prior=True).shape == (8, 1)
        assert h.basis("unseen", critical=False, item_prior=True).shape == (8, 0)
        assert h.basis(critical=True).shape == (8, 2)

    def test_state_round_trip(self) -> None:
        rng = np.random.default_rng(2)
        h = CriticalHistory(dim=6, capacity=4, k=3)
        for i, v in enumerate(rng.normal(size=(6, 6))):
            h.add(v, loss_change=float(i % 3), key=i if i % 2 else f"s{i}")
        h2 = CriticalHistory(dim=6, capacity=4, k=3)
        h2.load_state_dict(h.state_dict())
        np.testing.assert_array_equal(h2.basis(3, item_prior=True), h.basis(3, item_prior=True))
        np.testing.assert_array_equal(h2.item_estimate("s2"), h.item_estimate("s2"))
        assert h2.item_estimate("3") is None  # keys keep their type
        v = rng.normal(size=6)
        h.add(v, loss_change=9.0)
        h2.add(v, loss_change=9.0)
        np.testing.assert_array_equal(h2.critical(), h.critical())
        with pytest.raises(ConfigError, match="saved settings"):
            CriticalHistory(dim=6, capacity=5).load_state_dict(h.state_dict())

    def test_config_errors(self) -> None:
        with pytest.raises(ConfigError):
            CriticalHistory(dim=4, k=0)
        with pytest.raises(ConfigError, match="unknown history score"):
            CriticalHistory(dim=4, score="variance")
        with pytest.raises(TypeError, match="int or str"):
            CriticalHistory(dim=2).add(np.ones(2), loss_change=1.0, key=(1, 2))  # type: ignore[arg-type]


class TestReplaySampler:
    def test_probabilities_rise_with_priority(self) -> None:
        s = ReplaySampler(4, temperature=0.5, rng=0, flip_bonus=1.0, uniform=0.0)
        np.testing.assert_allclose(s.probabilities(), 0.25)  # nothing seen: uniform
        s.update(0, utility_loss=0.1, flipped=False)
        s.update(1, utility_loss=0.9, flipped=False)
        s.update(2, utility_loss=0.1, flipped=True)
        p = s.probabilities()
        assert p.sum() == pytest.approx(1.0)
        assert p[2] > p[1] > p[0]
        assert p[3] == pytest.approx(p[2])  # unseen items get the top priority
        np.testing.assert_allclose(s.priorities(), [0.1, 0.9, 1.1, 1.1])

    def test_uniform_share_and_sampling_frequencies(self) -> None:
        s = ReplaySampler(10, temperature=0.25, rng=np.random.default_rng(3), uniform=0.2)
        for i in range(10):
            s.update(i, utility_loss=float(i == 9), flipped=False)
        assert s.probabilities().min() >= 0.2 / 10
        counts = np.zeros(10)
        for _ in range(300):
            b = s.sample(2)
            assert len(set(b.tolist())) == 2
            counts[b] += 1
        np.testing.assert_array_equal(counts, s.visits)
        assert counts[9] > 2 * counts[:9].mean()

    def test_state_round_trip(self) -> None:
        s = ReplaySampler(6, temperature=1.0, rng=7)
        s.update(2, 3.0, True)
        s.sample(3)
        s2 = ReplaySampler(6, temperature=1.0, rng=123)
        s2.load_state_dict(s.state_dict())
        for _ in range(5):
            np.testing.assert_array_equal(s.sample(4), s2.sample(4))
        np.testing.assert_array_equal(s.visits, s2.visits)
        with pytest.raises(ConfigError, match="items"):
            ReplaySampler(5).load_state_dict(s.state_dict())

    def test_errors(self) -> None:
        s = ReplaySampler(3)
        with pytest.raises(ValueError, match="batch"):
            s.sample(4)
        with pytest.raises(IndexError):
            s.update(3, 0.0, False)
        with pytest.raises(ValueError, match="finite"):
            s.update(0, float("nan"), False)
        with pytest.raises(ConfigError, match="temperature"):
            ReplaySampler(3, temperature=0.0)
