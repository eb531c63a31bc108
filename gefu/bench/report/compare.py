"""The report's questions, answered from the tables' per-image scores:

- does an enhancer help at all? its paired gain over the un-enhanced input, per evaluation;
- is A better than B here? paired comparisons of every pair of rows on each table's primary
  metric, Holm-corrected across that table's comparisons (the family a reader of one
  leaderboard scans), and which ranking neighbours are statistically tied;
- where does an enhancer stand overall? its average rank over the downstream evaluations, with
  an interval from resampling each table's images;
- does image quality predict downstream use? Kendall's tau between each IQA metric's ranking of
  the enhancers and each downstream evaluation's ranking, per dataset, with an interval from
  resampling images; and which no-reference metrics prefer the dark input to the reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from gefu.bench.config import REFERENCE_ROW
from gefu.bench.report.collect import OK, Report, Row, Table
from gefu.bench.report.paired import (
    ALPHA,
    Paired,
    align,
    from_replicates,
    holm,
    kendall,
    oriented,
    paired_mean,
    percentile_interval,
    ranks,
    resample_indices,
)

BETTER, WORSE, TIED = 1, -1, 0


# -- dataset-level metrics: resampled re-aggregations ---------------------------------------------
@dataclass
class Replicates:
    """One row's dataset-level metrics under the table's image resamples."""

    aggregator: object  # resample.Reaggregator
    images: tuple[str, ...]
    values: dict[str, np.ndarray]  # metric -> [B]


def _weights(images: tuple[str, ...], cache: dict) -> np.ndarray:
    from gefu.bench.report.resample import weights_from_indices

    if images not in cache:  # the same images always get the same resamples
        cache[images] = weights_from_indices(resample_indices(len(images)), len(images))
    return cache[images]


def resample_table(table: Table, cache: dict) -> None:
    """Intervals for the metrics that have no per-image scores but per-image records (mAP,
    mIoU): the library's value stays the point, the interval comes from re-aggregating
    resampled images (``resample.py``). Fills ``table.resampled`` for the paired tests."""
    from gefu.bench.report.resample import for_cell

    for r in table.rows:
        if r.status != OK or r.enhancer == REFERENCE_ROW or not r.records:
            continue
        need = [n for n, m in r.metrics.items() if m.value is not None and m.ci is None]
        if not need:
            continue
        try:
            agg = for_cell(r.records, r.spec)
        except Exception as exc:  # a damaged record must not stop the report
            table.problems.append(("(intervals)", f"cannot resample: {exc}", [r.enhancer]))
            continue
        need = [n for n in need if agg is not None and n in agg.metrics]
        if not need:
            continue
        images = tuple(agg.images)
        values = agg.values(_weights(images, cache))
        for name in need:
            m = r.metrics[name]
            m.ci, m.n = percentile_interval(values[name]), len(images)
        table.resampled[r.enhancer] = Replicates(agg, images, values)


def _resampled_pair(table: Table, a: str, b: str, metric: str, cache: dict) -> Paired | None:
    ra, rb = table.resampled.get(a), table.resampled.get(b)
    if ra is None or rb is None or metric not in ra.values or metric not in rb.values:
        return None
    if ra.images == rb.images:
        delta = table.row(a).metrics[metric].value - table.row(b).metrics[metric].value
        return from_replicates(delta, ra.values[metric] - rb.values[metric], len(ra.images))
    common = tuple(sorted(set(ra.images) & set(rb.images)))
    if len(common) < 2:
        return None
    w = _weights(common, cache)
    ones = np.ones((1, len(common)))
    va, vb, pa, pb = (
        _on(rep, common, weights)[metric]
        for rep, weights in ((ra, w), (rb, w), (ra, ones), (rb, ones))
    )
    return from_replicates(float(pa[0] - pb[0]), va - vb, len(common))


def _on(rep: Replicates, common: tuple[str, ...], weights: np.ndarray) -> dict[str, np.ndarray]:
    """Values of ``rep``'s row with weights given on ``common`` (its other images get 0)."""
    pos = {name: i for i, name in enumerate(common)}
    full = np.zeros((weights.shape[0], len(rep.images)))
    for j, name in enumerate(rep.images):
        if name in pos:
            full[:, j] = weights[:, pos[name]]
    return rep.aggregator.values(full)


