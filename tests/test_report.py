"""Per-family utility ratios and the worst family: metrics keys, tables, plot, HTML (constructed metrics)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from veil.evaluate import add_family_ratios, family_ratio, family_ratios, family_summary, to_json, worst_family
from veil.report import (
    COLUMNS,
    WORST_FAMILY_WARN,
    format_family_table,
    format_table,
    pareto_flags,
    reference_row,
    summary_row,
    tradeoff_plot,
    write_html_report,
)

UNPROTECTED = {"count": 0.5, "presence": 0.8, "sign": 0.6}


def _metrics(name: str, families: dict[str, float], unprotected: dict[str, float] = UNPROTECTED,
             cmap: float = 0.5, reid: float = 0.5, ocr: float = 0.5, stored: bool = True) -> dict[str, Any]:
    """A metrics.json-shaped dict with only what the report reads."""
    overall = sum(families.values()) / len(families)
    ref_overall = sum(unprotected.values()) / len(unprotected)
    utility = {
        "protected": {"overall": overall, "families": dict(families)},
        "unprotected": {"overall": ref_overall, "families": dict(unprotected)},
        "relative": overall / ref_overall,
    }
    if stored:
        add_family_ratios(utility)
    return {
        "anonymizer": name,
        "utility": utility,
        "privacy": {
            "learned_attacker": {"cmap": cmap, "f1": 0.4, "raw_cmap": 0.8, "raw_f1": 0.7, "prior_cmap": 0.3,
                                 "prior_f1": 0.2},
            "face_detection": {"recall": 0.5, "raw_recall": 0.9},
            "reidentification": {"rate": reid},
            "text_recovery": {"exact_rate": ocr, "cer": 0.3, "raw_exact_rate": 0.9},
        },
        "timing": {"protect_ms_per_image": 3.0},
    }


@pytest.fixture
def metrics() -> list[dict[str, Any]]:
    return [
        # count gains (0.5 -> 0.7), sign is lost entirely; the mean ratio still looks fine-ish
        _metrics("blur:sigma=4", {"count": 0.7, "presence": 0.8, "sign": 0.0}, cmap=0.35, reid=0.1, ocr=0.0),
        _metrics("pixelate:block=8", {"count": 0.45, "presence": 0.76, "sign": 0.57}, cmap=0.45, reid=0.2, ocr=0.1),
        _metrics("identity", dict(UNPROTECTED), cmap=0.8, reid=1.0, ocr=0.9),
    ]


# ---------------------------------------------------------------- metrics.json keys
def test_gain_and_loss_worst_family_is_the_loss() -> None:
    u = add_family_ratios({
        "protected": {"families": {"count": 0.9, "sign": 0.3}},
        "unprotected": {"families": {"count": 0.6, "sign": 0.6}},
    })
    assert u["family_ratios"] == pytest.approx({"count": 1.5, "sign": 0.5})
    assert u["worst_family"] == {"family": "sign", "ratio": pytest.approx(0.5)}
    # the mean ratio hides the loss: (1.5 + 0.5) / 2 == 1
    assert sum(u["family_ratios"].values()) / 2 == pytest.approx(1.0)


def test_zero_unprotected_family_has_ratio_one() -> None:
    assert family_ratio(0.0, 0.0) == 1.0
    assert family_ratio(0.4, 0.0) == 1.0  # nothing to lose: neither loss nor gain
    assert math.isnan(family_ratio(None, 0.5)) and math.isnan(family_ratio(0.5, math.nan))
    r = family_ratios({"count": 0.2, "sign": 0.0}, {"count": 0.4, "sign": 0.0})
    assert r == {"count": 0.5, "sign": 1.0}
    assert worst_family(r) == {"family": "count", "ratio": 0.5}


def test_worst_family_ties_and_undefined() -> None:
    assert worst_family({"sign": 0.5, "count": 0.5})["family"] == "count"
    w = worst_family({"count": math.nan})
    assert w["family"] is None and math.isnan(w["ratio"])
    assert worst_family({})["family"] is None
    # a family only one side has: NaN, skipped for the worst
    r = family_ratios({"count": 0.3}, {"count": 0.6, "sign": 0.5})
    assert math.isnan(r["sign"]) and worst_family(r) == {"family": "count", "ratio": 0.5}


def test_keys_are_strict_json_and_backwards_compatible(metrics: list[dict[str, Any]]) -> None:
    saved = json.loads(to_json(metrics[0]))
    u = saved["utility"]
    assert {"protected", "unprotected", "relative", "family_ratios", "worst_family"} <= set(u)
    assert u["worst_family"] == {"family": "sign", "ratio": 0.0}
    # read back (None for NaN) and old files without the keys give the same summary
    undefined = _metrics("x", {"count": 0.2}, unprotected={"count": 0.4, "sign": 0.5})
    back = json.loads(to_json(undefined))
    assert back["utility"]["family_ratios"]["sign"] is None
    assert family_summary(back["utility"])["worst_family"] == {"family": "count", "ratio": 0.5}
    old = _metrics("blur:sigma=4", {"count": 0.7, "presence": 0.8, "sign": 0.0}, stored=False)
    assert "family_ratios" not in old["utility"]
    assert summary_row(old)["worst_family"] == "sign"
    assert summary_row(old)["family_ratios"] == summary_row(metrics[0])["family_ratios"]


# ---------------------------------------------------------------- tables
def test_summary_row_has_worst_family(metrics: list[dict[str, Any]]) -> None:
    rows = [summary_row(m) for m in metrics]
    assert rows[0]["worst_family"] == "sign" and rows[0]["worst_ratio"] == 0.0
    assert rows[0]["family_ratios"]["count"] == pytest.approx(1.4)
    assert rows[1]["worst_family"] == "count" and rows[1]["worst_ratio"] == pytest.approx(0.9)
    assert rows[2]["worst_ratio"] == pytest.approx(1.0)


def test_table_has_worst_family_column_next_to_mean_ratio(metrics: list[dict[str, Any]]) -> None:
    keys = [k for k, _ in COLUMNS]
    assert keys.index("worst") == keys.index("utility_rel") + 1
    text = format_table([summary_row(m) for m in metrics])
    header = text.splitlines()[0]
    assert header.index("utility / unprotected") < header.index("worst family") < header.index("cMAP")
    blur_line = next(line for line in text.splitlines() if line.startswith("blur:sigma=4"))
    assert "0.000 (sign)" in blur_line
    # the per-family table follows the main one, one column per family
    main, fam = text.split("\n\n")
    assert fam == format_family_table([summary_row(m) for m in metrics])
    fam_header = fam.splitlines()[1].split()
    assert fam_header[:4] == ["anonymizer", "count", "presence", "sign"]
    fam_blur = next(line for line in fam.splitlines() if line.startswith("blur:sigma=4")).split()
    assert fam_blur[1:4] == ["1.400", "1.000", "0.000*"]
    assert "count" not in main.splitlines()[0]
    assert "\n\n" not in format_table([summary_row(metrics[0])], families=False)


def test_tables_accept_rows_read_back_from_json(metrics: list[dict[str, Any]]) -> None:
    rows = json.loads(to_json([summary_row(m) for m in metrics]))
    rows.append(summary_row(_metrics("x", {"count": 0.2}, unprotected={"count": math.nan})))
    rows = json.loads(to_json(rows))
    text = format_table(rows)
    assert next(line for line in text.splitlines() if line.startswith("x ")).split()[3] == "n/a"


# ---------------------------------------------------------------- plot and HTML
def test_worst_family_front_differs_from_mean_front(metrics: list[dict[str, Any]]) -> None:
    rows = [summary_row(m) for m in metrics]
    # same cMAP as blur (which loses sign entirely); count gains a lot in blur, so its mean is higher
    rows[0] = summary_row(_metrics("blur:sigma=4", {"count": 1.0, "presence": 0.8, "sign": 0.0}, cmap=0.35))
    rows.append(summary_row(_metrics("mask", {"count": 0.5, "presence": 0.8, "sign": 0.3}, cmap=0.35)))
    assert rows[0]["utility"] > rows[3]["utility"] and rows[0]["worst_ratio"] < rows[3]["worst_ratio"]
    mean_front = pareto_flags(rows, "cmap").tolist()
    worst_front = pareto_flags(rows, "cmap", utility_key="worst_ratio").tolist()
    assert mean_front[0] and not mean_front[3]
    assert worst_front[3] and not worst_front[0]


def test_tradeoff_plot_is_written(metrics: list[dict[str, Any]], tmp_path: Path) -> None:
    rows = [summary_row(m) for m in metrics]
    path = tradeoff_plot(rows, reference_row(metrics[0]), tmp_path / "tradeoff.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 10_000
    # rows read back from JSON (None for NaN) plot too
    rows_json = json.loads(to_json([*rows, summary_row(_metrics("x", {"count": 0.2},
                                                                  unprotected={"count": math.nan}))]))
    assert tradeoff_plot(rows_json, reference_row(metrics[0]), tmp_path / "t2.png").stat().st_size > 10_000


def test_html_has_family_ratios_and_flags_the_worst(metrics: list[dict[str, Any]], tmp_path: Path) -> None:
    rows = [summary_row(m) for m in metrics]
    plot = tradeoff_plot(rows, reference_row(metrics[0]), tmp_path / "tradeoff.png")
    page = write_html_report(tmp_path, rows, reference_row(metrics[0]), plot, {}).read_text()
    assert "Utility ratio per question family" in page and "worst family" in page
    assert "<td class='worst warn'>0.000</td>" in page  # blur's sign: lost, red
    assert "<td class='worst warn'>0.000 (sign)</td>" in page
    assert "<td class='worst warn'>0.900</td>" in page  # pixelate's count: 0.9 < 0.95
    assert "<td class='worst'>1.000 (count)</td>" in page  # identity: not flagged
    assert f"below {WORST_FAMILY_WARN}" in page
    assert "td.warn" in page and "tradeoff.png" in page
