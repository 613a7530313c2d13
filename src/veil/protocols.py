"""The paper's protocols on public benchmarks, end to end (``veil bench-protocol``).

- ``ucf101-vispr`` / ``hmdb51-vispr``: the anonymizer is trained with utility from the
  black box on the action set (UCF101 or HMDB51, official split N) and privacy from the
  evaluator on VISPR train; it is evaluated by action top-1 on the action test split and
  by a fresh learned attacker on VISPR test (cMAP, macro F1);
- ``okvqa-vispr``: utility from the black box on OK-VQA train, VQA accuracy (OK-VQA's
  stemmed variant) on OK-VQA test, privacy on VISPR as above; both OK-VQA splits are
  needed (with val2014 alone the run stops before training and names the files to add);
- ``vispr``: VISPR alone. The paper reports only privacy here and does not say which
  utility its anonymizer kept; ours is label-free consistency: the black box's own
  answer on the unprotected image to a counting question (how many people) is the
  target, and utility is the share of test images where the protected answer agrees.

Training is image-based (``veil.train.Trainer``): each training clip is sampled once
(TSN: one random frame per segment), resized (``VideoConfig.frame_side``) and tiled into
a k-frame grid, and that grid is the utility item's image; the trainer runs at the
grid's size. A convolutional anonymizer applied to the tiled image equals per-frame
application up to the tile seams (the receptive field crosses a seam for a few pixels),
which is the approximation training makes. Evaluation uses the exact per-frame path
(:func:`veil.video.protected_frames`): frames are anonymized one by one, then tiled or
sent as several images. Images (VISPR, OK-VQA) are resized to the training size before
protection, in training and in evaluation alike.

Query accounting: training pays at most ``budget`` queries; evaluation pays one query
per test question (action clip, OK-VQA question or VISPR image) for the protected
input and, with ``unprotected=True``, one more for the original, plus one probe query
that decides between score mode (the black box returns log-probabilities of the
options) and answer mode. ``vispr`` also pays one query per training image for its
label-free targets (``steps x batch_size`` images at most). Every paid answer is cached (``train/cache.sqlite``,
``eval-cache.sqlite``), so a rerun pays only for what changed.

Outputs in ``out``: ``data/`` (imported manifests, training grids), ``train/`` (the
trainer's run, ``train/model`` the anonymizer), ``protocol.json`` and ``protocol.md`` (the
table with the paper's numbers beside Veil's), written atomically.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm.auto import tqdm

from veil.data.importing import ACTION_QUESTION, ImportReport
from veil.data.manifest import Item, Media, Query, load_manifest, write_manifest
from veil.data.questions import COUNT_CHOICES, QUESTIONS, format_prompt
from veil.errors import ConfigError, UnknownNameError
from veil.fsutil import atomic_write_text
from veil.video import VideoConfig

SCHEMA = "veil.protocol/1"


@dataclass(frozen=True)
class ProtocolSpec:
    """One protocol: the utility dataset and metric, and the paper's numbers (IJCV 2026)."""

    name: str
    title: str
    utility_dataset: str | None
    utility_metric: str
    paper_utility: str
    paper_cmap: str


PROTOCOLS: dict[str, ProtocolSpec] = {
    "ucf101-vispr": ProtocolSpec("ucf101-vispr", "UCF101-VISPR", "ucf101", "action top-1 (%)", "67.1", "54.6"),
    "hmdb51-vispr": ProtocolSpec("hmdb51-vispr", "HMDB51-VISPR", "hmdb51", "action top-1 (%)", "54.3", "59.8"),
    "okvqa-vispr": ProtocolSpec("okvqa-vispr", "OK-VQA (test) with VISPR privacy", "okvqa",
                                "VQA accuracy (%)", "57.6 (59.2 in a second setting; SPAct 55.9)", "44.2"),
    "vispr": ProtocolSpec("vispr", "VISPR test", None, "agreement with unprotected answers (%)", "–",
                          "48.8 (47.9 in a second setting)"),
}


