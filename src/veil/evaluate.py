"""The evaluation protocol (METHOD.md §3): utility through the black box, privacy by a
freshly trained attacker and by pretrained attackers, on protected images.

``Evaluator`` loads a manifest once and measures any number of anonymizers against the
same items, black box and attackers; the unprotected reference numbers (utility on
originals, the attacker on raw images, the constant prior) are computed once and shared.
``write_metrics`` stores one result as ``metrics.json`` (schema in docs/metrics.md).
"""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from veil import __version__
from veil.anonymizers.base import Anonymizer, create_anonymizer
from veil.blackbox.base import BlackBox, create_blackbox
from veil.config import EvalConfig
from veil.data.manifest import Item, attribute_names, load_manifest
from veil.data.questions import format_prompt, normalize_answer
from veil.errors import ManifestError
from veil.fsutil import atomic_write_text
from veil.media import load_item_image, save_image

METRICS_SCHEMA = "veil.metrics/1"


def subsample(items: list[Item], limit: int | None) -> list[Item]:
    """At most ``limit`` items, spread evenly over the list (deterministic)."""
    if limit is None or len(items) <= limit:
        return items
    idx = np.linspace(0, len(items) - 1, limit).round().astype(int)
    return [items[i] for i in sorted(set(idx.tolist()))]


def utility_scores(
    blackbox: BlackBox, images: Sequence[np.ndarray], items: Sequence[Item], progress: bool = False
) -> dict[str, Any]:
    """Ask every query of every item about its image; accuracy per question family.

    Returns ``{"overall": macro mean over families, "families": {family: accuracy},
    "n_queries": {family: count}, "mean_logp_correct": {family: mean log p(target)}}``.
    """
    correct: dict[str, list[float]] = defaultdict(list)
    logp: dict[str, list[float]] = defaultdict(list)
    pairs = [(im, q) for im, it in zip(images, items, strict=True) for q in it.queries]
    for im, q in tqdm(pairs, desc="utility", disable=not progress, leave=False):
        ans = blackbox.query([im], format_prompt(q.prompt, q.choices), q.choices)
        targets = {normalize_answer(a) for a in q.answers}
        correct[q.family].append(float(normalize_answer(ans.text) in targets))
        if ans.logprobs:
            lp = [v for k, v in ans.logprobs.items() if normalize_answer(k) in targets]
            logp[q.family].append(float(np.logaddexp.reduce(lp)) if lp else -math.inf)
    fam = {f: float(np.mean(v)) for f, v in sorted(correct.items())}
    return {
        "overall": float(np.mean(list(fam.values()))) if fam else math.nan,
        "families": fam,
        "n_queries": {f: len(v) for f, v in sorted(correct.items())},
        "mean_logp_correct": {f: float(np.mean(v)) for f, v in sorted(logp.items())},
    }


def family_ratio(protected: float | None, unprotected: float | None) -> float:
    """Protected / unprotected accuracy of one question family.

    When the unprotected accuracy is 0 the family has no utility to lose, so the ratio is
    1.0 (whatever the protected accuracy: neither a loss nor a gain). A missing, NaN or
    negative accuracy gives NaN.
    """
    if protected is None or unprotected is None:
        return math.nan
    p, u = float(protected), float(unprotected)
    if not (math.isfinite(p) and math.isfinite(u)) or p < 0 or u < 0:
        return math.nan
    return 1.0 if u == 0 else p / u


def family_ratios(protected: dict[str, float], unprotected: dict[str, float]) -> dict[str, float]:
    """``family_ratio`` for every family of either side (NaN where one side lacks it), sorted."""
    return {f: family_ratio(protected.get(f), unprotected.get(f)) for f in sorted(set(protected) | set(unprotected))}


