"""Report figures as PNG bytes, drawn with matplotlib's Agg canvas (no pyplot, no global state).

Each function returns None when there is nothing to draw."""

from __future__ import annotations

import io
import math

from gefu.bench.report.agreement import Agreement
from gefu.bench.report.collect import OK, SampleGrid, Table
from gefu.bench.report.text import shorten
from gefu.core.specs import REFERENCE_ROW

MAX_SAMPLE_ROWS = 8


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def _arrow(lower_better: bool) -> str:
    return "↓ lower is better" if lower_better else "↑ higher is better"


def metric_bars(table: Table) -> bytes | None:
    """One panel per metric: each enhancer's value with its bootstrap interval, ranked order."""
    panels = []
    for col in table.columns:
        pts = [
            (r.enhancer, m.value, m.ci)
            for r in table.rows
            if r.status == OK and (m := r.metrics.get(col.metric)) and m.value is not None
        ]
        if pts:
            panels.append((col, pts))
    if not panels:
        return None
    ncols = min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    n_bars = max(len(p) for _, p in panels)
    fig = _figure(4.2 * ncols, nrows * (0.32 * n_bars + 1.3))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, (col, pts) in zip(axes, panels):
        ax.barh(range(len(pts)), [v for _, v, _ in pts], color="#4c78a8")
        with_ci = [(i, v, ci) for i, (_, v, ci) in enumerate(pts) if ci]
        if with_ci:
            err = [[max(v - ci[0], 0.0) for _, v, ci in with_ci]]
            err.append([max(ci[1] - v, 0.0) for _, v, ci in with_ci])
            ys, xs = [i for i, _, _ in with_ci], [v for _, v, _ in with_ci]
            ax.errorbar(xs, ys, xerr=err, fmt="none", ecolor="#222", capsize=3)
        ax.set_yticks(range(len(pts)), [shorten(p[0], 24) for p in pts], fontsize=8)
        ax.invert_yaxis()
        ax.set_title(f"{col.metric} ({_arrow(col.lower_better)})", fontsize=9)
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(axis="x", alpha=0.3)
    for ax in axes[len(panels) :]:
        ax.set_axis_off()
    fig.suptitle(f"{table.dataset} · {table.evaluation}: value and 95% interval", fontsize=10)
    return _png(fig)


