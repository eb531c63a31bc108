"""Seeded evaluations in the report: mean ± sd over seeds, the gain over the input row, and
Welch's t-test over seeds, checked against a computation written out by hand."""

from __future__ import annotations

import math
import statistics

import pytest

from gefu.bench.report.collect import Column, MetricResult, Report, Row, Table
from gefu.bench.report.seeds import markdown_lines, seed_tables

VALUES = {  # seed -> row -> mAP50
    0: {"input": 0.60, "gamma": 0.66, "he": 0.61},
    1: {"input": 0.62, "gamma": 0.69, "he": 0.59},
    2: {"input": 0.61, "gamma": 0.67, "he": 0.63},
}


def _report() -> Report:
    tables = []
    for seed, rows in VALUES.items():
        body = [Row(name, "ok", metrics={"mAP50": MetricResult(v)}) for name, v in rows.items()]
        tables.append(
            Table("exdark", f"ft@seed{seed}", [Column("mAP50", False)], body, [], "input")
        )
    frozen_rows = [
        Row(name, "ok", metrics={"mAP50": MetricResult(v)})
        for name, v in {"input": 0.40, "gamma": 0.55, "he": 0.50}.items()
    ]
    frozen = Table("exdark", "frozen", [Column("mAP50", False)], frozen_rows, [], "input")
    return Report(None, [*tables, frozen], {})


def _welch_by_hand(a, b):
    from scipy import stats

    va, vb = statistics.variance(a), statistics.variance(b)
    se2 = va / len(a) + vb / len(b)
    t = (statistics.fmean(a) - statistics.fmean(b)) / math.sqrt(se2)
    df = se2**2 / ((va / len(a)) ** 2 / (len(a) - 1) + (vb / len(b)) ** 2 / (len(b) - 1))
    return t, 2 * stats.t.sf(abs(t), df)


def test_seed_table_mean_sd_gain_and_welch():
    (st,) = seed_tables(_report())
    assert (st.dataset, st.evaluation, st.metric, st.seeds) == ("exdark", "ft", "mAP50", [0, 1, 2])
    assert st.baseline == "input"
    rows = {r.enhancer: r for r in st.rows}
    base = [VALUES[s]["input"] for s in VALUES]
    for name in ("gamma", "he"):
        vals = [VALUES[s][name] for s in VALUES]
        r = rows[name]
        assert r.mean == pytest.approx(sum(vals) / 3)
        assert r.sd == pytest.approx(statistics.stdev(vals))
        assert r.gain == pytest.approx(sum(vals) / 3 - sum(base) / 3)
        t, p = _welch_by_hand(vals, base)
        assert r.t == pytest.approx(t) and r.p == pytest.approx(p)
        assert r.beyond_spread == (abs(r.gain) > statistics.stdev(base))
    assert rows["gamma"].beyond_spread and rows["gamma"].p < 0.05  # a clear gain
    assert not rows["he"].beyond_spread and rows["he"].p > 0.05  # within seed noise
    assert rows["input"].gain is None


def test_markdown_section_names_each_verdict():
    text = "\n".join(markdown_lines(_report()))
    assert "## Across seeds: exdark · ft" in text
    assert "gamma: gain +0.0633 mAP50; exceeds the baseline's seed-to-seed sd" in text
    assert "he: gain +0.0000 mAP50; does not exceed" in text
    assert markdown_lines(Report(None, [], {})) == []


def _tau_b_by_hand(x, y):
    def sign(v):
        return (v > 0) - (v < 0)

    pairs = [(i, j) for i in range(len(x)) for j in range(i + 1, len(x))]
    s = sum(sign(x[i] - x[j]) * sign(y[i] - y[j]) for i, j in pairs)
    tx = sum(1 for i, j in pairs if x[i] != x[j])
    ty = sum(1 for i, j in pairs if y[i] != y[j])
    return s / math.sqrt(tx * ty)


def test_frozen_versus_finetuned_rank_agreement():
    from gefu.bench.report.seeds import rank_agreement

    report = _report()
    (st,) = seed_tables(report)
    ((evaluation, n, tau, _),) = rank_agreement(report, st)
    means = {r.enhancer: r.mean for r in st.rows}
    names = sorted(means)
    frozen = {"input": 0.40, "gamma": 0.55, "he": 0.50}
    expected = _tau_b_by_hand([means[k] for k in names], [frozen[k] for k in names])
    assert (evaluation, n) == ("frozen", 3) and tau == pytest.approx(expected)
    assert "rank agreement with `frozen`" in "\n".join(markdown_lines(report))
