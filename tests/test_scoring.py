"""The scorers of dataset-level metrics: with every weight 1 they are the library's value, with
integer weights the library's value on the resampled image list, identical images give a
zero-width interval, and a paired swap test equals an exact enumeration through the library."""

from __future__ import annotations

import numpy as np
import pytest

from gefu.tasks.scoring import (
    CocoMatching,
    SegmentationCounts,
    VocMatching,
    build,
    decode,
    encode,
    encode_all,
    from_blobs,
)

COCO = {"kind": "coco"}


def weights_from_indices(indices: np.ndarray, n: int) -> np.ndarray:
    """Resampled index rows ``[B, n]`` -> draw counts per image ``[B, n]``."""
    return np.stack([np.bincount(row, minlength=n) for row in indices]).astype(np.float64)


def synthetic_detections(n: int, n_classes: int, seed: int = 0, decimals: int = 2):
    """Targets with a few boxes each (5% ignored), detections = jittered targets (80% found)
    plus false positives, scores rounded so that ties occur."""
    rng = np.random.default_rng(seed)
    preds, targets = [], []
    for _ in range(n):
        ng = int(rng.integers(0, 6))
        xy = rng.uniform(0, 400, (ng, 2))
        gt = np.hstack([xy, xy + rng.uniform(10, 150, (ng, 2))])
        labels = rng.integers(0, n_classes, ng)
        found = rng.random(ng) < 0.8
        nf = int(rng.integers(0, 4))
        fxy = rng.uniform(0, 400, (nf, 2))
        false = np.hstack([fxy, fxy + rng.uniform(10, 150, (nf, 2))])
        boxes = np.vstack([gt[found] + rng.normal(0, 8, (found.sum(), 4)), false])
        scores = np.concatenate([rng.uniform(0.3, 1, found.sum()), rng.uniform(0, 0.7, nf)])
        preds.append(
            {
                "boxes": boxes.astype(np.float32),
                "scores": scores.round(decimals).astype(np.float32),
                "labels": np.concatenate([labels[found], rng.integers(0, n_classes, nf)]),
            }
        )
        targets.append(
            {"boxes": gt.astype(np.float32), "labels": labels, "ignore": rng.random(ng) < 0.05}
        )
    return preds, targets


def _records(preds, targets):
    return [{"pred": p, "target": t} for p, t in zip(preds, targets, strict=True)]


def _names(n):
    return [f"img{i:04d}" for i in range(n)]


CLASSES = [f"c{k}" for k in range(4)]


def test_coco_weights_one_is_the_library_value_and_counts_are_resamples():
    from gefu.tasks.detection_metrics import coco_map

    preds, targets = synthetic_detections(120, len(CLASSES))
    r = CocoMatching(_names(120), _records(preds, targets))
    lib = coco_map(preds, targets, CLASSES)
    got = r.values(np.ones(120))
    for name in ("mAP", "mAP50", "mAP75"):
        assert got[name][0] == pytest.approx(lib[name], rel=1e-12, abs=1e-12)
    # a resample drawn as counts equals the library run on the drawn image list (scores
    # without ties: among tied detections the library's own order depends on the image order)
    preds, targets = synthetic_detections(120, len(CLASSES), decimals=7)
    r = CocoMatching(_names(120), _records(preds, targets))
    for seed in range(3):
        idx = np.random.default_rng(seed).integers(0, 120, 120)
        w = weights_from_indices(idx[None], 120)
        assert w.sum() == 120 and np.array_equal(np.bincount(idx, minlength=120), w[0])
        drawn = coco_map([preds[i] for i in idx], [targets[i] for i in idx], CLASSES)
        got = r.values(w)
        for name in ("mAP", "mAP50", "mAP75"):
            assert got[name][0] == pytest.approx(drawn[name], rel=1e-12, abs=1e-12)