def worst_family(ratios: dict[str, float]) -> dict[str, Any]:
    """``{"family": name, "ratio": r}`` of the lowest finite ratio (ties: first name in
    sorted order); ``{"family": None, "ratio": nan}`` when no ratio is finite."""
    finite = sorted((r, f) for f, r in ratios.items() if r is not None and math.isfinite(r))
    if not finite:
        return {"family": None, "ratio": math.nan}
    r, f = finite[0]
    return {"family": f, "ratio": r}


def family_summary(section: dict[str, Any]) -> dict[str, Any]:
    """``{"family_ratios": ..., "worst_family": ...}`` of a utility section (a dict with
    ``protected`` and ``unprotected`` ``utility_scores`` results).

    Stored keys are used when present; otherwise they are computed from the per-family
    accuracies, so metrics.json files written before these keys existed still work.
    """
    if "family_ratios" in section and "worst_family" in section:
        ratios = {f: math.nan if r is None else float(r) for f, r in section["family_ratios"].items()}
        worst = dict(section["worst_family"])
        worst["ratio"] = math.nan if worst.get("ratio") is None else float(worst["ratio"])
        return {"family_ratios": ratios, "worst_family": worst}
    ratios = family_ratios(section["protected"].get("families", {}), section["unprotected"].get("families", {}))
    return {"family_ratios": ratios, "worst_family": worst_family(ratios)}


def add_family_ratios(section: dict[str, Any]) -> dict[str, Any]:
    """Store ``family_ratios`` and ``worst_family`` in a utility section (in place; returned)."""
    fresh = {k: v for k, v in section.items() if k not in ("family_ratios", "worst_family")}
    section.update(family_summary(fresh))
    return section


