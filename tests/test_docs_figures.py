"""`make docs-figures`: README's demo blocks rewritten from a results store, checked against the
report's own CSV / JSON and scipy; and every README block and figure table accounted for."""

from __future__ import annotations

import csv
import json
import re
import sys

import numpy as np
import pytest
from scipy import stats

from conftest import REPO
from gefu.bench.report import write_report
from gefu.bench.store import CellResult, Store

sys.path.insert(0, str(REPO / "scripts"))
import docs_figures as df  # noqa: E402

N = 12
ENHANCERS = {"input": 0.0, "e1": 1.0, "e2": 2.0, "e3": 3.0}  # name -> quality
STRATA = ("dark", "dim")  # of image i: STRATA[i % 2]
PSNR: dict[str, np.ndarray] = {}  # enhancer -> the per-image PSNR written to the store


def _cell(enhancer, evaluation, metrics: dict, lower=(), task=None) -> CellResult:
    """``metrics``: name -> per-image scores, or a bare dataset-level value."""
    spec = {"enhancer": {"name": "identity" if enhancer == "input" else enhancer}}
    spec["evaluation"] = {"task": {"task": task or evaluation}}
    rows, scores = [], []
    for name, v in metrics.items():
        mean = float(np.mean(v))
        rows.append((name, mean, name in lower, None))
        if np.ndim(v):
            scores += [(f"img{i:02d}.png", name, float(x)) for i, x in enumerate(v)]
    return CellResult(
        cell_key=f"{enhancer}-{evaluation}",
        enhancer=enhancer,
        dataset="demo",
        evaluation=evaluation,
        status="ok",
        spec=spec,
        n_images=N,
        metrics=rows,
        image_scores=scores,
        image_groups=[(f"img{i:02d}.png", None, STRATA[i % 2]) for i in range(N)],
    )


def _demo_store(folder):
    """IQA (PSNR; NIQE, which prefers the dark input to the reference), an agreement and a
    detection evaluation with bare mAP / mAP50 values, rows listed out of rank order."""
    rng = np.random.default_rng(5)
    cells = []
    for name, q in ENHANCERS.items():
        iqa = {
            "psnr": 12 + 2 * q + rng.normal(0, 0.8, N),
            "niqe": 4 + 0.4 * q + rng.normal(0, 0.3, N),
        }
        cells.append(_cell(name, "iqa", iqa, lower={"niqe"}))
        PSNR[name] = iqa["psnr"]
        agree = (rng.random(N) < 0.3 + 0.15 * q).astype(float)
        cells.append(_cell(name, "classifier", {"agreement": agree}, task="frozen"))
        det = {"mAP": 0.4 + 0.1 * q - 0.03 * q * q, "mAP50": 0.6 + 0.05 * q, "mAP75": 0.3}
        cells.append(_cell(name, "detector", det, task="frozen"))
    cells.append(_cell("reference", "iqa", {"niqe": 4.6 + rng.normal(0, 0.3, N)}, lower={"niqe"}))
    config = {
        "enhancers": [
            {"name": "identity", "id": "input"},
            *({"name": e} for e in ("e2", "e1", "e3")),
        ]
    }
    with Store(folder) as store:
        store.start_run(
            config, {}, [(c.cell_key, c.enhancer, c.dataset, c.evaluation) for c in cells]
        )
        for c in cells:
            store.write_cell(c)


