"""Tables, the utility-vs-privacy plot with its Pareto front, image grids and the HTML report.

Utility is shown both as the macro mean over question families and as the *worst family*
(lowest protected / unprotected accuracy ratio), so a family lost entirely cannot hide
behind a gain on another one.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from veil.evaluate import family_summary
from veil.fsutil import atomic_open, atomic_write_text
from veil.optim.pareto import non_dominated_mask

# (key in the summary row, axis title); every one of them: lower is more private
PRIVACY_AXES: tuple[tuple[str, str], ...] = (
    ("cmap", "learned-attacker cMAP"),
    ("reid", "face re-identification rate"),
    ("ocr_exact", "private-text OCR recovery"),
)
COLUMNS: tuple[tuple[str, str], ...] = (
    ("anonymizer", "anonymizer"),
    ("utility", "utility"),
    ("utility_rel", "utility / unprotected"),
    ("worst", "worst family"),
    ("cmap", "cMAP"),
    ("f1", "F1"),
    ("face_recall", "face det. recall"),
    ("reid", "re-id rate"),
    ("reid_rank1", "re-id rank-1"),
    ("ocr_exact", "OCR exact"),
    ("ocr_cer", "OCR CER"),
    ("ms", "ms/image"),
)
# a worst-family ratio below this is flagged (red in the HTML report, dotted line in the plot)
WORST_FAMILY_WARN = 0.95


def summary_row(m: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers of one metrics.json, flat."""
    p = m["privacy"]
    fs = family_summary(m["utility"])
    return {
        "anonymizer": m["anonymizer"],
        "utility": m["utility"]["protected"]["overall"],
        "utility_rel": m["utility"]["relative"],
        "families": m["utility"]["protected"]["families"],
        "family_ratios": fs["family_ratios"],
        "worst_family": fs["worst_family"]["family"],
        "worst_ratio": fs["worst_family"]["ratio"],
        "cmap": p["learned_attacker"]["cmap"],
        "f1": p["learned_attacker"]["f1"],
        "face_recall": p["face_detection"]["recall"],
        "reid": p["reidentification"]["rate"],
        "reid_rank1": p["reidentification"].get("rank1_rate", math.nan),
        "ocr_exact": p["text_recovery"]["exact_rate"],
        "ocr_cer": p["text_recovery"]["cer"],
        "ms": m["timing"]["protect_ms_per_image"],
    }


def reference_row(m: dict[str, Any]) -> dict[str, Any]:
    """Bounds shared by every row: unprotected utility, raw-image and prior attackers."""
    la = m["privacy"]["learned_attacker"]
    return {
        "utility_unprotected": m["utility"]["unprotected"]["overall"],
        "families_unprotected": m["utility"]["unprotected"]["families"],
        "raw_cmap": la["raw_cmap"],
        "raw_f1": la["raw_f1"],
        "prior_cmap": la["prior_cmap"],
        "prior_f1": la["prior_f1"],
        "raw_face_recall": m["privacy"]["face_detection"]["raw_recall"],
        "raw_ocr_exact": m["privacy"]["text_recovery"]["raw_exact_rate"],
    }


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "n/a" if not math.isfinite(v) else f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"
    return "n/a" if v is None else str(v)


def _num(v: Any) -> float:
    """A float for plotting and ranking: None (a NaN read back from JSON) becomes NaN."""
    return math.nan if v is None else float(v)


def _cell(r: dict[str, Any], key: str) -> str:
    """The text of one main-table cell; ``worst`` is the worst-family ratio and its family."""
    if key == "worst":
        fam = r.get("worst_family")
        return _fmt(r.get("worst_ratio")) + ("" if fam is None else f" ({fam})")
    return _fmt(r.get(key))


