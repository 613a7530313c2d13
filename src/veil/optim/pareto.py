"""Pareto dominance utilities (pure functions over objective arrays, all minimized)."""

from __future__ import annotations

import numpy as np
from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting


def non_dominated_mask(objectives: np.ndarray) -> np.ndarray:
    """Boolean mask of the rows of ``objectives`` (N, M) that no other row dominates.

    Every column is minimized; negate a column to maximize it. Rows with a NaN are never
    on the front.

    >>> non_dominated_mask(np.array([[0, 1], [1, 0], [1, 1]])).tolist()
    [True, True, False]
    """
    obj = np.asarray(objectives, dtype=float)
    if obj.ndim != 2:
        raise ValueError(f"objectives must be (N, M), got shape {obj.shape}")
    mask = np.zeros(len(obj), dtype=bool)
    finite = np.flatnonzero(np.isfinite(obj).all(axis=1))
    if len(finite) == 0:
        return mask
    front = NonDominatedSorting().do(obj[finite], only_non_dominated_front=True)
    mask[finite[np.asarray(front, dtype=int)]] = True
    return mask


def hypervolume(points: np.ndarray, ref: np.ndarray) -> float:
    """Hypervolume dominated by ``points`` (N, M) and bounded by ``ref`` (M,), all minimized.

    Uses pymoo's ``HV``. Points with a NaN, or not strictly better than ``ref`` in every
    objective, add nothing; an empty set has hypervolume 0.

    >>> hypervolume(np.array([[0.5, 0.5], [0.2, 0.8]]), np.array([1.0, 1.0]))
    0.31
    """
    from pymoo.indicators.hv import HV

    pts = np.asarray(points, dtype=float)
    r = np.asarray(ref, dtype=float).reshape(-1)
    if pts.ndim != 2 or pts.shape[1] != r.shape[0]:
        raise ValueError(f"points must be (N, {r.shape[0]}) to match ref {r.shape}, got shape {pts.shape}")
    if not np.all(np.isfinite(r)):
        raise ValueError(f"ref must be finite, got {r}")
    pts = pts[np.isfinite(pts).all(axis=1) & (pts < r).all(axis=1)]
    if len(pts) == 0:
        return 0.0
    return float(HV(ref_point=r)(pts))
