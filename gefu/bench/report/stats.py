"""Small numeric helpers for the report: cleaning values, bootstrap intervals, ranking."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

N_RESAMPLES = 1000
SEED = 0  # fixed, so the same store always gives the same report
LEVEL = 0.95


def finite(value) -> float | None:
    """``value`` as a float when it is a finite number, else None (NULL, NaN, inf, junk)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def bootstrap_ci(
    values: Iterable, n_resamples: int = N_RESAMPLES, seed: int = SEED, level: float = LEVEL
) -> tuple[float, float, float, int] | None:
    """Percentile bootstrap of the mean: ``(mean, low, high, n)`` over the finite values, or
    None when there are none. One value gives a zero-width interval."""
    x = np.array([v for v in (finite(v) for v in values) if v is not None], dtype=np.float64)
    if x.size == 0:
        return None
    mean = float(x.mean())
    if x.size == 1:
        return mean, mean, mean, 1
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(n_resamples, x.size))
    means = x[idx].mean(axis=1)
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return mean, float(low), float(high), int(x.size)


def competition_ranks(values: Sequence[float | None], lower_better: bool) -> list[int | None]:
    """Rank 1 = best, ties share a rank (1, 1, 3); None values get no rank."""
    present = [v for v in values if v is not None]

    def beats(a: float, b: float) -> bool:
        return a < b if lower_better else a > b

    return [None if v is None else 1 + sum(1 for w in present if beats(w, v)) for v in values]


def best_positions(values: Sequence[float | None], lower_better: bool) -> set[int]:
    """Indices of the best value(s), direction-aware; empty when no value is present."""
    return {i for i, r in enumerate(competition_ranks(values, lower_better)) if r == 1}
