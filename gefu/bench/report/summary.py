"""The GEFU summary table: one row per enhancer, one column per evaluation's primary metric as
the paired gain over the un-enhanced input (significance from the table's Holm-corrected pairs),
and the average rank over the downstream evaluations with an interval from resampling each
table's sampling units (the same cluster resamples for every row of a table)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gefu.bench.report.collect import OK, Report, Row, Table, compared_scores, resampled_values
from gefu.bench.report.paired import percentile_interval, ranks
from gefu.core.specs import REFERENCE_ROW


@dataclass
class SummaryColumn:
    dataset: str
    evaluation: str
    metric: str
    lower_better: bool
    downstream: bool


@dataclass
class SummaryCell:
    value: float | None  # the enhancer's own value
    delta: float | None = None  # minus the input's, on the images both scored where paired
    ci: tuple[float, float] | None = None  # paired bootstrap interval of delta
    verdict: int | None = None  # vs the input, after Holm within the table
    p_adj: float | None = None


@dataclass
class SummaryRow:
    enhancer: str
    is_input: bool
    cells: list[SummaryCell | None]  # one per column
    avg_rank: float | None = None  # over the downstream evaluations that ranked it
    rank_ci: tuple[float, float] | None = None
    n_ranked: int = 0


@dataclass
class Summary:
    columns: list[SummaryColumn]
    rows: list[SummaryRow]  # by average rank, then the order enhancers first appear


def _gain(table: Table, row: Row) -> SummaryCell | None:
    col = table.primary
    m = row.metrics.get(col.metric) if row.status == OK else None
    if m is None or m.value is None:
        return None
    cell = SummaryCell(m.value)
    base = table.row(table.input_row) if table.input_row else None
    bm = base.metrics.get(col.metric) if base is not None and base.status == OK else None
    if row.enhancer == table.input_row or bm is None or bm.value is None:
        return cell
    cell.delta = m.value - bm.value
    found = table.stats.result(row.enhancer, base.enhancer) if table.stats else None
    if found is not None:
        r, cell.p_adj = found
        cell.delta, cell.ci = r.delta, r.ci
        cell.verdict = table.stats.verdict(row.enhancer, base.enhancer)
    return cell


def _replicate_values(table: Table, cache: dict) -> tuple[list[str], np.ndarray] | None:
    """Ranked rows and their primary value under each cluster resample, ``[B, k]``. Rows with
    per-image scores are resampled on their common images (the same weights for all of them);
    a row with only a dataset-level value keeps it."""
    col = table.primary
    rows = [r for r in table.rows if r.rank is not None and r.enhancer != REFERENCE_ROW]
    if not rows:
        return None
    maps = {r.enhancer: compared_scores(r, col.metric) for r in rows}
    common = sorted(
        set.intersection(*(set(m) for m in maps.values() if m)) if any(maps.values()) else set()
    )
    w = None
    if len(common) >= 2:
        key = (table.dataset, table.evaluation, tuple(common))
        if key not in cache:
            cache[key] = table.design.restrict(common).weights()
        w = cache[key]
    resampled = {r.enhancer: v for r in rows if (v := resampled_values(table, r.enhancer))}
    n_rep = w.shape[0] if w is not None else 1
    n_rep = max([n_rep] + [v[col.metric].shape[0] for v in resampled.values() if col.metric in v])
    out = np.empty((n_rep, len(rows)))
    for j, r in enumerate(rows):
        m = maps[r.enhancer]
        if w is not None and m:
            out[:, j] = (w @ np.array([m[k] for k in common])) / w.sum(axis=1)
        elif col.metric in resampled.get(r.enhancer, {}):
            out[:, j] = resampled[r.enhancer][col.metric]
        else:
            out[:, j] = r.metrics[col.metric].value
    return [r.enhancer for r in rows], out


def _average_ranks(tables: list[Table]) -> dict[str, tuple[float, tuple | None, int]]:
    """Enhancer -> (average rank, interval, number of downstream tables ranking it)."""
    point: dict[str, list[float]] = {}
    reps: dict[str, list[np.ndarray]] = {}
    cache: dict = {}
    n_rep = 1
    for t in tables:
        found = _replicate_values(t, cache)
        if found is None:
            continue
        names, values = found
        r = ranks(values, t.primary.lower_better)
        n_rep = max(n_rep, r.shape[0])
        for j, name in enumerate(names):
            point.setdefault(name, []).append(float(t.row(name).rank))
            reps.setdefault(name, []).append(r[:, j])
    out = {}
    for name, pts in point.items():
        stacked = np.stack([np.broadcast_to(x, (n_rep,)) for x in reps[name]])
        ci = percentile_interval(stacked.mean(axis=0)) if n_rep > 1 else None
        out[name] = (float(np.mean(pts)), ci, len(pts))
    return out


def summary(report: Report) -> Summary:
    tables = [t for t in report.tables if t.primary is not None]
    columns = [
        SummaryColumn(
            t.dataset, t.evaluation, t.primary.metric, t.primary.lower_better, t.downstream
        )
        for t in tables
    ]
    names: list[str] = []
    for t in tables:
        names += [r.enhancer for r in t.rows if r.enhancer not in names]
    names = [n for n in names if n != REFERENCE_ROW]
    avg = _average_ranks([t for t in tables if t.downstream])
    rows = []
    for name in names:
        cells = [(_gain(t, row) if (row := t.row(name)) else None) for t in tables]
        is_input = any(t.input_row == name for t in tables)
        row = SummaryRow(name, is_input, cells)
        if name in avg:
            row.avg_rank, row.rank_ci, row.n_ranked = avg[name]
        rows.append(row)
    order = {n: i for i, n in enumerate(names)}
    rows.sort(key=lambda r: (r.avg_rank is None, r.avg_rank or 0.0, order[r.enhancer]))
    return Summary(columns, rows)