def test_identical_images_collapse_the_interval():
    preds, targets = synthetic_detections(1, len(CLASSES), seed=3)
    recs = _records(preds * 30, targets * 30)
    r = CocoMatching(_names(30), recs)
    idx = np.random.default_rng(0).integers(0, 30, (200, 30))
    v = r.values(weights_from_indices(idx, 30))["mAP50"]
    assert np.ptp(v) == pytest.approx(0.0, abs=1e-12)
    assert v[0] == pytest.approx(r.values(np.ones(30))["mAP50"][0])


def test_records_round_trip_and_dispatch():
    preds, targets = synthetic_detections(3, 2)
    blobs = encode_all(COCO, _names(3), _records(preds, targets) + [])
    scoring, rec = decode(blobs[1][1])
    assert scoring == COCO and np.array_equal(rec["pred"]["scores"], preds[1]["scores"])
    assert np.array_equal(rec["target"]["ignore"], targets[1]["ignore"])
    assert encode_all(None, ["a"], [{"top1": 1.0}]) == []  # means only: nothing to keep
    counts = {
        "area_intersect": np.arange(3.0),
        "area_union": np.ones(3),
        "area_pred_label": np.ones(3),
        "area_label": np.ones(3),
    }
    assert decode(encode({"kind": "segmentation"}, counts))[0] == {"kind": "segmentation"}
    spec, images, records = from_blobs(blobs)
    assert isinstance(build(spec, images, records), CocoMatching) and images == _names(3)
    assert from_blobs([]) is None
    with pytest.raises(ValueError, match="unknown scoring"):
        encode({"kind": "f1"}, counts)


def test_voc_weights_one_is_the_library_value():
    pytest.importorskip("mmdet")
    from gefu.tasks.detection_metrics import voc_map

    preds, targets = synthetic_detections(80, len(CLASSES), seed=5)
    for mode in ("area", "11points"):
        r = VocMatching(_names(80), _records(preds, targets), 0.5, mode)
        lib = voc_map(preds, targets, CLASSES, 0.5, mode)
        assert r.values(np.ones(80))["mAP50"][0] == pytest.approx(lib["mAP50"], rel=1e-6)
    one = VocMatching(_names(20), _records(preds[:1] * 20, targets[:1] * 20), 0.5, "area")
    v = one.values(weights_from_indices(np.random.default_rng(0).integers(0, 20, (50, 20)), 20))
    assert np.ptp(v["mAP50"]) == pytest.approx(0.0, abs=1e-9)


def test_segmentation_counts_weights_one_is_the_library_value():
    pytest.importorskip("mmseg")
    import torch

    from gefu.tasks.segmentation import area_counts, iou_scores

    rng = np.random.default_rng(0)
    records = []
    for _ in range(12):
        label = torch.from_numpy(rng.integers(0, 4, (16, 16)))
        label[0, :4] = 255
        pred = torch.where(torch.from_numpy(rng.random((16, 16)) < 0.7), label, 1).clamp(0, 3)
        records.append(area_counts(pred, label, 4, 255))
    lib = iou_scores(records, ("a", "b", "c", "d"))
    blobs = encode_all({"kind": "segmentation"}, _names(12), records)
    r = build(*from_blobs(blobs))
    assert isinstance(r, SegmentationCounts)
    got = r.values(np.ones(12))
    for name in ("mIoU", "mAcc", "aAcc"):
        assert got[name][0] == pytest.approx(lib[name], rel=1e-12)
    same = SegmentationCounts(_names(10), [decode(blobs[0][1])[1]] * 10)
    v = same.values(weights_from_indices(rng.integers(0, 10, (40, 10)), 10))["mIoU"]
    assert np.ptp(v) == pytest.approx(0.0, abs=1e-9)