class Evaluator:
    """Measures anonymizers on one manifest split with a shared set of attackers.

    Args:
        manifest: path of a JSONL manifest.
        config: what to measure and how (``EvalConfig``).
        progress: show progress bars.
    """

    def __init__(self, manifest: str | Path, config: EvalConfig | None = None, progress: bool = True) -> None:
        self.manifest = Path(manifest)
        self.config = config or EvalConfig()
        self.progress = progress
        cfg = self.config
        all_items = load_manifest(self.manifest)
        train_split = "val" if cfg.split == "train" else "train"
        self.eval_items = subsample([it for it in all_items if it.split == cfg.split], cfg.max_eval_items)
        self.train_items = subsample([it for it in all_items if it.split == train_split], cfg.max_train_items)
        if not self.eval_items:
            raise ManifestError(f"{self.manifest}: no items in split {cfg.split!r}")
        if len(self.train_items) < 2:
            raise ManifestError(
                f"{self.manifest}: the learned attacker needs at least 2 items in split {train_split!r}"
            )
        self.attributes = attribute_names(all_items)
        self.blackbox = create_blackbox(cfg.blackbox)
        self.eval_images = self._load(self.eval_items, f"loading {cfg.split}")
        self.train_images = self._load(self.train_items, "loading train")
        self.y_eval = self._labels(self.eval_items)
        self.y_train = self._labels(self.train_items)
        self._reference: dict[str, Any] | None = None
        #: onnxruntime threads for learned models (None: onnxruntime's default; 1 in workers)
        self.threads: int | None = None

    # ------------------------------------------------------------------ helpers
    def _load(self, items: list[Item], desc: str) -> list[np.ndarray]:
        return [load_item_image(it) for it in tqdm(items, desc=desc, disable=not self.progress, leave=False)]

    def _labels(self, items: list[Item]) -> np.ndarray:
        return np.array([[it.attributes.get(a, 0) for a in self.attributes] for it in items], dtype=np.float32)

    def _protect(self, anonymizer: Anonymizer, images: list[np.ndarray], desc: str) -> list[np.ndarray]:
        return [anonymizer(im) for im in tqdm(images, desc=desc, disable=not self.progress, leave=False)]

    def _attack(self, name: str, train: list[np.ndarray], test: list[np.ndarray]) -> dict[str, Any]:
        from veil.privacy.base import create_attacker
        from veil.privacy.metrics import cmap, macro_f1, per_attribute_ap

        cfg = self.config
        kwargs: dict[str, Any] = {}
        if name == cfg.attacker:
            kwargs = {"epochs": cfg.attacker_epochs, "image_size": cfg.attacker_image_size, "random_state": cfg.seed,
                      "num_threads": 1}
        attacker = create_attacker(name, **kwargs).fit(train, self.y_train)
        scores = attacker.predict_proba(test)
        per = per_attribute_ap(self.y_eval, scores)
        return {
            "cmap": cmap(self.y_eval, scores),
            "f1": macro_f1(self.y_eval, scores),
            "per_attribute_ap": {self.attributes[i]: v for i, v in sorted(per.items())},
        }

    def _pretrained(self, protected: list[np.ndarray]) -> dict[str, Any]:
        from veil.privacy.pretrained import face_detection_recall, reidentification, text_recovery

        cfg = self.config
        faces = [list(it.faces) for it in self.eval_items]
        texts = [list(it.private_text) for it in self.eval_items]
        fd = face_detection_recall(protected, faces, detector=cfg.face_detector)
        rid = reidentification(self.eval_images, protected, faces, threshold=cfg.reid_threshold)
        tr = text_recovery(protected, texts, engine=cfg.ocr_engine)
        rid = {k: v for k, v in rid.items() if k != "distances"}
        return {
            "face_detection": {"detector": cfg.face_detector, **fd},
            "reidentification": {"threshold": cfg.reid_threshold, **rid},
            "text_recovery": {"engine": cfg.ocr_engine, **tr},
        }

    # ------------------------------------------------------------------ public
    def reference(self) -> dict[str, Any]:
        """Unprotected numbers: utility on originals, attacker on raw images, constant prior."""
        if self._reference is None:
            t0 = time.perf_counter()
            self._reference = {
                "utility": utility_scores(self.blackbox, self.eval_images, self.eval_items, self.progress),
                "raw_attacker": self._attack(self.config.attacker, self.train_images, self.eval_images),
                "prior_attacker": self._attack("prior", self.train_images, self.eval_images),
                "pretrained": self._pretrained(self.eval_images),
                "seconds": time.perf_counter() - t0,
            }
        return self._reference

    def evaluate(self, anonymizer: str | Anonymizer, detection_ms: float = 0.0) -> dict[str, Any]:
        """Every metric of one anonymizer, next to the unprotected references.

        ``detection_ms``: per-image time of detections computed beforehand and shared
        (:meth:`evaluate_many`), added to the reported protection time so that it stays
        what one image costs a user."""
        from veil.protect import with_runtime

        # the runtime ``veil protect`` uses by default (onnxruntime for models that export, within
        # a grey level of PyTorch), so the row measures what a user runs, at its speed
        anon = with_runtime(create_anonymizer(anonymizer), "auto", threads=self.threads)
        ref = self.reference()
        t0 = time.perf_counter()
        prot_eval = self._protect(anon, self.eval_images, f"protect {anon.spec}")
        t_protect = time.perf_counter() - t0
        prot_train = self._protect(anon, self.train_images, "protect train")
        util = utility_scores(self.blackbox, prot_eval, self.eval_items, self.progress)
        learned = self._attack(self.config.attacker, prot_train, prot_eval)
        pre = self._pretrained(prot_eval)
        ref_u = ref["utility"]["overall"]
        rel = util["overall"] / ref_u if ref_u and ref_u > 0 else math.nan
        rp = ref["pretrained"]
        metrics = {
            "schema": METRICS_SCHEMA,
            "veil_version": __version__,
            "anonymizer": anon.spec,
            "manifest": str(self.manifest),
            "split": self.config.split,
            "n_items": len(self.eval_items),
            "n_attacker_train_items": len(self.train_items),
            "blackbox": self.config.blackbox,
            "config": asdict(self.config),
            "utility": add_family_ratios({
                "protected": util,
                "unprotected": ref["utility"],
                "relative": rel,
            }),
            "privacy": {
                "learned_attacker": {
                    "attacker": self.config.attacker,
                    "attributes": self.attributes,
                    **learned,
                    "raw_cmap": ref["raw_attacker"]["cmap"],
                    "raw_f1": ref["raw_attacker"]["f1"],
                    "prior_cmap": ref["prior_attacker"]["cmap"],
                    "prior_f1": ref["prior_attacker"]["f1"],
                },
                "face_detection": {**pre["face_detection"], "raw_recall": rp["face_detection"]["recall"]},
                "reidentification": pre["reidentification"],
                "text_recovery": {
                    **pre["text_recovery"],
                    "raw_exact_rate": rp["text_recovery"]["exact_rate"],
                    "raw_cer": rp["text_recovery"]["cer"],
                },
            },
            "timing": {
                "protect_ms_per_image": 1000 * t_protect / len(prot_eval) + detection_ms,
                "shared_detection_ms_per_image": detection_ms,
                "seconds": time.perf_counter() - t0,
            },
        }
        self.last_protected = prot_eval
        return metrics

    def evaluate_many(self, specs: Sequence[str], progress_desc: str = "anonymizers") -> list[tuple[dict, np.ndarray]]:
        """Evaluate several anonymizers, in ``config.workers`` processes; (metrics, grid) each, in order.

        The unprotected references are computed once here and handed to the workers, so every
        row shares them exactly.
        """
        ref = self.reference()
        workers = min(self.config.workers, len(specs))
        if workers <= 1:
            out = []
            for spec in tqdm(specs, desc=progress_desc, disable=not self.progress):
                m = self.evaluate(spec)
                out.append((m, self.grid(self.last_protected)))
            return out
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        guides = {spec: g for spec in specs if (g := _guide_of(spec))}
        # the slowest rows first (detector-guided models), so the others fill in beside them
        order = sorted(range(len(specs)), key=lambda i: specs[i] not in guides)
        ctx = mp.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init,
                                 initargs=(str(self.manifest), self.config, ref)) as pool:
            shared = self._shared_detections(pool, workers, sorted(set(guides.values())))
            futs = {i: pool.submit(_worker_eval, specs[i], *shared.get(guides.get(specs[i], ""), ({}, 0.0)))
                    for i in order}
            done = {}
            bar = tqdm(total=len(specs), desc=progress_desc, disable=not self.progress)
            for i in order:
                done[i] = futs[i].result()
                bar.update(1)
            bar.close()
        return [done[i] for i in range(len(specs))]

    def _shared_detections(self, pool: Any, workers: int,
                           guides: list[str]) -> dict[str, tuple[dict[str, Any], float]]:
        """Detections of every evaluated image for each guide, computed once across the workers,
        and their cost in ms per image (a trained model and its step-0 start share a guide:
        the detectors, the slow part of a guided model, then run once per image instead of
        once per row)."""
        out: dict[str, tuple[dict[str, Any], float]] = {}
        n_eval, n_all = len(self.eval_images), len(self.eval_images) + len(self.train_images)
        for g in guides:
            bounds = np.linspace(0, n_all, 2 * workers + 1).astype(int)
            futs = [pool.submit(_worker_detect, g, int(a), int(b)) for a, b in zip(bounds, bounds[1:], strict=False)]
            found: dict[str, Any] = {}
            seconds = 0.0
            for f in tqdm(futs, desc=f"detections ({g}, {n_eval} + {n_all - n_eval} images)",
                          disable=not self.progress, leave=False):
                part, dt = f.result()
                found.update(part)
                seconds += dt
            out[g] = (found, 1000.0 * seconds / max(1, n_all))
        return out

    def grid(self, protected: list[np.ndarray], n: int | None = None) -> np.ndarray:
        """Originals (left) next to protected images (right), for items with private content."""
        from veil.report import before_after_grid

        n = n or self.config.grid_items
        ranked = sorted(
            range(len(self.eval_items)),
            key=lambda i: -(len(self.eval_items[i].faces) + len(self.eval_items[i].private_text)),
        )[:n]
        return before_after_grid([self.eval_images[i] for i in ranked], [protected[i] for i in ranked])


