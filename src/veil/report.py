"""Tables, the utility-vs-privacy plot with its Pareto front, image grids and the HTML report."""

from __future__ import annotations

import html
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

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
    ("cmap", "cMAP"),
    ("f1", "F1"),
    ("face_recall", "face det. recall"),
    ("reid", "re-id rate"),
    ("ocr_exact", "OCR exact"),
    ("ocr_cer", "OCR CER"),
    ("ms", "ms/image"),
)


def summary_row(m: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers of one metrics.json, flat."""
    p = m["privacy"]
    return {
        "anonymizer": m["anonymizer"],
        "utility": m["utility"]["protected"]["overall"],
        "utility_rel": m["utility"]["relative"],
        "families": m["utility"]["protected"]["families"],
        "cmap": p["learned_attacker"]["cmap"],
        "f1": p["learned_attacker"]["f1"],
        "face_recall": p["face_detection"]["recall"],
        "reid": p["reidentification"]["rate"],
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


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """A plain-text table of summary rows (for terminals and logs)."""
    cells = [[title for _, title in COLUMNS]] + [[_fmt(r.get(k)) for k, _ in COLUMNS] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def pareto_flags(rows: Sequence[dict[str, Any]], privacy_key: str) -> np.ndarray:
    """Which rows are on the utility-vs-``privacy_key`` front (max utility, min leakage)."""
    pts = np.array([[-float(r["utility"]), float(r[privacy_key])] for r in rows], dtype=float)
    return non_dominated_mask(pts)


def tradeoff_plot(rows: Sequence[dict[str, Any]], ref: dict[str, Any], path: str | Path) -> Path:
    """Utility against each privacy measure, one panel each, Pareto front marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(PRIVACY_AXES), figsize=(5.2 * len(PRIVACY_AXES), 4.6))
    families = sorted({r["anonymizer"].split(":")[0] for r in rows})
    cmap = plt.get_cmap("tab10")
    colour = {f: cmap(i % 10) for i, f in enumerate(families)}
    for ax, (key, title) in zip(axes, PRIVACY_AXES, strict=True):
        front = pareto_flags(rows, key)
        for r, on in zip(rows, front, strict=True):
            x, y = r[key], r["utility"]
            if not (math.isfinite(x) and math.isfinite(y)):
                continue
            fam = r["anonymizer"].split(":")[0]
            ax.scatter(x, y, color=colour[fam], s=70 if on else 30, edgecolor="black" if on else "none",
                       zorder=3)
            ax.annotate(r["anonymizer"].replace(fam + ":", ""), (x, y), fontsize=6, xytext=(3, 3),
                        textcoords="offset points")
        pts = sorted((r[key], r["utility"]) for r, on in zip(rows, front, strict=True) if on)
        if pts:
            ax.step([p[0] for p in pts], [p[1] for p in pts], where="post", color="black", lw=1,
                    ls="--", label="Pareto front", zorder=2)
        ax.axhline(ref["utility_unprotected"], color="grey", lw=0.8, ls=":", label="unprotected utility")
        if key == "cmap":
            ax.axvline(ref["raw_cmap"], color="red", lw=0.8, ls=":", label="raw-image attacker")
            ax.axvline(ref["prior_cmap"], color="green", lw=0.8, ls=":", label="constant prior")
        ax.set_xlabel(f"{title} (lower is more private)")
        ax.set_ylabel("utility (black-box accuracy)")
        ax.grid(alpha=0.3)
    handles = [plt.Line2D([], [], marker="o", ls="", color=colour[f], label=f) for f in families]
    h2, l2 = axes[0].get_legend_handles_labels()
    fig.legend(handles + h2, families + l2, loc="lower center", ncol=min(8, len(families) + len(l2)),
               fontsize=8)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
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
            txt = html.escape(_fmt(r.get(k)))
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
<h2>Utility against privacy</h2>
<img src="{rel(plot)}" alt="utility against privacy, Pareto front marked">
<h2>Before and after</h2>
{grid_html}
</body></html>
"""
    return atomic_write_text(out / "report.html", page)