README = """# A readme

Text before.
<!-- docs-figures:demo-table -->
| stale | table |
<!-- /docs-figures -->

Between: {kept}.
<!-- docs-figures:demo-iqa-agreement -->
On the demo, PIQE is flagged (input 33.3, reference 36.5).
<!-- /docs-figures -->
<!-- docs-figures:demo-power -->
<!-- /docs-figures -->
<!-- docs-figures:demo-strata -->
<!-- /docs-figures -->
After.
"""


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    results = tmp_path_factory.mktemp("results")
    _demo_store(results)
    write_report(results)
    readme = results / "README.md"
    readme.write_text(README)
    assert df.main([str(results), "--readme", str(readme), "--check"]) == 1  # stale: it says so
    assert readme.read_text() == README
    assert df.main([str(results), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert df.main([str(results), "--readme", str(readme), "--check"]) == 0  # now it matches
    with open(results / "leaderboard.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    doc = json.loads((results / "results.json").read_text())
    bodies = {name: text[start:end] for name, start, end in df.blocks(text)}
    return text, bodies, rows, doc


def _csv(rows, evaluation, enhancer, metric):
    (row,) = [
        r
        for r in rows
        if (r["evaluation"], r["enhancer"], r["metric"]) == (evaluation, enhancer, metric)
    ]
    return row


def _close(text: str, value: float) -> bool:
    """``text`` is ``value`` rounded to the decimals it shows."""
    d = len(text.split(".")[1]) if "." in text else 0
    return abs(float(text) - value) <= 0.5 * 10**-d + 1e-12


def test_text_outside_the_markers_is_kept(written):
    text, bodies, _, _ = written
    stripped = text
    for body in bodies.values():
        stripped = stripped.replace(body, "", 1)
    assert stripped == README.replace("| stale | table |\n", "").replace(
        "On the demo, PIQE is flagged (input 33.3, reference 36.5).\n", ""
    )


def test_demo_table_is_the_csv(written):
    _, bodies, rows, _ = written
    lines = bodies["demo-table"].strip().splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header == [
        "enhancer",
        "psnr ↑",
        "classifier: agreement ↑",
        "detector: mAP ↑",
        "detector: mAP50 ↑",
    ]
    columns = [
        ("iqa", "psnr"),
        ("classifier", "agreement"),
        ("detector", "mAP"),
        ("detector", "mAP50"),
    ]
    body = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
    assert [r[0] for r in body] == ["input", "e2", "e1", "e3"]  # config order, no reference row
    for cells in body:
        for (evaluation, metric), cell in zip(columns, cells[1:], strict=True):
            want = _csv(rows, evaluation, cells[0], metric)
            bold = cell.startswith("**")
            assert bold == (want["rank"] == "1"), (cell, want)
            found = re.fullmatch(r"([-\d.]+)(?: \[([-\d.]+), ([-\d.]+)\])?", cell.strip("*"))
            assert found, cell
            value, low, high = found.groups()
            assert _close(value, float(want["value"]))
            assert (low is None) == (want["ci_low"] == "")  # bare mAP: no interval, none shown
            if low is not None:
                assert _close(low, float(want["ci_low"])) and _close(high, float(want["ci_high"]))


def test_iqa_agreement_sentence_from_the_results(written):
    _, bodies, rows, _ = written
    text = bodies["demo-iqa-agreement"]
    niqe_in = float(_csv(rows, "iqa", "input", "niqe")["value"])
    niqe_ref = float(_csv(rows, "iqa", "reference", "niqe")["value"])
    assert niqe_in < niqe_ref  # the store is built so that NIQE is flagged
    found = re.search(
        r"better than the reference\): NIQE \(input ([\d.]+), reference ([\d.]+), lower is better; "
        r"the input ranks (\d) of 4\); not flagged: none\.",
        text,
    )
    assert found, text
    assert _close(found[1], niqe_in) and _close(found[2], niqe_ref)
    assert int(found[3]) == int(_csv(rows, "iqa", "input", "niqe")["rank"])
    # Kendall's tau, from the CSV's values and scipy (each metric turned so higher is better)
    names = list(ENHANCERS)
    agree = [float(_csv(rows, "classifier", n, "agreement")["value"]) for n in names]
    for metric, sign in (("psnr", 1), ("niqe", -1)):
        iqa = [sign * float(_csv(rows, "iqa", n, metric)["value"]) for n in names]
        tau = stats.kendalltau(iqa, agree).statistic
        shown = re.search(rf"{metric.upper()} ([+-][\d.]+) \[", text)
        assert shown and _close(shown[1], tau), (metric, tau, text)
    assert "Kendall's τ with classifier (agreement), 4 rows on 12 images" in text


def test_power_lines_from_the_results_document(written):
    _, bodies, _, doc = written
    lines = bodies["demo-power"].strip().splitlines()
    tables = {t["evaluation"]: t for t in doc["tables"]}
    tested = [e for e, t in tables.items() if t["comparisons"]]
    assert [line.split(" (")[0] for line in lines] == [f"- {e}" for e in tested]
    for line in lines:
        t = tables[line[2:].split(" (")[0]]
        assert f"{t['statistics']['family_size']} pairs" in line
        better = sorted(
            c["a"] if c["b"] == "input" else c["b"]
            for c in t["comparisons"]
            if "input" in (c["a"], c["b"])
            and c["verdict"] == ("better" if c["a"] != "input" else "worse")
        )
        shown = line.split("better than the input: ")[1].rstrip(".")
        assert sorted(re.findall(r"(\w+) \(", shown)) == better, line
    assert any("none" not in line.split("input: ")[1] for line in lines)  # some row wins


def test_strata_table_is_the_per_stratum_mean(written):
    _, bodies, _, _ = written
    lines = bodies["demo-strata"].strip().splitlines()
    assert lines[0] == "iqa, by stratum:"
    header = [c.strip() for c in lines[2].strip("|").split("|")]
    assert header == ["enhancer", "psnr @ dark", "psnr @ dim", "mPC"]
    rows = [[c.strip() for c in ln.strip("|").split("|")] for ln in lines[4:]]
    body = {cells[0]: cells[1:] for cells in rows}
    assert set(body) == set(ENHANCERS)  # the reference row has no PSNR
    for name, cells in body.items():
        dark, dim = PSNR[name][0::2].mean(), PSNR[name][1::2].mean()
        assert _close(cells[0], dark) and _close(cells[1], dim)
        assert _close(cells[2], (dark + dim) / 2)


def test_readme_blocks_are_well_formed_and_each_has_a_generator():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    names = [name for name, _, _ in df.blocks(text)]
    assert sorted(names) == sorted(df.GENERATORS)  # each generator used once, nothing else
    assert len(names) == len(set(names))


@pytest.mark.parametrize(
    "text, why",
    [
        ("<!-- docs-figures:nobody-writes-me -->\nx\n<!-- /docs-figures -->\n", "no generator"),
        ("<!-- docs-figures:demo-table -->\nx\n", "not closed"),
        ("a\n<!-- /docs-figures -->\n", "opens no block"),
        ("<!-- docs-figures:demo-table -->\n<!-- docs-figures:demo-power -->\n", "not closed"),
        ("<!-- docs-figures: demo-table -->\n<!-- /docs-figures -->\n", "opens no block"),
    ],
)
def test_malformed_blocks_are_errors(text, why):
    with pytest.raises(df.BlockError, match=why):
        df.blocks(text)


# Tables of settings, not measurements: they need no command.
NOT_FIGURES = ("| item | ExDark", "| name | what | parameters (defaults) |")
COMMAND = re.compile(r"`(make|python|gefu) \w|benchmarks/\w+\.py|docs-figures:")


def test_readme_figure_tables_name_their_command():
    """A README table of measured numbers (3 or more decimals in its body) names the command
    that produced it, in the table or in the 15 lines above it, or is a docs-figures block."""
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    missing, i = [], 0
    while i < len(lines):
        if not (lines[i].startswith("|") and re.match(r"\|[-| :]+\|$", lines[i + 1] or "")):
            i += 1
            continue
        end = i
        while end < len(lines) and lines[end].startswith("|"):
            end += 1
        body = "\n".join(lines[i + 2 : end])
        near = "\n".join(lines[max(0, i - 15) : end])
        figures = len(re.findall(r"\d+\.\d+", body)) >= 3
        if figures and not lines[i].startswith(NOT_FIGURES) and not COMMAND.search(near):
            missing.append(f"README line {i + 1}: {lines[i][:60]}")
        i = end
    assert not missing, missing
