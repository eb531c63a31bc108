"""Paired statistics on the same images, through scipy.stats and statsmodels, with the table's
sampling units (``units.Design``: clusters within strata, or images).

Two rows of a table (two enhancers, or an enhancer and the un-enhanced input) scored the same
images are compared unit by unit. The p-value is a two-sided paired permutation test on the
statistic itself: each unit's outputs are swapped between the two rows or not.
- Means of per-image scores: ``scipy.stats.permutation_test`` (``permutation_type="samples"``)
  on the units' summed scores; exact (all 2^k swaps) for up to ``EXACT_UNITS`` units.
- Dataset-level metrics (mAP, mIoU): both rows' per-image records feed one joint scorer
  (``gefu.tasks.scoring``); a swap picks, per unit, which row's records each side uses, and the
  library aggregation recomputes both values (``swap_test``). Units whose records are identical
  in both rows change nothing and are left out; exact enumeration when the informative units
  are at most ``EXACT_UNITS``, otherwise random swaps, as many as the comparison family needs
  (``n_swaps``: the smallest attainable p stays far below Holm's first threshold).
The interval of a difference resamples units (cluster bootstrap, percentile); with images as
units, a mean difference gets scipy's BCa bootstrap. Many comparisons are corrected together
with Holm's method (statsmodels' ``multipletests``). Kendall's tau: ``scipy.stats.kendalltau``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gefu.bench.report import units
from gefu.bench.report.stats import (
    BCA,
    CLUSTER,
    FLAT,
    LEVEL,
    N_RESAMPLES,
    SEED,
    WILSON,
    proportion,
    wilson,
)

N_PERMUTATIONS = 9999  # the least number of random swaps (more for large families)
EXACT_UNITS = 16  # enumerate all 2^k swaps up to this many units
ALPHA = 0.05  # family-wise error rate after Holm's correction
BATCH = 500  # permutations evaluated at once by scipy (bounds memory)
POWER = 0.8  # for the minimum detectable difference
STOP_CHUNK = 1024  # swaps re-aggregated at once by ``swap_test``
STOP_HITS = 20  # a swap test may stop early after this many swaps as extreme as observed
MEANS_TEST = "paired permutation test on the mean difference (scipy.stats.permutation_test)"
SWAP_TEST = "paired permutation test on the metric (swap units' outputs, recompute)"


@dataclass(frozen=True)
class Paired:
    """``a`` minus ``b`` on the images both scored: the difference, its interval, the
    unadjusted two-sided p-value (None when untestable), the image and unit counts, the test,
    whether it enumerated every swap, and the standard error of the difference."""

    delta: float
    ci: tuple[float, float] | None  # None: too few units for an interval
    p: float | None
    n: int
    units: int = 0
    test: str = ""
    exact: bool = False
    se: float | None = None


def n_swaps(family: int) -> int:
    """Random swaps for a family of ``family`` comparisons: enough that the smallest
    attainable p, 1 / (B + 1), is a twentieth of Holm's first threshold alpha / m."""
    return max(N_PERMUTATIONS, math.ceil(20 * max(family, 1) / ALPHA) - 1)


def min_p(units: int, n_random: int) -> float:
    """The smallest two-sided p-value a paired permutation test over ``units`` units can give."""
    if units <= 0:
        return 1.0
    floor = 2.0 / 2.0**units
    return floor if units <= EXACT_UNITS else max(floor, 1.0 / (n_random + 1))


def _sum_diff(x, y, axis=-1):
    return np.sum(x - y, axis=axis)


def _mean(x, axis=-1):
    return np.mean(x, axis=axis)


def paired_means(
    x: np.ndarray, y: np.ndarray, design, n_random: int = N_PERMUTATIONS, seed: int = SEED
) -> list[Paired | None]:
    """Row i of ``x`` against row i of ``y`` (``[m, n]`` per-image scores on ``design``'s
    images). One scipy call for all rows, with the same swaps for every row."""
    from scipy import stats

    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.shape != y.shape or x.ndim != 2:
        raise ValueError(f"paired scores need two [m, n] arrays, got {x.shape} and {y.shape}")
    m, n = x.shape
    if n == 0:
        return [None] * m
    d = x - y
    delta = d.mean(axis=1)
    k = design.n_units
    if k < 2:
        return [Paired(float(v), (float(v), float(v)), None, n, k) for v in delta]
    xs, ys = design.unit_sums(x), design.unit_sums(y)
    exact = k <= EXACT_UNITS
    p = stats.permutation_test(
        (xs, ys),
        _sum_diff,
        permutation_type="samples",
        vectorized=True,
        n_resamples=2**EXACT_UNITS if exact else n_random,
        alternative="two-sided",
        batch=BATCH,
        axis=-1,
        rng=np.random.default_rng(seed),
    ).pvalue
    p = np.atleast_1d(p)
    intervals = mean_intervals(d, design, seed)
    return [
        Paired(float(delta[i]), ci, float(p[i]), n, k, MEANS_TEST, exact, se)
        for i, (ci, se) in enumerate(intervals)
    ]


