"""``veil bench-protocol`` end to end on generated datasets in the published layouts: over
HTTP against ``veil serve-reference`` started as a real subprocess, and in process; and
``--quick`` on the datasets as their archives extract (nested layouts)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from veil.cli import main
from veil.data.importing import LayoutError
from veil.errors import ConfigError, UnknownNameError
from veil.protocols import PROTOCOLS, ProtocolConfig, blackbox_label, run_protocol


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory, layout_fixtures: ModuleType) -> Path:
    fx = layout_fixtures
    root = tmp_path_factory.mktemp("datasets")
    fx.make_vispr(root / "vispr")
    fx.make_ucf101(root / "ucf101")
    fx.make_okvqa(root / "okvqa")
    return root


def test_bench_protocol_over_http(data_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                  start_server: Callable[..., Any]) -> None:
    out = tmp_path / "run"
    with start_server("--blackbox", "reference:work_size=320,faces=false") as url:
        code = main(["bench-protocol", "ucf101-vispr", "--data-root", str(data_root), "--backend", "openai",
                     "--base-url", url, "--model", "reference", "--out", str(out), "--budget", "16", "--quick",
                     "--quiet"])
        stats = httpx.get(url.removesuffix("/v1") + "/veil/stats", timeout=10).json()
    assert code == 0
    printed = capsys.readouterr().out
    md = (out / "protocol.md").read_text()
    assert printed.strip() == md.strip()
    r = json.loads((out / "protocol.json").read_text())
    assert r["schema"] == "veil.protocol/1" and r["protocol"] == "ucf101-vispr"
    # the black box is named, and the stand-in is labelled as such, never as an MLLM
    assert "perception-model stand-in, not an MLLM" in r["blackbox"] and url in r["blackbox"]
    assert "stand-in, not an MLLM" in md and "runs end to end" in md
    # the paper's numbers sit beside Veil's
    assert "| UCF101-VISPR | action top-1 (%) |" in md and "| 67.1 |" in md and "| 54.6 |" in md
    # every paid query went over HTTP to the server: training + set-up probe + evaluation
    paid = r["train"]["queries_paid"] + r["setup_queries"]["queries"] + r["utility"]["queries"]["queries"]
    assert 0 < r["train"]["queries_paid"] <= 16
    assert stats["answered"] == paid
    # the stand-in does not know actions: answer mode, refusals, top-1 0 on the 3 test clips
    assert r["utility_mode"] == "answer"
    assert r["utility"]["n_items"] == 3 and r["utility"]["protected"]["top1"] == 0.0
    assert r["utility"]["protected"]["examples"][0] == "I cannot answer that."
    # privacy: a fresh attacker on protected VISPR train, scored on VISPR test, with its bounds
    p = r["privacy"]
    assert p["n_train"] == 12 and p["n_test"] == 8 and len(p["attributes"]) == 7
    assert all(0.0 <= p[k]["cmap"] <= 1.0 for k in ("raw", "prior")) and 0.0 <= p["cmap"] <= 1.0
    assert (out / "train" / "model").is_dir() and (out / "data" / "train-grids.jsonl").is_file()
    grids = [json.loads(ln) for ln in (out / "data" / "train-grids.jsonl").read_text().splitlines()]
    assert len(grids) == 6 and all(g["queries"][0]["choices"] == ["apply eye makeup", "basketball",
                                                                  "handstand pushups"] for g in grids)


@pytest.fixture(scope="module")
def nested_root(tmp_path_factory: pytest.TempPathFactory, layout_fixtures: ModuleType) -> Path:
    """The datasets as their archives extract: VISPR2017-v1/ with the tools' attributes.tsv
    (header row), UCF-101/, hmdb51_org/; OK-VQA with its val2014 split only."""
    fx = layout_fixtures
    root = tmp_path_factory.mktemp("nested-datasets")
    fx.make_vispr(root / "vispr", nested=True, header=True)
    fx.make_ucf101(root / "ucf101", nested=True)
    fx.make_hmdb51(root / "hmdb51", nested=True)
    fx.make_okvqa(root / "okvqa", n={"val2014": 4})
    return root


@pytest.mark.parametrize(("name", "videos"), [("ucf101-vispr", "UCF-101"), ("hmdb51-vispr", "hmdb51_org")])
def test_bench_protocol_quick_on_nested_layouts(nested_root: Path, tmp_path: Path, name: str, videos: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["bench-protocol", name, "--data-root", str(nested_root), "--out", str(out), "--quick",
                 "--quiet"]) == 0
    r = json.loads((out / "protocol.json").read_text())
    forms = {i["dataset"]: i["layout"]["form"] for i in r["imports"]}
    assert forms == {"vispr": "nested: annotations in VISPR2017-v1/",
                     name.split("-")[0]: f"nested: class folders in {videos}/"}
    assert r["utility"]["n_items"] == 3 and r["privacy"]["n_train"] == 12 and r["privacy"]["n_test"] == 8
    assert 0 < r["train"]["queries_paid"] <= 32
    assert capsys.readouterr().out.strip() == (out / "protocol.md").read_text().strip()


def test_okvqa_protocol_needs_the_train_split(nested_root: Path, tmp_path: Path) -> None:
    cfg = ProtocolConfig.preset(True, data_root=str(nested_root), out=str(tmp_path / "o"))
    with pytest.raises(LayoutError, match="okvqa-vispr trains on OK-VQA train") as e:
        run_protocol("okvqa-vispr", cfg, progress=False)
    assert "OpenEnded_mscoco_train2014_questions.json" in str(e.value) and "\n" not in str(e.value)


def test_okvqa_and_vispr_protocols_in_process(data_root: Path, tmp_path: Path) -> None:
    cfg = ProtocolConfig.preset(True, data_root=str(data_root), out=str(tmp_path / "okvqa"), budget=16)
    r = run_protocol("okvqa-vispr", cfg, progress=False)
    assert r["utility_mode"] == "answer" and r["utility"]["n_queries"] == 5  # 4 test images, one with 2 questions
    assert r["utility"]["protected"]["score"] == 0.0  # the stand-in refuses open questions
    assert "VQA accuracy" in (tmp_path / "okvqa" / "protocol.md").read_text()
    cfg = ProtocolConfig.preset(True, data_root=str(data_root), out=str(tmp_path / "vispr"), budget=16)
    r = run_protocol("vispr", cfg, progress=False)
    # label-free targets are the black box's own answers on the originals: unprotected agreement is 1
    assert r["utility_mode"] == "score"
    assert r["utility"]["unprotected"]["score"] == 1.0
    assert 0.0 <= r["utility"]["protected"]["score"] <= 1.0
    assert "48.8" in (tmp_path / "vispr" / "protocol.md").read_text()
    assert math.isfinite(r["privacy"]["cmap"])


def test_protocol_errors(data_root: Path, tmp_path: Path) -> None:
    with pytest.raises(UnknownNameError, match="hmdb51-vispr, okvqa-vispr, ucf101-vispr, vispr"):
        run_protocol("kinetics-vispr", ProtocolConfig(out=str(tmp_path / "x")), progress=False)
    cfg = ProtocolConfig.preset(True, data_root=str(data_root), out=str(tmp_path / "h"))
    with pytest.raises(LayoutError, match="missing HMDB51 folder") as e:
        run_protocol("hmdb51-vispr", cfg, progress=False)  # no hmdb51/ under the data root
    assert str(data_root / "hmdb51") in str(e.value)
    cfg = ProtocolConfig.preset(True, data_root=str(data_root), out=str(tmp_path / "b"), budget=4)
    with pytest.raises(ConfigError, match="too small for one step"):
        run_protocol("ucf101-vispr", cfg, progress=False)
    with pytest.raises(ConfigError, match="unknown protocol option"):
        ProtocolConfig.preset(False, budgett=3)
    assert set(PROTOCOLS) == {"ucf101-vispr", "hmdb51-vispr", "okvqa-vispr", "vispr"}


def test_blackbox_labels() -> None:
    assert "stand-in, not an MLLM" in blackbox_label(ProtocolConfig())
    real = blackbox_label(ProtocolConfig(backend="openai", base_url="http://127.0.0.1:1/v1", model="llava"))
    assert real == "OpenAI-compatible service at http://127.0.0.1:1/v1, model llava"