_WORKER: Evaluator | None = None


def _worker_init(manifest: str, config: EvalConfig, reference: dict[str, Any]) -> None:
    """Build one Evaluator per worker process, sharing the parent's reference numbers."""
    global _WORKER
    import cv2
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    _WORKER = Evaluator(manifest, config, progress=False)
    _WORKER._reference = reference
    _WORKER.threads = 1


def _worker_eval(spec: str, detections: dict[str, Any] | None = None,
                 detection_ms: float = 0.0) -> tuple[dict[str, Any], np.ndarray]:
    assert _WORKER is not None
    if detections:
        from veil.anonymizers.guides import seed_detections

        seed_detections(detections)
    m = _WORKER.evaluate(spec, detection_ms=detection_ms)
    return m, _WORKER.grid(_WORKER.last_protected)


def _worker_detect(guide: str, start: int, stop: int) -> tuple[dict[str, Any], float]:
    """Detections of the worker's images ``start:stop`` (eval images, then train images) and
    the seconds they took."""
    assert _WORKER is not None
    from veil.anonymizers.guides import detect_all

    images = [*_WORKER.eval_images, *_WORKER.train_images][start:stop]
    t0 = time.perf_counter()
    found = detect_all(guide, images)
    return found, time.perf_counter() - t0


def _guide_of(spec: str) -> str | None:
    """The detector guide of a saved learned model (``config.json``), else None."""
    from veil.anonymizers.learned import CONFIG_FILE, _read_config, _split_path_spec, is_model_path
    from veil.errors import ModelError

    if not is_model_path(spec):
        return None
    path, overrides = _split_path_spec(str(spec).strip())
    folder = Path(path) if Path(path).is_dir() else Path(path).parent
    if "guide" in overrides:
        return None  # a guide set on the command line: not shared
    try:
        guide = _read_config(folder / CONFIG_FILE).get("guide")
    except ModelError:
        return None  # an ONNX file, or not a model: its row reports the problem itself
    return guide if isinstance(guide, str) and guide else None


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def _finite(o: Any) -> Any:
    """Replace NaN/inf by None so the JSON is strict (readable by any parser)."""
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_finite(v) for v in o]
    return o