@dataclass
class ProtocolConfig:
    """Everything one protocol run needs; defaults are the full protocol.

    Attributes:
        data_root: folder holding the datasets in the sub-folders named by ``roots``.
        out: run folder.
        backend: ``reference`` (offline stand-in) or ``openai`` (any OpenAI-compatible URL).
        base_url, model, api_key_env: the ``openai`` backend's service (key by variable name).
        budget: hard cap on training queries (evaluation queries come on top, see module doc).
        split: official split of UCF101 / HMDB51 (1-3).
        attributes: VISPR attribute set (``7``, ``5`` or ``all``).
        video: frame sampling and layout.
        image_size: (width, height) images are protected at, in training and evaluation
            (OK-VQA, VISPR-alone); action protocols train at their grid's size.
        labels: option style of action prompts (``names``, ``numbers``, ``letters``).
        utility_mode: ``auto`` (probe for log-probabilities), ``score`` or ``answer``.
        steps, batch_size, num_directions, lr, network: trainer settings (``TrainConfig``).
        max_train_items: utility training items (clips, OK-VQA images, VISPR images), evenly taken.
        max_privacy_items: VISPR train images fed to the trainer's privacy evaluator.
        max_eval_items: utility test items (None: all).
        max_attacker_train, max_attacker_test: VISPR images for the learned attacker (None: all).
        attacker_epochs, attacker_image_size: the fresh attacker.
        unprotected: also measure utility on unprotected inputs (doubles evaluation queries).
        concurrency: black-box queries in flight.
        roots: sub-folder of ``data_root`` per dataset.
        resume: continue a training run found in ``out/train``.
        seed: every random stream.
    """

    data_root: str = "datasets"
    out: str = "runs/protocol"
    backend: str = "reference"
    base_url: str | None = None
    model: str | None = None
    api_key_env: str | None = None
    budget: int = 2000
    split: int = 1
    attributes: str = "7"
    video: VideoConfig = field(default_factory=VideoConfig)
    image_size: tuple[int, int] = (320, 240)
    labels: str = "names"
    utility_mode: str = "auto"
    steps: int = 40
    batch_size: int = 4
    num_directions: int = 4
    lr: float = 2e-3
    network: str = "unet"
    max_train_items: int | None = 500
    max_privacy_items: int | None = 1000
    max_eval_items: int | None = None
    max_attacker_train: int | None = None
    max_attacker_test: int | None = None
    attacker_epochs: int = 20
    attacker_image_size: int = 128
    unprotected: bool = True
    concurrency: int = 4
    roots: dict[str, str] = field(default_factory=lambda: {
        "vispr": "vispr", "ucf101": "ucf101", "hmdb51": "hmdb51", "okvqa": "okvqa"})
    resume: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if self.utility_mode not in ("auto", "score", "answer"):
            raise ConfigError(f"utility_mode must be auto, score or answer, got {self.utility_mode!r}")
        if self.budget < 1:
            raise ConfigError(f"budget must be >= 1, got {self.budget}")
        for k in ("max_train_items", "max_privacy_items", "max_eval_items", "max_attacker_train", "max_attacker_test"):
            v = getattr(self, k)
            if v is not None and v < 2:
                raise ConfigError(f"{k} must be >= 2 or None, got {v}")

    @classmethod
    def preset(cls, quick: bool = False, **overrides: Any) -> ProtocolConfig:
        """The full protocol, or ``quick``: a few items, 4 small frames, 2 short steps, a
        small attacker: minutes on a CPU, to check that a set-up runs (numbers meaningless)."""
        cfg = cls()
        if quick:
            cfg.video = VideoConfig(frames=4, frame_side=64)
            cfg.image_size = (64, 48)
            cfg.steps, cfg.batch_size, cfg.num_directions = 2, 2, 2
            cfg.max_train_items, cfg.max_privacy_items, cfg.max_eval_items = 16, 32, 8
            cfg.max_attacker_train, cfg.max_attacker_test = 64, 64
            cfg.attacker_epochs, cfg.attacker_image_size = 2, 32
            cfg.budget = 32
        known = {f.name for f in fields(cls)}
        for k, v in overrides.items():
            if v is None:
                continue
            if k not in known:
                raise ConfigError(f"unknown protocol option {k!r}; allowed: {', '.join(sorted(known))}")
            setattr(cfg, k, v)
        cfg.__post_init__()
        return cfg


