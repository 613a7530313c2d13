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
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
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

    def learned_attack(self, train: list[np.ndarray], test: list[np.ndarray], seed: int) -> dict[str, Any]:
        """The learned attacker trained from scratch with another ``seed`` on protected train
        images and scored on protected eval images (``cmap``, ``f1``, ``per_attribute_ap``):
        repeated over seeds, it separates what a protection hides from the attacker's own
        seed-to-seed spread."""
        return self._attack(self.config.attacker, train, test, seed=seed)

    def _attack(self, name: str, train: list[np.ndarray], test: list[np.ndarray],
                seed: int | None = None) -> dict[str, Any]:
        from veil.privacy.base import create_attacker
        from veil.privacy.metrics import cmap, macro_f1, per_attribute_ap

        cfg = self.config
        kwargs: dict[str, Any] = {}
        if name == cfg.attacker:
            kwargs = {"epochs": cfg.attacker_epochs, "image_size": cfg.attacker_image_size,
                      "random_state": cfg.seed if seed is None else seed, "num_threads": 1}
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
        return self.assemble(self.measure(anonymizer), self.reference(), detection_ms)

    def measure(self, anonymizer: str | Anonymizer) -> dict[str, Any]:
        """The protected side of one anonymizer's metrics (no reference needed): its images
        protected, then utility, the learned attacker and the pretrained attackers on them.

        An anonymizer that returns every image exactly as it was (identity) is not measured
        again: its numbers are the unprotected references, which :meth:`assemble` fills in
        (``unchanged``). The protected eval images are kept in ``last_protected``."""
        from veil.protect import with_runtime

        # the runtime ``veil protect`` uses by default (onnxruntime for models that export, within
        # a grey level of PyTorch), so the row measures what a user runs, at its speed
        anon = with_runtime(create_anonymizer(anonymizer), "auto", threads=self.threads)
        t0 = time.perf_counter()
        prot_eval = self._protect(anon, self.eval_images, f"protect {anon.spec}")
        t_protect = time.perf_counter() - t0
        prot_train = self._protect(anon, self.train_images, "protect train")
        self.last_protected = prot_eval
        measured: dict[str, Any] = {"anonymizer": anon.spec, "protect_seconds": t_protect,
                                    "n_protected": len(prot_eval)}
        if _unchanged(prot_eval, self.eval_images) and _unchanged(prot_train, self.train_images):
            measured["unchanged"] = True
        else:
            measured["utility"] = utility_scores(self.blackbox, prot_eval, self.eval_items, self.progress)
            measured["learned"] = self._attack(self.config.attacker, prot_train, prot_eval)
            measured["pretrained"] = self._pretrained(prot_eval)
        measured["seconds"] = time.perf_counter() - t0
        return measured

    def assemble(self, measured: dict[str, Any], ref: dict[str, Any], detection_ms: float = 0.0) -> dict[str, Any]:
        """The metrics (schema ``veil.metrics/1``) of a :meth:`measure` result beside the references."""
        if measured.get("unchanged"):  # the originals themselves: the same models give the same numbers
            util, learned, pre = ref["utility"], ref["raw_attacker"], ref["pretrained"]
        else:
            util, learned, pre = measured["utility"], measured["learned"], measured["pretrained"]
        ref_u = ref["utility"]["overall"]
        rel = util["overall"] / ref_u if ref_u and ref_u > 0 else math.nan
        rp = ref["pretrained"]
        return {
            "schema": METRICS_SCHEMA,
            "veil_version": __version__,
            "anonymizer": measured["anonymizer"],
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
                "protect_ms_per_image": 1000 * measured["protect_seconds"] / measured["n_protected"] + detection_ms,
                "shared_detection_ms_per_image": detection_ms,
                "seconds": measured["seconds"],
                "same_as_unprotected": bool(measured.get("unchanged", False)),
            },
        }

    def evaluate_many(self, specs: Sequence[str], progress_desc: str = "anonymizers",
                      then: Callable[[], Sequence[str]] | None = None) -> list[tuple[dict, np.ndarray]]:
        """Evaluate several anonymizers, in ``config.workers`` processes; (metrics, grid) each, in order.

        The workers share everything that does not depend on an anonymizer: the unprotected
        references are computed once (by a worker, beside the rest) and every row is
        assembled with them in this process; the detections of a detector-guided model are
        computed once per guide for every row that uses it (a trained model and its step-0
        start). ``then``: work for this process while the workers evaluate ``specs`` (the
        demo trains its model); the specs it returns are evaluated too, after ``specs``.
        """
        workers = min(self.config.workers, len(specs) + (1 if then else 0))
        if workers <= 1:
            specs = [*specs, *(then() if then else [])]
            self.reference()
            out = []
            for spec in tqdm(specs, desc=progress_desc, disable=not self.progress):
                m = self.evaluate(spec)
                out.append((m, self.grid(self.last_protected)))
            return out
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        ctx = mp.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init,
                                 initargs=(str(self.manifest), self.config)) as pool:
            queue = _WorkQueue(pool, workers, len(self.eval_images) + len(self.train_images),
                               self.progress, progress_desc)
            queue.start(self._reference, specs)
            try:
                more = then() if then is not None else []
            except BaseException:
                queue.abort()  # what runs finishes; nothing new starts
                raise
            queue.add(more)
            results, shared = queue.finish()
        self._reference = results.pop("reference")
        out = []
        for i, spec in enumerate(queue.specs):
            measured, grid = results[i]
            detection_ms = shared.get(queue.guides.get(spec, ""), 0.0)
            out.append((self.assemble(measured, self._reference, detection_ms), grid))
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


