"""Utility-privacy fronts of the Pareto rules (METHOD.md §2.6) against a weighted-sum sweep.

Each point is one short training run (same seed, data, estimator, budget) with one rule
setting, followed by the evaluation protocol (METHOD.md §3) on the test split:

- ``mgda`` (min-norm, EMA 0.9 of g_u): one point (it has no preference knob);
- ``preference`` (Tchebycheff, ideal point 0): one point per ray ``r_u`` in ``--rays``;
- ``weighted`` (``d = w g_u + (1 - w) g_p``): one point per ``w`` in ``--weights``.

Every rule gets the same gradient normalization (``--normalize``, default ``norm``: both
gradients to unit norm before combining, as METHOD.md §2.6 says). With the rules' own
defaults (``--normalize rule-default``: weighted and preference use ``none``) the ZO utility
gradient is 10-300x larger than the exact privacy gradient, so every weight w in (0, 1) gives
nearly the same utility-only direction and the "sweep" is a sweep of noise.

Every trained anonymizer is evaluated by ``veil.evaluate.Evaluator`` (reference black box,
learned CNN attacker trained from scratch on protected train-split images): utility =
``metrics["utility"]["protected"]["overall"]`` (accuracy), privacy = learned-attacker cMAP
(lower is more private). Both objectives are minimized as (1 - utility, cMAP); the
hypervolume of each rule's set of points is taken against the reference point ``--ref``
(default (1, 1): the worst value of each), and the union's non-dominated front is marked.
The unprotected images (identity) are shown for reference (same attacker, raw images).

The runs are tiny by default (a few steps each) so the whole sweep fits in about 6 minutes on
2 cores: read differences between rules as indicative at best; a point's cMAP moves by a few
hundredths between attacker seeds alone.

    .venv/bin/python benchmarks/pareto_rules.py --manifest /tmp/lead_data/street/manifest.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from veil.config import EvalConfig
from veil.errors import BudgetExceededError
from veil.evaluate import Evaluator
from veil.optim import hypervolume, non_dominated_mask
from veil.train import TrainConfig, Trainer

RULE_ORDER = ("mgda", "preference", "weighted")


def settings(args: argparse.Namespace) -> list[tuple[str, str, dict[str, Any]]]:
    """(rule, label, pareto_kwargs) for every run of the sweep."""
    norm = {} if args.normalize == "rule-default" else {"normalize": args.normalize}
    out: list[tuple[str, str, dict[str, Any]]] = []
    out += [("mgda", "mgda", dict(norm))] if args.mgda else []
    out += [("preference", f"pref r_u={r:g}", {"r_u": r, **norm}) for r in args.rays]
    out += [("weighted", f"w={w:g}", {"w": w, **norm}) for w in args.weights]
    return out


def train_one(rule: str, kwargs: dict[str, Any], label: str, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """One short training run; the trained anonymizer and the training log."""
    cfg = TrainConfig(
        network="unet", image_width=args.width, image_height=args.height, pareto=rule, pareto_kwargs=dict(kwargs),
        estimator=args.estimator, num_directions=args.num_directions, batch_size=args.batch_size, lr=args.lr,
        evaluator_steps=args.evaluator_steps, steps=args.steps, budget=args.steps * args.batch_size *
        2 * args.num_directions, seed=args.seed, concurrency=args.concurrency,
        adversaries=[],  # the attribute evaluator alone, as when these fronts were first measured
    )
    run_dir = out / "runs" / label.replace(" ", "_").replace("=", "")
    shutil.rmtree(run_dir, ignore_errors=True)
    t0 = time.perf_counter()
    trainer = Trainer(args.manifest, run_dir, cfg, progress=False)
    log = []
    for _ in range(cfg.steps):
        try:
            rec = trainer.step()
        except BudgetExceededError:
            break
        log.append({k: v for k, v in rec.items() if isinstance(v, int | float)})
    trainer.engine.close()
    return {"anonymizer": trainer.anonymizer(), "log": log, "train_seconds": time.perf_counter() - t0,
            "queries_paid": trainer.queries_paid}


def plot(points: list[dict[str, Any]], reference: dict[str, float], hv: dict[str, float], path: Path,
         title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9.5, 5.6))
    style = {"mgda": ("tab:red", "D"), "preference": ("tab:blue", "s"), "weighted": ("tab:green", "o")}
    for rule in RULE_ORDER:
        pts = [p for p in points if p["rule"] == rule]
        if not pts:
            continue
        c, m = style[rule]
        x = np.array([p["cmap"] for p in pts])
        y = np.array([p["utility"] for p in pts])
        obj = np.stack([1.0 - y, x], axis=1)
        front = non_dominated_mask(obj)
        ax.scatter(x, y, color=c, marker=m, s=45, label=f"{rule} (HV {hv[rule]:.4f})", zorder=3)
        order = np.argsort(x[front])
        ax.plot(x[front][order], y[front][order], color=c, lw=1.2, alpha=0.8)
        for p in pts:
            ax.annotate(p["label"].replace(f"{rule} ", ""), (p["cmap"], p["utility"]), fontsize=7,
                        xytext=(4, 3), textcoords="offset points", color=c)
    allp = np.array([[1.0 - p["utility"], p["cmap"]] for p in points])
    union = non_dominated_mask(allp)
    ax.scatter([p["cmap"] for p, f in zip(points, union, strict=True) if f],
               [p["utility"] for p, f in zip(points, union, strict=True) if f],
               s=150, facecolors="none", edgecolors="k", lw=1.2, label="non-dominated (all rules)", zorder=4)
    ax.scatter([reference["cmap"]], [reference["utility"]], marker="*", s=160, color="k",
               label="unprotected (raw images)", zorder=5)
    ax.axvline(reference["prior_cmap"], color="gray", ls=":", lw=1, label="constant-prior cMAP")
    ax.set_xlabel("learned-attacker cMAP (lower = more private)")
    ax.set_ylabel("utility: black-box accuracy on protected test images")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def replot(out: Path) -> int:
    """Redraw the plot from a saved fronts.json."""
    path = out / "fronts.json"
    if not path.is_file():
        print(f"--replot: no {path}; run the benchmark first", file=sys.stderr)
        return 2
    data = json.loads(path.read_text())
    meta, points = data["meta"], data["points"]
    a = meta["args"]
    r = meta["ref"]
    title = (f"Pareto rules, {len(points)} runs x {a['steps'] * meta['queries_per_step']} queries, "
             f"{a['width']}x{a['height']}, seed {a['seed']}, {meta['started_utc'][:10]}; HV ref ({r[0]:g}, {r[1]:g})")
    plot(points, data["reference"], data["hypervolume"], out / "pareto_rules.png", title)
    print(f"redrew {out / 'pareto_rules.png'} from {path} (measured {meta['started_utc']} by: {meta['command']})")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", default=os.environ.get("VEIL_BENCH_MANIFEST", "data/street/manifest.jsonl"),
                    help="street scenario manifest (build one with veil.data.scenarios.prepare_scenario)")
    ap.add_argument("--out", default="runs/bench/pareto_rules", help="output folder")
    ap.add_argument("--steps", type=int, default=10, help="training steps per run (budget = steps x queries/step)")
    ap.add_argument("--weights", type=float, nargs="*", default=[0.1, 0.3, 0.5, 0.7, 0.9], help="weighted: w")
    ap.add_argument("--rays", type=float, nargs="*", default=[0.25, 0.5, 0.75], help="preference: r_u (r_p = 1 - r_u)")
    ap.add_argument("--no-mgda", dest="mgda", action="store_false", help="skip the mgda run")
    ap.add_argument("--normalize", default="norm", choices=["norm", "loss", "none", "rule-default"],
                    help="gradient normalization given to every rule (METHOD.md §2.6 normalizes before combining); "
                         "rule-default: each rule's own default (mgda norm, preference and weighted none)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--estimator", default="history", choices=["history", "rge", "spsa"])
    ap.add_argument("--width", type=int, default=160, help="training width (the trainer's default is 320)")
    ap.add_argument("--height", type=int, default=120, help="training height (the trainer's default is 240)")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--num-directions", type=int, default=2, help="antithetic pairs per item (2 queries each)")
    ap.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate (the trainer's default is 2e-3)")
    ap.add_argument("--evaluator-steps", type=int, default=2, help="privacy-evaluator updates per step")
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--eval-items", type=int, default=16, help="EvalConfig.max_eval_items (test split)")
    ap.add_argument("--attacker-items", type=int, default=48, help="EvalConfig.max_train_items (attacker training)")
    ap.add_argument("--attacker-epochs", type=int, default=6, help="EvalConfig.attacker_epochs")
    ap.add_argument("--ref", type=float, nargs=2, default=[1.0, 1.0], metavar=("ONE_MINUS_U", "CMAP"),
                    help="hypervolume reference point in (1 - utility, cMAP)")
    ap.add_argument("--replot", action="store_true", help="no training: redraw the plot from --out/fronts.json")
    args = ap.parse_args()
    if args.replot:
        return replot(Path(args.out))
    if not Path(args.manifest).is_file():
        print(f"manifest not found: {args.manifest}; build the street scenario and pass --manifest", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = settings(args)
    qps = args.batch_size * 2 * args.num_directions
    started = datetime.now(UTC)
    print(f"{len(runs)} runs x {args.steps} steps of {qps} queries ({args.steps * qps} per run), "
          f"{args.width}x{args.height}, estimator {args.estimator}, lr {args.lr}; eval: {args.eval_items} test items, "
          f"attacker on {args.attacker_items} items x {args.attacker_epochs} epochs; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    t0 = time.perf_counter()
    ecfg = EvalConfig(max_eval_items=args.eval_items, max_train_items=args.attacker_items,
                      attacker_epochs=args.attacker_epochs, workers=1, seed=args.seed)
    evaluator = Evaluator(args.manifest, ecfg, progress=False)
    ref = evaluator.reference()
    reference = {"utility": ref["utility"]["overall"], "cmap": ref["raw_attacker"]["cmap"],
                 "prior_cmap": ref["prior_attacker"]["cmap"]}
    print(f"unprotected: utility {reference['utility']:.3f}, raw cMAP {reference['cmap']:.3f}, "
          f"constant-prior cMAP {reference['prior_cmap']:.3f} ({ref['seconds']:.0f} s)")
    points: list[dict[str, Any]] = []
    for rule, label, kwargs in tqdm(runs, desc="rule settings"):
        tr = train_one(rule, kwargs, label, args, out)
        te = time.perf_counter()
        m = evaluator.evaluate(tr["anonymizer"])
        last = tr["log"][-1] if tr["log"] else {}
        points.append({
            "rule": rule, "label": label, "pareto_kwargs": kwargs,
            "utility": m["utility"]["protected"]["overall"],
            "cmap": m["privacy"]["learned_attacker"]["cmap"],
            "f1": m["privacy"]["learned_attacker"]["f1"],
            "utility_families": m["utility"]["protected"]["families"],
            "queries_paid": tr["queries_paid"], "train_seconds": tr["train_seconds"],
            "eval_seconds": time.perf_counter() - te,
            "last_step": last, "train_log": tr["log"],
        })
        p = points[-1]
        lu, lp = last.get("loss_utility", float("nan")), last.get("loss_privacy", float("nan"))
        tqdm.write(f"  {label:<16} utility {p['utility']:.3f}  cMAP {p['cmap']:.3f}  "
                   f"(last step L_U {lu:.3f}, L_P {lp:.3f}; "
                   f"train {p['train_seconds']:.0f} s, eval {p['eval_seconds']:.0f} s)")
    wall = time.perf_counter() - t0
    r = np.array(args.ref, dtype=float)
    hv: dict[str, float] = {}
    print()
    print(f"{'rule':<12} {'points':>6} {'hypervolume':>12} {'HV / point':>11}  points (utility, cMAP)")
    for rule in RULE_ORDER:
        pts = [p for p in points if p["rule"] == rule]
        if not pts:
            continue
        obj = np.array([[1.0 - p["utility"], p["cmap"]] for p in pts])
        hv[rule] = hypervolume(obj, r)
        desc = ", ".join(f"{p['label'].replace(rule + ' ', '')}: ({p['utility']:.3f}, {p['cmap']:.3f})" for p in pts)
        print(f"{rule:<12} {len(pts):>6} {hv[rule]:>12.4f} {hv[rule] / len(pts):>11.4f}  {desc}")
    allobj = np.array([[1.0 - p["utility"], p["cmap"]] for p in points])
    hv_all = hypervolume(allobj, r)
    hv_raw = hypervolume(np.array([[1.0 - reference["utility"], reference["cmap"]]]), r)
    front = [p["label"] for p, f in zip(points, non_dominated_mask(allobj), strict=True) if f]
    print(f"{'all rules':<12} {len(points):>6} {hv_all:>12.4f}  non-dominated: {', '.join(front)}")
    print(f"{'unprotected':<12} {1:>6} {hv_raw:>12.4f}  (identity: utility {reference['utility']:.3f}, "
          f"cMAP {reference['cmap']:.3f})")
    ratios = {k: v / hv["weighted"] for k, v in hv.items()} if hv.get("weighted") else {}
    if ratios:
        print("HV ratio vs weighted: " + ", ".join(f"{k} {v:.3f}" for k, v in ratios.items()))
    print(f"wall time {wall:.0f} s; reference point (1 - utility, cMAP) = ({r[0]:g}, {r[1]:g}); "
          f"load average {os.getloadavg()[0]:.2f}")
    meta = {"command": " ".join([Path(sys.executable).name, *sys.argv]),
            "started_utc": started.isoformat(timespec="seconds"), "wall_seconds": wall, "args": vars(args),
            "queries_per_step": qps, "objectives": "minimize (1 - utility, cMAP)", "ref": r.tolist()}
    result = {"meta": meta, "reference": reference, "hypervolume": hv, "hypervolume_all": hv_all,
              "hypervolume_unprotected": hv_raw, "non_dominated": front, "points": points}
    (out / "fronts.json").write_text(json.dumps(result, indent=1))
    title = (f"Pareto rules, {len(runs)} runs x {args.steps * qps} queries, {args.width}x{args.height}, "
             f"seed {args.seed}, {started:%Y-%m-%d}; HV ref ({r[0]:g}, {r[1]:g})")
    plot(points, reference, hv, out / "pareto_rules.png", title)
    print(f"wrote {out / 'fronts.json'} and {out / 'pareto_rules.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
