"""Zeroth-order gradient estimators as ask/tell objects (METHOD.md §2.4, §2.5, §5).

Contract, for every registered estimator (nevergrad style: the public ``ask``/``tell``
validate and keep the books, the private ``_ask``/``_tell`` do the math)::

    Z = est.ask(key, rng[, guide])         # (m, n) directions in subspace coordinates
    r = est.radius(key)                    # == est.mu right after the ask
    lp[i] = L(x + r * lift(Z[i]))          # m antithetic pairs: 2m = queries_per_estimate
    lm[i] = L(x - r * lift(Z[i]))
    g_z = est.tell(key, Z, lp, lm)         # (n,) estimate of the gradient of L(x + B z) at z=0

``key`` (int or str) names the training item (per-item priors use it); several keys may
be pending at once, but a key only once. ``guide`` (r, n), optional, are directions the
caller knows to matter for this item (the trainer: the parameter-space history mapped
through the anonymizer's Jacobian, in the coordinates of an ``AugmentedSubspace``, see
:attr:`CriticalHistoryEstimator.parameter_slots`); guided estimators add them to their
guiding subspace, the others ignore them. ``g_z`` estimates ``B^T grad_x L``; map it to the
image with ``subspace.image_gradient(g_z)`` or ``subspace.lift(g_z)`` (see subspace.py).

State (``state_dict``/``load_state_dict``) is numpy arrays and python scalars; pending asks
are not part of it, so save between steps, when every ask has been told.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from veil.errors import ConfigError
from veil.optim.history import CriticalHistory, Key, check_key, orthonormal_basis
from veil.registry import Registry, parse_spec


class Estimator(ABC):
    """Base of the zeroth-order estimators; subclasses implement ``_ask`` and ``_tell``.

    Attributes:
        dim: subspace dimension n.
        num_ask, num_tell: completed asks and tells.
    """

    name: ClassVar[str] = ""

    def __init__(self, dim: int, num_directions: int) -> None:
        self.dim, self.num_directions = int(dim), int(num_directions)
        if self.dim < 1:
            raise ConfigError(f"{self.name}: dim must be >= 1, got {dim}")
        if self.num_directions < 1:
            raise ConfigError(f"{self.name}: num_directions must be >= 1, got {num_directions}")
        self.num_ask = 0
        self.num_tell = 0
        self._pending: dict[Key, tuple[np.ndarray, float, Any]] = {}

    # ---- the math, per estimator -------------------------------------------------------
    @property
    @abstractmethod
    def mu(self) -> float:
        """Smoothing radius for the next ask: evaluate at ``x +- mu * lift(z)``."""

    @abstractmethod
    def _ask(self, key: Key, rng: np.random.Generator, guide: np.ndarray | None) -> tuple[np.ndarray, Any]:
        """Directions (m, n) and any context ``_tell`` needs (``guide``: (r, n) or None)."""

    @abstractmethod
    def _tell(self, key: Key, z: np.ndarray, lp: np.ndarray, lm: np.ndarray, mu: float, ctx: Any) -> np.ndarray:
        """The estimate (n,) from validated losses."""

    def _state(self) -> dict[str, Any]:
        return {}

    def _load_state(self, d: dict[str, Any]) -> None:
        """Restore what ``_state`` saved (nothing by default)."""
        del d

    # ---- public API: validation and bookkeeping ---------------------------------------
    @property
    def queries_per_estimate(self) -> int:
        """Black-box queries one estimate costs: 2m (m antithetic pairs)."""
        return 2 * self.num_directions

    def pending(self) -> list[Key]:
        """Keys asked and not yet told."""
        return list(self._pending)

    def radius(self, key: Key) -> float:
        """Smoothing radius the pending ask of ``key`` must be evaluated with."""
        key = check_key(key)
        if key not in self._pending:
            raise ValueError(f"{self.name}: no pending ask for item {key!r}; call ask(key, rng) first")
        return self._pending[key][1]

    def ask(self, key: Key, rng: np.random.Generator, guide: np.ndarray | None = None) -> np.ndarray:
        """Directions Z (m, n) for item ``key``, drawn from ``rng``; ``guide`` (r, n): see the module doc."""
        key = check_key(key)
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
        if key in self._pending:
            raise ValueError(f"{self.name}: item {key!r} already has a pending ask; tell it before asking again")
        if guide is not None:
            guide = np.asarray(guide, dtype=np.float64)
            if guide.ndim != 2 or guide.shape[1] != self.dim or not np.all(np.isfinite(guide)):
                raise ValueError(f"{self.name}: guide must be a finite (r, {self.dim}) array, got shape {guide.shape}")
        mu = float(self.mu)
        z, ctx = self._ask(key, rng, guide)
        z = np.asarray(z, dtype=np.float64)
        if z.shape != (self.num_directions, self.dim):  # pragma: no cover - guards subclasses
            raise RuntimeError(f"{self.name}._ask returned {z.shape}, expected {(self.num_directions, self.dim)}")
        self._pending[key] = (z.copy(), mu, ctx)
        self.num_ask += 1
        return z

    def tell(self, key: Key, z: np.ndarray, loss_plus: np.ndarray, loss_minus: np.ndarray) -> np.ndarray:
        """Gradient estimate g_z (n,) from the losses at ``x +- radius * lift(z_i)``."""
        key = check_key(key)
        if key not in self._pending:
            raise ValueError(f"{self.name}: tell for item {key!r} without a pending ask; call ask(key, rng) first")
        z_asked, mu, ctx = self._pending[key]
        z = np.asarray(z, dtype=np.float64)
        if z.shape != z_asked.shape or not np.array_equal(z, z_asked):
            raise ValueError(f"{self.name}: tell must return the directions ask gave for item {key!r}, unchanged")
        m = self.num_directions
        lp = np.asarray(loss_plus, dtype=np.float64).reshape(-1)
        lm = np.asarray(loss_minus, dtype=np.float64).reshape(-1)
        if lp.shape != (m,) or lm.shape != (m,):
            raise ValueError(
                f"{self.name}: loss_plus and loss_minus must have shape ({m},), got {lp.shape}, {lm.shape}"
            )
        if not (np.all(np.isfinite(lp)) and np.all(np.isfinite(lm))):
            raise ValueError(f"{self.name}: losses must be finite; drop or retry failed queries before tell")
        g = np.asarray(self._tell(key, z, lp, lm, mu, ctx), dtype=np.float64)
        del self._pending[key]
        self.num_tell += 1
        return g

    def state_dict(self) -> dict[str, Any]:
        """State for --resume: numpy arrays and python scalars (pending asks excluded)."""
        return {"name": self.name, "dim": self.dim, "num_ask": self.num_ask, "num_tell": self.num_tell, **self._state()}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        """Restore a ``state_dict`` of an estimator built with the same settings."""
        if d.get("name") != self.name or int(d["dim"]) != self.dim:
            raise ConfigError(
                f"state is for estimator {d.get('name')!r} with dim={d.get('dim')}, "
                f"not {self.name!r} with dim={self.dim}; build the estimator with the saved settings"
            )
        self.num_ask, self.num_tell = int(d["num_ask"]), int(d["num_tell"])
        self._pending.clear()
        self._load_state(d)

    def params(self) -> dict[str, Any]:
        """Constructor keyword arguments, read back from attributes of the same name."""
        sig = inspect.signature(type(self).__init__)
        return {k: getattr(self, k) for k in sig.parameters if k != "self" and hasattr(self, k)}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.params().items())})"


ESTIMATORS: Registry[Estimator] = Registry("estimator")


def rge_estimate(z: np.ndarray, loss_plus: np.ndarray, loss_minus: np.ndarray, mu: float) -> np.ndarray:
    """Antithetic RGE ``1/(2 mu q) sum_i [L(x + mu z_i) - L(x - mu z_i)] z_i`` (METHOD.md §2.4)."""
    return ((loss_plus - loss_minus) / (2.0 * mu)) @ z / len(z)


@ESTIMATORS.register("rge")
class RGE(Estimator):
    """Antithetic random gradient estimate with ``z_i ~ N(0, I_n)`` (METHOD.md §2.4).

    Unbiased for the gradient of the Gaussian-smoothed loss; exact in expectation for
    quadratics. Costs 2 * num_directions queries.
    """

    name = "rge"

    def __init__(self, dim: int, num_directions: int = 8, mu: float = 0.05) -> None:
        super().__init__(dim, num_directions)
        if not mu > 0:
            raise ConfigError(f"rge: mu must be > 0, got {mu}")
        self._mu = float(mu)

    @property
    def mu(self) -> float:
        return self._mu

    def _ask(self, key: Key, rng: np.random.Generator, guide: np.ndarray | None) -> tuple[np.ndarray, Any]:
        return rng.standard_normal((self.num_directions, self.dim)), None

    def _tell(self, key: Key, z: np.ndarray, lp: np.ndarray, lm: np.ndarray, mu: float, ctx: Any) -> np.ndarray:
        return rge_estimate(z, lp, lm, mu)


@ESTIMATORS.register("spsa")
class SPSA(Estimator):
    """SPSA gradient estimate of BlackVIP's SPSA-GC (METHOD.md §5).

    Directions Delta have coordinates ``+-U[0.5, 1]`` (random sign);
    ``g = mean_S [L(x + c_k Delta) - L(x - c_k Delta)] / (2 c_k) * Delta^-1`` (elementwise
    inverse), with ``c_k = c / k^gamma``. The iteration k starts at 1 and advances by one
    per ``tell``; ``mu`` is c_k for the next ask. Defaults: S = 5 (10 queries), c = 0.01,
    gamma = 0.1. Pair with :class:`SPSAGCOptimizer` for the a_k schedule and gradient
    correction.
    """

    name = "spsa"

    def __init__(self, dim: int, num_directions: int = 5, c: float = 0.01, gamma: float = 0.1) -> None:
        super().__init__(dim, num_directions)
        if not c > 0 or gamma < 0:
            raise ConfigError(f"spsa: need c > 0 and gamma >= 0, got c={c}, gamma={gamma}")
        self.c, self.gamma = float(c), float(gamma)
        self.k = 1

    @property
    def mu(self) -> float:
        return self.c_k(self.k)

    def c_k(self, k: int) -> float:
        """Perturbation size ``c / k^gamma`` at iteration k >= 1."""
        return self.c / float(k) ** self.gamma

    def _ask(self, key: Key, rng: np.random.Generator, guide: np.ndarray | None) -> tuple[np.ndarray, Any]:
        shape = (self.num_directions, self.dim)
        mag = rng.uniform(0.5, 1.0, shape)
        sign = np.where(rng.random(shape) < 0.5, -1.0, 1.0)
        return sign * mag, None

    def _tell(self, key: Key, z: np.ndarray, lp: np.ndarray, lm: np.ndarray, mu: float, ctx: Any) -> np.ndarray:
        self.k += 1
        return np.mean(((lp - lm) / (2.0 * mu))[:, None] / z, axis=0)

    def _state(self) -> dict[str, Any]:
        return {"k": self.k}

    def _load_state(self, d: dict[str, Any]) -> None:
        self.k = int(d["k"])


class SPSAGCOptimizer:
    """BlackVIP's SPSA-GC update (METHOD.md §5), separate from the estimate so it can be ablated.

    ``a_k = a / (k + o)^alpha``; ``m = beta m + g``; ``params -= a_k (g + beta m)``; k starts
    at 1 and advances per ``step``. Defaults [o, a, alpha] = [1, 0.01, 0.4], beta = 0.9.
    """

    def __init__(self, a: float = 0.01, o: float = 1.0, alpha: float = 0.4, beta: float = 0.9) -> None:
        if not a > 0 or o < 0 or alpha < 0 or not 0 <= beta < 1:
            raise ConfigError(f"spsa-gc: need a > 0, o >= 0, alpha >= 0, 0 <= beta < 1; got {a}, {o}, {alpha}, {beta}")
        self.a, self.o, self.alpha, self.beta = float(a), float(o), float(alpha), float(beta)
        self.k = 1
        self.m: np.ndarray | None = None

    def a_k(self, k: int) -> float:
        """Step size ``a / (k + o)^alpha`` at iteration k >= 1."""
        return self.a / (float(k) + self.o) ** self.alpha

    @property
    def learning_rate(self) -> float:
        """a_k of the next step."""
        return self.a_k(self.k)

    def step(self, params: np.ndarray, g: np.ndarray) -> np.ndarray:
        """One SPSA-GC update; returns the new parameters (the inputs are not modified)."""
        params = np.asarray(params, dtype=np.float64)
        g = np.asarray(g, dtype=np.float64)
        if params.shape != g.shape:
            raise ValueError(f"params and gradient shapes differ: {params.shape} vs {g.shape}")
        if self.m is None or self.m.shape != g.shape:
            self.m = np.zeros_like(g)
        self.m = self.beta * self.m + g
        out = params - self.a_k(self.k) * (g + self.beta * self.m)
        self.k += 1
        return out

    def state_dict(self) -> dict[str, Any]:
        """State: iteration and momentum (empty array before the first step)."""
        return {"k": self.k, "m": np.zeros(0) if self.m is None else self.m.copy()}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self.k = int(d["k"])
        m = np.asarray(d["m"], dtype=np.float64)
        self.m = None if m.size == 0 else m.copy()


def expected_cosine(alpha: np.ndarray | float, rho: float, n: int, k: int, q: int) -> np.ndarray:
    """Predicted cosine between the guided estimate and the true gradient (for choosing alpha).

    For ``z ~ N(0, C)`` with ``C = alpha I + (1 - alpha)(n/k) U U^T`` (trace n), a fraction
    ``rho`` of ||g||^2 inside span(U) and the mean of q terms ``(g.z_i) z_i``, Isserlis gives
    ``E ghat = C g`` and ``E||ghat||^2 = ||Cg||^2 (1 + 1/q) + n g^T C g / q``; the prediction is
    ``g^T C g / (||g|| sqrt(E||ghat||^2))``. With alpha = 1 it is ``1/sqrt(1 + (n+1)/q)``, RGE's.
    """
    a = np.asarray(alpha, dtype=np.float64)
    c_in = a + (1.0 - a) * n / k
    gcg = c_in * rho + a * (1.0 - rho)
    cg2 = c_in**2 * rho + a**2 * (1.0 - rho)
    return gcg / np.sqrt(cg2 * (1.0 + 1.0 / q) + n * gcg / q)


@ESTIMATORS.register("history")
class CriticalHistoryEstimator(Estimator):
    """Critical-history guided estimator (METHOD.md §2.5); every ingredient has a switch.

    Guiding subspace: U (n, r) = QR basis of, in this order, the item's own last estimate
    (``item_prior``, PRGF-style), the caller's ``guide`` directions (``param_history``), and
    the top-k critical past estimates (``use_history``), from a :class:`CriticalHistory`
    that ``tell`` feeds (``record``).

    Parameter-space history (``param_history``): image-space estimates of *different* items
    point in unrelated directions (they live on different images), so the image-space
    history only transfers when an item comes back. What recurs across items is the
    direction in which the anonymizer's *parameters* should move. The trainer therefore
    records each step's utility gradient in parameter space (``record_parameters``, scored
    by the loss change it carried), takes the QR basis of their score-weighted mean and the
    ``param_k`` most critical ones (``parameter_basis``, (p, r)) and maps each basis vector u
    through the anonymizer's Jacobian on the item, ``J u`` (the image change that moving θ
    along u would make). Those images become ``parameter_slots`` extra coordinates of the
    perturbation space (the trainer builds this estimator with ``dim = n + parameter_slots``,
    :class:`veil.optim.subspace.AugmentedSubspace`), not projections on the base subspace,
    which cannot express most of them; the coordinates of the ``J u`` in that space are the
    ``guide`` of the item's ask. Sampling along them measures the directional derivatives
    ``<grad_θ L, u>`` that the update needs.

    Guided sampling (Guided ES, Maheswaranathan et al. 2019): ``z = sqrt(alpha) eps +
    sqrt((1 - alpha) n / r) U eta`` with ``eps ~ N(0, I_n)``, ``eta ~ N(0, I_r)``, i.e.
    ``z ~ N(0, n Sigma)`` with ``Sigma = (alpha/n) I + ((1 - alpha)/r) U U^T``. The factor n
    keeps ``E||z||^2 = n`` as in RGE, so ``mu`` means the same perturbation size. The estimate
    is RGE's formula, ``g = 1/(2 mu q) sum_i [L(x + mu z_i) - L(x - mu z_i)] z_i``, which is
    Guided ES's ``beta/(2 sigma^2 P) sum_i eps_i [f(x + eps_i) - f(x - eps_i)]`` with
    ``eps_i = mu z_i``, ``sigma = mu sqrt(n)``, ``beta = n``, ``P = q``. Its expectation is
    ``n Sigma grad``: with alpha = 1 it is RGE exactly (unbiased); with alpha < 1 it is biased
    toward span(U) on purpose. With an empty history (or both sources off) it is RGE: same
    draws from ``rng``, same estimate.

    alpha starts at 0.9 (mostly isotropic): a guiding subspace built from early, noisy
    estimates is mostly noise, and guided sampling is biased toward it (its expectation is
    ``n Sigma grad``), so the subspace has to earn a larger share through the adaptation.

    Adaptive alpha (``adapt_alpha``, SGES-style): each told batch splits the loss differences
    ``y_i = (L+ - L-)/(2 mu) = sqrt(alpha) g.eps_i + s (U^T g).eta_i`` (``s^2 = (1-alpha) n/r``)
    into what the subspace draws eta explain and what the full-space draws eps explain:
    the residual variance of y after least squares on eta estimates ``alpha ||g||^2``, and the
    U-statistic ``sum_{i != j} y_i y_j eta_i.eta_j / (q(q-1))`` estimates ``s^2 ||U^T g||^2``
    (both unbiased; needs q > r). Their EMAs (``moment_beta``) give ``rho``, the share of
    ||g||^2 inside span(U); alpha then moves by ``alpha_lr`` toward the alpha in
    [alpha_min, alpha_max] = [0.1, 0.9] that maximises :func:`expected_cosine`: toward the
    subspace when it explains more than its share of the loss differences (rho well above
    r/n), toward the full space otherwise. The EMAs are in raw loss units, so items with
    larger gradients weigh more (normalising each batch by its own mean y^2 biases rho).
    """

    name = "history"

    def __init__(
        self,
        dim: int,
        num_directions: int = 8,
        mu: float = 0.05,
        capacity: int = 32,
        k: int = 4,
        score: str = "loss_change",
        decay: float = 1.0,
        use_history: bool = True,
        item_prior: bool = True,
        record: bool = True,
        alpha: float = 0.9,
        adapt_alpha: bool = True,
        alpha_lr: float = 0.2,
        alpha_min: float = 0.1,
        alpha_max: float = 0.9,
        moment_beta: float = 0.8,
        param_history: bool = True,
        param_k: int = 2,
        param_capacity: int = 16,
    ) -> None:
        super().__init__(dim, num_directions)
        if not mu > 0:
            raise ConfigError(f"history: mu must be > 0, got {mu}")
        if not 0 < alpha_min <= alpha_max <= 1:
            raise ConfigError(f"history: need 0 < alpha_min <= alpha_max <= 1, got {alpha_min}, {alpha_max}")
        if not alpha_min <= alpha <= alpha_max:
            raise ConfigError(f"history: alpha={alpha} must lie in [alpha_min, alpha_max] = [{alpha_min}, {alpha_max}]")
        if not 0 <= alpha_lr <= 1 or not 0 <= moment_beta < 1:
            raise ConfigError(f"history: need alpha_lr in [0, 1], moment_beta in [0, 1); got {alpha_lr}, {moment_beta}")
        self._mu = float(mu)
        self.capacity, self.k, self.score, self.decay = int(capacity), int(k), score, float(decay)
        self.use_history, self.item_prior, self.record = bool(use_history), bool(item_prior), bool(record)
        self.alpha, self.adapt_alpha = float(alpha), bool(adapt_alpha)
        self.alpha_lr, self.alpha_min, self.alpha_max = float(alpha_lr), float(alpha_min), float(alpha_max)
        self.moment_beta = float(moment_beta)
        self.history = CriticalHistory(self.dim, capacity=self.capacity, k=self.k, score=score, decay=self.decay)
        self.param_history, self.param_k, self.param_capacity = bool(param_history), int(param_k), int(param_capacity)
        if self.param_k < 1 or self.param_capacity < 1:
            raise ConfigError(f"history: need param_k >= 1 and param_capacity >= 1, got {param_k}, {param_capacity}")
        self.param_store: CriticalHistory | None = None  # built at the first record_parameters (dim = #params)
        self._m_in = 0.0
        self._m_tot = 0.0
        self._moment_count = 0

    @property
    def mu(self) -> float:
        return self._mu

    @property
    def rho(self) -> float | None:
        """Current estimate of the share of ||grad||^2 inside the guiding subspace (None before data)."""
        if self._moment_count == 0 or not self._m_tot > 0:
            return None
        return float(np.clip(self._m_in / self._m_tot, 0.0, 1.0))

    def guiding_basis(self, key: Key | None = None, guide: np.ndarray | None = None) -> np.ndarray:
        """U (n, r) the next ask for ``key`` (with ``guide`` rows) would use; (n, 0) means isotropic RGE."""
        return self.history.basis(key, critical=self.use_history, item_prior=self.item_prior,
                                  extra=guide if self.param_history else None)

    # ---- parameter-space history (fed and used by the trainer) ------------------------------
    @property
    def wants_parameter_guide(self) -> bool:
        """True when the next asks would use ``guide`` rows (``param_history`` on and recorded)."""
        return self.param_history and self.param_store is not None and len(self.param_store) > 0

    @property
    def parameter_slots(self) -> int:
        """Extra coordinates the caller should reserve for parameter-space directions (``param_k`` + 1; 0 if off).

        The trainer builds this estimator with ``dim = n + parameter_slots`` and lifts the
        extra coordinates along the Jacobian directions (:class:`veil.optim.subspace.AugmentedSubspace`).
        """
        return self.param_k + 1 if self.param_history else 0

    def record_parameters(self, g_theta: np.ndarray, loss_change: float) -> None:
        """Store a utility gradient in parameter space (p,), scored by the loss change it carried."""
        if not self.param_history:
            return
        g = np.asarray(g_theta, dtype=np.float64).reshape(-1)
        if self.param_store is None:
            self.param_store = CriticalHistory(g.size, capacity=self.param_capacity, k=self.param_k, decay=self.decay)
        self.param_store.add(g, loss_change=float(loss_change))

    def parameter_basis(self) -> np.ndarray:
        """Orthonormal (p, r) basis of the score-weighted mean and the ``param_k`` most critical parameter-space
        gradients; (0, 0) if none recorded."""
        if self.param_store is None or not len(self.param_store):
            return np.zeros((0, 0))
        rows = np.concatenate([self.param_store.weighted_mean()[None], self.param_store.critical()])
        return orthonormal_basis(rows)

    def _ask(self, key: Key, rng: np.random.Generator, guide: np.ndarray | None) -> tuple[np.ndarray, Any]:
        u = self.guiding_basis(key, guide)
        eps = rng.standard_normal((self.num_directions, self.dim))
        r = u.shape[1]
        if r == 0:
            return eps, (u, None, 1.0)
        eta = rng.standard_normal((self.num_directions, r))
        z = np.sqrt(self.alpha) * eps + np.sqrt((1.0 - self.alpha) * self.dim / r) * eta @ u.T
        return z, (u, eta, self.alpha)

    def _tell(self, key: Key, z: np.ndarray, lp: np.ndarray, lm: np.ndarray, mu: float, ctx: Any) -> np.ndarray:
        u, eta, alpha = ctx
        g = rge_estimate(z, lp, lm, mu)
        if self.adapt_alpha and eta is not None and self.num_directions > eta.shape[1]:
            self._adapt((lp - lm) / (2.0 * mu), eta, alpha)
        if self.record:
            self.history.add(g, loss_change=float(np.mean(np.abs(lp - lm))), key=key)
        return g

    def _adapt(self, y: np.ndarray, eta: np.ndarray, alpha: float) -> None:
        """Update the moment EMAs from one batch and move alpha toward the predicted best (class doc)."""
        q, r, n = len(y), eta.shape[1], self.dim
        if not np.any(y):
            return
        # alpha ||g||^2: residual variance of y after least squares on the subspace draws eta.
        coef, *_ = np.linalg.lstsq(eta, y, rcond=None)
        resid = y - eta @ coef
        sigma2 = float(resid @ resid) / (q - r)
        # (1 - alpha)(n/r) ||U^T g||^2: unbiased U-statistic of the pairs i != j, E[y eta] = s U^T g.
        s = y @ eta
        h2 = float(s @ s - np.sum(y**2 * np.sum(eta**2, axis=1))) / (q * (q - 1))
        g_in = h2 / ((1.0 - alpha) * n / r) if alpha < 1 else 0.0
        g_tot = sigma2 / alpha
        b = self.moment_beta
        self._m_in = b * self._m_in + (1.0 - b) * g_in
        self._m_tot = b * self._m_tot + (1.0 - b) * g_tot
        self._moment_count += 1
        rho = self.rho
        if rho is None:
            return
        grid = np.linspace(self.alpha_min, self.alpha_max, 81)
        best = float(grid[np.argmax(expected_cosine(grid, rho, n, r, q))])
        self.alpha = float(np.clip(self.alpha + self.alpha_lr * (best - self.alpha), self.alpha_min, self.alpha_max))

    def _state(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "alpha": self.alpha,
            "m_in": self._m_in,
            "m_tot": self._m_tot,
            "moment_count": self._moment_count,
        }
        out.update({f"history.{k}": v for k, v in self.history.state_dict().items()})
        if self.param_store is not None:
            out.update({f"param_history.{k}": v for k, v in self.param_store.state_dict().items()})
        return out

    def _load_state(self, d: dict[str, Any]) -> None:
        self.alpha = float(d["alpha"])
        self._m_in, self._m_tot = float(d["m_in"]), float(d["m_tot"])
        self._moment_count = int(d["moment_count"])
        self.history.load_state_dict({k[len("history.") :]: v for k, v in d.items() if k.startswith("history.")})
        saved = {k[len("param_history.") :]: v for k, v in d.items() if k.startswith("param_history.")}
        self.param_store = None
        if saved:
            self.param_store = CriticalHistory(int(saved["dim"]), capacity=self.param_capacity, k=self.param_k,
                                               decay=self.decay)
            self.param_store.load_state_dict(saved)


def create_estimator(spec: str | Estimator, dim: int, **overrides: Any) -> Estimator:
    """Build an estimator for an n=dim subspace from ``"name:key=value,..."``.

    >>> create_estimator("rge:num_directions=4", dim=48).queries_per_estimate
    8

    Raises:
        UnknownNameError: the name is not registered.
        ConfigError: a parameter is unknown or has a bad value.
    """
    from veil.optim.subspace import _bind_or_raise

    if isinstance(spec, Estimator):
        if spec.dim != dim:
            raise ConfigError(f"estimator has dim={spec.dim}, the subspace has {dim}")
        return spec
    name, kwargs = parse_spec(spec)
    kwargs.update(overrides)
    factory = ESTIMATORS.get(name)
    _bind_or_raise(factory, "estimator", name, dim=dim, **kwargs)
    return factory(dim=dim, **kwargs)
