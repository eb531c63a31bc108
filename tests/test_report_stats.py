"""Paired statistics of the report, each checked against scipy.stats / statsmodels directly."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from gefu.bench.report import write_report
from gefu.bench.report.collect import load_report
from gefu.bench.report.compare import BETTER, TIED, WORSE, analyse
from gefu.bench.report.paired import N_PERMUTATIONS, holm, paired_means
from gefu.bench.report.stats import LEVEL, N_RESAMPLES, SEED
from gefu.bench.report.units import design
from gefu.bench.store import CellResult, Store

N = 20


def _cell(enhancer, dataset, evaluation, metrics: dict, lower=(), task=None) -> CellResult:
    """``metrics``: name -> per-image scores (or a bare dataset-level value)."""
    spec = {"enhancer": {"name": "identity" if enhancer == "input" else enhancer}}
    spec["evaluation"] = {"task": {"task": task or evaluation}}
    rows, scores = [], []
    for name, v in metrics.items():
        if np.ndim(v) == 0:
            rows.append((name, float(v), name in lower, None))
            continue
        rows.append((name, float(np.mean(v)), name in lower, None))
        scores += [(f"img{i:02d}.png", name, float(x)) for i, x in enumerate(v)]
    return CellResult(
        cell_key=f"{enhancer}-{dataset}-{evaluation}",
        enhancer=enhancer,
        dataset=dataset,
        evaluation=evaluation,
        status="ok",
        spec=spec,
        n_images=len(scores) or 1,
        metrics=rows,
        image_scores=scores,
    )


def _store(folder, cells: list[CellResult]):
    with Store(folder) as store:
        store.start_run({}, {}, [(c.cell_key, c.enhancer, c.dataset, c.evaluation) for c in cells])
        for c in cells:
            store.write_cell(c)


def _two_rows(paired: bool):
    rng = np.random.default_rng(7)
    b = 20.0 + rng.normal(0.0, 2.0, N)
    a = b + np.where(np.arange(N) < 18, 0.3, -0.1)  # A beats B on 18 of 20 images
    if not paired:
        a = rng.permutation(a)  # the same scores (same mean), no longer tied to the images
    return a, b


def _analysed(tmp_path, a, b):
    _store(tmp_path, [_cell("A", "lol", "iqa", {"psnr": a}), _cell("B", "lol", "iqa", {"psnr": b})])
    with Store(tmp_path) as store:
        return analyse(load_report(store))


def _scipy_paired(a, b):
    def stat(x, y, axis=-1):
        return np.mean(x - y, axis=axis)

    p = stats.permutation_test(
        (a, b),
        stat,
        permutation_type="samples",
        vectorized=True,
        n_resamples=N_PERMUTATIONS,
        rng=np.random.default_rng(SEED),
    ).pvalue
    ci = stats.bootstrap(
        (np.asarray(a) - np.asarray(b),),
        np.mean,
        n_resamples=N_RESAMPLES,
        confidence_level=LEVEL,
        method="BCa",
        rng=np.random.default_rng(SEED),
    ).confidence_interval
    return p, (ci.low, ci.high)


def _images(n):
    return design([f"i{k:03d}" for k in range(n)], {})


def paired_mean(x, y):
    """One comparison with images as units."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    return paired_means(x[None], y[None], _images(x.size))[0]


@pytest.mark.parametrize("paired", [True, False])
def test_paired_beats_overlapping_intervals(tmp_path, paired):
    a, b = _two_rows(paired)
    report = _analysed(tmp_path, a, b)
    table = report.tables[0]
    ra, rb = table.row("A").metrics["psnr"], table.row("B").metrics["psnr"]
    assert ra.value == pytest.approx(rb.value + 0.26)  # the same means in both stores
    assert ra.ci[0] < rb.ci[1] and rb.ci[0] < ra.ci[1]  # the per-row intervals overlap
    result, p_adj = table.stats.result("A", "B")
    p, ci = _scipy_paired(a, b)
    assert result.p == pytest.approx(p) and p_adj == pytest.approx(p)  # one comparison
    assert result.ci == pytest.approx(ci)
    assert result.delta == pytest.approx(0.26)
    md = write_report(tmp_path)["markdown"].read_text(encoding="utf-8")
    matrix = md.split("Significantly better than", 1)[1]
    if paired:
        assert p < 0.001 and ci[0] > 0
        assert table.stats.verdict("A", "B") == BETTER and table.stats.verdict("B", "A") == WORSE
        assert "| 1. A |  | ▲ |" in matrix and "| 2. B | ▼ |  |" in matrix
        assert not table.row("B").tied_above
    else:
        assert p > 0.2 and ci[0] < 0 < ci[1]
        assert table.stats.verdict("A", "B") == TIED
        assert "| 1. A |  | · |" in matrix
        assert table.row("B").tied_above and "| 2 ≈ | B |" in md


