"""Small numeric helpers for the report: cleaning values, intervals of one row, ranking."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

N_RESAMPLES = 1000
SEED = 0  # fixed, so the same store always gives the same report
LEVEL = 0.95
WILSON, BCA, CLUSTER, FLAT = "Wilson", "BCa bootstrap", "cluster bootstrap", "no variation"


def finite(value) -> float | None:
    """``value`` as a float when it is a finite number, else None (NULL, NaN, inf, junk)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def proportion(values: np.ndarray) -> bool:
    """Per-image scores that are all 0 or 1 (a declared proportion's must be)."""
    return values.size > 0 and bool(np.all((values == 0) | (values == 1)))


def wilson(successes: float, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Wilson score interval of a proportion (statsmodels)."""
    from statsmodels.stats.proportion import proportion_confint

    low, high = proportion_confint(successes, n, alpha=1 - level, method="wilson")
    return float(low), float(high)


def competition_ranks(values: Sequence[float | None], lower_better: bool) -> list[int | None]:
    """Rank 1 = best, ties share a rank (1, 1, 3); None values get no rank."""
    present = [v for v in values if v is not None]

    def beats(a: float, b: float) -> bool:
        return a < b if lower_better else a > b

    return [None if v is None else 1 + sum(1 for w in present if beats(w, v)) for v in values]


def best_positions(values: Sequence[float | None], lower_better: bool) -> set[int]:
    """Indices of the best value(s), direction-aware; empty when no value is present."""
    return {i for i, r in enumerate(competition_ranks(values, lower_better)) if r == 1}