# ----------------------------------------------------------------------------- helpers


def _subsample(items: list[Item], limit: int | None) -> list[Item]:
    from veil.evaluate import subsample

    return subsample(items, limit)


def _resize(image: np.ndarray, w: int, h: int) -> np.ndarray:
    if image.shape[1] == w and image.shape[0] == h:
        return image
    interp = cv2.INTER_AREA if w < image.shape[1] else cv2.INTER_LINEAR
    return cv2.resize(image, (w, h), interpolation=interp)


def blackbox_label(cfg: ProtocolConfig) -> str:
    """How the table names the black box; the reference stand-in is always labelled as such."""
    stand_in = "reference black box (perception-model stand-in, not an MLLM)"
    if cfg.backend in ("reference", "reference-b"):
        return f"{stand_in.replace('reference', cfg.backend, 1)}, in process"
    model = cfg.model or "?"
    if model.startswith("reference"):
        return f"{stand_in.replace('reference', model, 1)}, served by `veil serve-reference` at {cfg.base_url}"
    return f"OpenAI-compatible service at {cfg.base_url}, model {model}"


def _build_backend(cfg: ProtocolConfig) -> Any:
    from veil.blackbox.engine import build_backend

    if cfg.backend == "openai":
        return build_backend("openai", base_url=cfg.base_url, model=cfg.model, api_key_env=cfg.api_key_env)
    if cfg.base_url or cfg.model or cfg.api_key_env:
        raise ConfigError("--base-url, --model and --api-key-env apply to --backend openai only")
    return build_backend(cfg.backend)


