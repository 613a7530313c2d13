"""Every training option with its default (``TrainConfig``), loadable from YAML."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from veil.errors import ConfigError
from veil.train.losses import ANSWER_SCORES, UTILITY_MODES

#: The default network and its guide: per-category strengths learned on locally read detections.
POLICY_NETWORK, POLICY_GUIDE = "guided-policy", "faces+textcls+nudity"
#: The default guides of guided-policy, now and before nudity (a config file may name either).
POLICY_GUIDES = (POLICY_GUIDE, "faces+textcls")
GUIDED_NETWORK, GUIDED_GUIDE = "guided-masked", "faces+text"
PERTURB_MODES = ("auto", "image", "policy")


def _guided_kwargs() -> dict[str, Any]:
    """The default network's keywords: light blur on text (σ 1.2% of the short side), heavy on
    faces (σ 8%: at 4% dlib still re-identified 7 of 12 demo faces, at 8% 4 of 12), neither ever kept."""
    return {"extra_channels": 3, "sigmas": [0.012, 0.08], "gate_init": [[0, 12, 0], [12, 0, 0]],
            "floor_channels": [0, 1]}


#: Training items whose unprotected answers set the constraint rule's reference utility.
REFERENCE_ITEMS = 32
CHECKPOINT = "checkpoint.pt"


@dataclass
class TrainConfig:
    """Every training option, with its default. Load overrides from YAML with ``from_yaml``.

    Attributes:
        split: manifest split to train on.
        image_width, image_height: training resolution (items are resized to it).
        network: anonymizer network (``guided-policy`` (default), ``guided-masked``, ``unet``,
            ``johnson``, ``film-unet``, ``masked``).
        network_kwargs: keyword arguments of the network ({}: its defaults).
        guide: detector guide whose maps feed a network with ``extra_channels``
            (``faces+textcls+nudity``, ``faces+textcls``, ``faces+text``, see
            :mod:`veil.anonymizers.guides`); None for plain networks.
        policy: the privacy policy's content categories for ``guided-policy`` (face, nudity,
            name, phone, plate, email, id, unread): hidden and attacked by the adversaries; a
            category outside it is kept like public text. None: all of them (nudity where
            the guide detects it: a fixed category, hidden at the strongest blur, not learned).
        gate_lr: Adam learning rate of a guided network's detector gate or policy (a few
            weights on the maps, so it can move much faster than a trunk); None: 0.15 for
            ``guided-policy`` (its whole network: about 4 logits in 40 steps), 0.02 otherwise.
        utility_mode: ``score`` (−log p(target) from log-probs), ``answer`` (1 − s),
            ``label-free`` (target = the black box's answer on the original image).
        answer_score: s of answer mode: ``match`` (option or exact match), ``vqa`` /
            ``vqa-stem`` (VQA soft accuracy over the human answers), ``embedding``
            (MiniLM sentence similarity to the target).
        privacy_attributes: the attributes the privacy evaluator attacks (None: every
            manifest attribute whose category is in ``policy``, e.g. ``face``, ``name_text``).
        adversaries: differentiable adversaries of the privacy objective
            (:mod:`veil.privacy.adversaries`: ``centerface`` on the item's face boxes,
            ``ppocr-det`` on its private-text boxes of policy kinds, ``ppocr-rec`` reading
            each of those private strings from its box's crop); [] for none.
        adversary_weight: weight of their mean response in the privacy loss.
        privacy_margin: levels the privacy objective takes off the private text categories
            in the render it attacks (``guided-policy``'s :meth:`privacy_view`: each level
            halves the blur), so the learned levels keep that margin above what the
            training-resolution attackers can read; None: 1.0 for ``guided-policy``, 0 (off)
            for the other networks, which have no levels.
        naturalness: weight of the L1 tie between x̃ and x, added to the utility side
            (keeps images natural so the zeroth-order signal stays meaningful, METHOD §4).
        mask_area: weight of the mask-area penalty (``masked`` network only).
        subspace: perturbation subspace spec (``grid:r=4``, ``dct:k=4``).
        estimator: zeroth-order estimator (``history``, ``rge``, ``spsa``).
        estimator_kwargs: its keyword arguments (history switches, alpha, ...).
        num_directions: perturbation directions per item and step (2 queries each).
        mu: perturbation radius in the subspace (about mu per pixel RMS).
        perturb: where the utility is perturbed: ``image`` (the subspace of ``x̃``, pushed
            through the network), ``policy`` (the network's policy parameters, every image
            re-rendered exactly; networks with ``gate_parameters`` only), ``auto`` (policy
            for ``guided-policy``, image otherwise).
        policy_mu: perturbation radius of ``policy`` mode, in strength logits.
        family_constraint: the constraint rule keeps tau on the *worst* question family
            (each family against its own unprotected reference), not on the mean.
        replay: critical-item replay (else uniform sampling).
        pareto: Pareto rule (``mgda``, ``preference``, ``constraint``, ``weighted``).
        pareto_kwargs: its keyword arguments.
        evaluator_k, evaluator_restart, evaluator_image_size, evaluator_steps: the privacy
            evaluator ensemble (size, restart period, input side, updates per step).
        steps: anonymizer steps.
        batch_size: items per step.
        lr: Adam learning rate of the anonymizer.
        budget: hard cap on paid black-box queries over the whole run (None: no cap).
        concurrency: black-box queries in flight at once.
        backend: black box (``reference`` offline; ``openai`` for a real service).
        backend_kwargs: its options (base_url, model, api_key_env, ...).
        checkpoint_every: steps between checkpoints.
        seed: seed of every random stream.
    """

    split: str = "train"
    image_width: int = 320
    image_height: int = 240
    network: str = POLICY_NETWORK
    network_kwargs: dict[str, Any] = field(default_factory=dict)
    guide: str | None = POLICY_GUIDE
    policy: list[str] | None = None
    gate_lr: float | None = None
    utility_mode: str = "score"
    answer_score: str = "match"
    privacy_attributes: list[str] | None = None
    adversaries: list[str] = field(default_factory=lambda: ["centerface", "ppocr-det", "ppocr-rec"])
    adversary_weight: float = 1.0
    privacy_margin: float | None = None
    naturalness: float = 1.0
    mask_area: float = 0.05
    subspace: str = "grid:r=4"
    estimator: str = "history"
    estimator_kwargs: dict[str, Any] = field(default_factory=lambda: {"k": 2})
    num_directions: int = 4
    mu: float = 0.05
    perturb: str = "auto"
    policy_mu: float = 2.5
    family_constraint: bool = True
    replay: bool = True
    pareto: str = "constraint"
    pareto_kwargs: dict[str, Any] = field(default_factory=lambda: {"tau": 0.9})
    evaluator_k: int = 3
    evaluator_restart: int = 200
    evaluator_image_size: int = 96
    evaluator_steps: int = 1
    steps: int = 40
    batch_size: int = 4
    lr: float = 2e-3
    budget: int | None = 2000
    concurrency: int = 2
    backend: str = "reference"
    backend_kwargs: dict[str, Any] = field(default_factory=dict)
    checkpoint_every: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.network == GUIDED_NETWORK and self.guide in POLICY_GUIDES:
            self.guide = GUIDED_GUIDE  # the masked network's own guide and defaults
            self.network_kwargs = self.network_kwargs or _guided_kwargs()
        elif self.network != POLICY_NETWORK and self.guide in POLICY_GUIDES:
            # a plain network takes no maps; one built with maps gets the three of faces+text
            self.guide = GUIDED_GUIDE if self.network_kwargs.get("extra_channels") else None
        if self.gate_lr is None:
            self.gate_lr = 0.15 if self.network == POLICY_NETWORK else 0.02
        if self.privacy_margin is None:
            self.privacy_margin = 1.0 if self.network == POLICY_NETWORK else 0.0
        if not 0.0 <= float(self.privacy_margin) <= 6.0:
            raise ConfigError(f"privacy_margin must be in [0, 6] levels, got {self.privacy_margin!r}")
        if self.privacy_margin and self.network != POLICY_NETWORK:
            raise ConfigError(f"privacy_margin needs a network with per-category levels ({POLICY_NETWORK}), "
                              f"not {self.network!r}; leave it unset or 0")
        if self.perturb not in PERTURB_MODES:
            raise ConfigError(f"perturb must be one of {', '.join(PERTURB_MODES)}, got {self.perturb!r}")
        if self.perturb == "policy" and self.network not in (POLICY_NETWORK, GUIDED_NETWORK):
            raise ConfigError(f"perturb 'policy' needs a network with policy parameters (guided-policy), "
                              f"not {self.network!r}")
        if self.policy_mu <= 0 or self.adversary_weight < 0:
            raise ConfigError("policy_mu must be > 0 and adversary_weight >= 0")
        if self.utility_mode not in UTILITY_MODES:
            raise ConfigError(f"utility_mode must be one of {', '.join(UTILITY_MODES)}, got {self.utility_mode!r}")
        if self.answer_score not in ANSWER_SCORES:
            raise ConfigError(f"answer_score must be one of {', '.join(ANSWER_SCORES)}, got {self.answer_score!r}")
        if int(self.steps) < 0:
            raise ConfigError(f"steps must be >= 0 (0 saves the untrained model), got {self.steps!r}")
        for key in ("batch_size", "num_directions", "checkpoint_every", "concurrency", "evaluator_k"):
            if int(getattr(self, key)) < 1:
                raise ConfigError(f"{key} must be >= 1, got {getattr(self, key)!r}")
        if self.budget is not None and self.budget < 1:
            raise ConfigError(f"budget must be >= 1 or None, got {self.budget}")
        if not 0 < self.mu < 1:
            raise ConfigError(f"mu must be in (0, 1), got {self.mu}")
        if min(self.image_width, self.image_height) < 16:
            raise ConfigError("image_width and image_height must be >= 16")

    @property
    def perturb_mode(self) -> str:
        """``image`` or ``policy``: ``auto`` resolved for the configured network."""
        if self.perturb != "auto":
            return self.perturb
        return "policy" if self.network == POLICY_NETWORK else "image"

    @property
    def queries_per_step(self) -> int:
        """Paid queries one step needs at most (before cache hits)."""
        per_item = 2 * self.num_directions
        return self.batch_size * per_item

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "config") -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"{source}: unknown option(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}")
        return cls(**d)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str], **overrides: Any) -> TrainConfig:
        """Options from a YAML file, then non-None ``overrides`` (the CLI flags)."""
        import yaml

        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"{p}: config file not found")
        try:
            data = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{p}: not valid YAML ({e})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{p}: expected a mapping of option: value")
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_dict(data, str(p))
