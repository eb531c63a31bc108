"""The report, built from a hand-made store: ranking, intervals, failure text, self-containment."""

from __future__ import annotations

import base64
import csv
import io
import re

import numpy as np
import pytest
from PIL import Image

from gefu.bench.report import write_report
from gefu.bench.report.paired import interval
from gefu.bench.report.stats import (
    BCA,
    FLAT,
    N_RESAMPLES,
    SEED,
    WILSON,
    best_positions,
    competition_ranks,
    finite,
)
from gefu.bench.report.text import decimals, shorten
from gefu.bench.store import CellResult, Store

PSNR = {"zerodce": [20.0, 22.5, 18.0, 21.0, 19.5], "identity": [10.0, 12.0, 11.0, 13.0, 9.0]}
NIQE = {"zerodce": [5.5, 5.0, 6.0, 5.2, 5.9], "identity": [4.0, 4.5, 4.2, 4.1, 4.4]}
LPIPS_WHY = "needs LPIPS-alex weights (offline)"


def _png(rgb: tuple[int, int, int]) -> bytes:
    pixels = np.zeros((32, 32, 3), np.uint8)
    pixels[..., :] = rgb
    pixels[8:24, 8:24] = (255 - rgb[0], 128, rgb[2] // 2)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def _iqa_cell(enhancer: str, **kw) -> CellResult:
    scores = [
        (f"img{i}.png", metric, v)
        for metric, table in (("psnr", PSNR), ("niqe", NIQE))
        for i, v in enumerate(table.get(enhancer, []))
    ]
    fields = {"params": 79416, "images_per_s": 12.5, "ms_per_mp": 3.2} | kw
    return CellResult(
        cell_key=f"k-{enhancer}-iqa",
        enhancer=enhancer,
        dataset="lol",
        evaluation="iqa",
        status="ok",
        spec={},
        n_images=5,
        image_scores=scores,
        **fields,
    )


def _metrics(psnr, niqe) -> list:
    return [
        ("psnr", psnr, False, None),
        ("niqe", niqe, True, None),
        ("lpips", None, True, LPIPS_WHY),
    ]


def _build(results_dir) -> None:
    enhancers = ["identity", "zerodce", "gamma", "broken", "neverran", "a<b>|&c"]
    with Store(results_dir) as store:
        store.start_run({}, {}, [("k-old", "oldmethod", "lol", "iqa")])  # superseded run
        grid = [(f"k-{e}-iqa", e, "lol", "iqa") for e in enhancers]
        grid += [("k-identity-det", "identity", "darkface", "det")]
        store.start_run({}, {}, grid)
        store.write_cell(_iqa_cell("oldmethod", metrics=_metrics(99.0, 0.1)))
        shared_problem = [("bad.png", "cannot decode image")]
        store.write_cell(
            _iqa_cell(
                "identity",
                metrics=_metrics(np.mean(PSNR["identity"]), np.mean(NIQE["identity"])),
                problems=shared_problem,
                samples=[
                    ("img0.png", "input", _png((10, 10, 10))),
                    ("img0.png", "output", _png((200, 30, 30))),
                    ("img0.png", "reference", _png((30, 200, 30))),
                ],
            )
        )
        store.write_cell(
            _iqa_cell(
                "zerodce",
                metrics=_metrics(np.mean(PSNR["zerodce"]), np.mean(NIQE["zerodce"])),
                problems=shared_problem,
                samples=[("img0.png", "output", _png((30, 30, 220)))],
            )
        )
        # gamma: values without per-image scores, and odd ones
        store.write_cell(_iqa_cell("gamma", metrics=_metrics(15.0, float("nan")), params=None))
        store.write_cell(
            CellResult(
                cell_key="k-broken-iqa",
                enhancer="broken",
                dataset="lol",
                evaluation="iqa",
                status="failed",
                spec={},
                error="RuntimeError: CUDA out of memory\n" + "x" * 500,
            )
        )
        store.write_cell(_iqa_cell("a<b>|&c", metrics=_metrics("junk", float("inf"))))
        store.write_cell(
            CellResult(
                cell_key="k-identity-det",
                enhancer="identity",
                dataset="darkface",
                evaluation="det",
                status="ok",
                spec={},
                n_images=40,
                ms_per_mp=1.0,
                metrics=[("map50", 0.25, False, None)],
            )
        )


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    d = tmp_path_factory.mktemp("results")
    _build(d)
    paths = write_report(d)
    return {k: p.read_text(encoding="utf-8") for k, p in paths.items()} | {"paths": paths}


def _md_rows(md: str, heading: str) -> list[list[str]]:
    block = md.split(heading, 1)[1].split("\n## ", 1)[0]
    first = block.split("\n\n| ", 1)[1].split("\n\n", 1)[0]  # the leaderboard, not the matrix
    lines = [ln for ln in ("| " + first).splitlines() if ln.startswith("| ")]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", ln)[1:-1]] for ln in lines]


def _ci(values):
    from scipy import stats

    ci = stats.bootstrap(
        (np.asarray(values),),
        np.mean,
        n_resamples=N_RESAMPLES,
        method="BCa",
        rng=np.random.default_rng(SEED),
    ).confidence_interval
    return ci.low, ci.high


# -- helpers ---------------------------------------------------------------------------
def test_intervals_match_scipy_and_statsmodels():
    from statsmodels.stats.proportion import proportion_confint

    vals = PSNR["zerodce"]
    (low, high), method = interval(vals + [float("nan"), float("inf")])
    assert method == BCA and (low, high) == pytest.approx(tuple(_ci(vals)))
    assert low < np.mean(vals) < high
    assert interval([float("nan")]) is None
    assert interval([3.0]) == ((3.0, 3.0), FLAT) and interval([2.0, 2.0]) == ((2.0, 2.0), FLAT)
    # a proportion: Wilson, never zero-width, even when all 15 images agree
    (low, high), method = interval([1.0] * 15, is_proportion=True)
    assert method == WILSON and high == pytest.approx(1.0) and low < 0.8
    assert (low, high) == pytest.approx(proportion_confint(15, 15, method="wilson"))
    (low, high), _ = interval([1.0] * 12 + [0.0] * 3, is_proportion=True)
    # a continuous metric that happens to score 0 or 1 everywhere is not a proportion
    assert interval([0.0] * 15) == ((0.0, 0.0), FLAT)
    assert interval([1.0] * 12 + [0.0] * 3)[1] == BCA
    assert (low, high) == pytest.approx(proportion_confint(12, 15, method="wilson"))


def test_ranks_are_direction_aware_with_ties():
    assert competition_ranks([1.0, 3.0, None, 3.0], lower_better=False) == [3, 1, None, 1]
    assert competition_ranks([1.0, 3.0, None, 3.0], lower_better=True) == [1, 2, None, 2]
    assert best_positions([2.0, 1.0, None], lower_better=True) == {1}
    assert best_positions([None, None], lower_better=False) == set()


def test_value_cleaning_and_formatting():
    assert [finite(v) for v in (None, float("nan"), float("inf"), "x", "1.5", True, 2)] == [
        None,
        None,
        None,
        None,
        1.5,
        None,
        2.0,
    ]
    assert shorten("a\n  b" + "c" * 100, 10) == "a bcccccc…"
    assert [decimals(v) for v in (123.0, 23.2, 4.9, 0.85)] == [1, 2, 3, 4]


# -- the written report ----------------------------------------------------------------
def test_markdown_ranking_bold_and_failures(report):
    rows = _md_rows(report["markdown"], "## lol · iqa")
    header, body = rows[0], rows[1:]
    assert header[2:5] == ["psnr ↑", "niqe ↓", "lpips ↓"]
    order = [r[1] for r in body]
    assert order == ["zerodce", "gamma", "identity", r"a\<b>\|&c", "broken", "neverran"]
    assert [r[0] for r in body[:3]] == ["1", "2", "3"]
    by_name = {r[1]: r for r in body}
    assert by_name["zerodce"][2].startswith("**") and not by_name["gamma"][2].startswith("**")
    assert by_name["identity"][3].startswith("**") and not by_name["zerodce"][3].startswith("**")
    lo, hi = _ci(PSNR["zerodce"])
    assert by_name["zerodce"][2] == f"**{np.mean(PSNR['zerodce']):.2f} [{lo:.2f}, {hi:.2f}]**"
    assert by_name["gamma"][2] == "15.00" and by_name["gamma"][3] == "no value"
    assert by_name["identity"][4] == f"unavailable: {LPIPS_WHY}"
    assert by_name["broken"][-1].startswith("failed: RuntimeError: CUDA out of memory")
    assert len(by_name["broken"][-1]) < 100
    assert by_name["neverran"][-1] == "not run"
    assert by_name["zerodce"][5:8] == ["79.4k", "12.5", "3.2"]
    assert "oldmethod" not in report["markdown"]
    assert "bad.png: cannot decode image (identity, zerodce)" in report["markdown"]
    assert "Run 2:" in report["markdown"] and "1 failed, 1 not run" in report["markdown"]


def test_csv_rows_fields_and_intervals(report):
    with open(report["paths"]["csv"], newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6 * 3 + 1
    assert list(rows[0]) == [
        "dataset",
        "evaluation",
        "enhancer",
        "metric",
        "value",
        "ci_low",
        "ci_high",
        "ci_method",
        "n_images",
        "lower_better",
        "rank",
        "status",
        "reason",
        "params",
        "images_per_s",
        "ms_per_mp",
    ]
    get = {(r["enhancer"], r["metric"]): r for r in rows}
    z = get["zerodce", "psnr"]
    assert float(z["ci_low"]) == pytest.approx(_ci(PSNR["zerodce"])[0])
    assert float(z["ci_high"]) == pytest.approx(_ci(PSNR["zerodce"])[1])
    assert z["ci_method"] == BCA
    assert (z["rank"], z["status"], z["n_images"], z["lower_better"]) == ("1", "ok", "5", "false")
    n = get["identity", "niqe"]
    assert (n["rank"], n["lower_better"], float(n["value"])) == ("1", "true", pytest.approx(4.24))
    assert get["gamma", "psnr"]["ci_low"] == "" and get["gamma", "psnr"]["params"] == ""
    assert (get["identity", "lpips"]["status"], get["identity", "lpips"]["reason"]) == (
        "unavailable",
        LPIPS_WHY,
    )
    assert get["broken", "psnr"]["status"] == "failed"
    assert get["broken", "psnr"]["reason"].startswith("RuntimeError")
    assert get["neverran", "niqe"]["status"] == "not run"
    assert get["a<b>|&c", "psnr"]["status"] == "no value"
    assert get["identity", "map50"]["dataset"] == "darkface"


def test_html_self_contained_with_figures(report):
    html = report["html"]
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    assert "@import" not in html and "url(" not in html
    srcs = re.findall(r'<img src="([^"]+)"', html)
    # bars + scatter for both tables, one sample grid
    assert len(srcs) == 5
    for src in srcs:
        assert src.startswith("data:image/png;base64,")
        with Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))) as im:
            assert im.format == "PNG" and min(im.size) > 100
    assert "a&lt;b&gt;|&amp;c" in html and "a<b>" not in html
    assert "<strong>" in html and "failed: RuntimeError" in html
    assert f"unavailable: {LPIPS_WHY}" in html and "not run" in html


