"""The privacy evaluator P_φ: the entropy loss, its gradient, adversarial updates, restarts, resume."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch

from veil.errors import ConfigError
from veil.privacy.evaluator import EVALUATOR_ARCHS, PrivacyEvaluator, binary_entropy_from_logits


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread: None) -> None:
    """Every test here runs on one torch thread (tests/conftest.py)."""


def evaluator(**kwargs: object) -> PrivacyEvaluator:
    base: dict[str, object] = {"num_attributes": 2, "k": 2, "image_size": 32, "width": 8, "lr": 3e-3}
    return PrivacyEvaluator(**{**base, **kwargs})  # type: ignore[arg-type]


def square_batch(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Noisy grey images; attribute 0: a bright square is present; attribute 1: the image is bluish."""
    g = torch.Generator().manual_seed(seed)
    x = 0.4 + 0.2 * torch.rand(n, 3, 36, 44, generator=g)
    y = (torch.rand(n, 2, generator=g) < 0.5).float()
    for i in range(n):
        if y[i, 0]:
            r, c = (int(v) for v in torch.randint(0, 24, (2,), generator=g))
            x[i, :, r : r + 12, c : c + 12] = 1.0
        if y[i, 1]:
            x[i, 2] += 0.25
    return x.clamp(0, 1), y


def zero_heads(ev: PrivacyEvaluator, bias: torch.Tensor | float = 0.0) -> None:
    with torch.no_grad():
        for m in ev.members:
            m.head.weight.zero_()
            m.head.bias.copy_(torch.as_tensor(bias).expand_as(m.head.bias))


class TestPrivacyLoss:
    def test_nonnegative_and_gradient(self) -> None:
        ev = evaluator()
        x = torch.rand(3, 3, 40, 50, requires_grad=True)
        loss = ev.privacy_loss(x)
        assert loss.ndim == 0 and float(loss.detach()) >= 0
        loss.backward()
        assert x.grad is not None and torch.isfinite(x.grad).all() and float(x.grad.abs().sum()) > 0
        assert all(p.grad is None for p in ev.members.parameters())  # only the input gets gradients
        assert all(p.requires_grad for p in ev.members.parameters())  # and the members stay trainable
        assert len(ev.last_member_losses) == 2 and float(loss.detach()) == pytest.approx(max(ev.last_member_losses))

    def test_zero_iff_uninformative(self) -> None:
        ev = evaluator()
        x = torch.rand(2, 3, 32, 32)
        zero_heads(ev)
        assert abs(float(ev.privacy_loss(x))) < 1e-6
        zero_heads(ev, bias=2.0)  # confident, whatever the truth
        expected = math.log(2) - float(binary_entropy_from_logits(torch.tensor(2.0)))
        assert float(ev.privacy_loss(x)) == pytest.approx(expected, rel=1e-5)
        zero_heads(ev, bias=-2.0)  # confidently wrong is penalized just the same
        assert float(ev.privacy_loss(x)) == pytest.approx(expected, rel=1e-5)

    def test_entropy_formula(self) -> None:
        z = torch.tensor([-30.0, -2.0, 0.0, 0.7, 30.0])
        p = torch.sigmoid(z.double())
        ref = -(p * p.log() + (1 - p) * (1 - p).log())
        ref[[0, -1]] = 0.0
        torch.testing.assert_close(binary_entropy_from_logits(z).double(), ref, atol=1e-6, rtol=1e-5)

    def test_max_mean_and_attribute_policy(self) -> None:
        x = torch.rand(2, 3, 32, 32)
        ev = evaluator(k=3)
        worst = float(ev.privacy_loss(x))
        assert worst == pytest.approx(max(ev.last_member_losses))
        mean = float(evaluator(k=3, reduction="mean").privacy_loss(x))
        assert mean <= worst + 1e-7
        with torch.no_grad():
            for m in ev.members:
                m.head.weight[1].zero_()
                m.head.bias[1] = 0.0
        assert abs(float(ev.privacy_loss(x, attributes=[1]))) < 1e-6
        assert float(ev.privacy_loss(x, attributes=[0])) > 0

    def test_prior_reference(self) -> None:
        ev = evaluator(reference="prior")
        x, y = square_batch(8, seed=0)
        ev.update(x, y)
        prior = ev.prior()
        torch.testing.assert_close(prior, y.mean(0))
        zero_heads(ev, torch.logit(prior.clamp(1e-4, 1 - 1e-4)))
        assert abs(float(ev.privacy_loss(x))) < 1e-5
        zero_heads(ev, 0.0)
        assert float(ev.privacy_loss(x)) > 0 or bool((prior == 0.5).all())