def _text_table(cells: list[list[str]]) -> str:
    widths = [max(len(c[i]) for c in cells) for i in range(len(cells[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def family_names(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Every question family that has a ratio in some row, sorted."""
    return sorted({f for r in rows for f in (r.get("family_ratios") or {})})


def format_family_table(rows: Sequence[dict[str, Any]]) -> str:
    """Utility ratio (protected / unprotected) per question family, one column per family;
    ``*`` marks each row's worst family. Empty when no row has family ratios."""
    fams = family_names(rows)
    if not fams:
        return ""
    cells = [["anonymizer", *fams, "worst family"]]
    for r in rows:
        ratios = r.get("family_ratios") or {}
        worst = r.get("worst_family")
        cells.append([
            str(r["anonymizer"]),
            *(_fmt(ratios.get(f)) + ("*" if f == worst else "") for f in fams),
            _cell(r, "worst"),
        ])
    return "utility / unprotected per question family (* worst)\n" + _text_table(cells)


def format_table(rows: Sequence[dict[str, Any]], families: bool = True) -> str:
    """A plain-text table of summary rows (for terminals and logs), followed (``families``)
    by the per-family utility-ratio table."""
    cells = [[title for _, title in COLUMNS]] + [[_cell(r, k) for k, _ in COLUMNS] for r in rows]
    table = _text_table(cells)
    fam = format_family_table(rows) if families else ""
    return table + ("\n\n" + fam if fam else "")


def pareto_flags(rows: Sequence[dict[str, Any]], privacy_key: str, utility_key: str = "utility") -> np.ndarray:
    """Which rows are on the ``utility_key``-vs-``privacy_key`` front (max utility, min leakage).

    ``utility_key="worst_ratio"`` gives the front of the worst-family utility ratio.
    """
    pts = np.array([[-_num(r.get(utility_key)), _num(r.get(privacy_key))] for r in rows], dtype=float)
    return non_dominated_mask(pts.reshape(len(rows), 2))


def _tradeoff_panel(ax: Any, rows: Sequence[dict[str, Any]], key: str, utility_key: str,
                    colour: dict[str, Any]) -> None:
    """One scatter of ``utility_key`` against privacy ``key``, Pareto front as a dashed step."""
    front = pareto_flags(rows, key, utility_key)
    for r, on in zip(rows, front, strict=True):
        x, y = _num(r.get(key)), _num(r.get(utility_key))
        if not (math.isfinite(x) and math.isfinite(y)):
            continue
        fam = r["anonymizer"].split(":")[0]
        ax.scatter(x, y, color=colour[fam], s=70 if on else 30, edgecolor="black" if on else "none", zorder=3)
        label = r["anonymizer"].replace(fam + ":", "")
        if utility_key == "worst_ratio" and r.get("worst_family") and y < 1:
            label += f" [{r['worst_family']}]"
        ax.annotate(label, (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points")
    pts = sorted((_num(r.get(key)), _num(r.get(utility_key))) for r, on in zip(rows, front, strict=True) if on)
    if pts:
        ax.step([p[0] for p in pts], [p[1] for p in pts], where="post", color="black", lw=1,
                ls="--", label="Pareto front", zorder=2)


def tradeoff_plot(rows: Sequence[dict[str, Any]], ref: dict[str, Any], path: str | Path) -> Path:
    """Utility against each privacy measure, one panel each, Pareto front marked.

    Top row: mean utility (macro over question families). Bottom row: the worst family's
    utility ratio (protected / unprotected), with its own Pareto front, so an anonymizer
    that loses one family entirely cannot look good through the mean.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(PRIVACY_AXES)
    fig, axes = plt.subplots(2, n, figsize=(5.2 * n, 9.0), squeeze=False)
    families = sorted({r["anonymizer"].split(":")[0] for r in rows})
    cmap = plt.get_cmap("tab10")
    colour = {f: cmap(i % 10) for i, f in enumerate(families)}
    for col, (key, title) in enumerate(PRIVACY_AXES):
        top, bottom = axes[0, col], axes[1, col]
        _tradeoff_panel(top, rows, key, "utility", colour)
        _tradeoff_panel(bottom, rows, key, "worst_ratio", colour)
        top.axhline(_num(ref.get("utility_unprotected")), color="grey", lw=0.8, ls=":",
                    label="unprotected utility")
        bottom.axhline(1.0, color="grey", lw=0.8, ls=":", label="unprotected (ratio 1)")
        bottom.axhline(WORST_FAMILY_WARN, color="red", lw=0.8, ls=(0, (1, 3)),
                       label=f"worst-family ratio {WORST_FAMILY_WARN}")
        for ax in (top, bottom):
            if key == "cmap":
                ax.axvline(_num(ref.get("raw_cmap")), color="red", lw=0.8, ls=":", label="raw-image attacker")
                ax.axvline(_num(ref.get("prior_cmap")), color="green", lw=0.8, ls=":", label="constant prior")
            ax.set_xlabel(f"{title} (lower is more private)")
            ax.grid(alpha=0.3)
        top.set_ylabel("utility (black-box accuracy, family mean)")
        bottom.set_ylabel("worst-family utility / unprotected")
    handles = [plt.Line2D([], [], marker="o", ls="", color=colour[f], label=f) for f in families]
    labels = list(families)
    for ax in (axes[0, 0], axes[1, 0]):
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="lower center", ncol=min(8, len(labels)), fontsize=8)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    path = Path(path)
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=110)
    plt.close(fig)
    return path


def before_after_grid(originals: Sequence[np.ndarray], protected: Sequence[np.ndarray],
                      cell_height: int = 200) -> np.ndarray:
    """Rows of (original | protected), resized to one height, on a white canvas."""
    rows = []
    for a, b in zip(originals, protected, strict=True):
        pair = []
        for im in (a, b):
            w = max(1, round(im.shape[1] * cell_height / im.shape[0]))
            pair.append(cv2.resize(im, (w, cell_height), interpolation=cv2.INTER_AREA))
        gap = np.full((cell_height, 6, 3), 255, np.uint8)
        rows.append(np.hstack([pair[0], gap, pair[1]]))
    if not rows:
        return np.full((cell_height, cell_height, 3), 255, np.uint8)
    width = max(r.shape[1] for r in rows)
    padded = [np.pad(r, ((0, 6), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    return np.vstack(padded)


def _worst_class(ratio: Any) -> str:
    """CSS class of a worst-family cell: ``warn`` (red) below ``WORST_FAMILY_WARN``."""
    v = _num(ratio)
    return "worst warn" if math.isfinite(v) and v < WORST_FAMILY_WARN else "worst"


def write_html_report(
    out_dir: str | Path,
    rows: Sequence[dict[str, Any]],
    ref: dict[str, Any],
    plot: str | Path,
    grids: dict[str, str | Path],
    title: str = "Veil demo report",
    notes: Sequence[str] = (),
) -> Path:
    """A self-contained HTML page (images referenced relative to it), written atomically."""
    out = Path(out_dir)
    rel = lambda p: html.escape(os.path.relpath(p, out))  # noqa: E731
    fronts = {k: pareto_flags(rows, k) for k, _ in PRIVACY_AXES}
    head = "".join(f"<th>{html.escape(t)}</th>" for _, t in COLUMNS)
    body = []
    for i, r in enumerate(rows):
        cells = []
        for k, _ in COLUMNS:
            on = k in fronts and fronts[k][i]
            txt = html.escape(_cell(r, k))
            if k == "worst":
                cells.append(f"<td class='{_worst_class(r.get('worst_ratio'))}'>{txt}</td>")
            else:
                cells.append(f"<td class='front'>{txt}</td>" if on else f"<td>{txt}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    fam_names = sorted(ref["families_unprotected"])
    fam_head = "".join(f"<th>{html.escape(f)}</th>" for f in fam_names)
    fam_rows = [
        "<tr><td>unprotected</td>"
        + "".join(f"<td>{_fmt(ref['families_unprotected'][f])}</td>" for f in fam_names) + "</tr>"
    ] + [
        f"<tr><td>{html.escape(r['anonymizer'])}</td>"
        + "".join(f"<td>{_fmt(r['families'].get(f))}</td>" for f in fam_names) + "</tr>"
        for r in rows
    ]
    ratio_names = family_names(rows)
    ratio_head = "".join(f"<th>{html.escape(f)}</th>" for f in ratio_names)
    ratio_rows = []
    for r in rows:
        ratios = r.get("family_ratios") or {}
        cells = []
        for f in ratio_names:
            cls = f" class='{_worst_class(ratios.get(f))}'" if f == r.get("worst_family") else ""
            cells.append(f"<td{cls}>{_fmt(ratios.get(f))}</td>")
        ratio_rows.append(
            f"<tr><td>{html.escape(r['anonymizer'])}</td>" + "".join(cells)
            + f"<td class='{_worst_class(r.get('worst_ratio'))}'>{html.escape(_cell(r, 'worst'))}</td></tr>"
        )
    grid_html = "".join(
        f"<figure><figcaption>{html.escape(name)} (left: original, right: protected)</figcaption>"
        f"<img src='{rel(p)}' alt='{html.escape(name)}'></figure>"
        for name, p in grids.items()
    )
    notes_html = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 1400px; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 14px; }}
th, td {{ border: 1px solid #ccc; padding: 4px 8px; text-align: right; }}
td:first-child, th:first-child {{ text-align: left; }}
td.front {{ background: #e6f4e6; font-weight: bold; }}
td.worst {{ font-weight: bold; }}
td.warn {{ background: #f8d7d7; color: #a00000; font-weight: bold; }}
img {{ max-width: 100%; }}
figure {{ display: inline-block; margin: 0.5em; vertical-align: top; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<ul>{notes_html}</ul>
<h2>Reference bounds</h2>
<table><tr><th>unprotected utility</th><th>raw-image attacker cMAP</th><th>raw F1</th>
<th>constant-prior cMAP</th><th>prior F1</th><th>face det. recall (raw)</th><th>OCR exact (raw)</th></tr>
<tr><td>{_fmt(ref['utility_unprotected'])}</td><td>{_fmt(ref['raw_cmap'])}</td><td>{_fmt(ref['raw_f1'])}</td>
<td>{_fmt(ref['prior_cmap'])}</td><td>{_fmt(ref['prior_f1'])}</td><td>{_fmt(ref['raw_face_recall'])}</td>
<td>{_fmt(ref['raw_ocr_exact'])}</td></tr></table>
<h2>Anonymizers</h2>
<p>Privacy columns: lower is more private. Green cells: on the Pareto front of utility
against that privacy measure.</p>
<table><tr>{head}</tr>{''.join(body)}</table>
<h2>Utility per question family</h2>
<table><tr><th>anonymizer</th>{fam_head}</tr>{''.join(fam_rows)}</table>
<h2>Utility ratio per question family</h2>
<p>Protected / unprotected accuracy per family (1.0 where the unprotected accuracy is 0). Bold: each
anonymizer's worst family; red: worst-family ratio below {WORST_FAMILY_WARN}.</p>
<table><tr><th>anonymizer</th>{ratio_head}<th>worst family</th></tr>{''.join(ratio_rows)}</table>
<h2>Utility against privacy</h2>
<p>Top: mean utility over families. Bottom: the worst family's utility ratio, with its own Pareto front.</p>
<img src="{rel(plot)}" alt="utility (mean and worst family) against privacy, Pareto fronts marked">
<h2>Before and after</h2>
{grid_html}
</body></html>
"""
    return atomic_write_text(out / "report.html", page)
