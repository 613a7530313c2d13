"""Query efficiency of the zeroth-order estimators (METHOD.md §2.4-2.5) at a fixed query budget.

Every estimator (``history``, ``rge``, ``spsa``; with ``--ablation`` also ``history`` with
each switch off) trains the same anonymizer from the same seed, on the same data, with the
same number of paid black-box queries per step and the same total budget. Training is
utility-only (``pareto="weighted"``, ``w=1``): the privacy gradient is computed but gets
weight 0, so only the utility estimate moves the network (the estimator is isolated).

Two curves per run, both against the *training* queries paid so far (x-axis):

- the training utility loss ``loss_utility`` of each step (mean over the batch's perturbed
  queries), smoothed by a trailing running mean over ``--smooth`` steps. It is noisy: every
  step sees other items (critical-item replay favours hard items, so it also drifts);
- the probe loss: every ``--probe-every`` steps the current network anonymizes a FIXED set
  of ``--probe-items`` training items (evenly spaced, the same for every run) and the mean
  ``-log p(correct)`` over all their questions is measured with a separate instance of the
  same black box, without perturbation. Probe queries are accounting-separate: they are not
  paid from the budget and not on the x-axis. This is the fair comparison.

Reported: L* = RGE's final smoothed loss (seed mean); the training queries each estimator
needs to first reach L* (first point of its seed-mean smoothed curve <= L*); the ratio
``queries_history / queries_rge`` (target of the issue: <= 0.5); the final losses per
seed. Curves go to ``curves.json`` and ``query_efficiency.png`` in ``--out``.

    .venv/bin/python benchmarks/query_efficiency.py --manifest /tmp/lead_data/street/manifest.jsonl
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from veil.blackbox import create_blackbox
from veil.data.questions import format_prompt
from veil.errors import BudgetExceededError
from veil.train import TrainConfig, Trainer, utility_loss

#: name -> (estimator, estimator_kwargs)
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "history": ("history", {}),
    "rge": ("rge", {}),
    "spsa": ("spsa", {}),
    "history-no-history": ("history", {"use_history": False}),
    "history-no-item-prior": ("history", {"item_prior": False}),
    "history-fixed-alpha": ("history", {"adapt_alpha": False}),
    "history-no-param-history": ("history", {"param_history": False}),
    "history-param-only": ("history", {"use_history": False, "item_prior": False}),
}
ABLATION = ["history-no-history", "history-no-item-prior", "history-fixed-alpha", "history-no-param-history",
            "history-param-only"]


def running_mean(values: list[float], window: int) -> list[float]:
    """Trailing running mean: point i is the mean of values[max(0, i - window + 1) : i + 1]."""
    v = np.asarray(values, dtype=float)
    c = np.concatenate([[0.0], np.cumsum(v)])
    idx = np.arange(len(v))
    lo = np.maximum(0, idx - window + 1)
    return ((c[idx + 1] - c[lo]) / (idx + 1 - lo)).tolist()


def first_reach(xs: list[float], ys: list[float], target: float) -> float | None:
    """First x whose y is <= target (None if never)."""
    for x, y in zip(xs, ys, strict=True):
        if y <= target + 1e-12:
            return float(x)
    return None


class Probe:
    """Mean utility loss of the current network on a fixed set of items (not paid, not counted)."""

    def __init__(self, trainer: Trainer, n_items: int) -> None:
        n = len(trainer.items)
        self.idx = sorted(set(np.linspace(0, n - 1, min(n_items, n)).round().astype(int).tolist()))
        self.blackbox = create_blackbox(trainer.cfg.backend, **trainer.cfg.backend_kwargs)
        self.queries = 0

    def __call__(self, trainer: Trainer) -> float:
        net = trainer.net
        net.eval()
        with torch.no_grad():
            xt = net(trainer.x_all[self.idx].float().div(255.0)).permute(0, 2, 3, 1).numpy()
        net.train()
        losses = []
        for b, i in enumerate(self.idx):
            im = (np.clip(xt[b], 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
            for q in trainer.items[i].queries:
                ans = self.blackbox.query([im], format_prompt(q.prompt, q.choices), q.choices)
                losses.append(utility_loss(ans.text, ans.logprobs, set(q.answers), trainer.cfg.utility_mode))
                self.queries += 1
        return float(np.mean(losses))


def run_one(name: str, seed: int, args: argparse.Namespace, out: Path, bar: tqdm) -> dict[str, Any]:
    """Train one variant for one seed up to the budget; the curves of this run."""
    estimator, est_kwargs = VARIANTS[name]
    net_kwargs: dict[str, Any] = {}
    network = "unet"
    if args.start == "blurred":  # a masked blur that starts fully on: utility has to be recovered
        network, net_kwargs = "masked", {"mask_init": args.mask_init, "sigma": args.start_sigma, "width": 8}
    cfg = TrainConfig(
        network=network, network_kwargs=net_kwargs, image_width=args.width, image_height=args.height,
        estimator=estimator, lr=args.lr,
        estimator_kwargs=dict(est_kwargs),
        num_directions=args.num_directions, batch_size=args.batch_size, pareto="weighted",
        pareto_kwargs={"w": 1.0}, naturalness=args.naturalness, budget=args.budget, steps=10**6, seed=seed,
        concurrency=args.concurrency, adversaries=[],  # utility only (w = 1): no detector adversaries to build
    )
    run_dir = out / "runs" / f"{name}-seed{seed}"
    shutil.rmtree(run_dir, ignore_errors=True)  # a fresh cache: nothing is free across runs
    t0 = time.perf_counter()
    trainer = Trainer(args.manifest, run_dir, cfg, progress=False)
    probe = Probe(trainer, args.probe_items)
    steps: list[dict[str, Any]] = []
    probes = [{"step": 0, "queries": 0, "loss": probe(trainer)}]
    while trainer.queries_paid + cfg.queries_per_step <= args.budget:
        try:
            rec = trainer.step()
        except BudgetExceededError:
            break
        steps.append({k: rec[k] for k in ("step", "queries_paid", "loss_utility", "loss_naturalness", "cache_hits")
                      if k in rec} | ({"alpha": rec["alpha"]} if "alpha" in rec else {}))
        last = trainer.queries_paid + cfg.queries_per_step > args.budget
        if rec["step"] % args.probe_every == 0 or last:
            probes.append({"step": rec["step"], "queries": rec["queries_paid"], "loss": probe(trainer)})
        bar.update(cfg.queries_per_step)
        bar.set_postfix(run=f"{name}/s{seed}", L_U=f"{rec['loss_utility']:.3f}", probe=f"{probes[-1]['loss']:.3f}")
    trainer.engine.close()
    return {
        "name": name, "seed": seed, "estimator": estimator, "estimator_kwargs": est_kwargs,
        "queries": [s["queries_paid"] for s in steps],
        "loss": [s["loss_utility"] for s in steps],
        "smoothed": running_mean([s["loss_utility"] for s in steps], args.smooth),
        "steps": steps, "probe": probes,
        "probe_queries_unpaid": probe.queries,
        "seconds": time.perf_counter() - t0,
    }


def seed_mean(runs: list[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    """x and the mean over seeds of curve ``key`` (truncated to the shortest run)."""
    if key == "probe":
        n = min(len(r["probe"]) for r in runs)
        xs = [float(p["queries"]) for p in runs[0]["probe"][:n]]
        ys = np.mean([[p["loss"] for p in r["probe"][:n]] for r in runs], axis=0)
        return xs, ys.tolist()
    n = min(len(r[key]) for r in runs)
    return [float(q) for q in runs[0]["queries"][:n]], np.mean([r[key][:n] for r in runs], axis=0).tolist()


def summarize(results: dict[str, list[dict[str, Any]]], smooth_probe: int, window: int) -> dict[str, Any]:
    """L*, queries to reach it and the ratios, on the training curve and on the probe curve."""
    summary: dict[str, Any] = {}
    for curve in ("smoothed", "probe"):
        means = {}
        for name, runs in results.items():
            xs, ys = seed_mean(runs, curve)
            if curve == "probe":
                ys = running_mean(ys, smooth_probe)
            means[name] = (xs, ys)
        if "rge" not in means:
            summary[curve] = {"curves": {k: {"x": v[0], "y": v[1]} for k, v in means.items()}}
            continue
        l_star = means["rge"][1][-1]
        # the training curve counts from its first full running-mean window (earlier points average fewer steps)
        skip = max(0, window - 1) if curve == "smoothed" else 0
        start = {k: v[1][min(skip, len(v[1]) - 1)] for k, v in means.items()}
        reach = {k: first_reach(v[0][skip:], v[1][skip:], l_star) for k, v in means.items()}
        q_rge = reach["rge"]
        ratio = {k: (r / q_rge if r is not None and q_rge else None) for k, r in reach.items()}
        summary[curve] = {
            "l_star": l_star, "start": start, "reach_queries": reach, "ratio_vs_rge": ratio,
            "final": {k: v[1][-1] for k, v in means.items()}, "first_point_counted": skip,
            "degenerate": bool(min(start.values()) <= l_star),
            "curves": {k: {"x": v[0], "y": v[1]} for k, v in means.items()},
        }
    return summary


def fmt(v: float | None, spec: str = ".3f") -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def print_tables(results: dict[str, list[dict[str, Any]]], summary: dict[str, Any], budget: int) -> None:
    print()
    print(f"{'estimator':<24} {'seeds':>5} {'final train L_U (sm.)':>22} {'probe L_U start':>16} "
          f"{'final probe L_U':>16} {'mean probe L_U':>15} {'s/run':>6}")
    for name, runs in results.items():
        tr = [r["smoothed"][-1] for r in runs]
        p0 = [r["probe"][0]["loss"] for r in runs]
        pf = [r["probe"][-1]["loss"] for r in runs]
        pm = [float(np.mean([p["loss"] for p in r["probe"][1:]])) for r in runs]
        sec = np.mean([r["seconds"] for r in runs])
        print(f"{name:<24} {len(runs):>5} {np.mean(tr):>12.3f} ± {np.std(tr):<7.3f} {np.mean(p0):>16.3f} "
              f"{np.mean(pf):>8.3f} ± {np.std(pf):<5.3f} {np.mean(pm):>7.3f} ± {np.std(pm):<5.3f} {sec:>6.0f}")
        print(f"{'':<24} {'':>5} per seed: train {', '.join(f'{v:.3f}' for v in tr)}; "
              f"final probe {', '.join(f'{v:.3f}' for v in pf)}; mean probe {', '.join(f'{v:.3f}' for v in pm)}")
    print("(mean probe L_U: mean over the probes after step 0, i.e. the area under the probe curve / budget)")
    for curve, label in (("smoothed", "training loss, running mean"), ("probe", "fixed probe set")):
        s = summary.get(curve, {})
        if "l_star" not in s:
            continue
        print()
        print(f"[{label}] L* = RGE's final seed-mean value = {s['l_star']:.3f}; budget {budget} training queries")
        if s["degenerate"]:
            print("  note: some curve starts at or below L*, so 'first reach' is reached at the first point "
                  "(the loss did not decrease from its start); read the final losses instead")
        if s["first_point_counted"]:
            print(f"  (start = first full window, step {s['first_point_counted'] + 1}; reach is counted from there)")
        print(f"  {'estimator':<24} {'start':>7} {'final':>7} {'queries to reach L*':>20} {'ratio vs rge':>13}")
        for name in results:
            r = s["reach_queries"][name]
            reach = fmt(r, ".0f") if r is not None else f"> {budget} (never)"
            print(f"  {name:<24} {s['start'][name]:>7.3f} {s['final'][name]:>7.3f} {reach:>20} "
                  f"{fmt(s['ratio_vs_rge'][name], '.2f'):>13}")
        h = s["ratio_vs_rge"].get("history")
        verdict = "-" if h is None else ("met" if h <= 0.5 else "not met")
        print(f"  queries_history / queries_rge = {fmt(h, '.2f')} (target <= 0.5: {verdict})")


def plot(results: dict[str, list[dict[str, Any]]], summary: dict[str, Any], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, curve, ylabel in ((axes[0], "smoothed", "training utility loss (running mean)"),
                              (axes[1], "probe", "utility loss on the fixed probe set")):
        s = summary[curve]
        for k, name in enumerate(results):
            c = colors[k % len(colors)]
            for r in results[name]:  # thin per-seed lines
                if curve == "probe":
                    ax.plot([p["queries"] for p in r["probe"]], [p["loss"] for p in r["probe"]], color=c,
                            alpha=0.25, lw=0.8)
                else:
                    ax.plot(r["queries"], r["smoothed"], color=c, alpha=0.25, lw=0.8)
            cv = s["curves"][name]
            ax.plot(cv["x"], cv["y"], color=c, lw=2.2, label=f"{name} (mean of {len(results[name])} seeds)",
                    marker="o" if curve == "probe" else None, ms=3)
        if "l_star" in s:
            ax.axhline(s["l_star"], color="k", ls="--", lw=1, label=f"L* (RGE final) = {s['l_star']:.3f}")
        ax.set_xlabel("training queries paid (probe queries not counted)")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def replot(out: Path, args: argparse.Namespace) -> int:
    """Tables and plot again from a saved curves.json (smoothing options from the command line)."""
    path = out / "curves.json"
    if not path.is_file():
        print(f"--replot: no {path}; run the benchmark first", file=sys.stderr)
        return 2
    data = json.loads(path.read_text())
    results, meta = data["runs"], data["meta"]
    for runs in results.values():
        for r in runs:
            r["smoothed"] = running_mean(r["loss"], args.smooth)
    summary = summarize(results, args.smooth_probe, args.smooth)
    budget = int(meta["args"]["budget"])
    print(f"replot of {path} (measured {meta['started_utc']} by: {meta['command']})")
    print_tables(results, summary, budget)
    data["summary"] = summary
    path.write_text(json.dumps(data, indent=1))
    a = meta["args"]
    title = (f"Query efficiency, utility-only, {a['width']}x{a['height']}, {meta['queries_per_step']} queries/step, "
             f"seeds {a['seeds']}, {meta['started_utc'][:10]}")
    plot(results, summary, out / "query_efficiency.png", title)
    print(f"wrote {path} and {out / 'query_efficiency.png'}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", default=os.environ.get("VEIL_BENCH_MANIFEST", "data/street/manifest.jsonl"),
                    help="street scenario manifest (build one with `veil data street` or prepare_scenario)")
    ap.add_argument("--budget", type=int, default=448, help="paid training queries per run (same for every run)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="seeds; every variant runs each")
    ap.add_argument("--out", default="runs/bench/query_efficiency", help="output folder")
    ap.add_argument("--estimators", nargs="+", default=["history", "rge", "spsa"], choices=list(VARIANTS))
    ap.add_argument("--ablation", action="store_true", help="also history with each switch off: " + ", ".join(ABLATION))
    ap.add_argument("--width", type=int, default=160, help="training width (the trainer's default is 320)")
    ap.add_argument("--height", type=int, default=120, help="training height (the trainer's default is 240)")
    ap.add_argument("--batch-size", type=int, default=2, help="items per step (the trainer's default is 4)")
    ap.add_argument("--num-directions", type=int, default=8,
                    help="antithetic pairs per item, 2 queries each (the trainer's default is 4, with which the "
                         "history estimator's alpha adaptation cannot run: it needs more pairs than basis vectors)")
    ap.add_argument("--naturalness", type=float, default=1.0, help="weight of the L1 tie to the input")
    ap.add_argument("--start", choices=["identity", "blurred"], default="identity",
                    help="identity: a UNet at the identity (little utility to gain); blurred: a masked blur that "
                         "starts fully on, so the estimators must find where to unmask (use --naturalness 0)")
    ap.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate of the anonymizer (trainer default)")
    ap.add_argument("--mask-init", type=float, default=3.0, help="--start blurred: initial mask logit")
    ap.add_argument("--start-sigma", type=float, default=4.0, help="--start blurred: blur sigma in pixels")
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--probe-items", type=int, default=12, help="fixed probe items (all their questions)")
    ap.add_argument("--probe-every", type=int, default=2, help="steps between probe evaluations")
    ap.add_argument("--smooth", type=int, default=5, help="running-mean window of the training loss, in steps")
    ap.add_argument("--smooth-probe", type=int, default=1, help="running-mean window of the probe curve, in probes")
    ap.add_argument("--replot", action="store_true",
                    help="no training: reread --out/curves.json, print the tables and redraw the plot")
    args = ap.parse_args()
    if not args.replot and not Path(args.manifest).is_file():
        print(f"manifest not found: {args.manifest}; build the street scenario (veil.data.scenarios."
              "prepare_scenario('street', root)) and pass --manifest", file=sys.stderr)
        return 2
    out = Path(args.out)
    if args.replot:
        return replot(out, args)
    names = list(dict.fromkeys(args.estimators + (ABLATION if args.ablation else [])))
    out.mkdir(parents=True, exist_ok=True)
    qps = args.batch_size * 2 * args.num_directions
    steps = args.budget // qps
    if steps < 1:
        print(f"--budget {args.budget} cannot pay one step ({qps} queries)", file=sys.stderr)
        return 2
    started = datetime.now(UTC)
    print(f"{len(names)} variants x {len(args.seeds)} seeds; budget {args.budget} queries = {steps} steps of "
          f"{qps} ({args.batch_size} items x {args.num_directions} antithetic pairs); {args.width}x{args.height}; "
          f"utility-only (weighted w=1), naturalness {args.naturalness}; probe {args.probe_items} items every "
          f"{args.probe_every} steps; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    results: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    t0 = time.perf_counter()
    with tqdm(total=len(names) * len(args.seeds) * steps * qps, desc="training queries", unit="q") as bar:
        for seed in args.seeds:
            for name in names:
                results[name].append(run_one(name, seed, args, out, bar))
    wall = time.perf_counter() - t0
    summary = summarize(results, args.smooth_probe, args.smooth)
    print_tables(results, summary, args.budget)
    alphas = [s["alpha"] for r in results.get("history", []) for s in r["steps"] if "alpha" in s]
    if alphas:
        print(f"\nhistory alpha over training: min {min(alphas):.3f}, max {max(alphas):.3f}, last {alphas[-1]:.3f}")
    probe_q = sum(r["probe_queries_unpaid"] for runs in results.values() for r in runs)
    print(f"wall time {wall:.0f} s; unpaid probe queries {probe_q}; load average {os.getloadavg()[0]:.2f}")
    meta = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "started_utc": started.isoformat(timespec="seconds"),
        "wall_seconds": wall, "args": vars(args), "queries_per_step": qps, "steps_per_run": steps,
        "x_axis": "training queries paid (probe queries are not counted)",
    }
    (out / "curves.json").write_text(json.dumps({"meta": meta, "summary": summary, "runs": results}, indent=1))
    title = (f"Query efficiency, utility-only, {args.width}x{args.height}, {qps} queries/step, seeds {args.seeds}, "
             f"{started:%Y-%m-%d}")
    plot(results, summary, out / "query_efficiency.png", title)
    print(f"wrote {out / 'curves.json'} and {out / 'query_efficiency.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