def test_report_is_reproducible(report):
    again = write_report(report["paths"]["csv"].parent)
    assert again["markdown"].read_text(encoding="utf-8") == report["markdown"]
    assert again["csv"].read_text(encoding="utf-8") == report["csv"]


def test_empty_store_and_no_cells(tmp_path):
    Store(tmp_path / "none").close()
    paths = write_report(tmp_path / "none")
    assert "No runs are recorded" in paths["markdown"].read_text(encoding="utf-8")
    assert paths["csv"].read_text(encoding="utf-8").count("\n") == 1
    assert "No runs are recorded" in paths["html"].read_text(encoding="utf-8")

    with Store(tmp_path / "fresh") as store:
        store.start_run({}, {}, [("k1", "zerodce", "lol", "iqa"), ("k2", "gamma", "lol", "iqa")])
    paths = write_report(tmp_path / "fresh")
    md = paths["markdown"].read_text(encoding="utf-8")
    assert "No cell of this run has completed yet." in md and md.count("not run |") == 2
    with open(paths["csv"], newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [(r["enhancer"], r["metric"], r["status"]) for r in rows] == [
        ("zerodce", "", "not run"),
        ("gamma", "", "not run"),
    ]
    assert "<img" not in paths["html"].read_text(encoding="utf-8")

    with pytest.raises(FileNotFoundError):
        write_report(tmp_path / "missing")


def test_nan_image_scores_do_not_break_intervals():
    assert interval([2.0, float("nan"), 2.0]) == ((2.0, 2.0), FLAT)
