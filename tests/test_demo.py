"""`veil demo --quick` writes the HTML report with the plot and the grids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from veil.config import DemoConfig
from veil.demo import run_demo

pytestmark = pytest.mark.slow


def test_quick_demo_writes_report(street_manifest: Path, tmp_path: Path) -> None:
    data_root = street_manifest.parent.parent
    cfg = DemoConfig.preset(True, out=str(tmp_path / "demo"), data_root=str(data_root),
                            anonymizers=["identity", "blur:sigma=4", "blur:sigma=16", "pixelate:block=16"])
    summary = run_demo(cfg, progress=False)
    out = tmp_path / "demo"
    html = (out / "report.html").read_text()
    assert "tradeoff.png" in html and "grid.png" in html and "Pareto" in html
    assert (out / "tradeoff.png").stat().st_size > 10_000
    for spec in ("identity", "blur_sigma=4", "blur_sigma=16", "pixelate_block=16"):
        assert (out / "anonymizers" / spec / "metrics.json").is_file()
        assert (out / "anonymizers" / spec / "grid.png").is_file()
    saved = json.loads((out / "summary.json").read_text())
    assert [r["anonymizer"] for r in saved["rows"]] == [r["anonymizer"] for r in summary["rows"]]
    assert not list(out.rglob("*.tmp"))
    # the model trained beside the baselines, then evaluated with its step-0 start, last
    names = [r["anonymizer"] for r in summary["rows"]]
    assert names[:4] == ["identity", "blur:sigma=4", "blur:sigma=16", "pixelate:block=16"]
    assert names[4].startswith("learned:") and names[5].startswith("untrained (step 0):")
    learned = json.loads(next((out / "anonymizers").glob("*train_model/metrics.json")).read_text())
    assert learned["timing"]["shared_detection_ms_per_image"] > 0
    assert not learned["timing"]["same_as_unprotected"]


def test_untrained_row_is_the_default_network_at_step_0(street_manifest: Path, tmp_path: Path) -> None:
    """``veil train --steps 0`` (and the demo's untrained row) saves the default network before any query."""
    from veil.anonymizers.learned import load_anonymizer
    from veil.demo import _untrained_learned
    from veil.train import TrainConfig, train

    run = tmp_path / "run"
    model = train(street_manifest, run, TrainConfig(steps=0, adversaries=[]), progress=False)
    assert model == run / "model" and _untrained_learned(run) == run / "model-step0"
    cfg = TrainConfig()
    for folder in (model, run / "model-step0"):
        a = load_anonymizer(str(folder))
        assert a.network == cfg.network and a.guide_spec == cfg.guide and a.meta["steps"] == 0
        levels = a.net.category_levels()
        assert levels.pop("nudity") == 6.0  # fixed at the strongest blur, not learned
        assert len(set(levels.values())) == 1 and min(levels.values()) > 4.0  # every category hidden at start
    assert a.meta["queries_paid"] == 0
    assert not (run / "queries.jsonl").exists() or (run / "queries.jsonl").read_text() == ""
