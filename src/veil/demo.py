"""``veil demo``: the embedded street scenario, every baseline at several strengths, one report."""

from __future__ import annotations

import contextlib
import re
import sys
import time
from pathlib import Path
from typing import Any

from veil.config import DemoConfig
from veil.evaluate import Evaluator, to_json, write_metrics
from veil.fsutil import atomic_write_text
from veil.report import format_table, reference_row, summary_row, tradeoff_plot, write_html_report


def _slug(spec: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", spec.replace(":", "_"))


def _train_learned(cfg: DemoConfig, manifest: Path, run: Path, progress: bool) -> Path:
    """Train the default learned anonymizer for the demo; answers already paid for are
    reused from the run's cache, so a second demo costs no new query."""
    from veil.train import CHECKPOINT, TrainConfig, train

    for stale in (run / CHECKPOINT, run / "metrics.jsonl"):
        stale.unlink(missing_ok=True)
    tcfg = TrainConfig(steps=cfg.train_steps, budget=cfg.train_budget, seed=cfg.seed)
    return train(manifest, run, tcfg, progress=progress)


def _untrained_learned(run: Path) -> Path:
    """The demo's network at step 0 (the same as ``veil train --steps 0``: its initial policy,
    before any query), saved by the trainer next to the trained model."""
    from veil.train.loop import STEP0_MODEL

    return run / STEP0_MODEL


def run_demo(config: DemoConfig | None = None, progress: bool = True) -> dict[str, Any]:
    """Prepare the scenario if needed, evaluate every anonymizer, write the report.

    Returns the summary (rows, reference bounds, wall time, paths), also written as
    ``summary.json`` in the output folder.
    """
    from veil.anonymizers import baseline_sweep
    from veil.data.scenarios import prepare_scenario

    cfg = config or DemoConfig()
    t0 = time.perf_counter()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = prepare_scenario(cfg.scenario, root=cfg.data_root, seed=cfg.seed, progress=progress)
    ev = Evaluator(manifest, cfg.eval, progress=progress)
    specs = list(cfg.anonymizers or baseline_sweep())

    def train_then_rows() -> list[str]:
        """Train the learned anonymizer while the workers evaluate the baselines."""
        from veil.threads import capped_threads

        # beside the workers a second thread per library would only wait
        with capped_threads(1) if cfg.eval.workers > 1 else contextlib.nullcontext():
            model = str(_train_learned(cfg, manifest, out / "train", progress))
        # the untrained row (the ablation) costs one more evaluation
        learned = [model, str(_untrained_learned(out / "train"))] if cfg.untrained else [model]
        specs.extend(learned)
        return learned

    results = ev.evaluate_many(list(specs), then=train_then_rows if cfg.train else None)
    rows: list[dict[str, Any]] = []
    grids: dict[str, Path] = {}
    ref: dict[str, Any] = {}
    for spec, (metrics, grid) in zip(specs, results, strict=True):
        folder = out / "anonymizers" / _slug(metrics["anonymizer"])
        write_metrics(folder, metrics, grid)
        row = summary_row(metrics)
        if Path(spec).name == "model-step0":
            row["anonymizer"] = "untrained (step 0):" + metrics["anonymizer"]
        elif Path(spec).name == "model" and Path(spec).is_dir():
            row["anonymizer"] = "learned:" + metrics["anonymizer"]
        rows.append(row)
        ref = reference_row(metrics)
        grids[metrics["anonymizer"]] = folder / "grid.png"
    plot = tradeoff_plot(rows, ref, out / "tradeoff.png")
    wall = time.perf_counter() - t0
    notes = [
        f"scenario {cfg.scenario!r} (seed {cfg.seed}): {len(ev.eval_items)} {cfg.eval.split} items "
        f"evaluated, learned attacker trained on {len(ev.train_items)} items",
        f"black box: {cfg.eval.blackbox} (a perception-model stand-in, not an MLLM; point Veil at "
        "a real service with the OpenAI-compatible backend)",
        f"wall time {wall:.0f} s" + (" (--quick: subsampled items, shorter attacker training)" if cfg.quick else ""),
    ]
    report = write_html_report(out, rows, ref, plot, grids, notes=notes)
    summary = {
        "manifest": str(manifest),
        "quick": cfg.quick,
        "n_eval_items": len(ev.eval_items),
        "n_attacker_train_items": len(ev.train_items),
        "reference": ref,
        "rows": rows,
        "wall_seconds": wall,
        "report": str(report),
        "plot": str(plot),
    }
    atomic_write_text(out / "summary.json", to_json(summary) + "\n")
    if progress:
        print(format_table(rows), file=sys.stdout)
        print(f"\nunprotected utility {ref['utility_unprotected']:.3f}; attacker cMAP raw "
              f"{ref['raw_cmap']:.3f}, prior {ref['prior_cmap']:.3f}")
        print(f"report: {report}  ({wall:.0f} s)")
    return summary
