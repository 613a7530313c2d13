"""The training loop (METHOD.md §2.7): one step, checkpoints, resume.

One step: sample a batch (critical-item replay or uniform); ``x̃ = A_θ(x)``; the privacy
loss and its exact gradient (:mod:`veil.train.privacy`: the evaluator ensemble and the
detector adversaries); a zeroth-order utility gradient through the black box
(:mod:`veil.train.utility`: perturbing ``x̃`` in a subspace, or the network's policy
parameters; cached, concurrent, budgeted); the two combined by a Pareto rule (the
constraint rule on the worst question family by default); an Adam step; then evaluator
steps on ``x̃.detach()``. Checkpoints are atomic and hold everything needed for
an exact resume (model, optimizer, evaluators, estimator history, rule, replay, RNGs);
paid answers live in the persistent cache, so a resumed run pays nothing twice.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from veil.anonymizers.networks import keeping_last_mask
from veil.data.manifest import Item, attribute_names, load_manifest
from veil.data.questions import format_prompt
from veil.errors import BudgetExceededError, ConfigError, ManifestError
from veil.fsutil import atomic_open
from veil.train.config import CHECKPOINT, POLICY_NETWORK, REFERENCE_ITEMS, TrainConfig
from veil.train.losses import utility_loss
from veil.train.privacy import ATTRIBUTE_CATEGORY, PrivacyObjective, item_boxes, map_boxes
from veil.train.utility import ImageSpaceUtility, PolicySpaceUtility

STEP0_MODEL = "model-step0"
#: Content categories a ``guided-policy`` network hides by default (its ``public`` category is
#: kept; ``nudity`` where the guide detects it, at a fixed level).
POLICY_DEFAULT = ("face", "nudity", "name", "phone", "plate", "email", "id", "unread")


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
        from veil.anonymizers.networks import FIXED_CATEGORIES, create_network
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
        self.content_policy = list(cfg.policy) if cfg.policy is not None else list(POLICY_DEFAULT)
        if cfg.privacy_attributes is not None:
            policy = cfg.privacy_attributes
        else:  # the attributes whose content category the policy hides (all for non-policy networks)
            policy = [a for a in self.attributes
                      if cfg.network != POLICY_NETWORK or ATTRIBUTE_CATEGORY.get(a, a) in self.content_policy]
        missing = sorted(set(policy) - set(self.attributes))
        if missing:
            raise ConfigError(f"privacy_attributes {missing} are not labelled in {self.manifest}")
        self.policy = [self.attributes.index(a) for a in policy]
        if not self.policy and not (cfg.network == POLICY_NETWORK and cfg.adversaries):
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
        self.images_u8, self.sizes = _load_images(self.items, w, h, progress, "loading")
        # uint8 storage (a quarter of float32): large privacy sets such as VISPR fit in memory
        self.x_all = torch.from_numpy(np.stack(self.images_u8)).permute(0, 3, 1, 2).contiguous()
        priv_imgs: list[np.ndarray] = []
        priv_sizes = self.sizes
        if self.privacy_manifest is None:
            self.x_priv = self.x_all
        else:
            priv_imgs, priv_sizes = _load_images(self.priv_items, w, h, progress, "loading privacy set")
            self.x_priv = torch.from_numpy(np.stack(priv_imgs)).permute(0, 3, 1, 2).contiguous()
        self.labels = torch.tensor(
            [[it.attributes.get(a, 0) for a in self.attributes] for it in self.priv_items], dtype=torch.float32
        )
        net_kwargs = dict(cfg.network_kwargs)
        if cfg.network == POLICY_NETWORK:
            fixed = self._fixed_categories()
            net_kwargs.setdefault("fixed_categories", fixed)
            default = cfg.policy is None  # the default policy names nudity, which only some guides detect
            net_kwargs.setdefault("policy", [c for c in self.content_policy
                                             if not default or c not in FIXED_CATEGORIES or c in fixed])
        self.net = create_network(cfg.network, **net_kwargs)
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
        hidden = self.content_policy if cfg.network == POLICY_NETWORK else list(POLICY_DEFAULT)
        boxes = [item_boxes(it, (w, h), sz, hidden) for it, sz in zip(self.priv_items, priv_sizes, strict=True)]
        unread = self._map_index("text_unread") if "unread" in hidden else None
        if unread is not None and self.maps_priv is not None:  # unread lines may be private: attacked too
            for b, bx in enumerate(boxes):
                bx["text"] = np.concatenate([bx["text"], map_boxes(self.maps_priv[b, unread].numpy())])
        self.privacy = PrivacyObjective(self.evaluator, self.policy, cfg.adversaries, cfg.adversary_weight, boxes)
        self.subspace = create_subspace(cfg.subspace, h, w)
        est_kwargs = {"num_directions": cfg.num_directions, **cfg.estimator_kwargs}
        if cfg.perturb_mode == "policy":
            if not hasattr(self.net, "gate_parameters"):
                raise ConfigError(f"perturb 'policy' needs a network with policy parameters, not {cfg.network!r}")
            self.utility: ImageSpaceUtility | PolicySpaceUtility = PolicySpaceUtility(self)
            est_kwargs.pop("param_history", None)
            if cfg.estimator == "history":
                est_kwargs["param_history"] = False  # the perturbation space already is the parameter space
            if cfg.estimator != "spsa":
                est_kwargs["mu"] = cfg.policy_mu
            self.estimator = create_estimator(cfg.estimator, dim=self.utility.dim, **est_kwargs)
        else:
            self.utility = ImageSpaceUtility(self)
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
        self.family_ref: dict[str, float] = {}  # unprotected utility loss per question family
        self.family_ema: dict[str, float] = {}  # running utility loss per family (the constraint's view)
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

        Up to ``REFERENCE_ITEMS`` queries on unprotected training items, spread over the
        split and shared evenly between the question families, before the first step; the
        mean loss and each family's mean are saved in the checkpoint. With
        ``family_constraint`` each family gets its own threshold and the rule sees the worst
        family's excess over its threshold.
        """
        from veil.blackbox.engine import Query

        by_family: dict[str, list[tuple[int, int]]] = {}
        for i, it in enumerate(self.items):
            for j, q in enumerate(it.queries):
                by_family.setdefault(q.family, []).append((i, j))
        per = max(1, REFERENCE_ITEMS // max(1, len(by_family)))
        picks: list[tuple[str, int, int]] = []
        for fam, pairs in sorted(by_family.items()):
            n = len(pairs)
            sel = sorted({int(round(k * (n - 1) / max(1, per - 1))) for k in range(min(per, n))})
            picks += [(fam, *pairs[k]) for k in sel]
        queries, targets = [], []
        for _, i, j in picks:
            prompt, tgt, q = self._target(i, j)
            queries.append(Query([self.images_u8[i]], prompt, q.choices))
            targets.append(tgt)
        answers = self.engine.query_many(queries)
        losses = [utility_loss(a.text, a.logprobs, t, self.cfg.utility_mode, self.cfg.answer_score)
                  for a, t in zip(answers, targets, strict=True)]
        self.family_ref = {f: float(np.mean([v for (g, _, _), v in zip(picks, losses, strict=True) if g == f]))
                           for f in sorted(by_family)}
        self.rule.set_reference(float(np.mean(losses)))

    def family_thresholds(self) -> dict[str, float]:
        """Each family's utility-loss bound: tau of its unprotected utility (constraint rule)."""
        from veil.optim.rules import constraint_threshold

        tau, kind = float(getattr(self.rule, "tau", 1.0)), getattr(self.rule, "loss_kind", "one_minus")
        return {f: constraint_threshold(tau, ref, kind) for f, ref in self.family_ref.items()}

    def family_weights(self, families: list[str]) -> np.ndarray:
        """Weights of a batch's utility estimates: a family over its bound counts double."""
        if not (self.cfg.family_constraint and self.family_ref and self.family_ema):
            return np.ones(len(families))
        eps = self.family_thresholds()
        return np.array([2.0 if self.family_ema.get(f, 0.0) > eps.get(f, np.inf) else 1.0 for f in families])

    def _worst_violating_family(self) -> str | None:
        """The question family furthest over its utility bound, or None when every family keeps tau."""
        if not (self.cfg.family_constraint and self.family_ref and self.family_ema):
            return None
        eps = self.family_thresholds()
        excess = {f: v - eps[f] for f, v in self.family_ema.items() if f in eps}
        worst = max(excess, key=lambda f: excess[f]) if excess else None
        return worst if worst is not None and excess[worst] > 0 else None

    def _focus_worst_family(self, idx: list[int]) -> tuple[list[int], list[int]]:
        """Questions for the batch: uniform per item, except that (family constraint) half the
        batch asks the family that is furthest over its bound, so queries go where utility is
        at stake (the family-level counterpart of critical-item replay)."""
        worst = self._worst_violating_family()
        if worst is not None:
            having = [i for i, it in enumerate(self.items) if any(q.family == worst for q in it.queries)]
            for b in range(len(idx) // 2):
                if having and not any(q.family == worst for q in self.items[idx[b]].queries):
                    pick = int(having[int(self.rng.integers(len(having)))])
                    if pick not in idx:
                        idx[b] = pick
        q_idx = []
        for i in idx:
            qs = self.items[i].queries
            fam = [j for j, q in enumerate(qs) if q.family == worst]
            q_idx.append(fam[0] if fam and self.rng.random() < 0.5 else int(self.rng.integers(len(qs))))
        return idx, q_idx

    def _utility_for_rule(self, families: list[str], losses: list[float]) -> float:
        """The utility term the Pareto rule sees: the batch mean, or (family constraint) the worst
        family's running loss minus its bound, plus the rule's own threshold."""
        for f, v in zip(families, losses, strict=True):
            self.family_ema[f] = v if f not in self.family_ema else 0.7 * self.family_ema[f] + 0.3 * v
        mean = float(np.mean(losses))
        if not (self.cfg.family_constraint and self.family_ref and hasattr(self.rule, "threshold")):
            return mean
        eps = self.family_thresholds()
        worst = max(self.family_ema[f] - eps[f] for f in self.family_ema if f in eps)
        return float(self.rule.threshold + worst)

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

    def _fixed_categories(self) -> list[str]:
        """The guide's maps that feed a ``guided-policy`` network's fixed categories (nudity)."""
        if self.cfg.guide is None:
            return []
        from veil.anonymizers.guides import create_guide
        from veil.anonymizers.networks import FIXED_CATEGORIES

        return [n for n in create_guide(self.cfg.guide).map_names if n in FIXED_CATEGORIES]

    def _map_index(self, name: str) -> int | None:
        """Index of the guide map called ``name``, or None without a guide or such a map."""
        if self.cfg.guide is None:
            return None
        from veil.anonymizers.guides import create_guide

        names = create_guide(self.cfg.guide).map_names
        return names.index(name) if name in names else None

    @staticmethod
    def _extra(maps: torch.Tensor | None, idx: list[int]) -> torch.Tensor | None:
        return None if maps is None else maps[idx]

    @property
    def queries_paid(self) -> int:
        return self.queries_before + self.engine.stats.queries

    # ------------------------------------------------------------------ one step
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
        idx, q_idx = self._focus_worst_family(idx)
        x = self.x_all[idx].float().div(255.0)
        self.net.train()
        extra = self._extra(self.maps_all, idx)
        xt = self.net(x, extra)
        if self.privacy_manifest is None:
            p_idx, xt_priv = idx, xt
        else:
            p_idx = [int(i) for i in self.rng.choice(len(self.priv_items), size=cfg.batch_size, replace=False)]
            xt_priv = None
        if cfg.privacy_margin or xt_priv is None:  # the privacy adversaries' own render (config.py)
            view = self.net.privacy_view(cfg.privacy_margin) if cfg.privacy_margin else contextlib.nullcontext()
            with view, keeping_last_mask(self.net):  # the mask-area penalty is the training render's
                xt_priv = self.net(self.x_priv[p_idx].float().div(255.0), self._extra(self.maps_priv, p_idx))

        # privacy: exact gradient from the evaluator ensemble and the detector adversaries
        self.opt.zero_grad(set_to_none=True)
        params = list(self.net.parameters())
        l_p = self.privacy.loss(xt_priv, p_idx)
        g_p_list = torch.autograd.grad(l_p, params, retain_graph=True, allow_unused=True)

        # utility: antithetic zeroth-order estimate through the black box (utility.py)
        res = self.utility.estimate(idx, q_idx, x, extra, xt)
        if self.replay is not None:
            for i, loss_b, flip in zip(idx, res.losses, res.flips, strict=True):
                self.replay.update(i, loss_b, flip)
        l_nat = (xt - x).abs().mean()
        util_obj = cfg.naturalness * l_nat
        surrogate = None
        if res.g_image is not None:
            surrogate = (xt * res.g_image).sum() / len(idx)
            util_obj = util_obj + surrogate
        if hasattr(self.net, "area_penalty") and cfg.mask_area > 0:
            util_obj = util_obj + cfg.mask_area * self.net.area_penalty()
        flat = lambda gs: np.concatenate(  # noqa: E731
            [(g if g is not None else torch.zeros_like(p)).detach().reshape(-1).double().numpy()
             for g, p in zip(gs, params, strict=True)]
        )
        if surrogate is not None and getattr(self.estimator, "param_history", False):
            # the black-box part alone, in parameter space: what recurs across items (estimators.py)
            g_sur = torch.autograd.grad(surrogate, params, retain_graph=True, allow_unused=True)
            self.estimator.record_parameters(flat(g_sur), loss_change=float(np.mean(res.changes)))
        g_u = flat(torch.autograd.grad(util_obj, params, allow_unused=True)) if util_obj.requires_grad \
            else np.zeros(sum(p.numel() for p in params))
        if res.g_params is not None:
            g_u = g_u + res.g_params

        l_u = float(np.mean(res.losses))
        families = [self.items[i].queries[q_idx[b]].family for b, i in enumerate(idx)]
        u_rule = self._utility_for_rule(families, res.losses)
        g_p = flat(g_p_list)
        if hasattr(self.net, "privacy_mask"):  # kept categories answer to utility alone
            g_p = g_p * self.net.privacy_mask()
        direction, info = self.rule.combine(g_u, g_p, (u_rule, float(l_p.detach())))
        offset = 0
        for p in params:
            k = p.numel()
            p.grad = torch.from_numpy(direction[offset:offset + k].reshape(p.shape)).to(p.dtype)
            offset += k
        self.opt.step()

        # the adversary: evaluator steps on the detached anonymized batch
        ev_bce = self.privacy.update(xt_priv, self.labels[p_idx], cfg.evaluator_steps)
        self.step_count += 1
        rec = {
            "step": self.step_count,
            "queries_paid": self.queries_paid,
            "cache_hits": self.engine.stats.cache_hits,
            "loss_utility": l_u,
            "loss_privacy": float(l_p.detach()),
            "loss_naturalness": float(l_nat.detach()),
            "evaluator_bce": ev_bce,
            "flipped": int(sum(res.flips)),
            "families": families,
            "utility_losses": [float(v) for v in res.losses],
            "seconds": time.perf_counter() - t0,
        }
        for k in ("gamma", "lambda"):
            if k in info:
                rec[k] = float(info[k])
        if hasattr(self.estimator, "alpha"):
            rec["alpha"] = float(self.estimator.alpha)
        for k, v in self.privacy.last.items():
            rec[f"privacy_{k}"] = v
        if hasattr(self.net, "category_levels"):
            rec["levels"] = self.net.category_levels()
        return rec

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
            "family_ref": json.dumps(self.family_ref),
            "family_ema": json.dumps(self.family_ema),
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
        self.family_ref = json.loads(st.get("family_ref", "{}"))
        self.family_ema = json.loads(st.get("family_ema", "{}"))
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

        Returns the saved model folder (``out/model``); the network before its first step is
        also saved, as ``out/model-step0``. Ctrl-C saves a checkpoint first.
        """
        cfg = self.cfg
        if self.step_count == 0:  # the untrained network, for the ablation row (demo, benchmarks)
            self.anonymizer().save(self.out / STEP0_MODEL, meta={**self._meta(), "steps": 0, "queries_paid": 0})
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


def _load_images(items: list[Item], w: int, h: int, progress: bool, desc: str
                 ) -> tuple[list[np.ndarray], list[tuple[int, int]]]:
    """Each item's first image (or frame) resized to the training resolution (uint8 RGB), and its
    original size (w, h), which maps the item's boxes to training pixels."""
    from veil.media import load_item_image

    images, sizes = [], []
    for it in tqdm(items, desc=desc, disable=not progress, leave=False):
        im = load_item_image(it)
        sizes.append((im.shape[1], im.shape[0]))
        images.append(_resize(im, w, h))
    return images, sizes


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