def to_json(obj: Any) -> str:
    return json.dumps(_finite(obj), indent=2, default=_json_default, allow_nan=False)


def write_metrics(out_dir: str | Path, metrics: dict[str, Any], grid: np.ndarray | None = None) -> Path:
    """Write ``metrics.json`` (and ``grid.png``) into ``out_dir``, each atomically."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if grid is not None:
        save_image(out / "grid.png", grid)
    return atomic_write_text(out / "metrics.json", to_json(metrics) + "\n")


def evaluate_anonymizer(
    manifest: str | Path,
    anonymizer: str | Anonymizer,
    out_dir: str | Path,
    config: EvalConfig | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """``veil eval``: measure one anonymizer and write metrics.json and grid.png.

    A manifest of video items with per-frame truth (the ``street-video`` scenario) is
    measured by :func:`veil.videoleak.evaluate_video_manifest` instead (the video leak,
    schema ``veil.video-leak/1``; default detection schedule for guided models).
    """
    from veil.videoleak import evaluate_video_manifest, is_video_manifest

    anon = create_anonymizer(anonymizer)  # fail on a bad spec before any work
    if is_video_manifest(manifest):
        return evaluate_video_manifest(manifest, anon, out_dir, progress=progress)
    ev = Evaluator(manifest, config, progress=progress)
    metrics = ev.evaluate(anon)
    write_metrics(out_dir, metrics, ev.grid(ev.last_protected))
    return metrics