@dataclass
class TableStats:
    """Paired comparisons on one table's primary metric."""

    metric: str
    lower_better: bool
    enhancers: list[str]  # rows with per-image scores, in rank order
    pairs: dict[tuple[str, str], Paired] = field(default_factory=dict)  # (a, b), a ranked first
    p_adj: dict[tuple[str, str], float] = field(default_factory=dict)  # Holm, this table

    def result(self, a: str, b: str) -> tuple[Paired, float | None] | None:
        """``a`` minus ``b`` and its Holm-adjusted p-value, or None when not compared."""
        if (a, b) in self.pairs:
            return self.pairs[a, b], self.p_adj.get((a, b))
        if (b, a) in self.pairs:
            r = self.pairs[b, a]
            flipped = Paired(-r.delta, (-r.ci[1], -r.ci[0]), r.p, r.n)
            return flipped, self.p_adj.get((b, a))
        return None

    def verdict(self, a: str, b: str) -> int | None:
        """BETTER when ``a`` is significantly better than ``b`` after Holm, WORSE when
        significantly worse, TIED when not significantly different, None when not compared."""
        found = self.result(a, b)
        if found is None or found[1] is None:
            return None
        r, p = found
        if p >= ALPHA or r.delta == 0:
            return TIED
        gain = -r.delta if self.lower_better else r.delta
        return BETTER if gain > 0 else WORSE


def _compared(row: Row, metric: str) -> dict[str, float] | None:
    m = row.metrics.get(metric)
    if row.status != OK or row.enhancer == REFERENCE_ROW or m is None or m.value is None:
        return None
    return m.images or None


def table_stats(table: Table, cache: dict | None = None) -> TableStats | None:
    """Every pair of rows compared on their common images: per-image primary scores through a
    paired permutation test, dataset-level ones (mAP, mIoU) through resampled re-aggregation."""
    col = table.primary
    if col is None:
        return None
    cache = {} if cache is None else cache
    scored = [(r.enhancer, _compared(r, col.metric)) for r in table.rows]
    scored = [(e, s) for e, s in scored if s or col.metric in _resampled_values(table, e)]
    stats = TableStats(col.metric, col.lower_better, [e for e, _ in scored])
    for (a, sa), (b, sb) in combinations(scored, 2):
        if sa and sb:
            found = paired_mean(*align(sa, sb))
        else:
            found = _resampled_pair(table, a, b, col.metric, cache)
        if found is not None:
            stats.pairs[a, b] = found
    keys = list(stats.pairs)
    adjusted = holm([stats.pairs[k].p for k in keys])
    stats.p_adj = {k: p for k, p in zip(keys, adjusted, strict=True) if p is not None}
    return stats


def _resampled_values(table: Table, enhancer: str) -> dict[str, np.ndarray]:
    rep = table.resampled.get(enhancer)
    return rep.values if rep is not None else {}


def mark_ties(table: Table) -> None:
    """``Row.tied_above``: ranked, and not significantly different from the row just above."""
    stats = table.stats
    ranked = [r for r in table.rows if r.rank is not None]
    for above, row in zip(ranked, ranked[1:]):
        row.tied_above = stats is not None and stats.verdict(above.enhancer, row.enhancer) == TIED


# -- the summary table ----------------------------------------------------------------------------
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
    """Ranked rows and their primary value under each image resample, ``[B, k]``. Rows with
    per-image scores are resampled on their common images (the same indices for all of them);
    a row with only a dataset-level value keeps it."""
    col = table.primary
    rows = [r for r in table.rows if r.rank is not None and r.enhancer != REFERENCE_ROW]
    if not rows:
        return None
    maps = {r.enhancer: _compared(r, col.metric) for r in rows}
    common = sorted(set.intersection(*(set(m) for m in maps.values() if m)) if any(maps.values())
                    else set())  # fmt: skip
    idx = None
    if len(common) >= 2:
        key = tuple(common)
        if key not in cache:
            cache[key] = resample_indices(len(common))
        idx = cache[key]
    resampled = {r.enhancer: v for r in rows if (v := _resampled_values(table, r.enhancer))}
    n_rep = idx.shape[0] if idx is not None else 1
    n_rep = max([n_rep] + [v[col.metric].shape[0] for v in resampled.values() if col.metric in v])
    out = np.empty((n_rep, len(rows)))
    for j, r in enumerate(rows):
        m = maps[r.enhancer]
        if idx is not None and m:
            out[:, j] = np.array([m[k] for k in common])[idx].mean(axis=1)
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
        SummaryColumn(t.dataset, t.evaluation, t.primary.metric, t.primary.lower_better,
                      t.downstream)
        for t in tables
    ]  # fmt: skip
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


