"""The utility objective of training (METHOD.md §2.3-2.5): zeroth-order gradients through the black box.

Two ways to perturb, both antithetic, both through the configured estimator (critical
history, RGE, SPSA):

* :class:`ImageSpaceUtility` (``perturb: image``): perturb ``x̃`` in a low-dimensional
  subspace (plus, with the ``history`` estimator, the anonymizer's own parameter-history
  moves ``J u``), estimate ``∇_x̃ L_U`` and push it through the network with the surrogate
  ``⟨x̃, stopgrad(ĝ_x)⟩``. Works for any network.
* :class:`PolicySpaceUtility` (``perturb: policy``): perturb the network's policy
  parameters θ (a few per-category strengths) and re-render every perturbed image exactly,
  ``x̃± = A_{θ ± μu}(x)``; the estimate is ``∇_θ L_U`` directly. The perturbation subspace
  of image space is the anonymizer's own reachable set, so every query asks the black box
  about an image the anonymizer could send ("would the sign still be read if names were
  blurred less?"), and the parameter space is shared by all items, so the critical
  history transfers across items. With few policy parameters this is far more
  query-efficient than image-space directions, which cannot express "unblur this line".

Each returns the per-item utility losses, flips and loss changes for replay and logging.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from veil.anonymizers.networks import keeping_last_mask
from veil.data.questions import normalize_answer
from veil.train.losses import utility_loss


@dataclass
class UtilityResult:
    """One batch's utility estimate.

    Attributes:
        g_params: ``∇_θ L_U`` flattened in ``net.parameters()`` order (policy mode), else None.
        g_image: ``ĝ_x`` (B, 3, H, W) for the surrogate (image mode), else None.
        losses: mean utility loss of each item's queries.
        flips: whether most of an item's answers were wrong.
        changes: mean |L(+) − L(−)| per item (the loss change the estimate carried).
    """

    g_params: np.ndarray | None
    g_image: torch.Tensor | None
    losses: list[float] = field(default_factory=list)
    flips: list[bool] = field(default_factory=list)
    changes: list[float] = field(default_factory=list)


def to_u8(x: np.ndarray) -> np.ndarray:
    """Float RGB in [0, 1] (H, W, 3) -> uint8, rounded."""
    return (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _score(trainer: Any, answers: Sequence[Any], targets: Sequence[str], m: int) -> tuple[np.ndarray, bool]:
    cfg = trainer.cfg
    ls = np.array([utility_loss(a.text, a.logprobs, targets, cfg.utility_mode, cfg.answer_score) for a in answers])
    wanted = {normalize_answer(t) for t in targets}
    wrong = np.mean([normalize_answer(a.text) not in wanted for a in answers])
    return ls, bool(wrong > 0.5)


def parameter_directions(
    net: torch.nn.Module, x: torch.Tensor, extra: torch.Tensor | None, basis: np.ndarray
) -> torch.Tensor:
    """``J u_j`` for each column u_j of ``basis`` (p, r): the change of ``net(x, extra)`` per unit move of θ along u_j.

    Forward-mode (``torch.func.jvp``), one pass per column; parameters are flattened in
    ``net.parameters()`` order. Returns (r, B, 3, H, W).
    """
    from torch.func import functional_call, jvp

    names = [n for n, _ in net.named_parameters()]
    values = tuple(q.detach() for _, q in net.named_parameters())
    sizes = [v.numel() for v in values]
    if basis.shape[0] != sum(sizes):
        raise ValueError(f"basis has {basis.shape[0]} rows, the network {sum(sizes)} parameters")

    def run(*params: torch.Tensor) -> torch.Tensor:
        return functional_call(net, dict(zip(names, params, strict=True)), (x,), {"extra": extra})

    out = []
    with torch.no_grad(), keeping_last_mask(net):
        for j in range(basis.shape[1]):
            chunks = torch.from_numpy(basis[:, j]).split(sizes)
            tangents = tuple(c.reshape(v.shape).to(v.dtype) for c, v in zip(chunks, values, strict=True))
            out.append(jvp(run, values, tangents)[1])
    return torch.stack(out)


class ImageSpaceUtility:
    """Perturb ``x̃`` in the subspace; ``ĝ_x`` for the surrogate loss (module doc)."""

    mode = "image"

    def __init__(self, trainer: Any) -> None:
        self.t = trainer

    def item_subspaces(self, x: torch.Tensor, extra: torch.Tensor | None) -> list[Any]:
        """Per item, the perturbation space of this step: the base subspace, or (``history`` with
        ``param_history``) the base plus the parameter-space critical directions mapped through
        the anonymizer's Jacobian on that item (:class:`veil.optim.subspace.AugmentedSubspace`).
        """
        from veil.optim.subspace import AugmentedSubspace

        t = self.t
        slots = int(getattr(t.estimator, "parameter_slots", 0))
        if not slots:
            return [t.subspace] * len(x)
        basis = t.estimator.parameter_basis()  # (0, 0) until a step was recorded
        if basis.shape[1] == 0:
            return [AugmentedSubspace(t.subspace, np.zeros((0,)), slots)] * len(x)
        jv = parameter_directions(t.net, x, extra, basis)  # (r, B, 3, H, W)
        imgs = jv.permute(1, 0, 3, 4, 2).double().numpy()  # (B, r, H, W, 3)
        return [AugmentedSubspace(t.subspace, imgs[b], slots) for b in range(len(imgs))]

    def estimate(self, idx: list[int], q_idx: list[int], x: torch.Tensor, extra: torch.Tensor | None,
                 xt: torch.Tensor) -> UtilityResult:
        from veil.blackbox.engine import Query

        t = self.t
        m = t.cfg.num_directions
        xt_np = xt.detach().permute(0, 2, 3, 1).numpy().astype(np.float64)
        asks, queries, meta = [], [], []
        spaces = self.item_subspaces(x, extra)
        for b, i in enumerate(idx):
            guide = spaces[b].guide_rows() if hasattr(spaces[b], "guide_rows") else None
            z = t.estimator.ask(i, t.rng, guide)
            r = t.estimator.radius(i)
            prompt, targets, q = t._target(i, q_idx[b])
            for d in spaces[b].lift(z):  # (m, H, W, 3)
                for sign in (1.0, -1.0):
                    queries.append(Query([to_u8(xt_np[b] + sign * r * d)], prompt, q.choices))
            asks.append((i, z))
            meta.append(targets)
        answers = t.engine.query_many(queries)
        g_img = np.zeros_like(xt_np)
        res = UtilityResult(None, None)
        for b, (key, z) in enumerate(asks):
            ls, flip = _score(t, answers[b * 2 * m:(b + 1) * 2 * m], meta[b], m)
            lp, lm = ls[0::2], ls[1::2]
            res.changes.append(float(np.mean(np.abs(lp - lm))))
            g_img[b] = spaces[b].image_gradient(t.estimator.tell(key, z, lp, lm))
            res.losses.append(float(ls.mean()))
            res.flips.append(flip)
        res.g_image = torch.from_numpy(g_img).permute(0, 3, 1, 2).float()
        return res


class PolicySpaceUtility:
    """Perturb the policy parameters, re-render exactly; ``∇_θ L_U`` directly (module doc)."""

    mode = "policy"

    def __init__(self, trainer: Any) -> None:
        self.t = trainer
        net = trainer.net
        self.params = list(net.gate_parameters())
        ids = {id(p) for p in self.params}
        self.sizes = [p.numel() for p in self.params]
        self.dim = int(sum(self.sizes))
        # where each policy parameter sits in the flat net.parameters() vector
        offsets, off = {}, 0
        for p in net.parameters():
            if id(p) in ids:
                offsets[id(p)] = off
            off += p.numel()
        self.offsets = [offsets[id(p)] for p in self.params]
        self.total = off

    def active(self, extra: torch.Tensor | None) -> np.ndarray:
        """1 for each policy parameter that changes this item's image, else 0 (networks with
        ``active_parameters``; all 1 otherwise)."""
        net = self.t.net
        if extra is None or not hasattr(net, "active_parameters"):
            return np.ones(self.dim)
        return net.active_parameters(extra)

    def _set(self, flat: np.ndarray) -> None:
        with torch.no_grad():
            for p, chunk in zip(self.params, np.split(flat, np.cumsum(self.sizes)[:-1]), strict=True):
                p.copy_(torch.from_numpy(chunk).reshape(p.shape).to(p.dtype))

    def _get(self) -> np.ndarray:
        return np.concatenate([p.detach().reshape(-1).double().numpy() for p in self.params])

    def render(self, x: torch.Tensor, extra: torch.Tensor | None, thetas: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The batch anonymized with each parameter vector in ``thetas``: a list of (B, H, W, 3) uint8."""
        net, base = self.t.net, self._get()
        out = []
        try:
            with torch.no_grad(), keeping_last_mask(net):
                stack = net.blur_stack(x, net.reference_length(extra)) if hasattr(net, "blur_stack") else None
                for th in thetas:
                    self._set(th)
                    y = net.composite(stack, net.level_map(extra)) if stack is not None else net(x, extra)
                    out.append(to_u8(y.permute(0, 2, 3, 1).double().numpy()))
        finally:
            self._set(base)
        return out

    def estimate(self, idx: list[int], q_idx: list[int], x: torch.Tensor, extra: torch.Tensor | None,
                 xt: torch.Tensor) -> UtilityResult:
        from veil.blackbox.engine import Query

        t = self.t
        m = t.cfg.num_directions
        base = self._get()
        asks, queries, meta = [], [], []
        for b, i in enumerate(idx):
            z = t.estimator.ask(i, t.rng, None)
            r = t.estimator.radius(i)
            asks.append((i, z))
            thetas = [th for d in z for th in (base + r * d, base - r * d)]
            images = self.render(x[b:b + 1], None if extra is None else extra[b:b + 1], thetas)
            prompt, targets, q = t._target(i, q_idx[b])
            meta.append(targets)
            queries += [Query([im[0]], prompt, q.choices) for im in images]
        answers = t.engine.query_many(queries)
        g = np.zeros(self.dim)
        res = UtilityResult(None, None)
        weights = t.family_weights([t.items[i].queries[q_idx[b]].family for b, i in enumerate(idx)])
        for b, (key, z) in enumerate(asks):
            ls, flip = _score(t, answers[b * 2 * m:(b + 1) * 2 * m], meta[b], m)
            lp, lm = ls[0::2], ls[1::2]
            res.changes.append(float(np.mean(np.abs(lp - lm))))
            # a strength whose category has no pixel in this item cannot change its answer:
            # its true gradient is 0, and the estimate's noise there would move it at random
            active = self.active(extra[b:b + 1] if extra is not None else None)
            g += weights[b] * t.estimator.tell(key, z, lp, lm) * active
            res.losses.append(float(ls.mean()))
            res.flips.append(flip)
        g /= max(1e-12, float(np.sum(weights)))
        flat = np.zeros(self.total)
        for off, chunk in zip(self.offsets, np.split(g, np.cumsum(self.sizes)[:-1]), strict=True):
            flat[off:off + len(chunk)] = chunk
        res.g_params = flat
        return res
