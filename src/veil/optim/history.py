"""Critical history of zeroth-order estimates and critical-item replay (METHOD.md §2.5).

``CriticalHistory`` keeps a bounded window of past gradient estimates (in subspace
coordinates) with a criticality score, and each item's last estimate; its ``basis`` is the
orthonormal guiding subspace U used by guided sampling. ``ReplaySampler`` draws training
items with a probability that rises with their utility loss and with answer flips, so
black-box queries go where utility is at stake.

Both are plain numpy objects whose whole state round-trips through
``state_dict()``/``load_state_dict()`` (numpy arrays and python scalars only).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from veil.errors import ConfigError

Key = int | str

SCORES = ("loss_change", "norm")


def check_key(key: object) -> Key:
    """Validate an item key: an int (numpy ints accepted) or a str."""
    if isinstance(key, bool) or not isinstance(key, int | str | np.integer):
        raise TypeError(f"item keys must be int or str, got {type(key).__name__} {key!r}")
    return int(key) if isinstance(key, np.integer) else key


def _encode_keys(keys: list[Key]) -> tuple[np.ndarray, np.ndarray]:
    return np.array([str(k) for k in keys], dtype=str), np.array([isinstance(k, int) for k in keys], dtype=bool)


def _decode_keys(names: np.ndarray, is_int: np.ndarray) -> list[Key]:
    return [
        int(n) if i else str(n) for n, i in zip(np.asarray(names).tolist(), np.asarray(is_int).tolist(), strict=True)
    ]


def orthonormal_basis(vectors: np.ndarray, tol: float = 1e-6) -> np.ndarray:
    """Orthonormal basis (n, r) of the span of the rows of ``vectors`` (m, n), by QR.

    Rows are normalised first; rows (nearly) in the span of earlier rows, or zero rows, are
    dropped (|R_jj| < tol), so r <= m is the numerical rank. Earlier rows keep priority.
    """
    v = np.asarray(vectors, dtype=np.float64)
    n = v.shape[1]
    norms = np.linalg.norm(v, axis=1)
    v = v[norms > 0] / norms[norms > 0, None]
    if len(v) == 0:
        return np.zeros((n, 0))
    q, r = np.linalg.qr(v.T)
    keep = np.abs(np.diag(r)) > tol
    return q[:, keep]


class CriticalHistory:
    """Bounded store of past estimates ``g_z`` (n,) with criticality scores (METHOD.md §2.5).

    The last ``capacity`` estimates are kept (first in, first out: older directions go
    stale as the anonymizer changes). Each carries a score: ``"loss_change"`` (the mean
    |L+ - L-| of its queries, how much loss change it carried) or ``"norm"`` (||g_z||),
    multiplied by ``decay`` per later addition. The guiding subspace is the QR basis of the
    ``k`` highest-scoring estimates, optionally preceded by the item's own last estimate
    (a PRGF-style prior).

    Args:
        dim: subspace dimension n.
        capacity: estimates kept.
        k: critical directions in the basis.
        score: ``"loss_change"`` or ``"norm"``.
        decay: factor in (0, 1] applied to a stored score per later addition (1: none).
    """

    def __init__(
        self, dim: int, capacity: int = 32, k: int = 4, score: str = "loss_change", decay: float = 1.0
    ) -> None:
        self.dim, self.capacity, self.k, self.score, self.decay = int(dim), int(capacity), int(k), score, float(decay)
        if self.dim < 1:
            raise ConfigError(f"history dim must be >= 1, got {dim}")
        if self.capacity < 1 or self.k < 1:
            raise ConfigError(f"history needs capacity >= 1 and k >= 1, got capacity={capacity}, k={k}")
        if score not in SCORES:
            raise ConfigError(f"unknown history score {score!r}; choose one of: {', '.join(SCORES)}")
        if not 0.0 < self.decay <= 1.0:
            raise ConfigError(f"history decay must be in (0, 1], got {decay}")
        self._vectors = np.zeros((self.capacity, self.dim))
        self._scores = np.zeros(self.capacity)
        self._stamps = np.full(self.capacity, -1, dtype=np.int64)  # addition index; -1 = empty slot
        self._count = 0
        self._items: dict[Key, np.ndarray] = {}

    def __len__(self) -> int:
        return int(min(self._count, self.capacity))

    def add(self, g: np.ndarray, loss_change: float | None = None, key: Key | None = None) -> float:
        """Store an estimate; returns its score. ``loss_change`` is required for ``"loss_change"``.

        With ``key``, the estimate also becomes that item's prior. Non-finite or zero
        estimates are not stored (they carry no direction).
        """
        g = np.asarray(g, dtype=np.float64).reshape(-1)
        if g.shape != (self.dim,):
            raise ValueError(f"estimate must have shape ({self.dim},), got {g.shape}")
        if self.score == "loss_change":
            if loss_change is None:
                raise ValueError("history score 'loss_change' needs loss_change= (mean |L+ - L-|)")
            s = float(abs(loss_change))
        else:
            s = float(np.linalg.norm(g))
        if not np.all(np.isfinite(g)) or not np.any(g) or not np.isfinite(s):
            return 0.0
        slot = self._count % self.capacity
        self._vectors[slot], self._scores[slot], self._stamps[slot] = g, s, self._count
        self._count += 1
        if key is not None:
            self._items[check_key(key)] = g.copy()
        return s

    def effective_scores(self) -> np.ndarray:
        """Scores of the stored estimates after decay, in slot order (empty slots: -inf)."""
        age = (self._count - 1 - self._stamps).astype(np.float64)
        out = self._scores * self.decay**age
        return np.where(self._stamps >= 0, out, -np.inf)

    def critical(self, k: int | None = None) -> np.ndarray:
        """The (up to) k most critical stored estimates, most critical first, as rows (r, n)."""
        k = self.k if k is None else int(k)
        eff = self.effective_scores()
        order = np.lexsort((-self._stamps, -eff))  # score descending, newer first on ties
        order = [i for i in order[:k] if self._stamps[i] >= 0]
        return self._vectors[order].copy()

    def weighted_mean(self) -> np.ndarray:
        """Score-weighted mean of the stored estimates (n,), zeros if empty or all scores are 0.

        Noisy estimates of a direction that recurs average toward it, where any single
        stored estimate stays as noisy as it was.
        """
        eff = self.effective_scores()
        used = self._stamps >= 0
        total = float(eff[used].sum()) if used.any() else 0.0
        if not total > 0:
            return np.zeros(self.dim)
        return (eff[used, None] * self._vectors[used]).sum(axis=0) / total

    def item_estimate(self, key: Key) -> np.ndarray | None:
        """The last estimate stored for ``key``, or None."""
        v = self._items.get(check_key(key))
        return None if v is None else v.copy()

    def basis(
        self, key: Key | None = None, critical: bool = True, item_prior: bool = False, extra: np.ndarray | None = None
    ) -> np.ndarray:
        """Orthonormal guiding basis U (n, r), r <= k (+1 with the item prior, + the extra rows); (n, 0) if empty.

        The item's last estimate comes first when ``item_prior`` (so it is always in U), then
        the ``extra`` rows (r_e, n) given by the caller, then the top-k critical estimates
        when ``critical``.
        """
        rows = []
        if item_prior and key is not None:
            v = self.item_estimate(key)
            if v is not None:
                rows.append(v[None])
        if extra is not None and len(extra):
            rows.append(np.asarray(extra, dtype=np.float64))
        if critical:
            rows.append(self.critical())
        if not rows:
            return np.zeros((self.dim, 0))
        return orthonormal_basis(np.concatenate(rows, axis=0))

    def state_dict(self) -> dict[str, Any]:
        """Full state as numpy arrays and python scalars."""
        keys = list(self._items)
        names, is_int = _encode_keys(keys)
        return {
            "dim": self.dim,
            "capacity": self.capacity,
            "vectors": self._vectors.copy(),
            "scores": self._scores.copy(),
            "stamps": self._stamps.copy(),
            "count": self._count,
            "item_keys": names,
            "item_key_is_int": is_int,
            "item_vectors": np.array([self._items[k] for k in keys]).reshape(len(keys), self.dim),
        }

    def load_state_dict(self, d: dict[str, Any]) -> None:
        """Restore a state from ``state_dict`` (same dim and capacity)."""
        if int(d["dim"]) != self.dim or int(d["capacity"]) != self.capacity:
            raise ConfigError(
                f"history state is for dim={d['dim']}, capacity={d['capacity']}, "
                f"not dim={self.dim}, capacity={self.capacity}; build the history with the saved settings"
            )
        self._vectors = np.array(d["vectors"], dtype=np.float64).reshape(self.capacity, self.dim)
        self._scores = np.array(d["scores"], dtype=np.float64).reshape(self.capacity)
        self._stamps = np.array(d["stamps"], dtype=np.int64).reshape(self.capacity)
        self._count = int(d["count"])
        keys = _decode_keys(d["item_keys"], d["item_key_is_int"])
        vecs = np.asarray(d["item_vectors"], dtype=np.float64).reshape(len(keys), self.dim)
        self._items = {k: vecs[i].copy() for i, k in enumerate(keys)}


def rng_state(rng: np.random.Generator) -> str:
    """The bit generator state of ``rng`` as a JSON string (a python scalar for state dicts)."""
    return json.dumps(rng.bit_generator.state)


def set_rng_state(rng: np.random.Generator, state: str) -> None:
    """Restore a state saved by ``rng_state`` (same bit generator type)."""
    st = json.loads(state)
    if st.get("bit_generator") != type(rng.bit_generator).__name__:
        raise ConfigError(f"saved rng is a {st.get('bit_generator')}, not a {type(rng.bit_generator).__name__}")
    rng.bit_generator.state = st


class ReplaySampler:
    """Critical-item replay: draws items more often when their utility is at stake (METHOD.md §2.5).

    Item i has priority ``p_i = utility_loss + flip_bonus * flipped`` from its last
    ``update``; items never updated get the highest current priority (so every item is
    visited early, as in prioritized replay). ``sample`` draws a batch without replacement
    with probabilities ``softmax(p / temperature)`` mixed with a ``uniform`` share, so
    priorities only reweight and no item starves. Priorities are in loss units: set the
    temperature to the spread of utility losses (a larger one is closer to uniform).

    Args:
        n_items: number of training items (indices 0..n_items-1).
        temperature: softmax temperature (> 0).
        rng: numpy Generator (or seed) used by ``sample``; its state is saved.
        flip_bonus: priority added when the black-box answer flipped.
        uniform: share of the uniform distribution in the mixture, in [0, 1].
    """

    def __init__(
        self,
        n_items: int,
        temperature: float = 1.0,
        rng: np.random.Generator | int | None = None,
        flip_bonus: float = 1.0,
        uniform: float = 0.1,
    ) -> None:
        self.n_items, self.temperature = int(n_items), float(temperature)
        self.flip_bonus, self.uniform = float(flip_bonus), float(uniform)
        if self.n_items < 1:
            raise ConfigError(f"n_items must be >= 1, got {n_items}")
        if not self.temperature > 0:
            raise ConfigError(f"replay temperature must be > 0, got {temperature}")
        if not 0.0 <= self.uniform <= 1.0:
            raise ConfigError(f"replay uniform share must be in [0, 1], got {uniform}")
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        self._priority = np.zeros(self.n_items)
        self._seen = np.zeros(self.n_items, dtype=bool)
        self._visits = np.zeros(self.n_items, dtype=np.int64)

    def update(self, item: int, utility_loss: float, flipped: bool) -> None:
        """Record the latest utility loss of ``item`` and whether its answer flipped."""
        i = int(item)
        if not 0 <= i < self.n_items:
            raise IndexError(f"item {item} out of range 0..{self.n_items - 1}")
        if not np.isfinite(utility_loss):
            raise ValueError(f"utility_loss must be finite, got {utility_loss}")
        self._priority[i] = float(utility_loss) + self.flip_bonus * bool(flipped)
        self._seen[i] = True

    def priorities(self) -> np.ndarray:
        """Current priorities (n_items,); unseen items get the maximum seen priority (0 if none)."""
        top = self._priority[self._seen].max() if self._seen.any() else 0.0
        return np.where(self._seen, self._priority, top)

    def probabilities(self) -> np.ndarray:
        """Sampling probabilities (n_items,), summing to 1."""
        p = self.priorities() / self.temperature
        w = np.exp(p - p.max())
        return (1.0 - self.uniform) * w / w.sum() + self.uniform / self.n_items

    def sample(self, batch: int) -> np.ndarray:
        """Draw ``batch`` distinct item indices (int64), more likely the higher their priority."""
        if not 1 <= batch <= self.n_items:
            raise ValueError(f"batch must be in 1..{self.n_items}, got {batch}")
        out = self.rng.choice(self.n_items, size=int(batch), replace=False, p=self.probabilities())
        self._visits[out] += 1
        return out.astype(np.int64)

    @property
    def visits(self) -> np.ndarray:
        """How often each item was sampled."""
        return self._visits.copy()

    def state_dict(self) -> dict[str, Any]:
        """Full state (priorities, visits, rng) as numpy arrays and python scalars."""
        return {
            "n_items": self.n_items,
            "priority": self._priority.copy(),
            "seen": self._seen.copy(),
            "visits": self._visits.copy(),
            "rng": rng_state(self.rng),
        }

    def load_state_dict(self, d: dict[str, Any]) -> None:
        """Restore a state from ``state_dict`` (same n_items)."""
        if int(d["n_items"]) != self.n_items:
            raise ConfigError(f"replay state is for {d['n_items']} items, not {self.n_items}")
        self._priority = np.array(d["priority"], dtype=np.float64)
        self._seen = np.array(d["seen"], dtype=bool)
        self._visits = np.array(d["visits"], dtype=np.int64)
        set_rng_state(self.rng, str(d["rng"]))
