"""The evaluation protocol end to end on the street scenario (real models, small subsets)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from veil.anonymizers.base import Anonymizer
from veil.config import EvalConfig
from veil.evaluate import Evaluator, evaluate_anonymizer, utility_scores
from veil.report import before_after_grid, format_table, summary_row

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def evaluator(street_manifest: Path) -> Evaluator:
    cfg = EvalConfig(attacker_epochs=6, max_eval_items=40, max_train_items=80)
    return Evaluator(street_manifest, cfg, progress=False)


@pytest.fixture(scope="module")
def identity(evaluator: Evaluator) -> dict:
    return evaluator.evaluate("identity")


@pytest.fixture(scope="module")
def blur(evaluator: Evaluator) -> dict:
    return evaluator.evaluate("blur:sigma=8")


def test_identity_matches_unprotected_bounds(identity: dict) -> None:
    la = identity["privacy"]["learned_attacker"]
    # Same pixels: the row is the unprotected references, not measured a second time.
    assert identity["timing"]["same_as_unprotected"] is True
    assert la["cmap"] == la["raw_cmap"]
    assert la["cmap"] > la["prior_cmap"]
    assert identity["utility"]["relative"] == pytest.approx(1.0)
    u = identity["utility"]
    assert set(u["family_ratios"]) == set(u["unprotected"]["families"])
    assert all(r == pytest.approx(1.0) for r in u["family_ratios"].values())
    assert u["worst_family"]["ratio"] == pytest.approx(1.0) and u["worst_family"]["family"] in u["family_ratios"]
    assert identity["privacy"]["reidentification"]["total"] > 0
    assert identity["privacy"]["reidentification"]["rate"] >= 0.9
    tr = identity["privacy"]["text_recovery"]
    assert tr["total"] > 0 and tr["exact_rate"] == tr["raw_exact_rate"]


def test_strong_blur_lowers_leakage(identity: dict, blur: dict) -> None:
    pi, pb = identity["privacy"], blur["privacy"]
    assert pb["reidentification"]["rate"] < pi["reidentification"]["rate"]
    assert pb["learned_attacker"]["cmap"] < pi["learned_attacker"]["cmap"]
    assert pb["text_recovery"]["exact_rate"] < pi["text_recovery"]["exact_rate"]


def test_utility_reported_per_family(identity: dict, blur: dict) -> None:
    fams = identity["utility"]["protected"]["families"]
    assert set(fams) == {"count", "presence", "sign"}
    assert all(0.0 <= v <= 1.0 for v in fams.values())
    assert blur["utility"]["unprotected"] == identity["utility"]["unprotected"]


def test_only_unchanged_images_reuse_the_references(evaluator: Evaluator, blur: dict) -> None:
    assert blur["timing"]["same_as_unprotected"] is False
    # one pixel changed in one image: measured, not taken from the references
    class OnePixel(Anonymizer):
        name = "one-pixel"

        calls = 0

        def apply(self, image: np.ndarray) -> np.ndarray:
            out = image.copy()
            if OnePixel.calls == 0:  # the first eval image
                out[0, 0] = 255 - out[0, 0]
            OnePixel.calls += 1
            return out

    measured = evaluator.measure(OnePixel())
    assert "unchanged" not in measured and "utility" in measured


def test_parallel_rows_match_one_process(street_manifest: Path) -> None:
    """evaluate_many's pool (the references computed by a worker, rows assembled in the
    parent) gives each row the numbers one process gives it."""
    cfg = EvalConfig(attacker_epochs=2, max_eval_items=8, max_train_items=12, workers=2)
    specs = ["identity", "pixelate:block=8"]
    par = Evaluator(street_manifest, cfg, progress=False).evaluate_many(specs)
    one = Evaluator(street_manifest, cfg, progress=False)
    for (m, grid), spec in zip(par, specs, strict=True):
        s = one.evaluate(spec)
        assert grid.ndim == 3
        assert m["anonymizer"] == s["anonymizer"]
        assert m["utility"] == s["utility"]
        for key in ("face_detection", "reidentification", "text_recovery"):
            assert m["privacy"][key] == s["privacy"][key]
        assert m["privacy"]["learned_attacker"]["cmap"] == pytest.approx(s["privacy"]["learned_attacker"]["cmap"],
                                                                          abs=1e-6)


def test_utility_scores_counts_every_query(evaluator: Evaluator) -> None:
    before = evaluator.blackbox.queries
    u = utility_scores(evaluator.blackbox, evaluator.eval_images[:5], evaluator.eval_items[:5])
    n = sum(len(it.queries) for it in evaluator.eval_items[:5])
    assert sum(u["n_queries"].values()) == n
    assert evaluator.blackbox.queries - before == n


def test_eval_writes_metrics_and_grid(street_manifest: Path, tmp_path: Path) -> None:
    cfg = EvalConfig(attacker_epochs=2, max_eval_items=8, max_train_items=16, grid_items=2)
    m = evaluate_anonymizer(street_manifest, "pixelate:block=16", tmp_path / "out", cfg, progress=False)
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert saved["schema"] == "veil.metrics/1"
    assert saved["anonymizer"] == m["anonymizer"] == "pixelate:block=16"
    assert (tmp_path / "out" / "grid.png").stat().st_size > 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["grid.png", "metrics.json"]
    u = saved["utility"]
    assert set(u["family_ratios"]) == set(u["unprotected"]["families"])
    assert u["worst_family"]["family"] in u["family_ratios"]
    assert u["worst_family"]["ratio"] == min(r for r in u["family_ratios"].values() if r is not None)
    table = format_table([summary_row(m)])
    assert "pixelate:block=16" in table and "worst family" in table
    assert all(f in table.split("\n\n")[1] for f in u["family_ratios"])


def test_grid_shape() -> None:
    import numpy as np

    a = [np.zeros((100, 50, 3), np.uint8), np.zeros((40, 80, 3), np.uint8)]
    g = before_after_grid(a, a, cell_height=60)
    assert g.shape[0] == 2 * 66 and g.dtype == np.uint8
