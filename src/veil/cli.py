"""The ``veil`` command: parses arguments and calls the library. Nothing else lives here."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from veil import __version__
from veil.errors import VeilError


def _cmd_data_prepare(a: argparse.Namespace) -> int:
    from veil.data.scenarios import prepare_scenario

    path = prepare_scenario(a.name, root=a.root, seed=a.seed, progress=not a.quiet)
    print(path)
    return 0


def _cmd_data_check(a: argparse.Namespace) -> int:
    from veil.data.manifest import load_manifest, validate_manifest

    problems = validate_manifest(a.manifest, check_files=not a.no_files)
    for p in problems:
        print(f"{a.manifest}: {p}", file=sys.stderr)
    if problems:
        print(f"veil: {a.manifest}: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    items = load_manifest(a.manifest, check_files=False)
    splits = {s: sum(it.split == s for it in items) for s in ("train", "val", "test")}
    print(f"{a.manifest}: OK, {len(items)} items (" + ", ".join(f"{k} {v}" for k, v in splits.items()) + ")")
    return 0


def _eval_config(a: argparse.Namespace):  # noqa: ANN202
    from veil.config import EvalConfig

    return EvalConfig(
        split=a.split,
        blackbox=a.blackbox,
        attacker=a.attacker,
        attacker_epochs=a.attacker_epochs,
        max_eval_items=a.max_items,
        seed=a.seed,
    )


def _cmd_eval(a: argparse.Namespace) -> int:
    from veil.evaluate import evaluate_anonymizer
    from veil.report import format_table, summary_row

    m = evaluate_anonymizer(a.data, a.anonymizer, a.out, _eval_config(a), progress=not a.quiet)
    print(format_table([summary_row(m)]))
    u = m["utility"]["unprotected"]["overall"]
    la = m["privacy"]["learned_attacker"]
    print(f"unprotected utility {u:.3f}; attacker cMAP raw {la['raw_cmap']:.3f}, prior {la['prior_cmap']:.3f}")
    print(f"wrote {a.out}/metrics.json and {a.out}/grid.png")
    return 0


def _cmd_train(a: argparse.Namespace) -> int:
    from veil.train import TrainConfig, train

    overrides = {
        "budget": a.budget, "pareto": a.pareto, "estimator": a.estimator, "steps": a.steps,
        "backend": a.backend, "network": a.network, "utility_mode": a.utility_mode, "seed": a.seed,
    }
    if a.config:
        cfg = TrainConfig.from_yaml(a.config, **overrides)
    else:
        cfg = TrainConfig.from_dict({k: v for k, v in overrides.items() if v is not None}, "command line")
    model = train(a.data, a.out, cfg, resume=a.resume, progress=not a.quiet, privacy_manifest=a.privacy_data)
    print(f"model saved to {model} (use it as --anonymizer {model})")
    return 0


def _cmd_demo(a: argparse.Namespace) -> int:
    from veil.config import DemoConfig
    from veil.demo import run_demo

    cfg = DemoConfig.preset(a.quick, out=a.out, data_root=a.data_root, seed=a.seed, anonymizers=a.anonymizers)
    run_demo(cfg, progress=not a.quiet)
    return 0


def _cmd_list(a: argparse.Namespace) -> int:
    import veil.anonymizers
    import veil.blackbox
    import veil.privacy  # noqa: F401
    from veil.anonymizers.base import ANONYMIZERS
    from veil.blackbox.base import BLACKBOXES
    from veil.data.scenarios import SCENARIOS
    from veil.privacy.base import ATTACKERS

    for cls_name in ANONYMIZERS.names():
        cls = ANONYMIZERS.get(cls_name)
        sp = getattr(cls, "strength_param", None)
        sweep = ", ".join(f"{x:g}" for x in getattr(cls, "default_strengths", ()))
        print(f"anonymizer  {cls_name}" + (f"  (strength: {sp} = {sweep})" if sp else ""))
    for n in BLACKBOXES.names():
        print(f"blackbox    {n}")
    for n in ATTACKERS.names():
        print(f"attacker    {n}")
    for n in sorted(SCENARIOS):
        print(f"scenario    {n}")
    return 0


def _cmd_serve_reference(a: argparse.Namespace) -> int:
    import os

    from veil.blackbox.server import FaultConfig, serve

    faults = None
    if a.fault_rate > 0:
        faults = FaultConfig(rate=a.fault_rate, kinds=FaultConfig.parse_kinds(a.fault_kinds), seed=a.fault_seed,
                             retry_after=a.fault_retry_after, hang_seconds=a.fault_hang_seconds)
    api_key = os.environ.get(a.require_api_key_env) if a.require_api_key_env else None
    if a.require_api_key_env and not api_key:
        from veil.errors import ConfigError

        raise ConfigError(f"--require-api-key-env {a.require_api_key_env}: that environment variable is not set")

    def ready(url: str) -> None:
        print(f"veil: serving {a.blackbox.partition(':')[0]} at {url}", flush=True)

    serve(a.host, a.port, a.blackbox, faults, api_key, a.log_level, on_ready=ready)
    return 0


def _cmd_ask(a: argparse.Namespace) -> int:
    from veil.anonymizers.base import create_anonymizer
    from veil.blackbox.engine import ask, build_backend
    from veil.media import load_image

    image = load_image(a.image)
    anonymizer = create_anonymizer(a.anonymizer)
    if a.backend == "openai":
        bb = build_backend("openai", base_url=a.base_url, model=a.model, api_key_env=a.api_key_env,
                           image_format=a.image_format, max_side=a.max_side, timeout=a.timeout)
    elif a.base_url or a.model or a.api_key_env:
        from veil.errors import ConfigError

        raise ConfigError("--base-url, --model and --api-key-env apply to --backend openai only")
    else:
        bb = build_backend(a.backend)
    choices = [c.strip() for c in a.choices.split(";") if c.strip()] if a.choices else None
    answer, stats = ask(image, a.question, bb, choices, anonymizer, a.cache, a.log, a.budget)
    print(answer.text)
    if answer.logprobs:
        import math

        for c, lp in sorted(answer.logprobs.items(), key=lambda kv: -kv[1]):
            print(f"  {math.exp(lp):6.3f}  {c}")
    print(f"cost: {stats.summary()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="veil",
        description="Learned privacy protection for images sent to black-box multimodal LLMs.",
    )
    p.add_argument("--version", action="version", version=f"veil {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="prepare and check datasets")
    dsub = data.add_subparsers(dest="data_command", required=True)
    prep = dsub.add_parser("prepare", help="build an embedded scenario (street)")
    prep.add_argument("name", help="scenario name, e.g. street")
    prep.add_argument("--root", default="data", help="folder to build into (default: data)")
    prep.add_argument("--seed", type=int, default=0)
    prep.add_argument("--quiet", action="store_true", help="no progress bars")
    prep.set_defaults(func=_cmd_data_prepare)
    chk = dsub.add_parser("check", help="validate a JSONL manifest; every problem with line and field")
    chk.add_argument("manifest")
    chk.add_argument("--no-files", action="store_true", help="do not check that media files exist")
    chk.set_defaults(func=_cmd_data_check)

    ev = sub.add_parser("eval", help="measure one anonymizer's utility and privacy")
    ev.add_argument("--data", required=True, help="manifest (JSONL)")
    ev.add_argument("--anonymizer", required=True, help="spec, e.g. identity, blur:sigma=8, faceblur")
    ev.add_argument("--split", default="test", choices=["train", "val", "test"])
    ev.add_argument("--out", required=True, help="output folder for metrics.json and grid.png")
    ev.add_argument("--blackbox", default="reference", help="black box answering the questions")
    ev.add_argument("--attacker", default="cnn", help="learned attacker trained on protected images")
    ev.add_argument("--attacker-epochs", type=int, default=20)
    ev.add_argument("--max-items", type=int, default=None, help="evaluate at most N items of the split")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--quiet", action="store_true", help="no progress bars")
    ev.set_defaults(func=_cmd_eval)

    tr = sub.add_parser("train", help="train an anonymizer against a black box")
    tr.add_argument("--data", required=True, help="manifest (JSONL)")
    tr.add_argument("--out", required=True, help="run folder (checkpoints, logs, cache, model/)")
    tr.add_argument("--privacy-data", default=None,
                    help="a second manifest with the privacy labels (cross-dataset, e.g. UCF101 utility + VISPR)")
    tr.add_argument("--config", help="YAML file of TrainConfig options (see docs/training.md)")
    tr.add_argument("--backend", default=None, help="black box: reference (default) or openai")
    tr.add_argument("--budget", type=int, default=None, help="hard cap on paid black-box queries")
    tr.add_argument("--pareto", default=None, choices=["mgda", "preference", "constraint", "weighted"])
    tr.add_argument("--estimator", default=None, choices=["history", "rge", "spsa"])
    tr.add_argument("--network", default=None, help="unet (default), johnson, film-unet, masked")
    tr.add_argument("--utility-mode", default=None, choices=["score", "answer", "label-free"])
    tr.add_argument("--steps", type=int, default=None)
    tr.add_argument("--seed", type=int, default=None)
    tr.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")
    tr.set_defaults(func=_cmd_train)

    demo = sub.add_parser("demo", help="evaluate the baselines on the embedded street scenario")
    demo.add_argument("--out", default="runs/demo", help="report folder (default: runs/demo)")
    demo.add_argument("--quick", action="store_true", help="subsampled, about 2 minutes")
    demo.add_argument("--data-root", default="data", help="where the scenario is built (default: data)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--anonymizers", nargs="+", default=None, metavar="SPEC",
                      help="anonymizer specs to compare (default: every baseline at its sweep)")
    demo.add_argument("--quiet", action="store_true", help="no progress bars or table")
    demo.set_defaults(func=_cmd_demo)

    srv = sub.add_parser("serve-reference", help="serve the reference black box as an OpenAI-compatible API")
    srv.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    srv.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0 picks a free one)")
    srv.add_argument("--blackbox", default="reference",
                     help="black box spec to serve, e.g. reference or reference:work_size=320 (default: reference)")
    srv.add_argument("--require-api-key-env", default=None, metavar="VAR",
                     help="require the API key held in environment variable VAR (default: accept any)")
    srv.add_argument("--fault-rate", type=float, default=0.0, help="share of chat requests that fail (default: 0)")
    srv.add_argument("--fault-kinds", default="429,500,hang,malformed,reset",
                     help="comma-separated faults to inject: 429, 500, hang, malformed, reset")
    srv.add_argument("--fault-seed", type=int, default=0)
    srv.add_argument("--fault-retry-after", type=float, default=1.0, help="seconds a 429 asks to wait")
    srv.add_argument("--fault-hang-seconds", type=float, default=30.0, help="how long a hang lasts")
    srv.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])
    srv.set_defaults(func=_cmd_serve_reference)

    ask = sub.add_parser("ask", help="one protected query: anonymize an image and ask a black box about it")
    ask.add_argument("image", help="image file")
    ask.add_argument("question", help='question; may end with "Answer with exactly one of: a; b."')
    ask.add_argument("--choices", default=None, help='candidate answers separated by ";", e.g. "yes;no"')
    ask.add_argument("--backend", default="reference", help="reference, reference-b or openai (default: reference)")
    ask.add_argument("--base-url", default=None, help="OpenAI-compatible API root, e.g. http://127.0.0.1:8000/v1")
    ask.add_argument("--model", default=None, help="model name at that service")
    ask.add_argument("--api-key-env", default=None, metavar="VAR",
                     help="environment variable holding the API key (default: OPENAI_API_KEY)")
    ask.add_argument("--image-format", default=None, choices=["jpeg", "png"], help="upload encoding (default: jpeg)")
    ask.add_argument("--max-side", type=int, default=None, help="longest side sent (default: 1024; 0: no resize)")
    ask.add_argument("--timeout", type=float, default=None, help="seconds to wait for a reply (default: 60)")
    ask.add_argument("--anonymizer", default="faceblur", help="anonymizer spec applied first (default: faceblur)")
    ask.add_argument("--cache", default=None, metavar="PATH", help="response cache file (SQLite), shared by runs")
    ask.add_argument("--log", default=None, metavar="PATH", help="append the query to this JSONL log")
    ask.add_argument("--budget", type=int, default=None, help="refuse to pay more than N queries")
    ask.set_defaults(func=_cmd_ask)

    ls = sub.add_parser("list", help="registered anonymizers, black boxes, attackers, scenarios")
    ls.set_defaults(func=_cmd_list)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except VeilError as e:
        print(f"veil: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("veil: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