def test_paired_mean_edge_cases():
    assert paired_means(np.zeros((1, 0)), np.zeros((1, 0)), _images(0)) == [None]
    one = paired_mean([2.0], [1.0])
    assert (one.delta, one.ci, one.p, one.n) == (1.0, (1.0, 1.0), None, 1)
    shift = paired_mean([2.0, 3.0, 4.0], [1.0, 2.0, 3.0])  # the same gain everywhere
    assert shift.ci == (1.0, 1.0) and shift.p == pytest.approx(0.25)  # exact: 2 of 2^3 flips
    assert shift.exact and shift.units == 3
    with pytest.raises(ValueError, match=r"\[m, n\]"):
        paired_means(np.ones((1, 2)), np.ones((1, 3)), _images(2))


def test_holm_matches_statsmodels_and_skips_untested():
    from statsmodels.stats.multitest import multipletests

    p = [0.01, None, 0.04, 0.03, 0.005]
    expected = multipletests([0.01, 0.04, 0.03, 0.005], method="holm")[1]
    assert holm(p) == pytest.approx([expected[0], None, *expected[1:]])
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([None]) == [None]


def _agreement_store(folder):
    """IQA (psnr full-reference, niqe no-reference) and a downstream evaluation on the same
    images; niqe prefers the dark input to the reference, and ranks the enhancers backwards."""
    rng = np.random.default_rng(3)
    quality = {"input": 0.0, "e1": 1.0, "e2": 2.0, "e3": 3.0}
    cells = []
    for name, q in quality.items():
        noise = rng.normal(0, 0.3, N)
        iqa = {"psnr": 15 + 2 * q + noise, "niqe": 4 + 0.5 * q + rng.normal(0, 0.2, N)}
        cells.append(_cell(name, "demo", "iqa", iqa, lower={"niqe"}))
        down = np.clip(0.4 + 0.15 * q + rng.normal(0, 0.05, N), 0, 1)
        cells.append(_cell(name, "demo", "agree", {"agreement": down}, task="frozen"))
    cells.append(_cell("reference", "demo", "iqa", {"niqe": 4.5 + rng.normal(0, 0.2, N)}))
    _store(folder, cells)


def test_agreement_and_unreliable_metric(tmp_path):
    _agreement_store(tmp_path)
    with Store(tmp_path) as store:
        report = analyse(load_report(store))
    (agree,) = report.agreement
    taus = {c.iqa_metric: c for c in agree.correlations}
    tables = {t.evaluation: t for t in report.tables}
    names = ["input", "e1", "e2", "e3"]
    down = [tables["agree"].row(n).metrics["agreement"].value for n in names]
    for metric, sign in (("psnr", 1), ("niqe", -1)):
        iqa = [sign * tables["iqa"].row(n).metrics[metric].value for n in names]
        assert taus[metric].tau == pytest.approx(stats.kendalltau(iqa, down).statistic)
        assert taus[metric].ci[0] <= taus[metric].tau <= taus[metric].ci[1]
        assert taus[metric].n_enhancers == 4
    assert taus["psnr"].tau == pytest.approx(1.0) and taus["niqe"].tau == pytest.approx(-1.0)
    (flag,) = agree.unreliable
    assert flag.metric == "niqe" and flag.input_value < flag.reference_value
    assert tables["iqa"].input_row == "input" and not tables["iqa"].downstream

    s = report.summary
    assert [c.evaluation for c in s.columns] == ["iqa", "agree"]
    by_name = {r.enhancer: r for r in s.rows}
    assert [r.enhancer for r in s.rows] == ["e3", "e2", "e1", "input"]  # by average rank
    assert by_name["e3"].avg_rank == 1.0 and by_name["e3"].rank_ci == (1.0, 1.0)
    assert by_name["input"].is_input and by_name["input"].cells[0].delta is None
    gain = by_name["e1"].cells[1]
    assert gain.verdict == BETTER and gain.ci[0] > 0
    assert gain.delta == pytest.approx(down[1] - down[0])
    md = write_report(tmp_path)["markdown"].read_text(encoding="utf-8")
    assert md.index("## GEFU summary") < md.index("## demo · iqa")
    assert "niqe (iqa) is unreliable on demo" in md


