"""Learned attackers: learnability, the prior bound, determinism, the fit/predict contract."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from veil.errors import ConfigError, MediaError, VeilError
from veil.privacy import ATTACKERS, create_attacker
from veil.privacy.attackers import CNNAttacker, NotFittedError, PriorAttacker
from veil.privacy.metrics import cmap


def red_square_data(n: int, seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Noisy images of varying sizes; attribute 0 = a red square is present, 1 = random."""
    rng = np.random.default_rng(seed)
    images, labels = [], np.zeros((n, 2), np.int64)
    for i in range(n):
        h, w = (int(v) for v in rng.integers(48, 96, 2))
        im = (rng.integers(0, 256, (h, w, 3)) // 2 + 64).astype(np.uint8)
        if rng.random() < 0.5:
            s = int(min(h, w) * 0.3)
            y0, x0 = int(rng.integers(0, h - s)), int(rng.integers(0, w - s))
            im[y0 : y0 + s, x0 : x0 + s] = (255, 0, 0)
            labels[i, 0] = 1
        labels[i, 1] = rng.random() < 0.3
        images.append(im)
    return images, labels


def test_registry() -> None:
    assert {"cnn", "prior"} <= set(ATTACKERS.names())
    assert isinstance(create_attacker("cnn", epochs=1), CNNAttacker)
    assert isinstance(create_attacker("prior"), PriorAttacker)


class TestCNNAttacker:
    def test_learns_red_square(self) -> None:
        xtr, ytr = red_square_data(120, seed=0)
        xte, yte = red_square_data(80, seed=1)
        att = CNNAttacker(image_size=48, epochs=10, random_state=0).fit(xtr, ytr)
        proba = att.predict_proba(xte)
        assert proba.shape == (80, 2)
        assert ((proba >= 0) & (proba <= 1)).all()
        assert cmap(yte[:, :1], proba[:, :1]) > 0.9
        assert att.loss_history_[-1] < att.loss_history_[0]

    def test_deterministic_for_same_random_state(self) -> None:
        xtr, ytr = red_square_data(40, seed=2)
        xte, _ = red_square_data(10, seed=3)
        kw = {"image_size": 32, "epochs": 2, "batch_size": 16}
        p1 = CNNAttacker(random_state=7, **kw).fit(xtr, ytr).predict_proba(xte)
        p2 = CNNAttacker(random_state=7, **kw).fit(xtr, ytr).predict_proba(xte)
        p3 = CNNAttacker(random_state=8, **kw).fit(xtr, ytr).predict_proba(xte)
        np.testing.assert_array_equal(p1, p2)
        assert not np.array_equal(p1, p3)

    def test_leaves_global_torch_state_alone(self) -> None:
        xtr, ytr = red_square_data(8, seed=4)
        rng_state = torch.random.get_rng_state()
        threads = torch.get_num_threads()
        CNNAttacker(image_size=32, epochs=1, letterbox=True, num_threads=1).fit(xtr, ytr)
        assert torch.equal(torch.random.get_rng_state(), rng_state)
        assert torch.get_num_threads() == threads

    def test_init_stores_params_only(self) -> None:
        att = CNNAttacker(epochs=3, random_state=5)
        assert att.epochs == 3 and att.random_state == 5
        assert not [k for k in vars(att) if k.endswith("_")]

    def test_predict_before_fit_raises(self) -> None:
        with pytest.raises(NotFittedError, match="fit"):
            CNNAttacker().predict_proba([np.zeros((8, 8, 3), np.uint8)])
        err = NotFittedError("x")
        assert isinstance(err, VeilError) and isinstance(err, ValueError)

    def test_bad_inputs_raise(self) -> None:
        ims = [np.zeros((16, 16, 3), np.uint8)] * 4
        with pytest.raises(ConfigError, match="shape"):
            CNNAttacker(epochs=1).fit(ims, np.zeros((3, 2)))
        with pytest.raises(ConfigError, match="0 and 1"):
            CNNAttacker(epochs=1).fit(ims, np.full((4, 1), 2))
        with pytest.raises(MediaError):
            CNNAttacker(epochs=1).fit([np.zeros((16, 16), np.uint8)] * 4, np.zeros((4, 1)))
        with pytest.raises(ConfigError, match="epochs"):
            CNNAttacker(epochs=0).fit(ims, np.zeros((4, 1)))

    @pytest.mark.slow
    def test_default_size_250_images(self) -> None:
        """The protocol's default configuration: 128 px, 20 epochs, 250 images, 2 threads."""
        xtr, ytr = red_square_data(250, seed=5)
        xte, yte = red_square_data(100, seed=6)
        att = CNNAttacker(random_state=0).fit(xtr, ytr)
        assert cmap(yte[:, :1], att.predict_proba(xte)[:, :1]) > 0.9
        assert att.fit_seconds_ > 0


class TestPriorAttacker:
    def test_predicts_training_prevalence(self) -> None:
        rng = np.random.default_rng(0)
        xtr = [np.zeros((4, 4, 3), np.uint8)] * 200
        ytr = (rng.random((200, 3)) < [0.1, 0.5, 0.8]).astype(int)
        att = PriorAttacker().fit(xtr, ytr)
        proba = att.predict_proba(xtr[:5])
        np.testing.assert_allclose(proba, np.tile(ytr.mean(0), (5, 1)))

    def test_cmap_equals_test_prevalence(self) -> None:
        rng = np.random.default_rng(1)
        prev = np.array([0.1, 0.3, 0.5, 0.7])
        ytr = (rng.random((300, 4)) < prev).astype(int)
        yte = (rng.random((200, 4)) < prev).astype(int)
        att = PriorAttacker().fit([np.zeros((2, 2, 3), np.uint8)] * 300, ytr)
        score = cmap(yte, att.predict_proba([np.zeros((2, 2, 3), np.uint8)] * 200))
        # A constant score ranks nothing: AP = prevalence of each test column.
        assert score == pytest.approx(yte.mean(0).mean(), abs=1e-9)
        assert score == pytest.approx(prev.mean(), abs=0.05)

    def test_predict_before_fit_raises(self) -> None:
        with pytest.raises(NotFittedError):
            PriorAttacker().predict_proba([np.zeros((2, 2, 3), np.uint8)])