def test_report_intervals_and_paired_test_for_map(tmp_path):
    """Two detection cells with stored per-image records: the report keeps the library's mAP as
    the point, adds a resampled interval, and compares the rows on the same resamples."""
    from gefu.bench.report import write_report
    from gefu.bench.report.collect import load_report
    from gefu.bench.report.compare import BETTER, analyse
    from gefu.bench.store import CellResult, Store
    from gefu.tasks.detection_metrics import coco_map

    preds, targets = synthetic_detections(12, len(CLASSES), seed=2)
    worse = [p | {"scores": p["scores"][::-1].copy()} for p in preds]  # scores scrambled
    spec = {"evaluation": {"task": {"task": "detection", "metric": "coco"}}}
    with Store(tmp_path) as store:
        store.start_run({}, {}, [("ka", "A", "d", "det"), ("kb", "B", "d", "det")])
        for key, name, p in (("ka", "A", preds), ("kb", "B", worse)):
            lib = coco_map(p, targets, CLASSES)
            store.write_cell(
                CellResult(
                    key,
                    name,
                    "d",
                    "det",
                    "ok",
                    spec,
                    n_images=12,
                    metrics=[(m, lib[m], False, None) for m in ("mAP", "mAP50", "mAP75")],
                    image_records=encode_all(COCO, _names(12), _records(p, targets)),
                )
            )
    with Store(tmp_path) as store:
        report = analyse(load_report(store))
    (table,) = report.tables
    a, b = table.row("A").metrics["mAP"], table.row("B").metrics["mAP"]
    assert a.value == pytest.approx(coco_map(preds, targets, CLASSES)["mAP"])  # the library's
    assert a.ci[0] < a.value < a.ci[1] and a.n == 12
    assert table.row("B").metrics["mAP75"].ci is not None
    pair, p_adj = table.stats.result("A", "B")
    assert pair.delta == pytest.approx(a.value - b.value) and pair.ci[0] > 0
    assert table.stats.verdict("A", "B") == BETTER and p_adj < 0.05
    md = write_report(tmp_path)["markdown"].read_text(encoding="utf-8")
    assert f"{a.value:.4f} [{a.ci[0]:.4f}, {a.ci[1]:.4f}]" in md


def _swap_exact_by_hand(pa, pb, targets, units, metric="mAP"):
    """Two-sided p of the paired swap test, enumerated with pycocotools itself: every 0/1
    choice per unit of which row's detections each side uses, both mAPs recomputed."""
    import itertools

    from gefu.tasks.detection_metrics import coco_map

    names = sorted(set(units))
    observed = coco_map(pa, targets, CLASSES)[metric] - coco_map(pb, targets, CLASSES)[metric]
    null = []
    for choice in itertools.product((0, 1), repeat=len(names)):
        swap = dict(zip(names, choice, strict=True))
        a = [pb[i] if swap[u] else pa[i] for i, u in enumerate(units)]
        b = [pa[i] if swap[u] else pb[i] for i, u in enumerate(units)]
        null.append(coco_map(a, targets, CLASSES)[metric] - coco_map(b, targets, CLASSES)[metric])
    null = np.asarray(null)
    return observed, float(np.mean(np.abs(null) >= abs(observed) - 1e-9)), len(null)


@pytest.mark.parametrize("clustered", [False, True])
def test_swap_test_on_map_equals_exact_enumeration_with_pycocotools(clustered):
    from gefu.bench.report.paired import swap_test
    from gefu.bench.report.units import design

    preds, targets = synthetic_detections(6, len(CLASSES), seed=11, decimals=7)
    worse = [p | {"scores": p["scores"][::-1].copy()} for p in preds]
    worse[2] = preds[2]  # one image the rows agree on: not informative
    names = _names(6)
    groups = {n: (f"scene{i // 2}", None) for i, n in enumerate(names)} if clustered else {}
    d = design(names, groups)
    joint = build(COCO, names + names, _records(preds, targets) + _records(worse, targets))
    ui = d.unit_index()
    differ = np.array([i != 2 for i in range(6)])
    informative = np.unique(ui[differ])
    delta, p, exact = swap_test(joint, "mAP", ui, informative, n_random=999)
    want_delta, want_p, count = _swap_exact_by_hand(preds, worse, targets, list(d.units))
    assert exact and delta == pytest.approx(want_delta, abs=1e-12)
    assert p == pytest.approx(want_p, abs=1e-12)
    # the uninformative unit only doubles every count: the same p over 2^(informative) swaps
    assert count == 2**d.n_units and len(informative) == d.n_units - (0 if clustered else 1)