def test_results_json_validates_and_carries_the_protocol(tmp_path):
    import json

    jsonschema = pytest.importorskip("jsonschema")
    from test_report import _build

    from gefu.bench.report.results_doc import schema

    _agreement_store(tmp_path / "agree")
    _build(tmp_path / "main")
    Store(tmp_path / "empty").close()
    docs = {}
    for name in ("agree", "main", "empty"):
        docs[name] = json.loads(write_report(tmp_path / name)["json"].read_text(encoding="utf-8"))
        jsonschema.validate(docs[name], schema())
    doc = docs["agree"]
    iqa = next(t for t in doc["tables"] if t["evaluation"] == "iqa")
    assert iqa["protocol"]["evaluation.task"] == "iqa"
    assert [c["verdict"] for c in iqa["comparisons"] if {c["a"], c["b"]} == {"e3", "e2"}] == [
        "better"
    ]
    assert doc["agreement"][0]["unreliable"][0]["metric"] == "niqe"
    assert doc["summary"]["rows"][0]["enhancer"] == "e3"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc | {"schema_version": "0.1"}, schema())
    assert docs["empty"]["run"] is None and docs["empty"]["tables"] == []


def test_protocol_card_from_the_cell_spec():
    from gefu.bench.report.collect import Row, Table
    from gefu.bench.report.protocol import card

    spec = {
        "dataset": {"name": "exdark", "params": {"split": "test"}, "files": "abc123"},
        "evaluation": {
            "task": {
                "task": "detection",
                "model": {"checkpoint": "yolo.pth", "checkpoint_sha256": "f00"},
                "score_thr": 0.05,
            },
            "metrics": [["mAP", False, True]],
        },
        "enhancer": {"name": "zero_dce", "weights": "sha-w", "code": "c1"},
    }
    table = Table("exdark", "det", [], [Row("zero_dce", "ok", spec=spec)], [])
    got = dict(card(table, {"gefu-bench": "0.1.0", "torch": "2.13.0"}))
    assert got["dataset.params.split"] == "test" and got["dataset.files"] == "abc123"
    assert got["evaluation.model.checkpoint_sha256"] == "f00"
    assert got["evaluation.score_thr"] == "0.05" and got["evaluation.reported"] == '["mAP"]'
    assert got["enhancer.zero_dce.weights"] == "sha-w" and got["versions.torch"] == "2.13.0"


def test_gefu_compare_cli(tmp_path, capsys):
    from gefu.cli.main import main

    a, b = _two_rows(paired=True)
    _analysed(tmp_path, a, b)
    assert main(["compare", str(tmp_path), "A", "B"]) == 0
    out = capsys.readouterr().out
    p, ci = _scipy_paired(a, b)
    line = next(ln for ln in out.splitlines() if ln.startswith("lol · iqa"))
    assert f"[{ci[0]:+.2f}, {ci[1]:+.2f}]" in line and f"{p:.3g}" in line
    assert line.rstrip().endswith("better")
    assert "significantly better on 1, worse on 0" in out
    assert main(["compare", str(tmp_path), "B", "A"]) == 0
    assert "significantly better on 0, worse on 1" in capsys.readouterr().out
    assert main(["compare", str(tmp_path), "A", "nope"]) == 2
    assert "unknown enhancer nope; choose from: A, B" in capsys.readouterr().err
    assert main(["compare", str(tmp_path / "missing"), "A", "B"]) == 2


def test_batched_pairs_equal_one_call_per_pair():
    from gefu.bench.report.paired import paired_means

    rng = np.random.default_rng(4)
    x = rng.normal(size=(4, 30))
    y = x + rng.normal(0.1, 0.5, (4, 30))
    y[3] = x[3] - 0.2  # no spread: a zero-width interval
    batched = paired_means(x, y, _images(30))
    for i in range(4):
        one = paired_mean(x[i], y[i])
        assert (batched[i].p, batched[i].n) == (one.p, one.n)  # the same swaps
        assert batched[i].ci == pytest.approx(one.ci, rel=1e-12)  # the same resamples
        p, ci = _scipy_paired(x[i], y[i])
        assert one.p == pytest.approx(p)
        if i < 3:
            assert one.ci == pytest.approx(ci)
    assert batched[3].ci == (pytest.approx(0.2), pytest.approx(0.2))


def test_kendall_rows_equals_one_scipy_call_per_row():
    from gefu.bench.report.paired import kendall, kendall_rows

    rng = np.random.default_rng(0)
    x, y = rng.random((50, 7)), rng.integers(0, 3, (50, 7)).astype(float)  # ties
    x[3] = 1.0  # a constant row: undefined
    rows = kendall_rows(x, y)
    for i in range(50):
        single = kendall(x[i], y[i])
        assert (single is None and np.isnan(rows[i])) or rows[i] == pytest.approx(single)
    assert np.isnan(rows[3])