class _Run:
    """State of one protocol run (paths, manifests, engines); methods are its stages."""

    def __init__(self, spec: ProtocolSpec, cfg: ProtocolConfig, progress: bool) -> None:
        self.spec, self.cfg, self.progress = spec, cfg, progress
        self.out = Path(cfg.out)
        self.data = self.out / "data"
        self.root = Path(cfg.data_root)
        self.reports: list[ImportReport] = []
        self.classes: list[str] = []
        self.rng = np.random.default_rng(cfg.seed)

    def log(self, msg: str) -> None:
        if self.progress:
            print(f"veil: {msg}", flush=True)

    # -- import --------------------------------------------------------------------------
    def dataset_root(self, name: str) -> Path:
        return self.root / self.cfg.roots.get(name, name)

    def import_(self, name: str, **opts: Any) -> list[Item]:
        from veil.data.importing import import_dataset

        path = self.data / f"{name}.jsonl"
        report = import_dataset(name, self.dataset_root(name), path, **opts)
        self.reports.append(report)
        self.log(report.summary())
        if report.classes:
            self.classes = report.classes
        return load_manifest(path, check_files=False)

    # -- utility training items ------------------------------------------------------------
    def action_train_manifest(self, items: list[Item]) -> tuple[Path, tuple[int, int]]:
        """One k-frame grid per training clip (TSN random frames), as image items."""
        from veil.media import save_image
        from veil.video import action_prompt, option_labels, protected_frames, tile_grid

        cfg = self.cfg
        prompt, choices = action_prompt(self.classes, "grid", cfg.labels, ACTION_QUESTION)
        labels = option_labels(len(self.classes), cfg.labels)
        out, size = [], None
        train = _subsample([it for it in items if it.split == "train"], cfg.max_train_items)
        for it in tqdm(train, desc="training grids", disable=not self.progress, leave=False):
            frames = protected_frames(it, cfg.video, None, train=True, rng=self.rng)
            grid = tile_grid(frames, cfg.video.grid_cols)
            if size is None:
                size = (grid.shape[1], grid.shape[0])
            path = save_image(self.data / "grids" / f"{it.id}.png", _resize(grid, *size))
            label = int(it.meta["label"])
            answer = labels[label] if labels else choices[label]
            q = Query(family="action", prompt=prompt, answers=(answer,), choices=tuple(choices))
            out.append(Item(id=it.id, split="train", media=Media("image", str(path.resolve())), queries=(q,),
                            source=it.source, meta={"class": it.meta["class"], "label": label}))
        if size is None:
            raise ConfigError(f"{self.dataset_root(self.spec.utility_dataset or '')}: no training clips")
        return write_manifest(self.data / "train-grids.jsonl", out), size

    def privacy_manifest(self, vispr: list[Item]) -> Path:
        train = _subsample([it for it in vispr if it.split == "train"], self.cfg.max_privacy_items)
        return write_manifest(self.data / "vispr-train-privacy.jsonl", train)

    # -- evaluation --------------------------------------------------------------------------
    def engine(self, bb: Any, n_queries: int) -> Any:
        from veil.blackbox.engine import EngineConfig, QueryEngine

        return QueryEngine(bb, EngineConfig(concurrency=self.cfg.concurrency, max_queries=n_queries),
                           cache=self.out / "eval-cache.sqlite", log_path=self.out / "eval-queries.jsonl")

    def privacy(self, anon: Any, vispr: list[Item], size: tuple[int, int]) -> dict[str, Any]:
        """Fresh learned attacker on protected VISPR train, scored on protected VISPR test,
        next to the same attacker on raw images and the constant prior."""
        from veil.media import load_item_image
        from veil.privacy.base import create_attacker
        from veil.privacy.metrics import cmap, macro_f1, per_attribute_ap

        cfg = self.cfg
        s = cfg.attacker_image_size
        names = sorted({a for it in vispr for a in it.attributes})
        train = _subsample([it for it in vispr if it.split == "train"], cfg.max_attacker_train)
        test = _subsample([it for it in vispr if it.split == "test"], cfg.max_attacker_test)
        if len(train) < 2 or not test:
            raise ConfigError("VISPR needs at least 2 train2017 and 1 test2017 images for the learned attacker")

        def prepare(items: list[Item], desc: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
            raw, prot = [], []
            for it in tqdm(items, desc=desc, disable=not self.progress, leave=False):
                im = _resize(load_item_image(it), *size)
                raw.append(_resize(im, s, s))
                prot.append(_resize(anon(im), s, s))
            return raw, prot

        raw_tr, prot_tr = prepare(train, "protect VISPR train")
        raw_te, prot_te = prepare(test, "protect VISPR test")
        y_tr = np.array([[it.attributes.get(a, 0) for a in names] for it in train], np.float32)
        y_te = np.array([[it.attributes.get(a, 0) for a in names] for it in test], np.float32)

        def attack(kind: str, tr: list[np.ndarray], te: list[np.ndarray]) -> dict[str, Any]:
            kw: dict[str, Any] = {}
            if kind == "cnn":
                kw = {"epochs": cfg.attacker_epochs, "image_size": s, "random_state": cfg.seed, "num_threads": 1}
            scores = create_attacker(kind, **kw).fit(tr, y_tr).predict_proba(te)
            per = per_attribute_ap(y_te, scores)
            return {"cmap": cmap(y_te, scores), "f1": macro_f1(y_te, scores),
                    "per_attribute_ap": {names[i]: v for i, v in sorted(per.items())}}

        self.log(f"learned attacker on {len(train)} VISPR train / {len(test)} test images")
        prot = attack("cnn", prot_tr, prot_te)
        return {"attributes": names, "n_train": len(train), "n_test": len(test), **prot,
                "raw": attack("cnn", raw_tr, raw_te), "prior": attack("prior", raw_tr, raw_te)}


# ----------------------------------------------------------------------------- utility evaluation


def _action_utility(run: _Run, anon: Any, bb: Any, test: list[Item]) -> dict[str, Any]:
    from veil.blackbox.engine import Query as EQuery
    from veil.video import action_prompt, choice_scores, clip_images, parse_action, protected_frames, top1

    cfg = run.cfg
    prompt, choices = action_prompt(run.classes, cfg.video.layout, cfg.labels, ACTION_QUESTION)
    targets = [int(it.meta["label"]) for it in test]
    variants = [("protected", anon)] + ([("unprotected", None)] if cfg.unprotected else [])
    engine = run.engine(bb, len(test) * len(variants))
    out: dict[str, Any] = {"n_items": len(test), "prompt": prompt}
    try:
        for name, a in variants:
            queries = []
            for it in tqdm(test, desc=f"{name} clips", disable=not run.progress, leave=False):
                frames = protected_frames(it, cfg.video, a, train=False)
                queries.append(EQuery(clip_images(frames, cfg.video), prompt, choices))
            answers = engine.query_many(queries)
            pred = [parse_action(ans.text, run.classes, cfg.labels) for ans in answers]
            scored = [choice_scores(ans, choices) for ans in answers]
            res: dict[str, Any] = {"top1": top1(pred, targets), "unparsed": sum(p is None for p in pred),
                                   "examples": [ans.text for ans in answers[:3]]}
            if all(s is not None and np.isfinite(s).any() for s in scored):
                res["top1_score_mode"] = top1([int(np.argmax(s)) for s in scored], targets)  # type: ignore[arg-type]
            out[name] = res
    finally:
        out["queries"] = engine.stats.as_dict()
        engine.close()
    return out


def _image_utility(run: _Run, anon: Any, bb: Any, test: list[Item], size: tuple[int, int],
                   score: Any) -> dict[str, Any]:
    """Each query of each image item asked about the resized, protected image; ``score(answer, query)``."""
    from veil.blackbox.engine import Query as EQuery
    from veil.media import load_item_image

    cfg = run.cfg
    variants = [("protected", anon)] + ([("unprotected", None)] if cfg.unprotected else [])
    pairs = [(it, q) for it in test for q in it.queries]
    engine = run.engine(bb, len(pairs) * len(variants))
    out: dict[str, Any] = {"n_items": len(test), "n_queries": len(pairs)}
    try:
        images = {it.id: _resize(load_item_image(it), *size) for it in test}
        for name, a in variants:
            cache: dict[str, np.ndarray] = {}
            qs = []
            for it, q in pairs:
                if it.id not in cache:
                    cache[it.id] = a(images[it.id]) if a is not None else images[it.id]
                qs.append(EQuery([cache[it.id]], format_prompt(q.prompt, q.choices), q.choices))
            answers = engine.query_many(qs)
            scores = [score(ans, q) for ans, (_, q) in zip(answers, pairs, strict=True)]
            out[name] = {"score": float(np.mean(scores)) if scores else math.nan,
                         "examples": [ans.text for ans in answers[:3]]}
    finally:
        out["queries"] = engine.stats.as_dict()
        engine.close()
    return out


# ----------------------------------------------------------------------------- the run


def run_protocol(name: str, config: ProtocolConfig | None = None, progress: bool = True) -> dict[str, Any]:
    """Run protocol ``name`` end to end: import, train, learned-attacker privacy on VISPR
    test, utility on the utility test split; write ``protocol.json`` and ``protocol.md``.

    Returns the result object written to ``protocol.json``.

    Raises:
        UnknownNameError: unknown protocol.
        LayoutError: a dataset is not in its published layout under ``data_root``.
        ConfigError: bad options, or a budget too small for one training step.
    """
    from veil.anonymizers.base import create_anonymizer
    from veil.data.vqa import vqa_accuracy
    from veil.train import TrainConfig, Trainer
    from veil.video import ActionAnswerBlackBox

    if name not in PROTOCOLS:
        raise UnknownNameError("protocol", name, list(PROTOCOLS))
    spec, cfg = PROTOCOLS[name], config or ProtocolConfig()
    per_step = cfg.batch_size * 2 * cfg.num_directions
    if cfg.budget < per_step:
        raise ConfigError(f"budget of {cfg.budget} queries is too small for one step, which needs up to {per_step} "
                          "(batch_size x 2 x num_directions); raise --budget")
    if not cfg.resume and (Path(cfg.out) / "train" / "checkpoint.pt").is_file():
        raise ConfigError(f"{Path(cfg.out) / 'train'} already holds a training run; pass --resume to continue it "
                          "or choose a new --out")
    run = _Run(spec, cfg, progress)
    t0 = time.perf_counter()
    _build_backend(cfg)  # fail on bad backend options before any work

    vispr = run.import_("vispr", attributes=cfg.attributes)
    utility_test: list[Item] = []
    if spec.utility_dataset in ("ucf101", "hmdb51"):
        items = run.import_(spec.utility_dataset, split=cfg.split)
        train_manifest, size = run.action_train_manifest(items)
        utility_test = _subsample([it for it in items if it.split == "test"], cfg.max_eval_items)

        def make_bb() -> Any:
            return ActionAnswerBlackBox(_build_backend(cfg), run.classes, cfg.labels)
    else:
        size = (int(cfg.image_size[0]), int(cfg.image_size[1]))
        if spec.utility_dataset == "okvqa":
            items = run.import_("okvqa")
            _require_okvqa_splits(run.dataset_root("okvqa"), items)
            train = _subsample([it for it in items if it.split == "train"], cfg.max_train_items)
            train_manifest = write_manifest(run.data / "okvqa-train.jsonl", train)
            utility_test = _subsample([it for it in items if it.split == "test"], cfg.max_eval_items)
        else:
            train_manifest = None  # written below from the black box's own answers
            utility_test = _subsample([it for it in vispr if it.split == "test"], cfg.max_eval_items)

        def make_bb() -> Any:
            return _build_backend(cfg)

    eval_bb = make_bb()
    probe_engine = run.engine(eval_bb, None)
    try:
        if spec.utility_dataset is None:
            train_manifest = _consistency_manifest(run, probe_engine, vispr, size)
        mode = cfg.utility_mode
        if mode == "auto":
            mode = _probe_mode(probe_engine, load_manifest(train_manifest, check_files=False)[0], size)
            run.log(f"utility mode: {mode} (probe of the black box)")
    finally:
        probe_stats = probe_engine.stats.as_dict()
        probe_engine.close()

    tcfg = TrainConfig(
        image_width=size[0], image_height=size[1], utility_mode=mode, steps=cfg.steps, batch_size=cfg.batch_size,
        num_directions=cfg.num_directions, lr=cfg.lr, network=cfg.network, budget=cfg.budget,
        concurrency=cfg.concurrency, backend=cfg.backend, seed=cfg.seed,
        evaluator_image_size=min(96, max(32, cfg.attacker_image_size)),
    )
    privacy_manifest = run.privacy_manifest(vispr)
    trainer = Trainer(train_manifest, run.out / "train", tcfg, blackbox=make_bb(), progress=progress,
                      privacy_manifest=privacy_manifest, resume=cfg.resume)
    model = trainer.fit()
    train_queries = trainer.queries_paid
    anon = create_anonymizer(str(model))
    run.log(f"trained {model} with {train_queries} paid queries")

    privacy = run.privacy(anon, vispr, size)
    if spec.utility_dataset in ("ucf101", "hmdb51"):
        utility = _action_utility(run, anon, make_bb(), utility_test)
        u_key = "top1"
    elif spec.utility_dataset == "okvqa":
        utility = _image_utility(run, anon, make_bb(), utility_test, size,
                                 lambda ans, q: vqa_accuracy(ans.text, q.answers, stem=True))
        u_key = "score"
    else:
        test_manifest = _consistency_test(run, utility_test, size)
        from veil.data.questions import normalize_answer

        utility = _image_utility(run, anon, make_bb(), test_manifest, size,
                                 lambda ans, q: float(normalize_answer(ans.text) in {normalize_answer(a)
                                                                                    for a in q.answers}))
        u_key = "score"
    result = {
        "schema": SCHEMA,
        "protocol": spec.name,
        "title": spec.title,
        "blackbox": blackbox_label(cfg),
        "utility_mode": mode,
        "config": _jsonable(asdict(cfg)),
        "imports": [r.to_json() for r in run.reports],
        "train": {"model": str(model), "queries_paid": train_queries, "budget": cfg.budget,
                  "image_size": list(size), "manifest": str(train_manifest)},
        "privacy": privacy,
        "utility": {"metric": spec.utility_metric, "key": u_key, **utility},
        "setup_queries": probe_stats,
        "paper": {"utility": spec.paper_utility, "cmap": spec.paper_cmap},
        "seconds": time.perf_counter() - t0,
    }
    write_results(run.out, result)
    run.log(f"wrote {run.out / 'protocol.md'} and {run.out / 'protocol.json'}")
    return result


def _require_okvqa_splits(root: Path, items: list[Item]) -> None:
    """okvqa-vispr trains on OK-VQA train (COCO train2014) and evaluates on OK-VQA test (val2014).

    Raises:
        LayoutError: one of the two is absent; the message says which files to add.
    """
    from veil.data.importing import LayoutError
    from veil.data.okvqa import annotation_file, question_file

    for split, coco, use in (("train", "train2014", "trains on"), ("test", "val2014", "evaluates on")):
        if not any(it.split == split for it in items):
            raise LayoutError(
                f"{root}: okvqa-vispr {use} OK-VQA {split} (COCO {coco}), which is absent: add "
                f"{question_file(coco)}, {annotation_file(coco)} and the {coco} images ({coco}.zip); "
                "the split that is there is enough for `veil data import okvqa` and `veil eval`")


def _probe_mode(engine: Any, item: Item, size: tuple[int, int]) -> str:
    """``score`` if the black box returns log-probabilities of the options, else ``answer``."""
    from veil.media import load_item_image

    q = item.queries[0]
    if not q.choices:
        return "answer"
    ans = engine.query([_resize(load_item_image(item), *size)], format_prompt(q.prompt, q.choices), q.choices)
    lp = {k.strip().lower() for k in (ans.logprobs or {})}
    return "score" if any(c.strip().lower() in lp for c in q.choices) else "answer"


def _count_query(answer: str) -> Query:
    return Query(family="count", prompt=QUESTIONS["count"], answers=(answer,), choices=COUNT_CHOICES)


def _consistency_manifest(run: _Run, engine: Any, vispr: list[Item], size: tuple[int, int]) -> Path:
    """VISPR train images whose target is the black box's own answer on the original (label-free)."""
    from veil.blackbox.engine import Query as EQuery
    from veil.media import load_item_image

    # one target per item training can draw (steps x batch_size at most): each costs one query
    cfg = run.cfg
    n = max(cfg.batch_size, min(cfg.max_train_items or cfg.steps * cfg.batch_size, cfg.steps * cfg.batch_size))
    train = _subsample([it for it in vispr if it.split == "train"], n)
    prompt = format_prompt(QUESTIONS["count"], COUNT_CHOICES)
    answers = engine.query_many([EQuery([_resize(load_item_image(it), *size)], prompt, COUNT_CHOICES)
                                 for it in train])
    items = [Item(id=it.id, split="train", media=it.media, queries=(_count_query(_choice(a.text)),),
                  attributes=it.attributes, source=it.source, root=it.root)
             for it, a in zip(train, answers, strict=True)]
    return write_manifest(run.data / "vispr-train-consistency.jsonl", items)


def _consistency_test(run: _Run, test: list[Item], size: tuple[int, int]) -> list[Item]:
    """VISPR test images with the black box's answers on the originals as targets."""
    from veil.blackbox.engine import Query as EQuery
    from veil.media import load_item_image

    bb = _build_backend(run.cfg)
    engine = run.engine(bb, len(test))
    try:
        prompt = format_prompt(QUESTIONS["count"], COUNT_CHOICES)
        answers = engine.query_many([EQuery([_resize(load_item_image(it), *size)], prompt, COUNT_CHOICES)
                                     for it in test])
    finally:
        engine.close()
    return [Item(id=it.id, split="test", media=it.media, queries=(_count_query(_choice(a.text)),),
                 root=it.root) for it, a in zip(test, answers, strict=True)]


def _choice(text: str) -> str:
    from veil.data.questions import normalize_answer

    for c in COUNT_CHOICES:
        if normalize_answer(text) == normalize_answer(c):
            return c
    return COUNT_CHOICES[0]


def _jsonable(o: Any) -> Any:
    if isinstance(o, dict):
        return {k: _jsonable(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_jsonable(v) for v in o]
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, Path):
        return str(o)
    return o


# ----------------------------------------------------------------------------- the table


def _pct(v: Any) -> str:
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{100 * float(v):.1f}"


def format_markdown(r: dict[str, Any]) -> str:
    """The result as a Markdown table in the paper's format, the paper's numbers beside Veil's."""
    u, p = r["utility"], r["privacy"]
    key = u["key"]
    prot = u.get("protected", {}).get(key)
    unprot = u.get("unprotected", {}).get(key) if "unprotected" in u else None
    n_util = u.get("n_items", 0)
    lines = [
        f"# Veil protocol: {r['title']}",
        "",
        "| setting | metric | Veil, protected | Veil, unprotected | paper (IJCV 2026) |",
        "| --- | --- | --- | --- | --- |",
        f"| {r['title']} | {u['metric']} | {_pct(prot)} | {_pct(unprot)} | {r['paper']['utility']} |",
        f"| VISPR test | learned-attacker cMAP (%), lower is more private | {_pct(p['cmap'])} | "
        f"raw {_pct(p['raw']['cmap'])}, prior {_pct(p['prior']['cmap'])} | {r['paper']['cmap']} |",
        f"| VISPR test | learned-attacker macro F1 (%), lower is more private | {_pct(p['f1'])} | "
        f"raw {_pct(p['raw']['f1'])}, prior {_pct(p['prior']['f1'])} | – |",
        "",
    ]
    if "top1_score_mode" in u.get("protected", {}):
        lines.insert(5, f"| {r['title']} | top-1 from option log-probabilities (%) | "
                        f"{_pct(u['protected']['top1_score_mode'])} | "
                        f"{_pct(u.get('unprotected', {}).get('top1_score_mode'))} | – |")
    t = r["train"]
    lines += [
        f"Black box: {r['blackbox']}; utility mode {r['utility_mode']}.",
        "",
        f"Queries: training {t['queries_paid']} paid (budget {t['budget']}); evaluation "
        f"{u.get('queries', {}).get('queries', 0)} paid, {u.get('queries', {}).get('cache_hits', 0)} cache hits; "
        f"set-up (probe, label-free targets) {r['setup_queries'].get('queries', 0)}.",
        f"Items: utility test {n_util}; learned attacker {p['n_train']} VISPR train / {p['n_test']} test images; "
        f"attributes {', '.join(p['attributes'])}. Anonymizer: {t['model']} (trained at {t['image_size'][0]}x"
        f"{t['image_size'][1]}).",
        "",
    ]
    notes = []
    if "stand-in" in r["blackbox"]:
        zero = (" and replies \"I cannot answer that.\" to action and open questions, so this utility is about 0 "
                "by construction" if r["protocol"] != "vispr" else "")
        notes.append("The reference black box is a perception-model stand-in, not an MLLM: it answers only its "
                     f"street-scene question families (people counting, presence, signs){zero}; its numbers say "
                     "nothing about the method with an MLLM. The run shows that the protocol runs end to end.")
    if n_util < 100 or p["n_test"] < 100:
        notes.append(f"Few items ({n_util} utility, {p['n_test']} privacy test): not comparable to the paper's "
                     "full test sets.")
    notes.append("The paper's MLLM, prompts and budgets are not published in the material we have; its numbers "
                 "are shown for reference, not as a like-for-like comparison (docs/reproducing.md).")
    lines += [f"Note: {n}" for n in notes]
    return "\n".join(lines) + "\n"


def write_results(out: str | Path, result: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``protocol.json`` and ``protocol.md`` into ``out``, each atomically."""
    out = Path(out)
    j = atomic_write_text(out / "protocol.json", json.dumps(_jsonable(result), indent=2, allow_nan=False) + "\n")
    m = atomic_write_text(out / "protocol.md", format_markdown(result))
    return j, m