class TestUpdate:
    def test_learns_synthetic_task(self) -> None:
        ev = evaluator(restart_every=None, seed=1)
        xv, yv = square_batch(32, seed=99)
        with torch.no_grad():
            bce0 = torch.nn.functional.binary_cross_entropy_with_logits(ev.logits(xv), yv.expand(2, -1, -1))
        for step in range(40):
            ev.update(*square_batch(16, seed=step))
        with torch.no_grad():
            bce1 = torch.nn.functional.binary_cross_entropy_with_logits(ev.logits(xv), yv.expand(2, -1, -1))
        assert float(bce1) < 0.75 * float(bce0)
        assert ev.steps == 40 and ev.generations == [0, 0]

    def test_restart_schedule(self) -> None:
        ev = evaluator(restart_every=4)
        assert [ev.restart_offset(i) for i in range(2)] == [0, 2]
        fresh = {(i, g): ev.init_member(i, g).state_dict() for i in range(2) for g in range(2)}
        assert not torch.equal(fresh[0, 0]["head.weight"], fresh[0, 1]["head.weight"])  # a new draw
        x, y = square_batch(4, seed=0)

        def equal(i: int, g: int) -> bool:
            sd = ev.members[i].state_dict()
            return all(torch.equal(sd[k], fresh[i, g][k]) for k in sd)

        ev.update(x, y)
        assert ev.generations == [0, 0] and not equal(1, 0)
        ev.update(x, y)  # step 2: member 1 (offset 2) restarts, member 0 keeps training
        assert ev.generations == [0, 1] and equal(1, 1) and not equal(0, 0)
        ev.update(x, y)
        ev.update(x, y)  # step 4: member 0's turn
        assert ev.generations == [1, 1] and equal(0, 1) and not equal(1, 1)
        assert all(not s for s in ev.optimizers[0].state.values())  # fresh optimizer state

    def test_label_checks(self) -> None:
        ev = evaluator()
        x = torch.rand(2, 3, 32, 32)
        with pytest.raises(ConfigError, match="shape"):
            ev.update(x, torch.zeros(2, 3))
        with pytest.raises(ConfigError, match=r"\[0, 1\]"):
            ev.update(x, torch.full((2, 2), 2.0))
        assert ev.steps == 0
        ev.update(x, np.array([[1, 0], [0.5, 1]]))  # numpy and soft labels are fine
        with pytest.raises(ConfigError, match="B, 3, H, W"):
            ev.privacy_loss(torch.rand(3, 32, 32))


class TestDeterminismAndState:
    def test_seeded(self) -> None:
        x = torch.rand(2, 3, 32, 32)
        a, b, c = evaluator(seed=5), evaluator(seed=5), evaluator(seed=6)
        torch.testing.assert_close(a.logits(x), b.logits(x), rtol=0, atol=0)
        assert not torch.equal(a.logits(x), c.logits(x))
        state = torch.get_rng_state()
        evaluator(seed=7)
        assert torch.equal(state, torch.get_rng_state())  # the global RNG is untouched

    def test_state_dict_round_trip(self) -> None:
        batches = [square_batch(6, seed=s) for s in range(6)]
        ev = evaluator(restart_every=4, seed=3)
        for x, y in batches[:3]:
            ev.update(x, y)
        buf = io.BytesIO()
        torch.save(ev.state_dict(), buf)
        buf.seek(0)
        resumed = evaluator(restart_every=4, seed=0)  # the seed comes back from the state
        resumed.load_state_dict(torch.load(buf, weights_only=True))
        assert resumed.steps == 3 and resumed.generations == ev.generations
        probe = batches[0][0]
        for x, y in batches[3:]:  # crosses member 0's restart at step 4
            assert ev.update(x, y) == resumed.update(x, y)
            assert float(ev.privacy_loss(probe)) == float(resumed.privacy_loss(probe))
        assert ev.generations == resumed.generations == [1, 2]  # member 1 again at step 6

    def test_state_of_another_shape(self) -> None:
        with pytest.raises(ConfigError, match="same settings"):
            evaluator(k=3).load_state_dict(evaluator(k=2).state_dict())


def test_architecture_differs_from_attacker() -> None:
    assert "small-resnet" in EVALUATOR_ARCHS
    member = evaluator().members[0]
    kinds = {type(m).__name__ for m in member.modules()}
    assert "GroupNorm" in kinds and "_BasicBlock" in kinds
    assert "BatchNorm2d" not in kinds and "MaxPool2d" not in kinds
    with pytest.raises(ConfigError):
        evaluator(reduction="min")
    with pytest.raises(ConfigError):
        evaluator(k=0)