def degradation(table: Table) -> bytes | None:
    """The degradation curve of a stratified table: primary metric per stratum (in the
    strata's name order), one line per enhancer, the reference (where scored) dashed."""
    if len(table.strata) < 2 or table.primary is None:
        return None
    col, strata = table.primary, list(table.strata)
    fig = _figure(6.0, 4.0)
    ax = fig.subplots()
    for r in table.rows:
        ys = [table.strata[s].get(r.enhancer) for s in strata]
        if all(y is None for y in ys):
            continue
        style = "--" if r.enhancer == REFERENCE_ROW else "-o"
        ys = [math.nan if y is None else y for y in ys]
        ax.plot(range(len(strata)), ys, style, label=shorten(r.enhancer, 24), markersize=4)
    ax.set_xticks(range(len(strata)), [shorten(s, 16) for s in strata], fontsize=8)
    ax.set_xlabel("stratum")
    ax.set_ylabel(f"{col.metric} ({_arrow(col.lower_better)})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(f"{table.dataset} · {table.evaluation}: by stratum", fontsize=10)
    return _png(fig)


def quality_vs_speed(table: Table) -> bytes | None:
    """Primary metric against enhancer ms per megapixel (log scale)."""
    if not table.columns:
        return None
    col = table.columns[0]
    pts = [
        (r.enhancer, r.ms_per_mp, m.value, m.ci)
        for r in table.rows
        if r.status == OK
        and r.ms_per_mp is not None
        and r.ms_per_mp > 0
        and (m := r.metrics.get(col.metric))
        and m.value is not None
    ]
    if not pts:
        return None
    fig = _figure(6.0, 4.0)
    ax = fig.subplots()
    for name, x, y, ci in pts:
        yerr = [[max(y - ci[0], 0.0)], [max(ci[1] - y, 0.0)]] if ci else None
        ax.errorbar([x], [y], yerr=yerr, fmt="o", color="#e45756", ecolor="#888", capsize=3)
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("enhancer ms per megapixel (log scale, left is faster)")
    ax.set_ylabel(f"{col.metric} ({_arrow(col.lower_better)})")
    ax.grid(alpha=0.3, which="both")
    ax.set_title(f"{table.dataset} · {table.evaluation}: quality vs speed", fontsize=10)
    return _png(fig)


def agreement_heatmap(a: Agreement) -> bytes | None:
    """Kendall tau of each IQA metric (rows) with each downstream evaluation (columns)."""
    import numpy as np

    rows = list(dict.fromkeys(f"{c.iqa_evaluation}/{c.iqa_metric}" for c in a.correlations))
    cols = list(dict.fromkeys(f"{c.evaluation}/{c.metric}" for c in a.correlations))
    if not rows or not cols:
        return None
    tau = np.full((len(rows), len(cols)), np.nan)
    text = {}
    for c in a.correlations:
        i, j = (
            rows.index(f"{c.iqa_evaluation}/{c.iqa_metric}"),
            cols.index(f"{c.evaluation}/{c.metric}"),
        )
        if c.tau is not None:
            tau[i, j] = c.tau
            ci = f"\n[{c.ci[0]:+.2f}, {c.ci[1]:+.2f}]" if c.ci else ""
            text[i, j] = f"{c.tau:+.2f}{ci}"
    fig = _figure(max(6.0, 2.0 * len(cols) + 3.0), 0.5 * len(rows) + 1.6)
    ax = fig.subplots()
    im = ax.imshow(tau, cmap="RdBu", vmin=-1.0, vmax=1.0, aspect="auto")
    for (i, j), label in text.items():
        ax.text(
            j,
            i,
            label,
            ha="center",
            va="center",
            fontsize=7,
            color="white" if abs(tau[i, j]) > 0.6 else "black",
        )
    ax.set_xticks(range(len(cols)), [shorten(c, 40) for c in cols], fontsize=8)
    ax.set_yticks(range(len(rows)), [shorten(r, 28) for r in rows], fontsize=8)
    fig.colorbar(im, ax=ax, label="Kendall τ")
    ax.set_title(f"{shorten(a.dataset, 30)}: IQA ranking vs downstream ranking", fontsize=9)
    return _png(fig)


def _decode(png: bytes):
    import numpy as np
    from PIL import Image

    try:
        with Image.open(io.BytesIO(png)) as im:
            return np.asarray(im.convert("RGB"))
    except Exception:  # a damaged crop must not stop the report
        return None


def sample_grid(dataset: str, grid: SampleGrid) -> bytes | None:
    """Rows are images, columns input / each enhancer's output / reference."""
    images = sorted(grid.images)[:MAX_SAMPLE_ROWS]
    columns = [c for c in grid.columns if any(c in grid.images[i] for i in images)]
    if not images or not columns:
        return None
    fig = _figure(1.9 * len(columns), 1.9 * len(images) + 0.5)
    axes = fig.subplots(len(images), len(columns), squeeze=False)
    for i, image in enumerate(images):
        for j, column in enumerate(columns):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            png = grid.images[image].get(column)
            pixels = _decode(png) if png is not None else None
            if pixels is not None:
                ax.imshow(pixels)
            else:
                text = "unreadable" if png is not None else "–"
                ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
            if i == 0:
                ax.set_title(shorten(column, 24), fontsize=8)
            if j == 0:
                ax.set_ylabel(shorten(image, 28), fontsize=7)
    fig.suptitle(f"{dataset}: sample crops", fontsize=10)
    return _png(fig)
