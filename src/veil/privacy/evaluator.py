"""The privacy evaluator ``P_φ`` of METHOD.md §2.2: an ensemble of restarted adversaries.

A local, white-box, multi-label classifier of private attributes on anonymized images.
It plays the adversary during training:

- :meth:`PrivacyEvaluator.update` trains every member one Adam step with BCE on the
  anonymized batch (detached) and its attribute labels, and re-initializes members on a
  staggered schedule (Wu et al. restart their budget models every 200 steps), so the
  anonymizer cannot overfit one adversary;
- :meth:`PrivacyEvaluator.privacy_loss` is what the anonymizer *minimizes*: the max over
  the K members of the mean over batch and attributes of ``log 2 − H(σ(z))``, where H is
  the binary entropy (nats). It is >= 0 and 0 exactly when every prediction is 0.5, so it
  pushes predictions toward uninformative and never rewards confident wrong predictions
  (a flipped attribute still leaks). With ``reference="prior"`` the target is the label
  prevalence seen by ``update`` instead of 0.5: the loss is the KL divergence
  ``KL(Bern(p) ‖ Bern(prior))``, 0 when a member can do no better than the constant-prior
  attacker, which is what a fresh attacker learns on images with no information left.

Members are tiny residual CNNs with GroupNorm (``small-resnet``), a different
architecture from the evaluation attacker :class:`veil.privacy.attackers.CNNAttacker`
(a plain conv stack with BatchNorm and max-pooling), as the protocol requires (§3).
GroupNorm keeps predictions independent of the batch, so the loss of an image does not
depend on its batch mates and train and eval modes agree.

Example:
    >>> ev = PrivacyEvaluator(num_attributes=2, k=2, image_size=32)
    >>> x = torch.rand(4, 3, 40, 50, requires_grad=True)
    >>> ev.update(x.detach(), torch.tensor([[1, 0], [0, 1], [1, 1], [0, 0]]))  # doctest: +SKIP
    >>> ev.privacy_loss(x).backward()  # gradient for the anonymizer
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from veil.errors import ConfigError
from veil.registry import Registry

__all__ = ["EVALUATOR_ARCHS", "PrivacyEvaluator", "SmallResNet"]

EVALUATOR_ARCHS: Registry[nn.Module] = Registry("evaluator architecture")
REDUCTIONS = ("max", "mean")
REFERENCES = ("half", "prior")
_LOG2 = math.log(2.0)


def _gn(c: int) -> nn.GroupNorm:
    return nn.GroupNorm(4 if c % 4 == 0 else 1, c)


class _BasicBlock(nn.Module):
    """ResNet basic block with GroupNorm: two 3x3 convolutions and a (projected) shortcut."""

    def __init__(self, ci: int, co: int, stride: int = 1) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(ci, co, 3, stride, 1, bias=False)
        self.n1 = _gn(co)
        self.c2 = nn.Conv2d(co, co, 3, 1, 1, bias=False)
        self.n2 = _gn(co)
        self.short = (
            nn.Sequential(nn.Conv2d(ci, co, 1, stride, bias=False), _gn(co)) if stride != 1 or ci != co else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.n2(self.c2(F.relu(self.n1(self.c1(x)))))
        return F.relu(h + (x if self.short is None else self.short(x)))


@EVALUATOR_ARCHS.register("small-resnet")
class SmallResNet(nn.Module):
    """Tiny residual CNN: stride-2 stem, three basic blocks (the last two stride 2), mean pool, linear.

    Shape:
        (B, 3, S, S) normalized images -> (B, num_attributes) logits.
    """

    def __init__(self, num_attributes: int, width: int = 16) -> None:
        super().__init__()
        w = width
        self.stem = nn.Sequential(nn.Conv2d(3, w, 3, 2, 1, bias=False), _gn(w), nn.ReLU())
        self.blocks = nn.Sequential(_BasicBlock(w, w), _BasicBlock(w, 2 * w, 2), _BasicBlock(2 * w, 4 * w, 2))
        self.head = nn.Linear(4 * w, num_attributes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)).mean(dim=(2, 3)))


@contextmanager
def _frozen(modules: Sequence[nn.Module]) -> Iterator[None]:
    """Parameters do not require grad inside: a graph for the input only (no wasted parameter grads)."""
    params = [p for m in modules for p in m.parameters()]
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, f in zip(params, flags, strict=True):
            p.requires_grad_(f)


def binary_entropy_from_logits(z: torch.Tensor) -> torch.Tensor:
    """H(σ(z)) in nats, stable for any z: ``softplus(z) − z σ(z)``."""
    return F.softplus(z) - z * torch.sigmoid(z)


class PrivacyEvaluator:
    """Ensemble of K adversarial attribute classifiers with staggered restarts (METHOD.md §2.2).

    Args:
        num_attributes: A, the number of private attributes (label columns).
        k: ensemble size K.
        arch: member architecture, a name in ``EVALUATOR_ARCHS`` (``small-resnet``).
        image_size: side of the square member input; inputs are resized (bilinear,
            antialiased) inside :meth:`logits`, differentiably.
        lr: Adam learning rate of every member.
        restart_every: re-initialize each member every this many :meth:`update` calls,
            member i offset by ``i * restart_every // k`` so they never all restart
            together; None or 0: never.
        seed: seed of every initialization (member i, generation g: its own stream).
        width: channels of the members' first stage.
        reduction: ``"max"`` over members (Wu et al.; the worst-case adversary) or ``"mean"``.
        reference: ``"half"`` (push predictions to 0.5, the default) or ``"prior"`` (push
            them to the label prevalence seen by :meth:`update`; 0.5 before any update).
        weight_decay: Adam weight decay.
        device: torch device of the members.

    Attributes:
        members: the K modules (``nn.ModuleList``).
        steps: :meth:`update` calls so far.
        generations: restarts of each member so far.
        last_member_losses: the per-member privacy losses of the last :meth:`privacy_loss`.
    """

    def __init__(
        self,
        num_attributes: int,
        k: int = 3,
        arch: str = "small-resnet",
        image_size: int = 128,
        lr: float = 1e-3,
        restart_every: int | None = 200,
        seed: int = 0,
        width: int = 16,
        reduction: str = "max",
        reference: str = "half",
        weight_decay: float = 0.0,
        device: str | torch.device = "cpu",
    ) -> None:
        for key, v, lo in (("num_attributes", num_attributes, 1), ("k", k, 1), ("image_size", image_size, 8),
                           ("width", width, 1), ("seed", seed, 0)):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < lo:
                raise ConfigError(f"PrivacyEvaluator: {key} must be an integer >= {lo}, got {v!r}")
        if restart_every is not None and (
            isinstance(restart_every, bool) or not isinstance(restart_every, numbers.Integral) or restart_every < 0
        ):
            raise ConfigError(f"PrivacyEvaluator: restart_every must be None or an integer >= 0, got {restart_every!r}")
        if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not lr > 0:
            raise ConfigError(f"PrivacyEvaluator: lr must be > 0, got {lr!r}")
        if reduction not in REDUCTIONS:
            raise ConfigError(f"PrivacyEvaluator: reduction must be one of {', '.join(REDUCTIONS)}, got {reduction!r}")
        if reference not in REFERENCES:
            raise ConfigError(f"PrivacyEvaluator: reference must be one of {', '.join(REFERENCES)}, got {reference!r}")
        self._factory: Callable[..., nn.Module] = EVALUATOR_ARCHS.get(arch)
        self.num_attributes, self.k, self.arch = int(num_attributes), int(k), arch
        self.image_size, self.lr, self.seed, self.width = int(image_size), float(lr), int(seed), int(width)
        self.restart_every = int(restart_every or 0)
        self.reduction, self.reference = reduction, reference
        self.weight_decay = float(weight_decay)
        self.device = torch.device(device)
        self.steps = 0
        self.generations = [0] * self.k
        self.members = nn.ModuleList([self.init_member(i, 0) for i in range(self.k)])
        self.optimizers = [self._optimizer(m) for m in self.members]
        self._label_sum = torch.zeros(self.num_attributes, dtype=torch.float64)
        self._label_count = 0
        self.last_member_losses: list[float] = []

    # ------------------------------------------------------------------ members

    def init_member(self, index: int, generation: int) -> nn.Module:
        """A fresh member ``index`` of restart ``generation`` (deterministic; global RNG untouched)."""
        seed = int(np.random.SeedSequence([self.seed, index, generation]).generate_state(1)[0])
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            member = self._factory(self.num_attributes, width=self.width)
        return member.to(self.device)

    def _optimizer(self, member: nn.Module) -> torch.optim.Optimizer:
        return torch.optim.Adam(member.parameters(), lr=self.lr, weight_decay=self.weight_decay)

    def restart_offset(self, index: int) -> int:
        """Member ``index`` restarts after the updates ``n`` with ``(n + offset) % restart_every == 0``."""
        return index * self.restart_every // self.k if self.restart_every else 0

    def restart(self, index: int) -> None:
        """Re-initialize member ``index`` (next generation) and reset its optimizer."""
        self.generations[index] += 1
        self.members[index] = self.init_member(index, self.generations[index])
        self.optimizers[index] = self._optimizer(self.members[index])

    # ------------------------------------------------------------------ forward

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != 3 or not x.is_floating_point():
            got = f"{getattr(x, 'dtype', type(x).__name__)} {tuple(getattr(x, 'shape', ()))}"
            raise ConfigError(f"PrivacyEvaluator expects a float tensor (B, 3, H, W) in [0, 1], got {got}")
        x = x.to(self.device, torch.float32)
        s = self.image_size
        if x.shape[-2:] != (s, s):
            x = F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False, antialias=True)
        return (x - 0.5) / 0.25

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Attribute logits of every member: (B, 3, H, W) in [0, 1] -> (K, B, A); differentiable w.r.t. x."""
        xn = self._prepare(x)
        return torch.stack([m(xn) for m in self.members])

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """Attribute probabilities of every member, (K, B, A), without gradients."""
        return torch.sigmoid(self.logits(x))

    def prior(self) -> torch.Tensor:
        """Label prevalence (A,) seen by :meth:`update` so far (0.5 before any)."""
        if self._label_count == 0:
            return torch.full((self.num_attributes,), 0.5)
        return (self._label_sum / self._label_count).float()

    def privacy_loss(self, x: torch.Tensor, attributes: Sequence[int] | None = None) -> torch.Tensor:
        """The loss the anonymizer minimizes: >= 0, 0 iff every prediction is uninformative.

        ``reference="half"``: ``max_k mean_{b,a} (log 2 − H(σ(z_kba)))``;
        ``reference="prior"``: ``max_k mean_{b,a} KL(Bern(σ(z_kba)) ‖ Bern(prior_a))``.
        Members' parameters get no gradient (only ``x`` does).

        Args:
            x: anonymized batch (B, 3, H, W) in [0, 1], typically with a graph to the anonymizer.
            attributes: indices of the attributes in the privacy policy; all when None.

        Returns:
            A scalar tensor.
        """
        with _frozen(self.members):
            z = self.logits(x)
        if attributes is not None:
            z = z[..., list(attributes)]
        if self.reference == "half":
            per = _LOG2 - binary_entropy_from_logits(z)
        else:
            q = self.prior().to(z).clamp(1e-4, 1 - 1e-4)
            if attributes is not None:
                q = q[list(attributes)]
            p = torch.sigmoid(z)
            # KL(p || q) = -H(p) - p log q - (1 - p) log(1 - q), with -H(p) = z p - softplus(z)
            per = (z * p - F.softplus(z) - p * torch.log(q) - (1 - p) * torch.log1p(-q)).clamp_min(0.0)
        member_losses = per.mean(dim=(1, 2))
        self.last_member_losses = [float(v) for v in member_losses.detach()]
        return member_losses.max() if self.reduction == "max" else member_losses.mean()

    # ------------------------------------------------------------------ training

    def update(self, x: torch.Tensor, labels: torch.Tensor | np.ndarray) -> float:
        """One adversarial BCE step (Adam) for every member on a detached anonymized batch.

        Then counts the step and restarts the members whose turn it is (see
        :meth:`restart_offset`).

        Args:
            x: (B, 3, H, W) in [0, 1]; detached here.
            labels: (B, A) attribute labels in [0, 1] (0/1, or soft).

        Returns:
            The mean BCE over members, before the step.

        Raises:
            ConfigError: labels of the wrong shape or outside [0, 1].
        """
        y = torch.as_tensor(np.asarray(labels) if not isinstance(labels, torch.Tensor) else labels)
        y = y.to(self.device, torch.float32)
        if y.ndim != 2 or y.shape != (x.shape[0], self.num_attributes):
            raise ConfigError(
                f"labels must have shape (B, A) = ({x.shape[0]}, {self.num_attributes}), got {tuple(y.shape)}"
            )
        if not bool(torch.isfinite(y).all()) or bool(((y < 0) | (y > 1)).any()):
            raise ConfigError("labels must be in [0, 1]")
        with torch.no_grad():
            xn = self._prepare(x.detach())
        losses = []
        for member, opt in zip(self.members, self.optimizers, strict=True):
            member.train()
            loss = F.binary_cross_entropy_with_logits(member(xn), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        self._label_sum += y.sum(dim=0).double().cpu()
        self._label_count += y.shape[0]
        self.steps += 1
        if self.restart_every:
            for i in range(self.k):
                if (self.steps + self.restart_offset(i)) % self.restart_every == 0:
                    self.restart(i)
        return float(np.mean(losses))

    # ------------------------------------------------------------------ state

    def _config(self) -> dict[str, Any]:
        return {"num_attributes": self.num_attributes, "k": self.k, "arch": self.arch,
                "image_size": self.image_size, "width": self.width}

    def state_dict(self) -> dict[str, Any]:
        """Everything needed for an exact resume: members, optimizers, counters (``torch.save``-able)."""
        return {
            "config": self._config(),
            "steps": self.steps,
            "generations": list(self.generations),
            "members": [m.state_dict() for m in self.members],
            "optimizers": [o.state_dict() for o in self.optimizers],
            "label_sum": self._label_sum.clone(),
            "label_count": self._label_count,
            "seed": self.seed,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`.

        Raises:
            ConfigError: the state comes from an evaluator of another shape (attributes,
                ensemble size, architecture, input size or width).
        """
        cfg = state.get("config", {})
        if cfg != self._config():
            raise ConfigError(
                f"evaluator state was saved for {cfg}, this evaluator is {self._config()}; build the evaluator "
                "with the same settings to resume"
            )
        self.seed = int(state.get("seed", self.seed))  # restarts after the resume draw the same inits
        self.steps = int(state["steps"])
        self.generations = [int(g) for g in state["generations"]]
        for i in range(self.k):
            self.members[i].load_state_dict(state["members"][i])
            self.optimizers[i] = self._optimizer(self.members[i])
            self.optimizers[i].load_state_dict(state["optimizers"][i])
        self._label_sum = state["label_sum"].clone().double().cpu()
        self._label_count = int(state["label_count"])
