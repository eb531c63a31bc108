"""IQA <-> downstream agreement, per dataset: Kendall's tau between each IQA metric's ranking of
the enhancers and each downstream evaluation's ranking, with an interval from resampling the
downstream table's units (the same resamples for both rankings), and the no-reference metrics
that score the un-enhanced input better than the normal-light reference."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gefu.bench.report.collect import OK, Report, Table
from gefu.bench.report.paired import kendall, kendall_rows, oriented, percentile_interval
from gefu.core.specs import REFERENCE_ROW

MAX_EXACT_ORDERINGS = 8  # enumerate all n! orderings of the enhancers up to this many
N_ORDERINGS = 9999  # random orderings beyond


@dataclass
class Correlation:
    iqa_evaluation: str
    iqa_metric: str
    evaluation: str  # the downstream evaluation, scored on its primary metric
    metric: str
    tau: float | None
    ci: tuple[float, float] | None
    n_enhancers: int
    p: float | None = None  # permutation test over enhancer orderings (exact up to 8 rows)


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
    corr.p = ordering_p(x, y) if corr.tau is not None else None
    maps = [a[n][1] for n in names] + [b[n][1] for n in names if b[n][1]]
    if not all(maps[: len(names)]):
        return corr
    common = sorted(set.intersection(*(set(m) for m in maps)))
    if len(common) < 2:
        return corr
    units = down.design if set(common) <= set(down.design.images) else iqa.design
    w = units.restrict(common).weights()  # cluster resamples, shared by both rankings

    def replicate(table_values, name, lower_better):
        value, images = table_values[name]
        rep = down.resampled.get(name) if table_values is b else None
        if not images and rep and rep.images == tuple(common) and dcol.metric in rep.values:
            return oriented(rep.values[dcol.metric], lower_better)  # the same resamples
        if not images:
            return np.full(w.shape[0], oriented(np.float64(value), lower_better))
        mean = (w @ np.array([images[k] for k in common])) / w.sum(axis=1)
        return oriented(mean, lower_better)

    xs = np.stack([replicate(a, n, lower) for n in names], axis=1)
    ys = np.stack([replicate(b, n, dcol.lower_better) for n in names], axis=1)
    corr.ci = percentile_interval(kendall_rows(xs, ys))
    return corr


def ordering_p(x: np.ndarray, y: np.ndarray) -> float:
    """Two-sided p-value of Kendall's tau against every reordering of one ranking over the
    enhancers (``scipy.stats.permutation_test``, pairings; exact for up to 8 enhancers): does
    this IQA metric predict the downstream ranking of the enhancers?"""
    import math

    from scipy import stats

    def tau(a, axis=-1):
        a = np.atleast_2d(a)
        return kendall_rows(a, np.broadcast_to(y, a.shape))

    exact = math.factorial(len(x)) if len(x) <= MAX_EXACT_ORDERINGS else N_ORDERINGS
    return float(
        stats.permutation_test(
            (x,),
            tau,
            permutation_type="pairings",
            vectorized=True,
            n_resamples=exact,
            alternative="two-sided",
            rng=np.random.default_rng(0),
        ).pvalue
    )


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
