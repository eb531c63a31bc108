"""Sampling units in the report: clusters and strata from the store or the config, the cluster
bootstrap, cluster-level permutation tests, per-stratum values and the power statement, each
checked against a hand-written computation or scipy called directly."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from gefu.bench.report import write_report
from gefu.bench.report.collect import load_report
from gefu.bench.report.compare import analyse
from gefu.bench.report.paired import interval, paired_means
from gefu.bench.report.stats import CLUSTER
from gefu.bench.report.units import design
from gefu.bench.store import CellResult, Store

SEVERITIES = ("x100", "x300", "extreme")


def _clustered(n_clusters=5, copies=3, seed=0):
    """``n_clusters`` scenes x ``copies`` near-identical images (one per severity)."""
    rng = np.random.default_rng(seed)
    names, groups, values = [], {}, []
    for c in range(n_clusters):
        level = rng.normal(20.0, 3.0)
        for s in range(copies):
            name = f"scene{c}_{SEVERITIES[s % 3]}{s // 3}.png"
            names.append(name)
            groups[name] = (f"scene{c}", SEVERITIES[s % 3])
            values.append(level + rng.normal(0.0, 0.05))
    return names, groups, np.array(values)


def test_cluster_bootstrap_is_wider_and_matches_a_hand_written_one():
    names, groups, values = _clustered(n_clusters=8)
    d = design(names, groups)
    assert d.n_units == 8 and d.clustered and d.stratum_names == sorted(SEVERITIES)
    order = np.argsort(names)
    x = values[order]
    (low, high), method = interval(x, d)
    assert method == CLUSTER
    (img_low, img_high), _ = interval(x)  # images as units: BCa over 24 "independent" images
    assert high - low > 1.3 * (img_high - img_low)
    # by hand: draw 8 of the 8 scenes with replacement, average their images
    rng = np.random.default_rng(1)
    per_scene = np.array(
        [[v for n, v in zip(names, values) if groups[n][0] == f"scene{c}"] for c in range(8)]
    )
    means = [per_scene[rng.integers(0, 8, 8)].mean() for _ in range(20000)]
    want = np.percentile(means, [2.5, 97.5])
    width = want[1] - want[0]
    assert low == pytest.approx(want[0], abs=0.08 * width)
    assert high == pytest.approx(want[1], abs=0.08 * width)


def test_cluster_weights_keep_each_stratum_and_nested_clusters():
    names, groups, _ = _clustered(n_clusters=4)
    w = design(names, groups).weights(n_resamples=200)
    assert w.shape == (200, 12) and np.all(w.sum(axis=1) == 12)
    strata = np.array([groups[n][1] for n in sorted(names)])
    for s in SEVERITIES:  # crossed design: every severity keeps its 4 draws
        assert np.all(w[:, strata == s].sum(axis=1) == 4)
    # nested: sequences within two conditions (2 and 6 sequences) keep their counts
    nested = {
        f"{c}_{q}_{i}.png": (f"{c}{q}", c)
        for c, k in (("day", 2), ("night", 6))
        for q in range(k)
        for i in range(2)
    }
    d = design(list(nested), nested)
    w = d.weights(n_resamples=100)
    day = np.array([n.startswith("day") for n in d.images])
    assert np.all(w[:, day].sum(axis=1) == 4) and np.all(w[:, ~day].sum(axis=1) == 12)
    same = w[:, [d.images.index("night_3_0.png"), d.images.index("night_3_1.png")]]
    assert np.array_equal(same[:, 0], same[:, 1])  # images of one sequence drawn together


def test_config_overrides_and_bad_patterns():
    names = ["a_x1.png", "a_x2.png", "b_x1.png", "b_x2.png"]
    d = design(names, {}, cluster_by=r"^(\w)_", stratify_by=r"_(x\d)")
    assert d.n_units == 2 and d.stratum_names == ["x1", "x2"] and d.source == "config"
    d = design(names, {n: ("one", None) for n in names}, cluster_by=False)
    assert d.n_units == 4 and not d.clustered and d.source == "images"
    with pytest.raises(ValueError, match="cluster_by.*does not match the image name"):
        design(names, {}, cluster_by=r"^z")
    with pytest.raises(ValueError, match="not a regular expression"):
        design(names, {}, stratify_by="(")


def test_cluster_level_permutation_test_is_exact_enumeration():
    names, groups, base = _clustered(n_clusters=6)
    d = design(names, groups)
    order = np.argsort(names)
    rng = np.random.default_rng(5)
    a = base[order] + rng.normal(0.4, 0.5, base.size)
    b = base[order]
    (r,) = paired_means(a[None], b[None], d)
    # by hand: flip the sign of each scene's summed difference, all 2^6 ways
    sums = d.unit_sums(a - b)
    null = [abs(np.dot(signs, sums)) for signs in itertools.product((1, -1), repeat=6)]
    want = np.mean(np.array(null) >= abs(sums.sum()) - 1e-9)
    assert r.exact and r.units == 6 and r.p == pytest.approx(want)
    assert r.p >= 2 / 64  # 6 scenes: nothing smaller is attainable
    direct = stats.permutation_test(
        (d.unit_sums(a), d.unit_sums(b)),
        lambda x, y, axis=-1: np.sum(x - y, axis=axis),
        permutation_type="samples",
        vectorized=True,
        n_resamples=np.inf,
    ).pvalue
    assert r.p == pytest.approx(direct)


def _store(folder, rows: dict, groups, config=None):
    with Store(folder) as store:
        grid = [(f"k-{e}", e, "demo", "iqa") for e in rows]
        store.start_run(config or {}, {}, grid)
        for e, values in rows.items():
            names = sorted(values)
            store.write_cell(
                CellResult(
                    f"k-{e}",
                    e,
                    "demo",
                    "iqa",
                    "ok",
                    {"enhancer": {"name": "identity" if e == "input" else e}},
                    n_images=len(names),
                    metrics=[("psnr", float(np.mean(list(values.values()))), False, None)],
                    image_scores=[(n, "psnr", float(values[n])) for n in names],
                    image_groups=[(n, *groups[n]) for n in names if n in groups],
                )
            )


def test_five_photos_say_no_comparison_can_be_significant(tmp_path):
    names, groups, base = _clustered(n_clusters=5)
    rows = {"input": dict(zip(names, base)), "gain": dict(zip(names, base + 3.0 + 0.1 * base))}
    _store(tmp_path / "photos", rows, groups)
    with Store(tmp_path / "photos") as store:
        report = analyse(load_report(store))
    (t,) = report.tables
    assert t.design.n_units == 5 and t.stats.underpowered
    assert t.stats.min_p == pytest.approx(2 / 32)
    assert t.stats.verdict("gain", "input") == 0  # tied: not significant
    assert set(t.strata) == set(SEVERITIES)
    for s in SEVERITIES:
        want = np.mean([v for n, v in rows["gain"].items() if groups[n][1] == s])
        assert t.strata[s]["gain"] == pytest.approx(want)
    paths = write_report(tmp_path / "photos")
    md = paths["markdown"].read_text(encoding="utf-8")
    assert "15 images in 5 independent clusters (reader); 3 strata" in md
    assert "Underpowered: no pair can be significant with 5 unit(s) and 1 pair(s)" in md
    assert "psnr @ x100" in md and "by stratum" in paths["html"].read_text(encoding="utf-8")
    # the same store with images as units (config): 15 units, a detectable difference
    config = {"datasets": [{"name": "demo", "cluster_by": False}]}
    _store(tmp_path / "images", rows, groups, config)
    with Store(tmp_path / "images") as store:
        report = analyse(load_report(store))
    (t,) = report.tables
    assert t.design.n_units == 15 and not t.stats.underpowered
    assert t.stats.verdict("gain", "input") == 1 and t.stats.detectable is not None
    md = write_report(tmp_path / "images")["markdown"].read_text(encoding="utf-8")
    assert "Minimum detectable difference in psnr" in md


def test_tau_across_enhancers_is_an_exact_ordering_test():
    from gefu.bench.report.agreement import ordering_p

    x = np.array([0.1, 0.5, 0.3, 0.9, 0.7, 0.2])
    y = np.array([1.0, 3.0, 2.0, 4.0, 6.0, 0.5])
    observed = stats.kendalltau(x, y).statistic
    null = [stats.kendalltau(np.array(p), y).statistic for p in itertools.permutations(x)]
    assert ordering_p(x, y) == pytest.approx(np.mean(np.abs(null) >= abs(observed) - 1e-12))


def test_assembled_cells_carry_the_readers_groups():
    from types import SimpleNamespace

    from gefu.bench.assemble import _groups
    from gefu.datasets.base import Sample

    samples = [Sample("a.png", None, cluster="s1", stratum="x100"), Sample("b.png", None)]
    shards = [SimpleNamespace(groups=[(s.name, s.cluster, s.stratum) for s in samples])]
    # images without a cluster or stratum are their own unit: nothing to store for them
    assert _groups(shards, ["a.png", "b.png"]) == [("a.png", "s1", "x100")]


def test_units_with_ground_truth_are_counted_by_cluster():
    from gefu.bench.report.compare import MIN_UNITS, units_with_targets

    images = [f"{scene}@{level}" for scene in "abcdef" for level in ("x100", "x300")]
    d = design(images, {im: (im.split("@")[0], im.split("@")[1]) for im in images})
    box = {"boxes": np.zeros((1, 4)), "labels": np.array([0])}
    empty = {"boxes": np.zeros((0, 4)), "labels": np.zeros(0, int)}
    records = [{"target": box if im[0] in "ab" else empty, "pred": empty} for im in images]
    assert units_with_targets(d, images, records) == 2 < MIN_UNITS  # 4 images, 2 scenes
    assert units_with_targets(d, images, [{"area_union": np.ones(2)}] * len(images)) is None


def test_per_stratum_table_gives_mpc_and_rpc():
    from types import SimpleNamespace as NS

    from gefu.bench.report.stat_tables import stratum_cells
    from gefu.core.specs import REFERENCE_ROW

    rows = [
        NS(enhancer="gamma", metrics={"mAP": NS(value=0.5)}),
        NS(enhancer="input", metrics={"mAP": NS(value=0.2)}),
        NS(enhancer=REFERENCE_ROW, metrics={"mAP": NS(value=0.8)}),
    ]
    strata = {"x100": {"gamma": 0.6, "input": 0.3}, "x300": {"gamma": 0.4}}
    table = NS(strata=strata, primary=NS(metric="mAP", lower_better=False), rows=rows)
    header, body = stratum_cells(table)
    assert header == ["enhancer", "mAP @ x100", "mAP @ x300", "mPC", "rPC"]
    gamma, missing = body[0], body[1]
    assert gamma[3][1] == pytest.approx(0.5) and gamma[4][1] == pytest.approx(0.5 / 0.8)
    assert missing[3][1] is None and missing[4][1] is None  # a stratum without a value
    table.primary.lower_better = True  # no relative figure for a lower-is-better metric
    assert stratum_cells(table)[0][-1] == "mPC"