def _worker_init(manifest: str, config: EvalConfig) -> None:
    """Build one Evaluator per worker process."""
    global _WORKER
    from veil.threads import limit_threads

    # one thread per library per worker: the workers share the cores, and a second thread
    # (OpenCV's, onnxruntime's spinning pool in RapidOCR) only waits on the other worker's
    limit_threads(1)
    _WORKER = Evaluator(manifest, config, progress=False)
    _WORKER.threads = 1


def _worker_reference() -> dict[str, Any]:
    assert _WORKER is not None
    return _WORKER.reference()


def _worker_measure(spec: str, detections: dict[str, Any] | None = None) -> tuple[dict[str, Any], np.ndarray]:
    assert _WORKER is not None
    if detections:
        from veil.anonymizers.guides import seed_detections

        seed_detections(detections)
    m = _WORKER.measure(spec)
    return m, _WORKER.grid(_WORKER.last_protected)


class _WorkQueue:
    """The tasks of :meth:`Evaluator.evaluate_many` on a process pool, ``workers`` at a time,
    run by a thread of this process while it does other work (rows can be added meanwhile).

    The next task is picked when a worker frees: the reference numbers first, then the
    shared detection passes, then a detector-guided row once its guide's detections are in
    (the slowest rows, started early so that none is left running alone at the end), else
    the next other row. No worker waits while there is work it can do."""

    def __init__(self, pool: Any, workers: int, n_images: int, progress: bool, desc: str) -> None:
        self.pool, self.workers, self.n_images = pool, workers, n_images
        self.specs: list[str] = []
        self.guides: dict[str, str] = {}  # spec -> guide, for detector-guided models
        self._tasks: list[tuple[Any, ...]] = []
        self._waiting: list[int] = []  # guided rows, until their detections are in
        self._others: list[int] = []
        self._chunks_left: dict[str, int] = {}
        self._found: dict[str, dict[str, Any]] = {}
        self._seconds: dict[str, float] = {}
        self._results: dict[Any, Any] = {}
        self._running: dict[Any, tuple[Any, ...]] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._error: BaseException | None = None
        self._bar = tqdm(total=0, desc=desc, disable=not progress)
        self._thread = threading.Thread(target=self._loop, name="veil-eval-queue", daemon=True)

    def start(self, reference: dict[str, Any] | None, specs: Sequence[str]) -> None:
        """Queue the reference numbers (unless given) and ``specs``, and start the workers."""
        if reference is None:
            self._tasks.append(("reference",))
            self._bar.total += 1
        else:
            self._results["reference"] = reference
        self.add(specs)
        self._thread.start()

    def add(self, specs: Sequence[str]) -> None:
        """Queue more rows (a new guide also queues its detection pass)."""
        with self._lock:
            bounds = np.linspace(0, self.n_images, 2 * self.workers + 1).astype(int)
            for spec in specs:
                i = len(self.specs)
                self.specs.append(spec)
                g = _guide_of(spec)
                if g is None:
                    self._others.append(i)
                    continue
                self.guides[spec] = g
                self._waiting.append(i)
                if g not in self._chunks_left:  # ahead of every row (rows are picked after ``_tasks``)
                    chunks = [("detect", g, int(a), int(b)) for a, b in zip(bounds, bounds[1:], strict=False) if b > a]
                    self._tasks.extend(chunks)
                    self._chunks_left[g], self._found[g], self._seconds[g] = len(chunks), {}, 0.0
                    self._bar.total += len(chunks)
            self._bar.total += len(specs)
            self._bar.refresh()

    def abort(self) -> None:
        """Start nothing more, let the running tasks end, and stop the thread."""
        with self._lock:
            self._tasks.clear()
            self._waiting.clear()
            self._others.clear()
            self._closed = True
        self._thread.join()
        self._bar.close()

    def finish(self) -> tuple[dict[Any, Any], dict[str, float]]:
        """Wait for every task; results ``{row index: (measured, grid), "reference": ref}`` and,
        per guide, its detections' cost in ms per image. Re-raises a task's error."""
        with self._lock:
            self._closed = True
        self._thread.join()
        self._bar.close()
        if self._error is not None:
            raise self._error
        return self._results, {g: 1000.0 * sec / max(1, self.n_images) for g, sec in self._seconds.items()}

    # -- the thread ----------------------------------------------------------------------
    def _next(self) -> tuple[Any, ...] | None:
        if self._tasks:
            return self._tasks.pop(0)
        for i in self._waiting:
            if self._chunks_left[self.guides[self.specs[i]]] == 0:
                self._waiting.remove(i)
                return ("row", i)
        return ("row", self._others.pop(0)) if self._others else None

    def _submit(self, task: tuple[Any, ...]) -> None:
        if task[0] == "reference":
            fut = self.pool.submit(_worker_reference)
        elif task[0] == "detect":
            fut = self.pool.submit(_worker_detect, task[1], task[2], task[3])
        else:
            g = self.guides.get(self.specs[task[1]])
            fut = self.pool.submit(_worker_measure, self.specs[task[1]], self._found[g] if g else None)
        self._running[fut] = task

    def _loop(self) -> None:
        from concurrent.futures import FIRST_COMPLETED, wait

        try:
            while True:
                with self._lock:
                    while self._error is None and len(self._running) < self.workers and (task := self._next()):
                        self._submit(task)
                    if not self._running and (self._closed or self._error is not None):
                        return
                if not self._running:  # nothing to run until rows are added
                    time.sleep(0.05)
                    continue
                done, _ = wait(list(self._running), timeout=0.2, return_when=FIRST_COMPLETED)
                with self._lock:
                    for fut in done:
                        self._collect(self._running.pop(fut), fut.result())
        except BaseException as e:  # noqa: BLE001 - handed to finish(), in the caller's thread
            self._error = e
            for fut in self._running:
                fut.cancel()

    def _collect(self, task: tuple[Any, ...], value: Any) -> None:
        if task[0] == "reference":
            self._results["reference"] = value
            label = "unprotected references"
        elif task[0] == "detect":
            part, dt = value
            self._found[task[1]].update(part)
            self._seconds[task[1]] += dt
            self._chunks_left[task[1]] -= 1
            label = f"detections {task[1]}"
        else:
            self._results[task[1]] = value
            label = self.specs[task[1]]
        self._bar.set_postfix_str(label[:60])
        self._bar.update(1)


def _worker_detect(guide: str, start: int, stop: int) -> tuple[dict[str, Any], float]:
    """Detections of the worker's images ``start:stop`` (eval images, then train images) and
    the seconds they took."""
    assert _WORKER is not None
    from veil.anonymizers.guides import detect_all

    images = [*_WORKER.eval_images, *_WORKER.train_images][start:stop]
    t0 = time.perf_counter()
    found = detect_all(guide, images)
    return found, time.perf_counter() - t0


def _unchanged(protected: list[np.ndarray], originals: list[np.ndarray]) -> bool:
    """Whether every protected image is its original, pixel for pixel."""
    return all(p is o or np.array_equal(p, o) for p, o in zip(protected, originals, strict=True))


def _guide_of(spec: str) -> str | None:
    """The detector guide of a saved learned model (``config.json``), else None."""
    from veil.anonymizers.learned import CONFIG_FILE, _read_config, _split_path_spec, is_model_path
    from veil.errors import ModelError

    if not is_model_path(spec):
        return None
    path, overrides = _split_path_spec(str(spec).strip())
    folder = Path(path) if Path(path).is_dir() else Path(path).parent
    if "guide" in overrides or "upright" in overrides:
        return None  # a guide set or narrowed on the command line: not shared
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
