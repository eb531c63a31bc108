"""Paired comparisons of the rows of each table, on the same images: is A better than B here?

Every pair of rows is compared on the table's primary metric (per-image scores through
``paired.paired_mean``; dataset-level metrics such as mAP / mIoU through resampled
re-aggregation, ``resample.py``), Holm-corrected across that table's pairs (the family a reader
of one leaderboard scans); ranking neighbours that are not significantly different are marked
as tied. ``analyse`` then adds the GEFU summary (``summary.py``), the IQA <-> downstream
agreement (``agreement.py``) and the protocol cards (``protocol.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from gefu.bench.report.collect import OK, Report, Table, compared_scores, resampled_values
from gefu.bench.report.paired import (
    ALPHA,
    Paired,
    common_images,
    from_replicates,
    holm,
    paired_means,
    percentile_interval,
    resample_indices,
)
from gefu.core.specs import REFERENCE_ROW

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


def table_stats(table: Table, cache: dict | None = None) -> TableStats | None:
    """Every pair of rows compared on their common images: per-image primary scores through a
    paired permutation test, dataset-level ones (mAP, mIoU) through resampled re-aggregation."""
    col = table.primary
    if col is None:
        return None
    cache = {} if cache is None else cache
    scored = [(r.enhancer, compared_scores(r, col.metric)) for r in table.rows]
    scored = [(e, s) for e, s in scored if s or col.metric in resampled_values(table, e)]
    stats = TableStats(col.metric, col.lower_better, [e for e, _ in scored])
    groups: dict[tuple[str, ...], list] = {}  # pairs scored on the same images: one scipy call
    for (a, sa), (b, sb) in combinations(scored, 2):
        if sa and sb:
            groups.setdefault(common_images(sa, sb), []).append((a, b, sa, sb))
        elif (found := _resampled_pair(table, a, b, col.metric, cache)) is not None:
            stats.pairs[a, b] = found
    for images, pairs in groups.items():
        x = np.array([[sa[k] for k in images] for _, _, sa, _ in pairs], dtype=np.float64)
        y = np.array([[sb[k] for k in images] for _, _, _, sb in pairs], dtype=np.float64)
        for (a, b, _, _), found in zip(pairs, paired_means(x, y), strict=True):
            if found is not None:
                stats.pairs[a, b] = found
    stats.pairs = {k: stats.pairs[k] for k in combinations(stats.enhancers, 2) if k in stats.pairs}
    keys = list(stats.pairs)
    adjusted = holm([stats.pairs[k].p for k in keys])
    stats.p_adj = {k: p for k, p in zip(keys, adjusted, strict=True) if p is not None}
    return stats


def mark_ties(table: Table) -> None:
    """``Row.tied_above``: ranked, and not significantly different from the row just above."""
    stats = table.stats
    ranked = [r for r in table.rows if r.rank is not None]
    for above, row in zip(ranked, ranked[1:]):
        row.tied_above = stats is not None and stats.verdict(above.enhancer, row.enhancer) == TIED


def analyse(report: Report) -> Report:
    """Fill the paired statistics, ties, the summary table and the agreement into ``report``."""
    cache: dict = {}
    for t in report.tables:
        resample_table(t, cache)
        t.stats = table_stats(t, cache)
        mark_ties(t)
    from gefu.bench.report.agreement import agreement
    from gefu.bench.report.protocol import attach
    from gefu.bench.report.summary import summary

    if report.tables:
        report.summary = summary(report)
        report.agreement = agreement(report)
    attach(report)
    return report
