"""Optimization parts of the method (METHOD.md §2.4-2.6): pure numpy, float64, seeded by the caller.

- ``subspace``: low-dimensional perturbation subspaces (``grid``, ``dct``): lift, project.
- ``estimators``: zeroth-order gradient estimators as ask/tell objects (``rge``, ``spsa``,
  ``history``) and the SPSA-GC update.
- ``history``: the critical history of estimates and critical-item replay.
- ``rules``: Pareto update rules (``mgda``, ``preference``, ``constraint``, ``weighted``).
- ``pareto``: dominance and hypervolume over objective arrays.

Importing this package registers every built-in implementation.
"""

from veil.optim.estimators import (
    ESTIMATORS,
    RGE,
    SPSA,
    CriticalHistoryEstimator,
    Estimator,
    SPSAGCOptimizer,
    create_estimator,
    expected_cosine,
    rge_estimate,
)
from veil.optim.history import CriticalHistory, ReplaySampler, orthonormal_basis
from veil.optim.pareto import hypervolume, non_dominated_mask
from veil.optim.rules import (
    PARETO_RULES,
    ConstraintRule,
    MGDARule,
    ParetoRule,
    PreferenceRule,
    WeightedRule,
    constraint_threshold,
    create_rule,
    mgda_min_norm,
    normalize_gradient,
)
from veil.optim.subspace import (
    SUBSPACES,
    AugmentedSubspace,
    DCTSubspace,
    GridSubspace,
    SeparableSubspace,
    Subspace,
    bilinear_matrix,
    create_subspace,
    dct_matrix,
)

__all__ = [
    "ESTIMATORS",
    "AugmentedSubspace",
    "PARETO_RULES",
    "RGE",
    "SPSA",
    "SUBSPACES",
    "ConstraintRule",
    "CriticalHistory",
    "CriticalHistoryEstimator",
    "DCTSubspace",
    "Estimator",
    "GridSubspace",
    "MGDARule",
    "ParetoRule",
    "PreferenceRule",
    "ReplaySampler",
    "SPSAGCOptimizer",
    "SeparableSubspace",
    "Subspace",
    "WeightedRule",
    "bilinear_matrix",
    "constraint_threshold",
    "create_estimator",
    "create_rule",
    "create_subspace",
    "dct_matrix",
    "expected_cosine",
    "hypervolume",
    "mgda_min_norm",
    "non_dominated_mask",
    "normalize_gradient",
    "orthonormal_basis",
    "rge_estimate",
]
