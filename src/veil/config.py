"""Configuration dataclasses. Defaults live here and nowhere else."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from veil.errors import ConfigError


@dataclass
class EvalConfig:
    """How ``veil eval`` measures one anonymizer (METHOD.md §3).

    Attributes:
        split: split the metrics are reported on; the learned attacker trains on ``train``.
        blackbox: registered black box that answers the utility questions.
        attacker: registered learned attacker, trained from scratch on protected images.
        attacker_epochs: training epochs of the learned attacker.
        attacker_image_size: side of the square input of the learned attacker.
        face_detector: pretrained face detector used for face detection recall.
        ocr_engine: OCR engine used to recover private text.
        reid_threshold: dlib embedding distance below which a face is re-identified.
        max_eval_items: cap on evaluated items of ``split`` (None: all), taken evenly.
        max_train_items: cap on learned-attacker training items (None: all).
        seed: seed of the learned attacker and item subsampling.
        grid_items: how many items the before/after PNG grid shows.
        workers: processes that evaluate anonymizers in parallel (``Evaluator.evaluate_many``).
    """

    split: str = "test"
    blackbox: str = "reference"
    attacker: str = "cnn"
    attacker_epochs: int = 20
    attacker_image_size: int = 128
    face_detector: str = "centerface"
    ocr_engine: str = "rapidocr"
    reid_threshold: float = 0.6
    max_eval_items: int | None = None
    max_train_items: int | None = None
    seed: int = 0
    grid_items: int = 6
    workers: int = 2

    def __post_init__(self) -> None:
        if self.split not in ("train", "val", "test"):
            raise ConfigError(f"split must be train, val or test, got {self.split!r}")
        if self.workers < 1:
            raise ConfigError(f"workers must be >= 1, got {self.workers}")
        if self.attacker_epochs < 1:
            raise ConfigError(f"attacker_epochs must be >= 1, got {self.attacker_epochs}")
        if not 0 < self.reid_threshold < 2:
            raise ConfigError(f"reid_threshold must be in (0, 2), got {self.reid_threshold}")
        for name in ("max_eval_items", "max_train_items"):
            v = getattr(self, name)
            if v is not None and v < 2:
                raise ConfigError(f"{name} must be >= 2 or None, got {v}")


@dataclass
class DemoConfig:
    """What ``veil demo`` runs: the scenario, the baselines and their strengths, and the
    anonymizer trained against the reference black box (``train_steps`` steps within
    ``train_budget`` paid queries; ``train=False`` skips it). ``untrained=True`` also
    evaluates the same network at step 0 (its detector prior), to show what training
    changed; it costs about a minute more."""

    out: str = "runs/demo"
    data_root: str = "data"
    scenario: str = "street"
    seed: int = 0
    quick: bool = False
    anonymizers: list[str] | None = None
    eval: EvalConfig = field(default_factory=EvalConfig)
    train: bool = True
    train_steps: int = 40
    train_budget: int = 1600
    untrained: bool = True

    @classmethod
    def preset(cls, quick: bool, **overrides: Any) -> DemoConfig:
        """The full demo, or the ``--quick`` one (subsampled items, shorter attacker training)."""
        ev = (
            EvalConfig(attacker_epochs=6, max_eval_items=16, max_train_items=48, grid_items=4)
            if quick
            else EvalConfig(attacker_epochs=12)
        )
        cfg = cls(quick=quick, eval=ev, train_steps=5 if quick else 40, train_budget=160 if quick else 1600)
        for k, v in overrides.items():
            if v is None:
                continue
            if k not in {f.name for f in fields(cls)}:
                raise ConfigError(f"unknown demo option {k!r}")
            setattr(cfg, k, v)
        return cfg
