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
    from veil.videoleak import is_video_manifest

    data = a.data
    if a.scenario:
        from veil.data.scenarios import prepare_scenario

        data = prepare_scenario(a.scenario, root=a.data_root, seed=a.seed, progress=not a.quiet)
    elif data is None:
        from veil.errors import ConfigError

        raise ConfigError("veil eval: give --data MANIFEST or --scenario NAME (e.g. --scenario street-video)")
    if is_video_manifest(data):
        return _eval_video(a, data)
    m = evaluate_anonymizer(data, a.anonymizer, a.out, _eval_config(a), progress=not a.quiet)
    print(format_table([summary_row(m)]))
    u = m["utility"]["unprotected"]["overall"]
    la = m["privacy"]["learned_attacker"]
    print(f"unprotected utility {u:.3f}; attacker cMAP raw {la['raw_cmap']:.3f}, prior {la['prior_cmap']:.3f}")
    print(f"wrote {a.out}/metrics.json and {a.out}/grid.png")
    return 0


def _eval_video(a: argparse.Namespace, data: object) -> int:
    from veil.anonymizers.schedule import DetectionSchedule
    from veil.videoleak import evaluate_video_manifest, format_leak_table, leak_row

    sched = DetectionSchedule.parse(a.detect_every)
    every = None if sched is None else (sched.faces_every, sched.text_every)
    m = evaluate_video_manifest(str(data), a.anonymizer, a.out, every, a.detect_hold, threads=a.threads,
                                progress=not a.quiet, face_min_side=a.detect_face_side)
    label = m["anonymizer"] + (f" (detect every {a.detect_every})" if m["detect_every"] else "")
    print(format_leak_table([leak_row(label, m)]))
    print(f"video leak: share of frames (tracks) in which an attacker finds a face or reads a private string; "
          f"wrote {a.out}/metrics.json")
    return 0


