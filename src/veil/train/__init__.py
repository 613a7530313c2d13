"""Training an anonymizer against a black box (METHOD.md §2.7), one module per seam.

* :mod:`veil.train.config`: ``TrainConfig``, every option with its default;
* :mod:`veil.train.losses`: the utility loss of one answer (pure functions);
* :mod:`veil.train.privacy`: the privacy objective (evaluator ensemble, detector adversaries);
* :mod:`veil.train.utility`: the utility objective (zeroth-order estimates through the black box);
* :mod:`veil.train.loop`: the step loop, checkpoints and resume (``Trainer``, ``train``).
"""

from veil.train.config import (
    CHECKPOINT,
    GUIDED_GUIDE,
    GUIDED_NETWORK,
    POLICY_GUIDE,
    POLICY_NETWORK,
    REFERENCE_ITEMS,
    TrainConfig,
)
from veil.train.loop import Trainer, atomic_append, train
from veil.train.losses import ANSWER_SCORES, UTILITY_MODES, answer_similarity, utility_loss
from veil.train.utility import parameter_directions

__all__ = [
    "ANSWER_SCORES", "CHECKPOINT", "GUIDED_GUIDE", "GUIDED_NETWORK", "POLICY_GUIDE", "POLICY_NETWORK",
    "REFERENCE_ITEMS", "UTILITY_MODES", "TrainConfig", "Trainer", "answer_similarity", "atomic_append",
    "parameter_directions", "train", "utility_loss",
]
