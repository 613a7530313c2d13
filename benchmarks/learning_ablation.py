"""Does training matter? The default trained anonymizer against the same network at step 0.

For each seed: ``veil train`` with the default config at the demo's budget (40 steps, 1,600
queries, reference black box) on the street train split, then the evaluation protocol
(METHOD.md §3) on the test split for the trained model and for its step-0 model (the
network before any query, ``model-step0``), each with a freshly trained attacker of the
same seed. Prints, per figure, the mean ± spread (half the range) over seeds of trained,
step 0 and trained − step 0, every question family's utility ratio included, and writes
the per-seed rows as JSON.

    VEIL_MEDIA=.media .venv/bin/python benchmarks/learning_ablation.py --seeds 0 1 2 --out runs/ablation

About 12 minutes a seed on an idle 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from veil.anonymizers.learned import load_anonymizer
from veil.config import EvalConfig
from veil.data.scenarios import prepare_scenario
from veil.evaluate import Evaluator
from veil.fsutil import atomic_write_text
from veil.report import summary_row
from veil.train import TrainConfig, train

FIGURES = ("utility_rel", "worst_ratio", "cmap", "f1", "face_recall", "reid", "reid_rank1", "ocr_exact", "ocr_cer")


def flat(row: dict[str, Any]) -> dict[str, float]:
    """The figures of one summary row, with one ``ratio:<family>`` entry per question family."""
    out = {k: float(row[k]) for k in FIGURES if row.get(k) is not None}
    for fam, r in (row.get("family_ratios") or {}).items():
        out[f"ratio:{fam}"] = float(r) if r is not None else float("nan")
    return out


def run_seed(seed: int, manifest: Path, out: Path, steps: int, budget: int,
             overrides: dict[str, Any]) -> dict[str, Any]:
    run = out / f"seed{seed}"
    shutil.rmtree(run, ignore_errors=True)
    t0 = time.perf_counter()
    model = train(manifest, run, TrainConfig(steps=steps, budget=budget, seed=seed, **overrides), progress=False)
    t_train = time.perf_counter() - t0
    ev = Evaluator(manifest, EvalConfig(seed=seed), progress=False)
    rows = {}
    for name, spec in (("trained", model), ("step0", run / "model-step0")):
        rows[name] = flat(summary_row(ev.evaluate(str(spec))))
    net = load_anonymizer(str(model)).net
    levels = net.category_levels() if hasattr(net, "category_levels") else {}
    return {"seed": seed, "train_seconds": t_train, "rows": rows, "levels": levels}


def attacker_spread(ev: Evaluator, specs: dict[str, Path | str], seeds: list[int]
                    ) -> tuple[dict[str, list[float]], dict[str, dict[str, list[float]]]]:
    """The learned attacker's cMAP and per-attribute AP on each model's protected images, once
    per attacker seed (the protected images computed once; the step-0 model is the same
    network for every training seed, so its spread over attacker seeds is the attacker's own
    noise). Returns ``(cmap[name], per_attribute_ap[name][attribute])``, lists over seeds."""
    from veil.anonymizers.base import create_anonymizer
    from veil.protect import with_runtime

    cmaps: dict[str, list[float]] = {}
    per_attr: dict[str, dict[str, list[float]]] = {}
    for name, spec in specs.items():
        anon = with_runtime(create_anonymizer(str(spec)), "auto")
        prot_eval = [anon(im) for im in ev.eval_images]
        prot_train = [anon(im) for im in ev.train_images]
        attacks = [ev.learned_attack(prot_train, prot_eval, seed=s) for s in seeds]
        cmaps[name] = [float(a["cmap"]) for a in attacks]
        per_attr[name] = {k: [float(a["per_attribute_ap"][k]) for a in attacks] for k in attacks[0]["per_attribute_ap"]}
    return cmaps, per_attr


def summarize(results: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    keys = sorted({k for r in results for k in r["rows"]["trained"]}, key=lambda k: (k.startswith("ratio:"), k))
    lines = []
    for k in keys:
        tr = np.array([r["rows"]["trained"].get(k, np.nan) for r in results])
        s0 = np.array([r["rows"]["step0"].get(k, np.nan) for r in results])
        d = tr - s0

        def ms(v: np.ndarray) -> str:
            return f"{np.nanmean(v):.3f} ± {(np.nanmax(v) - np.nanmin(v)) / 2:.3f}"

        lines.append((k, ms(tr), ms(s0), ms(d)))
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--data-root", default="data")
    ap.add_argument("--out", default="runs/ablation")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--budget", type=int, default=1600)
    ap.add_argument("--attacker-seeds", type=int, default=0, metavar="K",
                    help="also train the learned attacker with K seeds on each model's protected images "
                         "and report cMAP per model as mean ± spread over them")
    ap.add_argument("--bounds", action="store_true",
                    help="with --attacker-seeds: also attack the unprotected images and blur:sigma=12 (every "
                         "pixel blurred) for the scale of cMAP on this split")
    ap.add_argument("--eval-only", action="store_true",
                    help="with --attacker-seeds: measure the models already in --out (seedN/model, "
                         "seedN/model-step0) without training or evaluating them again")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=JSON",
                    help="TrainConfig overrides, e.g. network_kwargs='{\"floor_categories\": [\"face\"]}'")
    a = ap.parse_args()
    overrides = {k: json.loads(v) for k, v in (s.split("=", 1) for s in a.set)}
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = prepare_scenario("street", root=a.data_root, seed=0, progress=False)
    if a.eval_only:
        if not a.attacker_seeds:
            ap.error("--eval-only needs --attacker-seeds")
        report_attacker_spread(manifest, out, a.seeds, a.attacker_seeds, a.bounds)
        return
    results = []
    for seed in a.seeds:
        results.append(run_seed(seed, manifest, out, a.steps, a.budget, overrides))
        atomic_write_text(out / "ablation.json", json.dumps({"overrides": overrides, "results": results}, indent=1))
        r = results[-1]
        print(f"seed {seed}: trained in {r['train_seconds']:.0f} s, levels {r['levels']}", flush=True)
    print(f"\n{len(results)} seeds, {a.steps} steps, budget {a.budget}, overrides {overrides or 'none'}")
    print(f"{'figure':<18} {'trained':<16} {'step 0':<16} {'trained - step 0':<16}")
    for k, tr, s0, d in summarize(results):
        print(f"{k:<18} {tr:<16} {s0:<16} {d:<16}")
    if a.attacker_seeds:
        report_attacker_spread(manifest, out, a.seeds, a.attacker_seeds, a.bounds)


def report_attacker_spread(manifest: Path, out: Path, seeds: list[int], k: int, bounds: bool = False) -> None:
    """cMAP and per-attribute AP of every trained model and of the step-0 model over ``k``
    attacker seeds (100-100+k), printed and written to ``attacker_seeds.json``; with
    ``bounds`` also of the unprotected images and of blur:sigma=12."""
    ev = Evaluator(manifest, EvalConfig(), progress=False)
    attacker_seeds = list(range(100, 100 + k))
    specs: dict[str, Path | str] = {f"trained seed {s}": out / f"seed{s}" / "model" for s in seeds}
    specs["step 0"] = out / f"seed{seeds[0]}" / "model-step0"
    if bounds:
        specs.update({"unprotected": "identity", "blur:sigma=12": "blur:sigma=12"})
    cmaps, per_attr = attacker_spread(ev, specs, attacker_seeds)
    prevalence = {a: float(v) for a, v in zip(ev.attributes, ev.y_eval.mean(axis=0), strict=True)}
    atomic_write_text(out / "attacker_seeds.json", json.dumps(
        {"attacker_seeds": attacker_seeds, "cmap": cmaps, "per_attribute_ap": per_attr,
         "test_prevalence": prevalence}, indent=1))
    base = np.array(cmaps["step 0"])
    attrs = list(per_attr["step 0"])
    print(f"\nlearned-attacker AP over {k} attacker seeds (mean ± half range; difference paired by attacker seed)")
    print(f"{'':<16} {'cMAP':<14} {'- step 0':<16} " + " ".join(f"{a:<11}" for a in attrs))
    print(f"{'prevalence':<16} {np.mean(list(prevalence.values())):<14.3f} {'':<16} "
          + " ".join(f"{prevalence[a]:<11.3f}" for a in attrs))
    for name, v in cmaps.items():
        arr = np.array(v)
        d = arr - base
        diff = "" if name == "step 0" else f"{d.mean():+.3f} ± {(d.max() - d.min()) / 2:.3f}"
        print(f"{name:<16} {arr.mean():.3f} ± {(arr.max() - arr.min()) / 2:.3f}  {diff:<16} "
              + " ".join(f"{np.mean(per_attr[name][a]):<11.3f}" for a in attrs))


if __name__ == "__main__":
    main()