def _cmd_train(a: argparse.Namespace) -> int:
    from veil.train import TrainConfig, train

    overrides = {
        "budget": a.budget, "pareto": a.pareto, "estimator": a.estimator, "steps": a.steps,
        "backend": a.backend, "network": a.network, "utility_mode": a.utility_mode, "seed": a.seed,
        "policy": [c.strip() for c in a.policy.split(",") if c.strip()] if a.policy else None,
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

    cfg = DemoConfig.preset(a.quick, out=a.out, data_root=a.data_root, seed=a.seed, anonymizers=a.anonymizers,
                            untrained=a.untrained)
    run_demo(cfg, progress=not a.quiet)
    return 0


def _cmd_list(a: argparse.Namespace) -> int:
    import veil.anonymizers
    import veil.blackbox
    import veil.privacy
    from veil.anonymizers.base import ANONYMIZERS
    from veil.blackbox.base import BLACKBOXES
    from veil.data.scenarios import SCENARIOS
    from veil.privacy.base import ATTACKERS

    veil.privacy.register_builtins()

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
    from veil.anonymizers.guides import GUIDES
    from veil.anonymizers.networks import NETWORKS

    for n in NETWORKS.names():
        print(f"network     {n}")
    for n in GUIDES.names():
        print(f"guide       {n}  (maps: {', '.join(GUIDES.get(n).map_names)})")
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

    serve(a.host, a.port, a.blackbox, faults, api_key, a.log_level, on_ready=ready, record=a.record)
    return 0


def _env_value(flag: str, var: str | None) -> str | None:
    import os

    from veil.errors import ConfigError

    if not var:
        return None
    value = os.environ.get(var)
    if not value:
        raise ConfigError(f"{flag} {var}: that environment variable is not set (or empty)")
    return value


def _cmd_proxy(a: argparse.Namespace) -> int:
    from veil.errors import ConfigError
    from veil.proxy.app import serve
    from veil.proxy.config import ProxyConfig

    if a.auth_token and a.auth_token_env:
        raise ConfigError("give either --auth-token or --auth-token-env, not both")
    config = ProxyConfig(
        anonymizer=a.anonymizer, upstream=a.upstream, host=a.host, port=a.port,
        auth_token=a.auth_token or _env_value("--auth-token-env", a.auth_token_env),
        upstream_api_key=_env_value("--upstream-api-key-env", a.upstream_api_key_env),
        upstream_auth_header=a.upstream_auth_header, max_body_bytes=int(a.max_body_mb * 1024 * 1024),
        max_image_pixels=a.max_image_pixels, max_images=a.max_images, max_side=a.max_side, output_format=a.format,
        png_compression=a.png_compression, jpeg_quality=a.jpeg_quality, allow_remote_images=a.allow_remote_images,
        allowed_hosts=tuple(a.allowed_host or ()), max_remote_bytes=int(a.max_remote_mb * 1024 * 1024),
        fetch_timeout=a.fetch_timeout, connect_timeout=a.connect_timeout, upstream_timeout=a.timeout,
        protected_cache_mb=a.protected_cache_mb, fault_anonymizer_crash=a.fault_anonymizer_crash,
    )

    def ready(url: str) -> None:
        print(f"veil: proxy at {url} (anonymizer {a.anonymizer}, upstream {config.upstream_display})", flush=True)

    serve(config, a.log_level, on_ready=ready, workers=a.workers)
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


def _cmd_protect(a: argparse.Namespace) -> int:
    from veil.anonymizers.schedule import DetectionSchedule
    from veil.protect import SUMMARY_FILE, ProtectConfig, protect_paths

    sched = DetectionSchedule.parse(a.detect_every)
    cfg = ProtectConfig(keep_metadata=a.keep_metadata, overwrite=a.overwrite, jpeg_quality=a.jpeg_quality,
                        video_codec=a.video_codec, progress=not a.quiet, runtime=a.runtime, threads=a.threads,
                        resume=not a.no_resume, engine=a.engine, ray_address=a.ray_address, workers=a.workers,
                        detect_every=None if sched is None else (sched.faces_every, sched.text_every),
                        detect_hold=a.detect_hold, detect_face_side=a.detect_face_side, max_side=a.max_side)
    report = protect_paths(a.inputs, a.out, a.anonymizer, cfg)
    print(report.format())
    if report.files:
        print(f"summary: {a.out}/{SUMMARY_FILE}")
    return report.exit_code


def _cmd_ui(a: argparse.Namespace) -> int:
    from veil.ui.app import serve
    from veil.ui.core import UIConfig

    config = UIConfig(anonymizer=a.anonymizer, backend=a.backend, base_url=a.base_url, model=a.model,
                      api_key_env=a.api_key_env, cache=a.cache, log=a.log, budget=a.budget, out=a.out, host=a.host,
                      port=a.port, max_upload_bytes=int(a.max_upload_mb * 1024 * 1024), inputs=tuple(a.inputs))

    def ready(url: str) -> None:
        print(f"veil: review UI at {url}", flush=True)

    serve(config, a.log_level, on_ready=ready)
    return 0


def _cmd_export(a: argparse.Namespace) -> int:
    from veil.anonymizers.onnx import export_onnx

    res = export_onnx(a.anonymizer, a.onnx, opset=a.opset, overwrite=a.overwrite)
    print(f"wrote {res.path} ({res.network}; inputs {', '.join(res.inputs)}; max abs difference from PyTorch "
          f"{res.max_abs_diff:.2g} on a {'x'.join(map(str, res.check_shape))} batch)")
    return 0


def _cmd_data_import(a: argparse.Namespace) -> int:
    from pathlib import Path

    from veil.data.importing import check_dataset, detect_layout, import_dataset
    from veil.errors import ConfigError

    opts = {"split": a.split, "attributes": a.attributes, "lists": a.lists, "splits": a.splits,
            "annotations": a.annotations, "images": a.images, "frames": a.frames, "limit": a.limit,
            "skip_missing": a.skip_missing or None}
    opts = {k: Path(v) if k in ("lists", "splits", "annotations", "images") and v else v for k, v in opts.items()}
    if a.check:
        print(detect_layout(a.name, a.root, **opts).describe(), flush=True)
        report = check_dataset(a.name, a.root, **opts)
        print(report.summary())
        print("check only: nothing written")
        return 0
    if not a.out:
        raise ConfigError("veil data import needs --out MANIFEST (or --check to only read the layout)")
    report = import_dataset(a.name, a.root, a.out, **opts)
    print(report.summary())
    return 0


def _cmd_bench_protocol(a: argparse.Namespace) -> int:
    from pathlib import Path

    from veil.protocols import ProtocolConfig, run_protocol
    from veil.video import VideoConfig

    cfg = ProtocolConfig.preset(
        a.quick, data_root=a.data_root, out=a.out, backend=a.backend, base_url=a.base_url, model=a.model,
        api_key_env=a.api_key_env, budget=a.budget, split=a.split, attributes=a.attributes, labels=a.labels,
        steps=a.steps, max_eval_items=a.max_eval_items, resume=a.resume or None, seed=a.seed,
        unprotected=False if a.no_unprotected else None,
    )
    if a.frames or a.layout or a.sampling:
        v = cfg.video
        cfg.video = VideoConfig(frames=a.frames or v.frames, sampling=a.sampling or v.sampling,
                                layout=a.layout or v.layout, frame_side=v.frame_side, grid_cols=v.grid_cols)
    run_protocol(a.name, cfg, progress=not a.quiet)
    print((Path(a.out) / "protocol.md").read_text())
    return 0


def _cmd_realcheck(a: argparse.Namespace) -> int:
    from veil.realcheck import build_real_photo_check, format_table, run_real_photo_check

    check = build_real_photo_check(a.seed)
    results = [run_real_photo_check(spec, seed=a.seed, engines=a.engines, check=check,
                                    out=None if a.out is None else f"{a.out}/{i}", progress=not a.quiet)
               for i, spec in enumerate(a.anonymizer)]
    print(format_table(results))
    for e, why in results[0]["engines_skipped"].items():
        print(f"engine {e} skipped: {why}")
    if results[0]["photos_missing"]:
        print(f"photos missing (left out): {', '.join(results[0]['photos_missing'])}; run scripts/fetch_media.py")
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
    imp = dsub.add_parser("import", help="convert a public benchmark in its published layout to a manifest",
                          description="Datasets: vispr, ucf101, hmdb51, pahmdb51, okvqa, as their archives "
                          "extract or flat (layouts in docs/reproducing.md): each part is looked for in --root, next "
                          "to it and up to two levels below. Prints what was kept and what was skipped and why; "
                          "--check prints where each part was found and writes nothing.")
    imp.add_argument("name", help="vispr, ucf101, hmdb51, pahmdb51 or okvqa")
    imp.add_argument("--root", required=True, help="the dataset's folder")
    imp.add_argument("--out", default=None, help="manifest to write (JSONL; media paths are absolute)")
    imp.add_argument("--check", action="store_true",
                     help="print the detected layout and what an import would keep and skip; write nothing")
    imp.add_argument("--split", type=int, default=None, help="official split 1-3 (ucf101, hmdb51, pahmdb51)")
    imp.add_argument("--attributes", default=None, choices=["7", "5", "all"], help="VISPR attribute set (default 7)")
    imp.add_argument("--lists", default=None, help="ucf101: the ucfTrainTestlist folder (default: found)")
    imp.add_argument("--splits", default=None,
                     help="hmdb51/pahmdb51: the testTrainMulti_7030_splits folder (default: found)")
    imp.add_argument("--annotations", default=None, help="pahmdb51: the PrivacyAttributes folder (default: found)")
    imp.add_argument("--images", default=None, help="okvqa: the COCO image folder (default: found)")
    imp.add_argument("--frames", type=int, default=None, help="pahmdb51: N frame items per video (default 0: videos)")
    imp.add_argument("--limit", type=int, default=None, help="vispr/okvqa: at most N entries per split")
    imp.add_argument("--skip-missing", action="store_true", help="skip entries whose media is missing (reported)")
    imp.set_defaults(func=_cmd_data_import)

    ev = sub.add_parser("eval", help="measure one anonymizer's utility and privacy (video items: the video leak)")
    ev.add_argument("--data", default=None, help="manifest (JSONL)")
    ev.add_argument("--scenario", default=None,
                    help="build (or reuse) an embedded scenario under --data-root and evaluate on it, e.g. "
                    "street-video (per-frame leak of faces and private text on a video)")
    ev.add_argument("--data-root", default="data", help="where --scenario is built (default: data)")
    ev.add_argument("--detect-every", default="8,16", metavar="FACES[,TEXT]",
                    help="video items, detector-guided models: detection schedule as in veil protect (default 8,16; "
                    "'frame': every frame)")
    ev.add_argument("--detect-hold", type=int, default=2, metavar="RUNS", help="video items: as in veil protect")
    ev.add_argument("--detect-face-side", type=int, default=1152, metavar="PX", help="video items: as in veil protect")
    ev.add_argument("--threads", type=int, default=None, help="video items: inference threads")
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
    tr.add_argument("--network", default=None,
                    help="guided-policy (default), guided-masked, unet, johnson, film-unet, masked")
    tr.add_argument("--utility-mode", default=None, choices=["score", "answer", "label-free"])
    tr.add_argument("--steps", type=int, default=None,
                    help="anonymizer steps (default 40); 0 saves the untrained step-0 model, no query paid")
    tr.add_argument("--seed", type=int, default=None)
    tr.add_argument("--policy", default=None,
                    help="comma-separated content categories to hide (guided-policy): face,nudity,name,phone,plate,"
                         "email,id,unread (default: all); the others are kept like public text (nudity: hidden at "
                         "the strongest blur, not learned)")
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
    demo.add_argument("--no-untrained", dest="untrained", action="store_false", default=True,
                      help="skip the row of the learned network at step 0 (shown by default: what training changed)")
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
    srv.add_argument("--record", default=None, metavar="FILE.jsonl",
                     help="testing: append every request as received (headers, raw body with images) to this file")
    srv.set_defaults(func=_cmd_serve_reference)

    from veil.proxy.config import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_IMAGE_PIXELS, DEFAULT_MAX_SIDE, DEFAULT_PORT

    px = sub.add_parser("proxy", help="OpenAI-compatible privacy proxy: anonymizes every image, fails closed",
                        description="Put in front of an OpenAI-compatible service; clients change only their base "
                        "URL. Every image is anonymized and re-encoded without metadata; anything that cannot be "
                        "protected is refused and nothing is forwarded. See docs/proxy.md.")
    px.add_argument("--anonymizer", required=True, help="spec, e.g. blur:sigma=8, faceblur, or a model folder")
    px.add_argument("--upstream", required=True, help="base URL of the service, e.g. https://api.openai.com/v1")
    px.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    px.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default: {DEFAULT_PORT}; 0: a free one)")
    px.add_argument("--auth-token", default=None, metavar="TOKEN",
                    help="require 'Authorization: Bearer TOKEN' from clients (visible in process lists: prefer "
                    "--auth-token-env); the token is never forwarded")
    px.add_argument("--auth-token-env", default=None, metavar="VAR", help="like --auth-token, read from variable VAR")
    px.add_argument("--upstream-api-key-env", default=None, metavar="VAR",
                    help="send the key in variable VAR upstream (default: pass the client's key through, unless an "
                    "auth token is set)")
    px.add_argument("--upstream-auth-header", default="authorization", choices=["authorization", "api-key"],
                    help="how the upstream key is sent: 'Authorization: Bearer KEY' or 'api-key: KEY' (Azure)")
    px.add_argument("--max-body-mb", type=float, default=DEFAULT_MAX_BODY_BYTES / 2**20,
                    help=f"largest request body in MiB (default: {DEFAULT_MAX_BODY_BYTES // 2**20})")
    px.add_argument("--max-image-pixels", type=int, default=DEFAULT_MAX_IMAGE_PIXELS,
                    help=f"largest image, width x height (default: {DEFAULT_MAX_IMAGE_PIXELS})")
    px.add_argument("--max-images", type=int, default=16, help="most images in one request (default: 16)")
    px.add_argument("--max-side", type=int, default=DEFAULT_MAX_SIDE, metavar="PX",
                    help=f"scale images with a longer side above PX down to it before protecting and sending them "
                         f"(default: {DEFAULT_MAX_SIDE}, where OpenAI's API scales them to; 0: send every size)")
    px.add_argument("--format", default="png", choices=["png", "jpeg"],
                    help="re-encoding sent upstream: png (lossless, default) or jpeg (smaller, lossy)")
    px.add_argument("--png-compression", type=int, default=1, help="PNG zlib level 0-9 (default: 1, fast)")
    px.add_argument("--jpeg-quality", type=int, default=95, help="JPEG quality with --format jpeg (default: 95)")
    px.add_argument("--protected-cache-mb", type=float, default=64.0, metavar="MB",
                    help="memory for the protected versions of recent images, so an image a chat re-sends "
                         "every turn is protected once (default: 64; 0: off)")
    px.add_argument("--allow-remote-images", action="store_true",
                    help="download http(s) image URLs from --allowed-host hosts (default: refuse them)")
    px.add_argument("--allowed-host", action="append", default=None, metavar="HOST",
                    help="a host remote images may come from (repeat for several); needs --allow-remote-images")
    px.add_argument("--max-remote-mb", type=float, default=20.0, help="largest remote image download in MiB")
    px.add_argument("--fetch-timeout", type=float, default=10.0, help="seconds per remote image download")
    px.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the upstream's reply")
    px.add_argument("--connect-timeout", type=float, default=10.0, help="seconds to connect to the upstream")
    px.add_argument("--fault-anonymizer-crash", action="store_true",
                    help="testing: make the anonymizer raise on every request image (checks the proxy fails closed)")
    px.add_argument("--workers", type=int, default=1,
                    help="worker processes sharing the port, each with its own anonymizer (default: 1)")
    px.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    px.set_defaults(func=_cmd_proxy)

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

    pr = sub.add_parser("protect", help="anonymize image and video files or folders into an output folder",
                        description="Protect images (JPEG, PNG, WebP, GIF, TIFF, BMP) and videos (MP4, MOV, AVI, "
                        "MKV, WebM; frame rate, frame count, size and audio kept) and folders of them (recursive, "
                        "mirrored under -o). Metadata is stripped unless --keep-metadata. See docs/protect.md.")
    pr.add_argument("inputs", nargs="+", metavar="INPUT", help="image or video files, or folders")
    pr.add_argument("-o", "--out", required=True, metavar="OUTDIR", help="output folder (created)")
    pr.add_argument("--anonymizer", required=True,
                    help="spec (blur:sigma=8, faceblur...), a model folder, or an exported .onnx file")
    pr.add_argument("--keep-metadata", action="store_true",
                    help="keep EXIF (GPS included), XMP, ICC, comments, text chunks and video tags (default: strip)")
    pr.add_argument("--overwrite", action="store_true", help="replace existing outputs (never an input)")
    pr.add_argument("--jpeg-quality", type=int, default=95, help="JPEG, lossy WebP and HEIC quality (default: 95)")
    pr.add_argument("--max-side", type=int, default=0, metavar="PX",
                    help="scale images with a longer side above PX down to it before protecting them (2048: what "
                         "OpenAI's API scales them to; default: 0, every image at its size; videos keep theirs)")
    pr.add_argument("--video-codec", default=None,
                    help="video encoder (default: the input's codec when possible, else the container's default)")
    pr.add_argument("--runtime", default="auto", choices=["auto", "onnxruntime", "torch"],
                    help="how a model folder runs (default auto: onnxruntime when the network exports, else torch)")
    pr.add_argument("--threads", type=int, default=None,
                    help="inference threads, onnxruntime or torch (default: one per core); on video, also the "
                    "most threads of each detector of a guided model (default: a quarter of the cores)")
    pr.add_argument("--detect-every", default="8,16", metavar="FACES[,TEXT]",
                    help="detector-guided models on video: run the face detector every FACES frames and the text "
                    "reader every TEXT frames, holding detections over and applying them back in between "
                    "(default 8,16); 'frame': both on every frame, no schedule")
    pr.add_argument("--detect-hold", type=int, default=2, metavar="RUNS",
                    help="detector runs a face or text line stays protected after its detector stops finding it "
                    "(default 2)")
    pr.add_argument("--detect-face-side", type=int, default=1152, metavar="PX",
                    help="scheduled face detection sees frames upscaled to a short side of at least PX (small "
                    "faces; default 1152: 768x576 doubles); 0: frames as they are")
    pr.add_argument("--quiet", action="store_true", help="no progress bars")
    pr.add_argument("--engine", default="local", choices=["local", "ray"],
                    help="local (this process, default) or ray (Ray actors, one anonymizer each; see docs/scale.md)")
    pr.add_argument("--ray-address", default=None, metavar="ADDR",
                    help="with --engine ray: an existing cluster (auto, HOST:6379, ray://HOST:10001); default: start "
                    "a local Ray for the run")
    pr.add_argument("--workers", type=int, default=None,
                    help="with --engine ray: number of workers (default: the CPUs of the local Ray or cluster)")
    pr.add_argument("--no-resume", action="store_true",
                    help="do not skip outputs complete from an earlier run (OUTDIR/.veil-protect/ manifest)")
    pr.set_defaults(func=_cmd_protect)

    ui = sub.add_parser("ui", help="local review web page: original vs protected, regions, ask the black box, save",
                        description="A page served on this machine (no CDN, works offline): open images, see the "
                        "detected regions and what the anonymizer hid, change the anonymizer, policy and dial, ask "
                        "the black box on the protected (and, on request, the original) image, save protected "
                        "files. See docs/ui.md.")
    ui.add_argument("inputs", nargs="*", metavar="INPUT", help="image files or folders to open at start")
    ui.add_argument("--anonymizer", default="faceblur", help="spec or model folder shown first (default: faceblur)")
    ui.add_argument("--backend", default="reference", help="reference, reference-b or openai (default: reference)")
    ui.add_argument("--base-url", default=None, help="OpenAI-compatible API root, e.g. http://127.0.0.1:8000/v1")
    ui.add_argument("--model", default=None, help="model name at that service")
    ui.add_argument("--api-key-env", default=None, metavar="VAR", help="environment variable holding the API key")
    ui.add_argument("--cache", default=None, metavar="PATH", help="response cache file (SQLite), shared with the CLI")
    ui.add_argument("--log", default=None, metavar="PATH", help="append every query to this JSONL log")
    ui.add_argument("--budget", type=int, default=None, help="refuse to pay more than N queries")
    ui.add_argument("-o", "--out", default="veil-ui-out", help="folder Save writes into (default: veil-ui-out)")
    ui.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    ui.add_argument("--port", type=int, default=7860, help="port (default: 7860; 0: a free one)")
    ui.add_argument("--max-upload-mb", type=float, default=32.0, help="largest uploaded file in MiB (default: 32)")
    ui.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])
    ui.set_defaults(func=_cmd_ui)

    ex = sub.add_parser("export", help="export a trained model to ONNX (runs with onnxruntime, no PyTorch)")
    ex.add_argument("--anonymizer", required=True, metavar="PATH", help="saved model folder")
    ex.add_argument("--onnx", required=True, metavar="OUT.onnx", help="ONNX file to write")
    ex.add_argument("--opset", type=int, default=17, help="ONNX opset (default: 17)")
    ex.add_argument("--overwrite", action="store_true", help="replace an existing file")
    ex.set_defaults(func=_cmd_export)

    bp = sub.add_parser("bench-protocol", help="run one of the paper's benchmark protocols end to end",
                        description="Protocols: ucf101-vispr, hmdb51-vispr, okvqa-vispr, vispr. Imports the datasets "
                        "under --data-root (vispr/, ucf101/, hmdb51/, okvqa/), trains, evaluates the learned "
                        "attacker on VISPR test and the utility, and writes protocol.md and protocol.json with the "
                        "paper's numbers beside Veil's. See docs/reproducing.md.")
    bp.add_argument("name", help="ucf101-vispr, hmdb51-vispr, okvqa-vispr or vispr")
    bp.add_argument("--data-root", required=True, help="folder holding vispr/, ucf101/, hmdb51/, okvqa/")
    bp.add_argument("--out", required=True, help="run folder")
    bp.add_argument("--backend", default="reference", help="reference (offline stand-in) or openai")
    bp.add_argument("--base-url", default=None, help="OpenAI-compatible API root (with --backend openai)")
    bp.add_argument("--model", default=None, help="model name at that service")
    bp.add_argument("--api-key-env", default=None, metavar="VAR", help="variable holding the API key")
    bp.add_argument("--budget", type=int, default=None, help="training query cap (default 2000; 32 with --quick)")
    bp.add_argument("--split", type=int, default=None, help="UCF101/HMDB51 official split 1-3 (default 1)")
    bp.add_argument("--attributes", default=None, choices=["7", "5", "all"], help="VISPR attribute set (default 7)")
    bp.add_argument("--frames", type=int, default=None, help="frames sampled per clip (default 8; 4 with --quick)")
    bp.add_argument("--layout", default=None, choices=["grid", "frames"], help="one grid image or several images")
    bp.add_argument("--sampling", default=None, choices=["segment", "uniform"], help="frame sampling (default segment)")
    bp.add_argument("--labels", default=None, choices=["names", "numbers", "letters"], help="action option style")
    bp.add_argument("--steps", type=int, default=None, help="training steps (default 40; 2 with --quick)")
    bp.add_argument("--max-eval-items", type=int, default=None, help="utility test items (default: all)")
    bp.add_argument("--no-unprotected", action="store_true",
                    help="skip utility on unprotected inputs (halves the evaluation queries)")
    bp.add_argument("--quick", action="store_true", help="a few items and steps: checks a set-up in minutes")
    bp.add_argument("--resume", action="store_true", help="continue the training run in --out")
    bp.add_argument("--seed", type=int, default=None)
    bp.add_argument("--quiet", action="store_true", help="no progress output")
    bp.set_defaults(func=_cmd_bench_protocol)

    rc = sub.add_parser("realcheck", help="OCR reads public signs and private text on real photos, protected vs not",
                        description="The real-photo check (docs/realcheck.md): held-out photos, fonts, layouts and "
                        "OCR attackers; prints public words read, its ratio to unprotected, private strings read "
                        "(overall and per kind) and their character error rate.")
    rc.add_argument("--anonymizer", action="append", required=True, help="spec or model folder (repeatable)")
    rc.add_argument("--engines", nargs="+", default=["rapidocr", "tesseract"],
                    help="OCR engines (tesseract is skipped with a note when not installed)")
    rc.add_argument("--seed", type=int, default=0)
    rc.add_argument("--out", default=None, help="folder for real_photo_check.json and .png, one subfolder each")
    rc.add_argument("--quiet", action="store_true", help="no progress bars")
    rc.set_defaults(func=_cmd_realcheck)

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
