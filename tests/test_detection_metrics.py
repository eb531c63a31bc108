"""Detection mAP: hand-computed cases, and parity with pycocotools run the usual way."""

from __future__ import annotations

import contextlib
import io
import json
import math

import numpy as np
import pytest

from gefu.tasks.detection_metrics import coco_map, evaluate, metric_names, voc_map

pytest.importorskip("pycocotools")


def boxes(*rows):
    return np.array(rows, dtype=np.float32).reshape(-1, 4)


def pred(rows, scores, labels):
    return {
        "boxes": boxes(*rows),
        "scores": np.array(scores, np.float32),
        "labels": np.array(labels),
    }


def target(rows, labels, ignore=None):
    out = {"boxes": boxes(*rows), "labels": np.array(labels)}
    if ignore is not None:
        out["ignore"] = np.array(ignore, bool)
    return out


# Two ground-truth boxes; three detections: 0.9 on the first (IoU 1), 0.8 on nothing, 0.7 on the
# second with IoU 0.64 (an 8x8 box inside a 10x10 one). Ranked: TP, FP, TP at IoU 0.5.
HAND_TARGET = target([[0, 0, 10, 10], [20, 20, 30, 30]], [0, 0])
HAND_PRED = pred([[0, 0, 10, 10], [50, 50, 60, 60], [20, 20, 28, 28]], [0.9, 0.8, 0.7], [0, 0, 0])


def test_coco_hand_computed():
    out = coco_map([HAND_PRED], [HAND_TARGET], ["thing"])
    # IoU 0.50-0.60: precision 1 up to recall 0.5, then 2/3 up to recall 1; COCO samples 101
    # recall points: 51 of them (0.00-0.50) at 1, 50 at 2/3.
    ap_matched = (51 + 50 * 2 / 3) / 101
    # IoU 0.65-0.95: the third detection is a false positive; recall stops at 0.5.
    ap_unmatched = 51 / 101
    assert out["mAP50"] == pytest.approx(ap_matched, abs=1e-6)
    assert out["mAP75"] == pytest.approx(ap_unmatched, abs=1e-6)
    assert out["mAP"] == pytest.approx((3 * ap_matched + 7 * ap_unmatched) / 10, abs=1e-6)
    assert out["AP/thing"] == pytest.approx(out["mAP"])


def test_voc_hand_computed():
    # precision/recall after each detection: (1, .5), (.5, .5), (2/3, 1)
    area = voc_map([HAND_PRED], [HAND_TARGET], ["thing"])
    assert area == pytest.approx({"mAP50": 0.5 * 1 + 0.5 * 2 / 3, "AP50/thing": 5 / 6})
    eleven = voc_map([HAND_PRED], [HAND_TARGET], ["thing"], voc_mode="11points")
    assert eleven["mAP50"] == pytest.approx((6 * 1 + 5 * 2 / 3) / 11)  # recalls 0-.5 | .6-1
    strict = voc_map([HAND_PRED], [HAND_TARGET], ["thing"], iou_thr=0.7)
    assert set(strict) == {"mAP70", "AP70/thing"} and strict["mAP70"] == pytest.approx(0.5)


def test_ignored_boxes_follow_each_protocol():
    # A third, ignored box with a confident detection on it: neither TP nor FP in either protocol.
    tgt = target([[0, 0, 10, 10], [20, 20, 30, 30], [40, 0, 50, 10]], [0, 0, 0], [0, 0, 1])
    prd = pred([*HAND_PRED["boxes"].tolist(), [40, 0, 50, 10]], [0.9, 0.8, 0.7, 0.95], [0] * 4)
    assert voc_map([prd], [tgt], ["thing"]) == voc_map([HAND_PRED], [HAND_TARGET], ["thing"])
    assert coco_map([prd], [tgt], ["thing"]) == pytest.approx(
        coco_map([HAND_PRED], [HAND_TARGET], ["thing"])
    )
    # the same box not ignored: a true positive ranked first raises AP
    tgt["ignore"][:] = False
    assert voc_map([prd], [tgt], ["thing"])["mAP50"] > 5 / 6