def mean_intervals(values: np.ndarray, design, seed: int = SEED) -> list[tuple[tuple, float]]:
    """``(interval, standard error)`` of each row's mean (``[m, n]``): cluster bootstrap
    (percentile) when images are clustered, scipy's BCa otherwise; the point itself when the
    row does not vary."""
    from scipy import stats

    values = np.asarray(values, np.float64)
    mean = values.mean(axis=1)
    flat = np.ptp(values, axis=1) <= 1e-12 * np.maximum(1.0, np.abs(mean))  # rounding only
    out: list = [((float(v), float(v)), 0.0) for v in mean]
    todo = np.flatnonzero(~flat)
    if todo.size == 0:
        return out
    if design.clustered:
        w = design.weights(seed=seed)
        reps = (w @ values[todo].T) / w.sum(axis=1, keepdims=True)  # [B, rows]
        for j, i in enumerate(todo):
            out[i] = (percentile_interval(reps[:, j]), float(np.std(reps[:, j], ddof=1)))
        return out
    with np.errstate(invalid="ignore", divide="ignore"):
        res = stats.bootstrap(
            (values[todo],),
            _mean,
            vectorized=True,
            n_resamples=N_RESAMPLES,
            confidence_level=LEVEL,
            method="BCa",
            axis=-1,
            rng=np.random.default_rng(seed),
        )
    low, high = (
        np.atleast_1d(res.confidence_interval.low),
        np.atleast_1d(res.confidence_interval.high),
    )
    se = np.atleast_1d(res.standard_error)
    dist = np.asarray(res.bootstrap_distribution).reshape(len(todo), -1)
    for j, i in enumerate(todo):
        ci = (float(low[j]), float(high[j]))
        if not all(np.isfinite(ci)):  # BCa undefined (a near-degenerate sample): percentile
            ci = percentile_interval(dist[j])
        out[i] = (ci, float(se[j]))
    return out


def swap_test(
    joint,
    metric: str,
    unit_index: np.ndarray,
    informative: np.ndarray,
    n_random: int,
    seed: int = SEED,
) -> tuple[float, float | None, bool]:
    """``(delta, p, exact)`` for two rows' dataset-level ``metric``: ``joint`` scores both rows'
    records (row A's n images, then row B's, in the same order); ``unit_index`` gives each
    image's unit, ``informative`` the units whose records differ between the rows.

    Row A under swap s uses B's records on the swapped units; row B under s is row A under the
    complement of s, so one re-aggregation per swap gives both. The swaps (all 2^k in a
    shuffled order, or ``n_random`` random ones) are scored in chunks; once ``STOP_HITS``
    swaps reached the observed |delta| and their share exceeds twice alpha, no correction can
    make the pair significant and the test stops with Besag and Clifford's sequential
    p = hits / swaps drawn (``exact`` False then)."""
    k = int(informative.size)
    n_units = int(unit_index.max()) + 1

    def a_under(swaps: np.ndarray) -> np.ndarray:  # [R, k] 0/1 over informative units
        full = np.zeros((swaps.shape[0], n_units))
        full[:, informative] = swaps
        s = full[:, unit_index]  # per image: 1 = swapped
        return joint.values(np.hstack([1.0 - s, s]))[metric]

    both = a_under(np.array([[0.0] * k, [1.0] * k]))
    observed = float(both[0] - both[1])
    if k == 0 or not np.isfinite(observed):
        return observed, None, False
    rng = np.random.default_rng(seed)
    exact = k <= EXACT_UNITS
    total = 2**k if exact else n_random
    order = rng.permutation(2**k) if exact else None
    tol = 1e-9 * max(1.0, abs(observed))
    hits = drawn = 0
    while drawn < total:
        size = min(STOP_CHUNK, total - drawn)
        if exact:
            codes = order[drawn : drawn + size]
            swaps = ((codes[:, None] >> np.arange(k)) & 1).astype(np.float64)
        else:
            swaps = rng.integers(0, 2, size=(size, k)).astype(np.float64)
        both = a_under(np.vstack([swaps, 1.0 - swaps]))  # B's value: A's under the complement
        null = both[:size] - both[size:]
        hits += int(np.sum(np.abs(np.nan_to_num(null, nan=0.0)) >= abs(observed) - tol))
        drawn += size
        if drawn < total and hits >= STOP_HITS and hits / drawn > 2 * ALPHA:
            return observed, hits / drawn, False
    p = hits / total if exact else (hits + 1) / (total + 1)
    return observed, min(1.0, p), exact


