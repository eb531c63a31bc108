"""Paired statistics on the same images, through scipy.stats and statsmodels.

Two rows of a table (two enhancers, or an enhancer and the un-enhanced input) scored the same
images are compared image by image: the difference of their means, a percentile bootstrap
interval that resamples image indices once for both rows (``scipy.stats.bootstrap`` with
``paired=True``), and a two-sided p-value from a paired permutation test (each image's two
scores swapped or not: ``scipy.stats.permutation_test`` with ``permutation_type="samples"``).
Many such comparisons are corrected together with Holm's method (statsmodels'
``multipletests``). Kendall's tau comes from ``scipy.stats.kendalltau``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from gefu.bench.report.stats import LEVEL, N_RESAMPLES, SEED, finite

N_PERMUTATIONS = 9999  # exact (all 2^n swaps) whenever 2^n is no more than this
ALPHA = 0.05  # family-wise error rate after Holm's correction
BATCH = 500  # permutations evaluated at once (bounds memory for thousands of images)


@dataclass(frozen=True)
class Paired:
    """``a`` minus ``b`` on the images both scored: mean difference, its interval, the
    unadjusted two-sided p-value (None with fewer than two images) and the image count."""

    delta: float
    ci: tuple[float, float]
    p: float | None
    n: int


def common_images(a: Mapping[str, float], b: Mapping[str, float]) -> tuple[str, ...]:
    """The images both rows have a finite score for, in name order."""
    both = a.keys() & b.keys()
    return tuple(sorted(k for k in both if finite(a[k]) is not None and finite(b[k]) is not None))


def align(a: Mapping[str, float], b: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """The two rows' scores on the images both have a finite score for, in image-name order."""
    common = common_images(a, b)
    x = np.array([float(a[k]) for k in common], dtype=np.float64)
    y = np.array([float(b[k]) for k in common], dtype=np.float64)
    return x, y


def _mean_diff(x, y, axis=-1):
    return np.mean(x - y, axis=axis)


def paired_mean(x: Sequence[float], y: Sequence[float], seed: int = SEED) -> Paired | None:
    """Paired comparison of two equally long score vectors (image i in both); None if empty."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"paired scores need two equally long vectors, not {x.shape}, {y.shape}")
    return paired_means(x[None], y[None], seed)[0]


def paired_means(x: np.ndarray, y: np.ndarray, seed: int = SEED) -> list[Paired | None]:
    """Many paired comparisons on the same images at once: row i of ``x`` against row i of
    ``y`` (``[m, n]``). One scipy call each for the bootstrap and the permutation test, with
    the same resampled indices / swaps for every row: each row's result equals its own call."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.shape != y.shape or x.ndim != 2:
        raise ValueError(f"paired scores need two [m, n] arrays, got {x.shape} and {y.shape}")
    m, n = x.shape
    if n == 0:
        return [None] * m
    d = x - y
    delta = d.mean(axis=1)
    if n == 1:
        return [Paired(float(v), (float(v), float(v)), None, 1) for v in delta]
    from scipy import stats

    boot = stats.bootstrap(
        (x, y), _mean_diff, paired=True, vectorized=True, n_resamples=N_RESAMPLES,
        confidence_level=LEVEL, method="percentile", axis=-1, rng=np.random.default_rng(seed),
    ).confidence_interval  # fmt: skip
    p = stats.permutation_test(
        (x, y), _mean_diff, permutation_type="samples", vectorized=True,
        n_resamples=N_PERMUTATIONS, alternative="two-sided", batch=BATCH, axis=-1,
        rng=np.random.default_rng(seed),
    ).pvalue  # fmt: skip
    low, high, p = np.atleast_1d(boot.low), np.atleast_1d(boot.high), np.atleast_1d(p)
    out = []
    for i in range(m):
        v = float(delta[i])
        flat = bool(np.all(d[i] == d[i, 0]))  # no spread: the interval is the point itself
        ci = (v, v) if flat else (float(low[i]), float(high[i]))
        out.append(Paired(v, ci, float(p[i]), n))
    return out


def from_replicates(delta: float, diffs: np.ndarray, n: int) -> Paired:
    """A paired comparison from bootstrap replicates of the difference (both rows recomputed
    on the same resampled images): percentile interval and a two-sided bootstrap p-value,
    ``2 * (min(#{d <= 0}, #{d >= 0}) + 1) / (B + 1)``, capped at 1. For metrics that are not
    means over images (mAP, mIoU), where no permutation test applies directly."""
    d = np.asarray(diffs, np.float64)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return Paired(delta, (delta, delta), None, n)
    ci = percentile_interval(d)
    p = min(1.0, 2.0 * (min(int((d <= 0).sum()), int((d >= 0).sum())) + 1) / (d.size + 1))
    return Paired(delta, ci, p, n)


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


def resample_indices(n: int, seed: int = SEED, n_resamples: int = N_RESAMPLES) -> np.ndarray:
    """``[n_resamples, n]`` image indices drawn with replacement, shared by every row they are
    applied to (the pairing)."""
    return np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))