def test_class_without_ground_truth_has_no_ap_and_stays_out_of_the_mean():
    prd = pred([*HAND_PRED["boxes"].tolist(), [70, 70, 80, 80]], [0.9, 0.8, 0.7, 0.9], [0, 0, 0, 1])
    voc = voc_map([prd], [HAND_TARGET], ["a", "b"])
    assert voc["mAP50"] == pytest.approx(5 / 6) and math.isnan(voc["AP50/b"])
    coco = coco_map([prd], [HAND_TARGET], ["a", "b"])
    assert coco["mAP"] == pytest.approx(coco["AP/a"]) and math.isnan(coco["AP/b"])


def test_no_predictions_scores_zero_and_no_ground_truth_is_nan():
    nothing = pred([], [], [])
    assert coco_map([nothing], [HAND_TARGET], ["a"])["mAP"] == 0.0
    assert voc_map([nothing], [HAND_TARGET], ["a"])["mAP50"] == 0.0
    empty = target([], [])
    assert math.isnan(coco_map([HAND_PRED], [empty], ["a"])["mAP"])
    assert math.isnan(voc_map([HAND_PRED], [empty], ["a"])["mAP50"])


def random_fixture(n_images=4, n_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    preds, targets = [], []
    for _ in range(n_images):
        n = int(rng.integers(1, 6))
        xy = rng.uniform(0, 80, (n, 2))
        gt = np.hstack([xy, xy + rng.uniform(8, 40, (n, 2))])
        labels = rng.integers(0, n_classes, n)
        jitter = gt + rng.normal(0, 3, gt.shape)  # near-misses and hits
        extra = np.hstack([rng.uniform(0, 80, (3, 2)), rng.uniform(85, 120, (3, 2))])
        det = np.vstack([jitter, extra])
        det_labels = np.concatenate([labels, rng.integers(0, n_classes, 3)])
        ignore = rng.random(n) < 0.2
        targets.append({"boxes": gt, "labels": labels, "ignore": ignore})
        preds.append({"boxes": det, "scores": rng.random(len(det)), "labels": det_labels})
    return preds, targets


def test_coco_parity_with_pycocotools_run_directly(tmp_path):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    preds, targets = random_fixture()
    classes = ["a", "b", "c"]
    # The usual way: a ground-truth JSON file, detections through loadRes.
    categories = [{"id": 10 * (k + 1), "name": c} for k, c in enumerate(classes)]
    gt = {"images": [], "annotations": [], "categories": categories}
    results = []
    for i, (p, t) in enumerate(zip(preds, targets)):
        gt["images"].append({"id": 100 + i, "width": 128, "height": 128})
        for box, label, crowd in zip(t["boxes"], t["labels"], t["ignore"]):
            x1, y1, x2, y2 = box.tolist()
            gt["annotations"].append(
                {
                    "id": len(gt["annotations"]) + 1,
                    "image_id": 100 + i,
                    "iscrowd": int(crowd),
                    "category_id": 10 * (int(label) + 1),
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1),
                }
            )
        for box, label, score in zip(p["boxes"], p["labels"], p["scores"]):
            x1, y1, x2, y2 = box.tolist()
            results.append(
                {
                    "image_id": 100 + i,
                    "category_id": 10 * (int(label) + 1),
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "score": float(score),
                }
            )
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(str(tmp_path / "gt.json"))
        ev = COCOeval(coco_gt, coco_gt.loadRes(results), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    ours = evaluate("coco", preds, targets, classes)
    assert [ours["mAP"], ours["mAP50"], ours["mAP75"]] == pytest.approx(list(ev.stats[:3]))
    assert 0 < ours["mAP"] < ours["mAP50"] < 1  # a fixture that tells values apart
    for k, name in enumerate(classes):
        p = ev.eval["precision"][:, :, k, 0, -1]
        assert ours[f"AP/{name}"] == pytest.approx(p[p > -1].mean())


def test_metric_names():
    assert metric_names("coco", ["a"]) == (["mAP", "mAP50", "mAP75"], ["AP/a"])
    assert metric_names("voc", ["a", "b"]) == (["mAP50"], ["AP50/a", "AP50/b"])
    assert metric_names("voc", [], 0.75) == (["mAP75"], [])
    with pytest.raises(ValueError, match="coco, voc"):
        metric_names("kitti")