# -- IQA <-> downstream agreement -----------------------------------------------------------------
@dataclass
class Correlation:
    iqa_evaluation: str
    iqa_metric: str
    evaluation: str  # the downstream evaluation, scored on its primary metric
    metric: str
    tau: float | None
    ci: tuple[float, float] | None
    n_enhancers: int


@dataclass
class Unreliable:
    """A metric that prefers the un-enhanced input to the normal-light reference."""

    evaluation: str
    metric: str
    lower_better: bool
    input_value: float
    reference_value: float


@dataclass
class Agreement:
    dataset: str
    correlations: list[Correlation]
    unreliable: list[Unreliable]


def _values(table: Table, metric: str) -> dict[str, tuple[float, dict | None]]:
    out = {}
    for r in table.rows:
        m = r.metrics.get(metric)
        if r.status == OK and r.enhancer != REFERENCE_ROW and m is not None and m.value is not None:
            out[r.enhancer] = (m.value, m.images or None)
    return out


def _tau(iqa: Table, metric: str, lower: bool, down: Table) -> Correlation:
    dcol = down.primary
    a, b = _values(iqa, metric), _values(down, dcol.metric)
    names = [n for n in a if n in b]
    corr = Correlation(iqa.evaluation, metric, down.evaluation, dcol.metric, None, None, len(names))
    if len(names) < 3:
        return corr
    x = oriented(np.array([a[n][0] for n in names]), lower)
    y = oriented(np.array([b[n][0] for n in names]), dcol.lower_better)
    corr.tau = kendall(x, y)
    maps = [a[n][1] for n in names] + [b[n][1] for n in names if b[n][1]]
    if not all(maps[: len(names)]):
        return corr
    common = sorted(set.intersection(*(set(m) for m in maps)))
    if len(common) < 2:
        return corr
    idx = resample_indices(len(common))

    def replicate(table_values, name, lower_better):
        value, images = table_values[name]
        rep = down.resampled.get(name) if table_values is b else None
        if not images and rep and rep.images == tuple(common) and dcol.metric in rep.values:
            return oriented(rep.values[dcol.metric], lower_better)  # the same resamples
        if not images:
            return np.full(idx.shape[0], oriented(np.float64(value), lower_better))
        return oriented(np.array([images[k] for k in common])[idx].mean(axis=1), lower_better)

    xs = np.stack([replicate(a, n, lower) for n in names], axis=1)
    ys = np.stack([replicate(b, n, dcol.lower_better) for n in names], axis=1)
    taus = [kendall(xi, yi) for xi, yi in zip(xs, ys, strict=True)]
    corr.ci = percentile_interval(np.array([np.nan if t is None else t for t in taus]))
    return corr


def _unreliable(iqa: Table) -> list[Unreliable]:
    out = []
    inp = iqa.row(iqa.input_row) if iqa.input_row else None
    ref = iqa.row(REFERENCE_ROW)
    if inp is None or ref is None or inp.status != OK or ref.status != OK:
        return out
    for col in iqa.columns:
        mi, mr = inp.metrics.get(col.metric), ref.metrics.get(col.metric)
        if mi is None or mr is None or mi.value is None or mr.value is None:
            continue
        if oriented(np.float64(mi.value), col.lower_better) > oriented(
            np.float64(mr.value), col.lower_better
        ):
            out.append(Unreliable(iqa.evaluation, col.metric, col.lower_better, mi.value, mr.value))
    return out


def agreement(report: Report) -> list[Agreement]:
    out = []
    for dataset in dict.fromkeys(t.dataset for t in report.tables):
        tables = [t for t in report.tables if t.dataset == dataset and t.primary is not None]
        iqa = [t for t in tables if not t.downstream]
        down = [t for t in tables if t.downstream]
        corrs = [
            _tau(q, col.metric, col.lower_better, d) for q in iqa for col in q.columns for d in down
        ]
        corrs = [c for c in corrs if c.n_enhancers >= 3]
        flags = [u for q in iqa for u in _unreliable(q)]
        if corrs or flags:
            out.append(Agreement(dataset, corrs, flags))
    return out


def analyse(report: Report) -> Report:
    """Fill the paired statistics, ties, the summary table and the agreement into ``report``."""
    cache: dict = {}
    for t in report.tables:
        resample_table(t, cache)
        t.stats = table_stats(t, cache)
        mark_ties(t)
    if report.tables:
        report.summary = summary(report)
        report.agreement = agreement(report)
    from gefu.bench.report.protocol import attach

    attach(report)
    return report
