"""Seed noise: evaluations run once per seed (``seeds:`` in a config: tables
``<evaluation>@seed<N>``, e.g. one fine-tuned detector per seed) summarised across seeds.

Per row: the mean and sample standard deviation (ddof 1) of the primary metric over its seeds,
the gain of the mean over the un-enhanced input row's (the ``identity`` row, fine-tuned the same
way), and two verdicts on that gain:

- **beyond the baseline's seed spread**: |gain| is larger than the input row's seed-to-seed
  standard deviation (a rule of thumb, not a test);
- **Welch's t-test** (``scipy.stats.ttest_ind(..., equal_var=False)``) of the row's per-seed
  values against the input row's: two-sided p-value, significant below ``ALPHA``. With three
  seeds per row the test has little power: a large p says the seeds cannot tell, not "no gain".

And per other downstream table of the same dataset (a frozen model), Kendall's τ between the
two rankings of the rows: do the frozen and the fine-tuned protocol rank enhancers alike?
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from gefu.bench.report.collect import OK
from gefu.bench.report.stats import finite
from gefu.core.specs import SEED_MARK

SEED_LABEL = re.compile(rf"^(?P<base>.+){re.escape(SEED_MARK)}(?P<seed>-?\d+)$")
ALPHA = 0.05


@dataclass
class SeedRow:
    enhancer: str
    values: dict[int, float]  # seed -> primary value
    mean: float
    sd: float | None  # None with one seed
    gain: float | None = None  # mean - the input row's mean
    beyond_spread: bool | None = None  # |gain| > the input row's seed sd
    t: float | None = None  # Welch's t against the input row
    p: float | None = None


@dataclass
class SeedTable:
    dataset: str
    evaluation: str  # the base label, without @seed<N>
    metric: str
    seeds: list[int]
    rows: list[SeedRow]
    baseline: str | None  # the input row, or None where there is none


def welch(a: list[float], b: list[float]) -> tuple[float, float] | None:
    """Welch's t and two-sided p of ``a`` against ``b`` (None: fewer than 2 values each, or
    no variance at all)."""
    from scipy import stats

    if len(a) < 2 or len(b) < 2:
        return None
    res = stats.ttest_ind(a, b, equal_var=False)
    if not math.isfinite(res.statistic):
        return None
    return float(res.statistic), float(res.pvalue)


def seed_tables(report) -> list[SeedTable]:
    """The seeded evaluations of ``report`` (``collect.Report``), one table each per dataset."""
    import statistics

    groups: dict[tuple[str, str], list[tuple[int, object]]] = {}
    for t in report.tables:
        m = SEED_LABEL.match(t.evaluation)
        if m and t.primary is not None:
            groups.setdefault((t.dataset, m["base"]), []).append((int(m["seed"]), t))
    out = []
    for (dataset, base), tables in groups.items():
        tables.sort(key=lambda st: st[0])
        metric = tables[0][1].primary.metric
        values: dict[str, dict[int, float]] = {}
        baseline = next((t.input_row for _, t in tables if t.input_row), None)
        for seed, t in tables:
            for row in t.rows:
                m = row.metrics.get(metric)
                if row.status == OK and m is not None and finite(m.value) is not None:
                    values.setdefault(row.enhancer, {})[seed] = float(m.value)
        rows = []
        for enhancer, by_seed in values.items():
            vals = list(by_seed.values())
            sd = statistics.stdev(vals) if len(vals) > 1 else None
            rows.append(SeedRow(enhancer, by_seed, statistics.fmean(vals), sd))
        base_row = next((r for r in rows if r.enhancer == baseline), None)
        for r in rows:
            if base_row is None or r is base_row:
                continue
            r.gain = r.mean - base_row.mean
            if base_row.sd is not None:
                r.beyond_spread = abs(r.gain) > base_row.sd
            test = welch(list(r.values.values()), list(base_row.values.values()))
            if test is not None:
                r.t, r.p = test
        rows.sort(key=lambda r: -r.mean)
        seeds = [s for s, _ in tables]
        out.append(SeedTable(dataset, base, metric, seeds, rows, base_row and base_row.enhancer))
    return out


def rank_agreement(report, st: SeedTable) -> list[tuple[str, int, float, float]]:
    """Kendall's τ (``scipy.stats.kendalltau``) between the seeded table's row means and each
    other downstream table of its dataset (a frozen model): (evaluation, rows, τ, p). Do the
    two protocols rank the enhancers alike?"""
    from scipy import stats

    means = {r.enhancer: r.mean for r in st.rows}
    out = []
    for t in report.tables:
        if t.dataset != st.dataset or SEED_LABEL.match(t.evaluation) or t.primary is None:
            continue
        if not t.downstream:
            continue
        sign = -1.0 if t.primary.lower_better else 1.0
        other = {}
        for row in t.rows:
            m = row.metrics.get(t.primary.metric)
            if (
                row.status == OK
                and m is not None
                and finite(m.value) is not None
                and row.enhancer in means
            ):
                other[row.enhancer] = sign * float(m.value)
        names = sorted(other)
        if len(names) < 3:
            continue
        res = stats.kendalltau([means[n] for n in names], [other[n] for n in names])
        out.append((t.evaluation, len(names), float(res.statistic), float(res.pvalue)))
    return out


def markdown_lines(report) -> list[str]:
    """The seed-noise section of ``leaderboard.md`` (nothing without seeded evaluations)."""
    out = []
    for st in seed_tables(report):
        out += [f"## Across seeds: {st.dataset} · {st.evaluation}", ""]
        out += [
            f"{st.metric} over seeds {', '.join(map(str, st.seeds))}: mean ± sd (ddof 1); the "
            f"gain over `{st.baseline or 'no input row'}`, whether it exceeds that row's "
            f"seed-to-seed sd, and Welch's t-test over seeds (two-sided, α = {ALPHA}).",
            "",
            "| enhancer | seeds | mean ± sd | gain | beyond baseline seed sd | Welch p |",
            "|---|---|---|---|---|---|",
        ]
        for r in st.rows:
            sd = "" if r.sd is None else f" ± {r.sd:.4f}"
            gain = "" if r.gain is None else f"{r.gain:+.4f}"
            beyond = {None: "", True: "yes", False: "no"}[r.beyond_spread]
            p = "" if r.p is None else f"{r.p:.3g}" + (" ▲" if r.p < ALPHA else "")
            out.append(
                f"| {r.enhancer} | {len(r.values)} | {r.mean:.4f}{sd} | {gain} | {beyond} | {p} |"
            )
        out += [""] + [f"- {line}" for line in verdicts(st)] + [""]
        for evaluation, n, tau, p in rank_agreement(report, st):
            out.append(
                f"- rank agreement with `{evaluation}` (Kendall τ over {n} rows, "
                f"higher = better in both): τ = {tau:+.2f}, p = {p:.3g}"
            )
        out += [""] if out[-1] else []
    return out


def verdicts(st: SeedTable) -> list[str]:
    """One sentence per row with a gain: does it exceed seed noise?"""
    lines = []
    for r in st.rows:
        if r.gain is None:
            continue
        spread = (
            "exceeds" if r.beyond_spread else "does not exceed"
        ) + " the baseline's seed-to-seed sd"
        if r.beyond_spread is None:
            spread = "the baseline has one seed: no seed spread to compare with"
        test = (
            "too few seeds for Welch's test"
            if r.p is None
            else f"Welch p = {r.p:.3g} ({'significant' if r.p < ALPHA else 'not significant'})"
        )
        lines.append(f"{r.enhancer}: gain {r.gain:+.4f} {st.metric}; {spread}; {test}.")
    return lines
