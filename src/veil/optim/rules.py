"""Pareto update rules for the utility and privacy gradients (METHOD.md §2.6).

Each rule combines ``g_u`` (gradient of the utility loss L_U, zeroth-order and noisy) and
``g_p`` (gradient of the privacy loss L_P, exact), both flattened parameter-space vectors of
losses to *minimize*, into one descent direction d: ``params -= lr * d`` (or feed d to Adam
as the gradient). Public ``combine`` validates, optionally smooths g_u by an EMA and
normalizes both gradients, then calls the rule's ``_combine``; every rule's state
round-trips through ``state_dict``/``load_state_dict``.

Normalizations (Sener & Koltun 2018): ``"none"``; ``"norm"``: g/||g||; ``"loss"``: g/|L|
(relative rates of change, for losses of different scales).
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from veil.errors import ConfigError
from veil.registry import Registry, parse_spec

NORMALIZATIONS = ("none", "norm", "loss")
LOSS_KINDS = ("one_minus", "neg_log")
_TINY = 1e-12


def normalize_gradient(g: np.ndarray, loss: float, mode: str) -> np.ndarray:
    """``g`` scaled per ``mode``: "none", "norm" (g/||g||) or "loss" (g/|loss|); zero stays zero."""
    if mode == "none":
        return g
    if mode == "norm":
        return g / max(float(np.linalg.norm(g)), _TINY)
    if mode == "loss":
        return g / max(abs(float(loss)), _TINY)
    raise ConfigError(f"unknown normalization {mode!r}; choose one of: {', '.join(NORMALIZATIONS)}")


def mgda_min_norm(g1: np.ndarray, g2: np.ndarray) -> float:
    """MGDA weight for two gradients (Sener & Koltun 2018; METHOD.md §2.6).

    ``gamma* = clip(((g2 - g1).g2) / ||g1 - g2||^2, 0, 1)`` minimizes
    ``||gamma g1 + (1 - gamma) g2||`` over [0, 1]; the min-norm direction
    ``d = gamma g1 + (1 - gamma) g2`` has ``d.g1 >= ||d||^2`` and ``d.g2 >= ||d||^2``, so a
    step along -d increases neither loss to first order. Returns 0.5 when g1 == g2 (every
    gamma gives the same d).
    """
    g1 = np.asarray(g1, dtype=np.float64)
    g2 = np.asarray(g2, dtype=np.float64)
    diff = g1 - g2
    den = float(diff @ diff)
    if den <= _TINY * max(float(g1 @ g1), float(g2 @ g2), _TINY):
        return 0.5
    return float(np.clip(float((g2 - g1) @ g2) / den, 0.0, 1.0))


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    return float(a @ b / (na * nb)) if na > 0 and nb > 0 else 0.0


class ParetoRule(ABC):
    """Base of the Pareto rules: validation, EMA of g_u, normalization, state.

    Args:
        normalize: "none", "norm" or "loss" (applied to both gradients, after the EMA).
        ema: EMA factor beta for g_u in [0, 1); 0 turns it off. Bias-corrected like Adam:
            ``m = beta m + (1 - beta) g_u``, used as ``m / (1 - beta^t)``.
    """

    name: ClassVar[str] = ""

    def __init__(self, normalize: str = "none", ema: float = 0.0) -> None:
        if normalize not in NORMALIZATIONS:
            raise ConfigError(f"unknown normalization {normalize!r}; choose one of: {', '.join(NORMALIZATIONS)}")
        if not 0.0 <= ema < 1.0:
            raise ConfigError(f"{self.name}: ema must be in [0, 1), got {ema}")
        self.normalize, self.ema = normalize, float(ema)
        self.num_steps = 0
        self._ema_u: np.ndarray | None = None
        self._ema_count = 0

    @abstractmethod
    def _combine(
        self, g_u: np.ndarray, g_p: np.ndarray, losses: tuple[float, float]
    ) -> tuple[np.ndarray, dict[str, float]]:
        """Descent direction and info from the processed gradients."""

    def _state(self) -> dict[str, Any]:
        return {}

    def _load_state(self, d: dict[str, Any]) -> None:
        """Restore what ``_state`` saved (nothing by default)."""
        del d

    def combine(
        self, g_u: np.ndarray, g_p: np.ndarray, losses: tuple[float, float]
    ) -> tuple[np.ndarray, dict[str, float]]:
        """Descent direction d (``params -= lr * d``) and an info dict of floats.

        Args:
            g_u: gradient of the utility loss, (P,).
            g_p: gradient of the privacy loss, (P,).
            losses: (L_U, L_P) at the current parameters.
        """
        gu = np.asarray(g_u, dtype=np.float64)
        gp = np.asarray(g_p, dtype=np.float64)
        if gu.ndim != 1 or gu.shape != gp.shape:
            raise ValueError(f"{self.name}: g_u and g_p must be flat vectors of one shape, got {gu.shape}, {gp.shape}")
        if not (np.all(np.isfinite(gu)) and np.all(np.isfinite(gp))):
            raise ValueError(f"{self.name}: gradients must be finite")
        lu, lp = (float(v) for v in losses)
        if not (np.isfinite(lu) and np.isfinite(lp)):
            raise ValueError(f"{self.name}: losses must be finite, got {losses}")
        if self.ema > 0:
            if self._ema_u is None:
                self._ema_u = np.zeros_like(gu)
            elif self._ema_u.shape != gu.shape:
                raise ValueError(f"{self.name}: gradient size changed from {self._ema_u.shape} to {gu.shape}")
            self._ema_u = self.ema * self._ema_u + (1.0 - self.ema) * gu
            self._ema_count += 1
            gu = self._ema_u / (1.0 - self.ema**self._ema_count)
        nu, np_ = float(np.linalg.norm(gu)), float(np.linalg.norm(gp))
        cos = _cosine(gu, gp)
        gu = normalize_gradient(gu, lu, self.normalize)
        gp = normalize_gradient(gp, lp, self.normalize)
        d, info = self._combine(gu, gp, (lu, lp))
        self.num_steps += 1
        return d, {"norm_u": nu, "norm_p": np_, "cos_up": cos, **info}

    def state_dict(self) -> dict[str, Any]:
        """State (EMA of g_u, counters, rule state) as numpy arrays and python scalars."""
        return {
            "name": self.name,
            "num_steps": self.num_steps,
            "ema_u": np.zeros(0) if self._ema_u is None else self._ema_u.copy(),
            "ema_count": self._ema_count,
            **self._state(),
        }

    def load_state_dict(self, d: dict[str, Any]) -> None:
        """Restore a ``state_dict`` of a rule of the same name."""
        if d.get("name") != self.name:
            raise ConfigError(f"state is for pareto rule {d.get('name')!r}, not {self.name!r}")
        self.num_steps, self._ema_count = int(d["num_steps"]), int(d["ema_count"])
        m = np.asarray(d["ema_u"], dtype=np.float64)
        self._ema_u = None if m.size == 0 else m.copy()
        self._load_state(d)

    def params(self) -> dict[str, Any]:
        """Constructor keyword arguments, read back from attributes of the same name."""
        sig = inspect.signature(type(self).__init__)
        return {k: getattr(self, k) for k in sig.parameters if k != "self" and hasattr(self, k)}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.params().items())})"


PARETO_RULES: Registry[ParetoRule] = Registry("pareto rule")


@PARETO_RULES.register("mgda")
class MGDARule(ParetoRule):
    """MGDA min-norm direction of the two (EMA-smoothed, normalized) gradients (METHOD.md §2.6).

    ``d = gamma g_u + (1 - gamma) g_p`` with ``gamma = mgda_min_norm(g_u, g_p)``; info["gamma"]
    is the utility weight. d decreases both losses unless the point is Pareto-stationary.
    """

    name = "mgda"

    def __init__(self, normalize: str = "norm", ema: float = 0.9) -> None:
        super().__init__(normalize=normalize, ema=ema)

    def _combine(
        self, g_u: np.ndarray, g_p: np.ndarray, losses: tuple[float, float]
    ) -> tuple[np.ndarray, dict[str, float]]:
        gamma = mgda_min_norm(g_u, g_p)
        return gamma * g_u + (1.0 - gamma) * g_p, {"gamma": gamma}


@PARETO_RULES.register("preference")
class PreferenceRule(ParetoRule):
    """Tchebycheff scalarization along a preference ray (METHOD.md §2.6).

    Minimizes ``max_i r_i (L_i - z_i*)`` over i in (utility, privacy), with z* the ideal
    point. ``temperature == 0``: d = r_a g_a for the active objective a (the argmax), a
    subgradient; ``temperature > 0``: the gradient of the smooth version
    ``T log sum_i exp(r_i (L_i - z_i*) / T)``, i.e. ``d = sum_i w_i r_i g_i`` with
    ``w = softmax(r (L - z*) / T)``. For a fixed z* below the front, the minimizer is the
    Pareto point where ``r_u (L_u - z_u*) = r_p (L_p - z_p*)`` (EPO's balance for z* = 0), so
    sweeping r traces the front, non-convex parts included (a weighted sum misses them).
    A larger r_u buys lower L_u.

    The ideal point starts at (ideal_u, ideal_p): set them to known lower bounds of the losses
    (utility: 0 or the loss on unprotected images; privacy: the loss at maximal entropy).
    With ``adapt_ideal`` it is lowered to any loss observed below it (``z_i = min(z_i, L_i)``),
    so it stays a lower bound; a running minimum started above the front would make the
    balance depend on the path, so do start it low.

    Args:
        r_u, r_p: the ray (positive); r_p defaults to 1 - r_u.
        ideal_u, ideal_p: initial ideal point z*.
        adapt_ideal: lower z* to observed losses below it.
        temperature: 0 for the hard max, > 0 for log-sum-exp smoothing (loss units).
    """

    name = "preference"

    def __init__(
        self,
        r_u: float = 0.5,
        r_p: float | None = None,
        ideal_u: float = 0.0,
        ideal_p: float = 0.0,
        adapt_ideal: bool = True,
        temperature: float = 0.0,
        normalize: str = "none",
        ema: float = 0.0,
    ) -> None:
        super().__init__(normalize=normalize, ema=ema)
        self.r_u = float(r_u)
        self.r_p = None if r_p is None else float(r_p)
        ray_p = 1.0 - self.r_u if self.r_p is None else self.r_p
        if not (self.r_u > 0 and ray_p > 0):
            raise ConfigError(f"preference ray must be positive, got r_u={r_u}, r_p={ray_p}; use 0 < r_u < 1")
        if temperature < 0:
            raise ConfigError(f"preference temperature must be >= 0, got {temperature}")
        self.ray = np.array([self.r_u, ray_p])
        self.ideal_u, self.ideal_p = float(ideal_u), float(ideal_p)
        self.adapt_ideal, self.temperature = bool(adapt_ideal), float(temperature)
        self.ideal = np.array([self.ideal_u, self.ideal_p])

    def _combine(
        self, g_u: np.ndarray, g_p: np.ndarray, losses: tuple[float, float]
    ) -> tuple[np.ndarray, dict[str, float]]:
        loss = np.asarray(losses, dtype=np.float64)
        if self.adapt_ideal:
            self.ideal = np.minimum(self.ideal, loss)
        values = self.ray * (loss - self.ideal)
        if self.temperature > 0:
            v = values / self.temperature
            w = np.exp(v - v.max())
            w /= w.sum()
        else:
            w = np.zeros(2)
            w[int(np.argmax(values))] = 1.0
        d = w[0] * self.ray[0] * g_u + w[1] * self.ray[1] * g_p
        return d, {
            "weight_u": float(w[0]),
            "active": float(np.argmax(values)),
            "tchebycheff": float(values.max()),
            "ideal_u": float(self.ideal[0]),
            "ideal_p": float(self.ideal[1]),
        }

    def _state(self) -> dict[str, Any]:
        return {"ideal": self.ideal.copy()}

    def _load_state(self, d: dict[str, Any]) -> None:
        self.ideal = np.asarray(d["ideal"], dtype=np.float64).reshape(2).copy()


def constraint_threshold(tau: float, reference_loss: float, loss_kind: str) -> float:
    """Largest utility loss eps with utility >= tau * reference utility (METHOD.md §2.6).

    ``"one_minus"`` (L = 1 - u, answer mode): ``eps = 1 - tau (1 - L_ref)``.
    ``"neg_log"`` (L = -log u, score mode): ``eps = L_ref - log tau``.
    """
    if not 0 < tau <= 1:
        raise ConfigError(f"tau must be in (0, 1], got {tau}")
    if loss_kind == "one_minus":
        return 1.0 - tau * (1.0 - reference_loss)
    if loss_kind == "neg_log":
        return reference_loss - float(np.log(tau))
    raise ConfigError(f"unknown utility loss kind {loss_kind!r}; choose one of: {', '.join(LOSS_KINDS)}")


@PARETO_RULES.register("constraint")
class ConstraintRule(ParetoRule):
    """Maximize privacy subject to utility >= tau x reference utility (METHOD.md §2.6).

    Lagrangian ``L_P + lambda (L_U - eps)``: direction ``g_p + lambda g_u`` (divided by
    ``1 + lambda`` when ``convex``: same stationary points, a step size that does not grow
    with lambda), then dual ascent ``lambda <- max(0, lambda + eta (L_U - eps))``. eps comes
    from ``constraint_threshold(tau, reference_loss, loss_kind)`` unless given; the trainer
    sets the reference (the utility loss on unprotected images) with ``set_reference``.

    Args:
        tau: kept share of the reference utility, e.g. 0.95.
        reference_loss: utility loss on unprotected images.
        loss_kind: how the utility loss relates to utility: "one_minus" or "neg_log".
        eps: explicit utility-loss threshold (overrides tau and the reference).
        eta: dual step size (per unit of constraint violation, in loss units).
        lambda_init: initial multiplier (>= 0).
        convex: divide the direction by 1 + lambda.
    """

    name = "constraint"

    def __init__(
        self,
        tau: float = 0.95,
        reference_loss: float = 0.0,
        loss_kind: str = "one_minus",
        eps: float | None = None,
        eta: float = 0.1,
        lambda_init: float = 0.0,
        convex: bool = True,
        normalize: str = "none",
        ema: float = 0.0,
    ) -> None:
        super().__init__(normalize=normalize, ema=ema)
        self.tau, self.reference_loss, self.loss_kind = float(tau), float(reference_loss), loss_kind
        self.eps = None if eps is None else float(eps)
        self.eta, self.lambda_init, self.convex = float(eta), float(lambda_init), bool(convex)
        if self.eta <= 0 or self.lambda_init < 0:
            raise ConfigError(f"constraint: need eta > 0 and lambda_init >= 0, got {eta}, {lambda_init}")
        constraint_threshold(self.tau, self.reference_loss, self.loss_kind)  # validates tau and kind
        self.lam = self.lambda_init

    @property
    def threshold(self) -> float:
        """The utility-loss bound eps of the constraint ``L_U <= eps``."""
        if self.eps is not None:
            return self.eps
        return constraint_threshold(self.tau, self.reference_loss, self.loss_kind)

    def set_reference(self, reference_loss: float) -> None:
        """Set the utility loss on unprotected images (the reference the constraint keeps tau of)."""
        if not np.isfinite(reference_loss):
            raise ValueError(f"reference loss must be finite, got {reference_loss}")
        self.reference_loss = float(reference_loss)

    def _combine(
        self, g_u: np.ndarray, g_p: np.ndarray, losses: tuple[float, float]
    ) -> tuple[np.ndarray, dict[str, float]]:
        eps = self.threshold
        lam = self.lam
        d = g_p + lam * g_u
        if self.convex:
            d = d / (1.0 + lam)
        violation = losses[0] - eps
        self.lam = max(0.0, lam + self.eta * violation)
        return d, {"lambda": lam, "eps": eps, "violation": violation}

    def _state(self) -> dict[str, Any]:
        return {"lambda": self.lam, "reference_loss": self.reference_loss}

    def _load_state(self, d: dict[str, Any]) -> None:
        self.lam, self.reference_loss = float(d["lambda"]), float(d["reference_loss"])


@PARETO_RULES.register("weighted")
class WeightedRule(ParetoRule):
    """Weighted sum ``d = w g_u + (1 - w) g_p`` (the baseline the Pareto rules are measured against)."""

    name = "weighted"

    def __init__(self, w: float = 0.5, normalize: str = "none", ema: float = 0.0) -> None:
        super().__init__(normalize=normalize, ema=ema)
        if not 0.0 <= w <= 1.0:
            raise ConfigError(f"weighted: w must be in [0, 1], got {w}")
        self.w = float(w)

    def _combine(
        self, g_u: np.ndarray, g_p: np.ndarray, losses: tuple[float, float]
    ) -> tuple[np.ndarray, dict[str, float]]:
        return self.w * g_u + (1.0 - self.w) * g_p, {"w": self.w}


def create_rule(spec: str | ParetoRule, **overrides: Any) -> ParetoRule:
    """Build a Pareto rule from ``"name:key=value,..."`` (or return one given as is).

    >>> round(create_rule("constraint:tau=0.9,reference_loss=0.2").threshold, 6)
    0.28

    Raises:
        UnknownNameError: the name is not registered.
        ConfigError: a parameter is unknown or has a bad value.
    """
    from veil.optim.subspace import _bind_or_raise

    if isinstance(spec, ParetoRule):
        return spec
    name, kwargs = parse_spec(spec)
    kwargs.update(overrides)
    factory = PARETO_RULES.get(name)
    _bind_or_raise(factory, "pareto rule", name, **kwargs)
    return factory(**kwargs)