def interval(
    values: Sequence[float], design=None, is_proportion: bool = False
) -> tuple[tuple[float, float], str] | None:
    """``(interval, method)`` of the mean of one row's per-image scores (``design``: the
    sampling units of those images, name order; None: images). A proportion (``is_proportion``:
    the task declares its per-image scores 0/1 outcomes, as top-1 and agreement; never guessed
    from the values) of independent images gets Wilson's interval, clustered images a cluster
    bootstrap, other means scipy's BCa bootstrap. A sample that does not vary gets the point
    itself, marked ``FLAT`` - except a proportion, whose all-agree Wilson bound (over the
    units) is not zero-width."""
    x = np.asarray(values, np.float64)
    if design is None:  # images as units: non-finite scores are left out
        x = x[np.isfinite(x)]
    if x.size == 0:
        return None
    clustered = design is not None and design.clustered
    binary = is_proportion and proportion(x)
    if binary and not clustered:
        return wilson(x.sum(), x.size), WILSON
    if binary and np.all(x == x[0]):  # all clusters agree: Wilson over the clusters
        return wilson(float(x[0]) * design.n_units, design.n_units), WILSON
    if x.size == 1 or np.all(x == x[0]):
        return (float(x[0]), float(x[0])), FLAT
    if design is None:
        design = units.design([f"{i:08d}" for i in range(x.size)], {})
    ((ci, _),) = mean_intervals(x[None], design)
    return ci, CLUSTER if clustered else BCA


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm-adjusted p-values for one family of comparisons; None entries (no test) stay None
    and do not count towards the family size."""
    present = [i for i, p in enumerate(pvalues) if p is not None]
    out: list[float | None] = [None] * len(pvalues)
    if not present:
        return out
    from statsmodels.stats.multitest import multipletests

    _, adjusted, _, _ = multipletests([pvalues[i] for i in present], alpha=ALPHA, method="holm")
    for i, p in zip(present, adjusted, strict=True):
        out[i] = float(p)
    return out


def detectable(se: float | None, family: int) -> float | None:
    """The difference a two-sided test at Holm's first threshold (alpha / m) detects with
    ``POWER`` probability, from the difference's standard error (normal approximation)."""
    from scipy import stats

    if se is None or not np.isfinite(se) or se <= 0:
        return None
    z = stats.norm.ppf(1 - ALPHA / (2 * max(family, 1))) + stats.norm.ppf(POWER)
    return float(z * se)


def oriented(values: np.ndarray, lower_better: bool) -> np.ndarray:
    """Values turned so that higher is better."""
    return -values if lower_better else values


def ranks(values: np.ndarray, lower_better: bool) -> np.ndarray:
    """Competition ranks (1 = best, ties share the best rank) along the last axis."""
    from scipy import stats

    return stats.rankdata(-oriented(values, lower_better), method="min", axis=-1)


def kendall(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Kendall's tau-b of two rankings (None when undefined: fewer than two items or a
    constant vector)."""
    from scipy import stats

    if len(x) < 2:
        return None
    tau = stats.kendalltau(x, y).statistic
    return None if not np.isfinite(tau) else float(tau)


def kendall_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of each row pair of two [resamples, items] arrays, in one scipy call
    (NaN where undefined)."""
    from scipy import stats

    if x.shape[-1] < 2:
        return np.full(x.shape[0], np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(stats.kendalltau(x, y, axis=-1).statistic, np.float64)


def percentile_interval(samples: np.ndarray, level: float = LEVEL) -> tuple[float, float] | None:
    """Percentile interval of bootstrap replicates (NaN replicates dropped)."""
    s = np.asarray(samples, np.float64)
    s = s[np.isfinite(s)]
    if s.size == 0:
        return None
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(s, [tail, 100.0 - tail])
    return float(low), float(high)
