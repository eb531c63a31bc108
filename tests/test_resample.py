"""Resampled dataset-level metrics: with every weight 1 they are the library's value, with
integer weights they are the library's value on the resampled image list, and identical images
give a zero-width interval."""

from __future__ import annotations

import numpy as np
import pytest

from gefu.bench.records import DETECTION, SEGMENTATION, decode, encode, encode_all
from gefu.bench.report.resample import (
    CocoMatching,
    SegmentationCounts,
    VocMatching,
    for_cell,
    weights_from_indices,
)


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
    blobs = encode_all(_names(3), _records(preds, targets) + [])
    kind, rec = decode(blobs[1][1])
    assert kind == DETECTION and np.array_equal(rec["pred"]["scores"], preds[1]["scores"])
    assert np.array_equal(rec["target"]["ignore"], targets[1]["ignore"])
    assert encode({"top1": 1.0}) is None
    counts = {
        "area_intersect": np.arange(3.0),
        "area_union": np.ones(3),
        "area_pred_label": np.ones(3),
        "area_label": np.ones(3),
    }
    assert decode(encode(counts))[0] == SEGMENTATION
    assert isinstance(for_cell(blobs, {"evaluation": {"task": {"metric": "coco"}}}), CocoMatching)
    assert for_cell([], {}) is None


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
    blobs = encode_all(_names(12), records)
    r = for_cell(blobs, {})
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

    preds, targets = synthetic_detections(60, len(CLASSES), seed=2)
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
                    n_images=60,
                    metrics=[(m, lib[m], False, None) for m in ("mAP", "mAP50", "mAP75")],
                    image_records=encode_all(_names(60), _records(p, targets)),
                )
            )
    with Store(tmp_path) as store:
        report = analyse(load_report(store))
    (table,) = report.tables
    a, b = table.row("A").metrics["mAP"], table.row("B").metrics["mAP"]
    assert a.value == pytest.approx(coco_map(preds, targets, CLASSES)["mAP"])  # the library's
    assert a.ci[0] < a.value < a.ci[1] and a.n == 60
    assert table.row("B").metrics["mAP75"].ci is not None
    pair, p_adj = table.stats.result("A", "B")
    assert pair.delta == pytest.approx(a.value - b.value) and pair.ci[0] > 0
    assert table.stats.verdict("A", "B") == BETTER and p_adj < 0.05
    md = write_report(tmp_path)["markdown"].read_text(encoding="utf-8")
    assert f"{a.value:.4f} ± " in md
