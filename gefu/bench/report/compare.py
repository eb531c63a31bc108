"""Paired comparisons of the rows of each table, on the same images: is A better than B here?

Each table first gets its sampling units (``units.Design``: clusters within strata, from the
dataset reader or the config's ``cluster_by`` / ``stratify_by``), then the intervals of its
rows (``stats.interval`` for means of per-image scores; a cluster bootstrap of the scorer's
re-aggregation for mAP / mIoU, ``gefu.tasks.scoring``). Every pair of rows is compared on the
table's primary metric by a paired permutation test on that metric (``paired.py``), Holm-
corrected across that table's pairs (the family a reader of one leaderboard scans); ranking
neighbours that are not significantly different are marked as tied. ``analyse`` then adds the
GEFU summary (``summary.py``), the IQA <-> downstream agreement (``agreement.py``) and the
protocol cards (``protocol.py``).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from gefu.bench.report import paired as pt
from gefu.bench.report.collect import OK, Report, Table, compared_scores, resampled_values
from gefu.bench.report.paired import ALPHA, Paired, interval
from gefu.bench.report.stats import CLUSTER, FLAT
from gefu.bench.report.units import Design, design
from gefu.core.specs import REFERENCE_ROW

BETTER, WORSE, TIED = 1, -1, 0
BOOTSTRAP = "bootstrap over images"
MIN_UNITS = 5  # fewer units with ground truth give no dataset-level interval (too few resamples)


# -- sampling units and row intervals -------------------------------------------------------------
def table_design(table: Table, config: dict) -> Design:
    """The units of every image some row of ``table`` scored (the reader's clusters and strata,
    unless the run's dataset spec overrides them; a bad override is a table problem)."""
    images, groups = set(), {}
    for r in table.rows:
        if r.status != OK:
            continue
        for m in r.metrics.values():
            images |= set(m.images or ())
        images |= {name for name, _ in r.records}
        groups.update(r.groups)
    spec = next(
        (
            d
            for d in (config or {}).get("datasets", []) or []
            if isinstance(d, dict) and (d.get("id") or d.get("name")) == table.dataset
        ),
        {},
    )
    try:
        return design(images, groups, spec.get("cluster_by"), spec.get("stratify_by"))
    except ValueError as exc:
        table.problems.append(("(sampling units)", f"{exc}; using the reader's", []))
        return design(images, groups)


@dataclass
class Replicates:
    """One row's dataset-level metrics: its scorer and its values under cluster resamples."""

    scorer: object  # gefu.tasks.scoring.Scorer
    scoring: dict
    images: tuple[str, ...]
    records: list
    values: dict[str, np.ndarray]  # metric -> [B]


def fill_intervals(table: Table) -> None:
    """Intervals of every row's metrics: per-image means through ``stats.interval``; metrics
    with per-image records (mAP, mIoU) by re-aggregating cluster resamples through the scorer
    (the library's value stays the point). Fills ``table.resampled`` for the paired tests."""
    from gefu.tasks import scoring

    for r in table.rows:
        if r.status != OK:
            continue
        for m in r.metrics.values():
            if m.images:
                d = table.design.restrict(m.images)
                found = interval([m.images[k] for k in d.images], d, m.proportion)
                if found is not None:
                    (m.ci, m.method), m.n = found, len(d.images)
        need = [n for n, m in r.metrics.items() if m.value is not None and m.images is None]
        if not need or not r.records or r.enhancer == REFERENCE_ROW:
            continue
        try:
            spec, images, records = scoring.from_blobs(r.records)
            scorer = scoring.build(spec, images, records)
        except Exception as exc:  # a damaged record must not stop the report
            table.problems.append(("(intervals)", f"cannot re-aggregate: {exc}", [r.enhancer]))
            continue
        d = table.design.restrict(images)
        values = scorer.values(d.weights())
        carrying = units_with_targets(d, images, records)
        for name in [n for n in need if n in scorer.metrics]:
            m = r.metrics[name]
            m.ci, m.n = pt.percentile_interval(values[name]), len(images)
            flat = m.ci is not None and m.ci[0] == m.ci[1]
            m.method = FLAT if flat else CLUSTER if d.clustered else BOOTSTRAP
            if carrying is not None and carrying < MIN_UNITS:
                m.ci, m.method = None, f"no interval: ground truth in {carrying} unit(s)"
        table.resampled[r.enhancer] = Replicates(scorer, spec, tuple(images), records, values)


def units_with_targets(d: Design, images, records) -> int | None:
    """How many sampling units hold any ground-truth box (None: records without boxes). A
    dataset-level value resting on a handful of units has no meaningful bootstrap interval:
    with 2 units the resamples take 3 distinct values whatever the spread."""
    if not records or "target" not in records[0]:
        return None
    with_gt = [
        im
        for im, rec in zip(images, records, strict=True)
        if np.asarray(rec["target"].get("labels", ())).size
    ]
    return d.restrict(with_gt).n_units if with_gt else 0


def stratum_values(table: Table) -> dict[str, dict[str, float]]:
    """Stratum -> enhancer -> the primary metric on that stratum's images alone."""
    col = table.primary
    if col is None or table.design is None or not table.design.stratum_names:
        return {}
    of = dict(zip(table.design.images, table.design.strata, strict=True))
    out: dict[str, dict[str, float]] = {}
    for s in table.design.stratum_names:
        row_values = {}
        for r in table.rows:
            m = r.metrics.get(col.metric) if r.status == OK else None
            if m is None or m.value is None:
                continue
            if m.images:
                x = [v for k, v in m.images.items() if of.get(k) == s]
                if x:
                    row_values[r.enhancer] = float(np.mean(x))
            elif (rep := table.resampled.get(r.enhancer)) is not None:
                w = np.array([[1.0 if of.get(k) == s else 0.0 for k in rep.images]])
                if w.any() and col.metric in rep.scorer.metrics:
                    v = float(rep.scorer.values(w)[col.metric][0])
                    if np.isfinite(v):
                        row_values[r.enhancer] = v
        out[s] = row_values
    return out


# -- paired tests ---------------------------------------------------------------------------------
def _records_pair(table: Table, a: str, b: str, metric: str, n_random: int) -> Paired | None:
    """A permutation test on a dataset-level metric: swap units' records, recompute."""
    from gefu.tasks import scoring

    ra, rb = table.resampled.get(a), table.resampled.get(b)
    if ra is None or rb is None or ra.scoring != rb.scoring or metric not in ra.values:
        return None
    common = sorted(set(ra.images) & set(rb.images))
    if len(common) < 2:
        return None
    ia, ib = ({name: i for i, name in enumerate(r.images)} for r in (ra, rb))
    recs_a = [ra.records[ia[c]] for c in common]
    recs_b = [rb.records[ib[c]] for c in common]
    joint = scoring.build(ra.scoring, common + common, recs_a + recs_b)
    d = table.design.restrict(common)
    ui = d.unit_index()
    differ = [not scoring.same(x, y) for x, y in zip(recs_a, recs_b, strict=True)]
    informative = np.unique(ui[np.asarray(differ, bool)])
    delta, p, exact = pt.swap_test(joint, metric, ui, informative, n_random)
    w = d.weights()
    zero = np.zeros_like(w)
    reps = joint.values(np.hstack([w, zero]))[metric] - joint.values(np.hstack([zero, w]))[metric]
    ci = pt.percentile_interval(reps) or (delta, delta)
    carrying = units_with_targets(d, common, recs_a)
    if carrying is not None and carrying < MIN_UNITS:
        ci = None  # ground truth in too few units for a bootstrap interval
    se = float(np.nanstd(reps, ddof=1)) if np.isfinite(reps).sum() > 1 else None
    return Paired(delta, ci, p, len(common), d.n_units, pt.SWAP_TEST, exact, se)


@dataclass
class TableStats:
    """Paired comparisons on one table's primary metric, one Holm family."""

    metric: str
    lower_better: bool
    enhancers: list[str]  # rows with per-image scores or records, in rank order
    pairs: dict[tuple[str, str], Paired] = field(default_factory=dict)  # (a, b), a ranked first
    p_adj: dict[tuple[str, str], float] = field(default_factory=dict)  # Holm, this table
    family: int = 0  # comparisons in the Holm family
    n_random: int = pt.N_PERMUTATIONS  # random swaps where a test does not enumerate
    units: int = 0  # the most units any pair had
    detectable: float | None = None  # minimum detectable difference (80 % power)

    @property
    def tests(self) -> list[str]:
        """The tests used, each with how its swaps were drawn."""
        found = []
        for r in self.pairs.values():
            how = "exact" if r.exact else f"{self.n_random} random swaps"
            if not r.exact and r.units <= pt.EXACT_UNITS:
                how = "stopped early once it could not be significant (Besag-Clifford p)"
            text = f"{r.test}, {how}"
            if r.test and r.p is not None and text not in found:
                found.append(text)
        return found

    @property
    def min_p(self) -> float:
        """The smallest Holm-adjusted p-value any pair of this table could reach."""
        return min(1.0, self.family * pt.min_p(self.units, self.n_random))

    @property
    def underpowered(self) -> bool:
        return self.family > 0 and self.min_p > ALPHA

    def result(self, a: str, b: str) -> tuple[Paired, float | None] | None:
        """``a`` minus ``b`` and its Holm-adjusted p-value, or None when not compared."""
        if (a, b) in self.pairs:
            return self.pairs[a, b], self.p_adj.get((a, b))
        if (b, a) in self.pairs:
            r = self.pairs[b, a]
            flipped = Paired(
                -r.delta,
                None if r.ci is None else (-r.ci[1], -r.ci[0]),
                r.p,
                r.n,
                r.units,
                r.test,
                r.exact,
                r.se,
            )
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


def table_stats(table: Table) -> TableStats | None:
    """Every pair of rows compared on their common images: per-image primary scores through
    scipy's paired permutation test on the units, dataset-level ones (mAP, mIoU) through the
    scorer's swap test."""
    col = table.primary
    if col is None:
        return None
    scored = [(r.enhancer, compared_scores(r, col.metric)) for r in table.rows]
    scored = [(e, s) for e, s in scored if s or col.metric in resampled_values(table, e)]
    stats = TableStats(col.metric, col.lower_better, [e for e, _ in scored])
    candidates = list(combinations(scored, 2))
    stats.family = len(candidates)
    stats.n_random = pt.n_swaps(stats.family)
    groups: dict[tuple[str, ...], list] = {}  # pairs scored on the same images: one scipy call
    for (a, sa), (b, sb) in candidates:
        if sa and sb:
            common = tuple(sorted(k for k in sa.keys() & sb.keys()))
            groups.setdefault(common, []).append((a, b, sa, sb))
        elif (found := _records_pair(table, a, b, col.metric, stats.n_random)) is not None:
            stats.pairs[a, b] = found
    for images, pairs in groups.items():
        x = np.array([[sa[k] for k in images] for _, _, sa, _ in pairs], dtype=np.float64)
        y = np.array([[sb[k] for k in images] for _, _, _, sb in pairs], dtype=np.float64)
        d = table.design.restrict(images)
        for (a, b, _, _), found in zip(
            pairs, pt.paired_means(x, y, d, stats.n_random), strict=True
        ):
            if found is not None:
                stats.pairs[a, b] = found
    stats.pairs = {k: stats.pairs[k] for k in combinations(stats.enhancers, 2) if k in stats.pairs}
    keys = list(stats.pairs)
    adjusted = pt.holm([stats.pairs[k].p for k in keys])
    stats.p_adj = {k: p for k, p in zip(keys, adjusted, strict=True) if p is not None}
    stats.units = max((r.units for r in stats.pairs.values()), default=0)
    ses = [r.se for r in stats.pairs.values() if r.se]
    stats.detectable = pt.detectable(statistics.median(ses), stats.family) if ses else None
    return stats


def mark_ties(table: Table) -> None:
    """``Row.tied_above``: ranked, and not significantly different from the row just above."""
    stats = table.stats
    ranked = [r for r in table.rows if r.rank is not None]
    for above, row in zip(ranked, ranked[1:]):
        row.tied_above = stats is not None and stats.verdict(above.enhancer, row.enhancer) == TIED


def analyse(report: Report) -> Report:
    """Fill the units, intervals, paired statistics, ties, per-stratum values, the summary
    table and the agreement into ``report``."""
    for t in report.tables:
        t.design = table_design(t, report.config)
        fill_intervals(t)
        t.stats = table_stats(t)
        t.strata = stratum_values(t)
        mark_ties(t)
    from gefu.bench.report.agreement import agreement
    from gefu.bench.report.protocol import attach
    from gefu.bench.report.summary import summary

    if report.tables:
        report.summary = summary(report)
        report.agreement = agreement(report)
    attach(report)
    return report
