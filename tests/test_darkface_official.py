"""The official UG2+ DARK FACE metric: parity with the challenge's Octave code (fixtures made by
running it, see tests/fixtures/darkface_official/PROVENANCE), a hand-computed case, the
resampling re-aggregation, how it differs from mmdet's eval_map, and the task's options."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from gefu.tasks.darkface_official import (
    METRIC,
    Reaggregator,
    average_precision,
    box_overlap,
    pr_curve,
)
from gefu.tasks.detection_metrics import evaluate, metric_names

CASES = json.loads((Path(__file__).parent / "fixtures/darkface_official/cases.json").read_text())


def as_inputs(case: dict) -> tuple[list[dict], list[dict]]:
    preds = [
        {
            "boxes": np.array([b[:4] for b in image], dtype=np.float64).reshape(-1, 4),
            "scores": np.array([b[4] for b in image], dtype=np.float64),
            "labels": np.zeros(len(image), dtype=np.int64),
        }
        for image in case["pred"]
    ]
    targets = [
        {"boxes": np.array(g, dtype=np.float64).reshape(-1, 4), "labels": np.zeros(len(g))}
        for g in case["gt"]
    ]
    return preds, targets


def expand(runs: list[list]) -> np.ndarray:
    """The fixture's run-length ``pr_curve`` back to ``[1000, 2]`` (null: NaN)."""
    out = np.empty((1000, 2))
    for k, (t, p, r) in enumerate(runs):
        end = runs[k + 1][0] - 1 if k + 1 < len(runs) else 1000
        out[t - 1 : end] = [np.nan if p is None else p, np.nan if r is None else r]
    return out


@pytest.mark.parametrize("name", sorted(CASES["cases"]))
def test_matches_the_official_octave_evaluation(name):
    case = CASES["cases"][name]
    preds, targets = as_inputs(case)
    expected = case["official"]["ap"]
    ap = average_precision(preds, targets)
    if expected is None:
        assert math.isnan(ap)
    else:
        assert ap == pytest.approx(expected, abs=1e-6)
        assert case["official"]["printed"] == f"{name} ap: {expected:.6f}"
    np.testing.assert_allclose(
        pr_curve(preds, targets), expand(case["official"]["pr_curve"]), rtol=0, atol=1e-6
    )


def test_fixtures_cover_the_cases_the_issue_names():
    cases = CASES["cases"]
    assert {"empty_images", "duplicates", "ties", "tiny_boxes", "many_faces"} <= set(cases)
    assert sum(len(g) for g in cases["many_faces"]["gt"]) > 500
    assert CASES["tools_commit"].startswith("ea0bc35") and "Octave" in CASES["octave"]


def test_hand_computed():
    # one image, two faces; detections 0.9 (face 1), 0.5 (nothing), 0.1 (face 2) normalise to
    # 1, 0.5, 0: the curve passes (P 1, R .5), (P .5, R .5), (P 2/3, R 1)
    target = {"boxes": np.array([[0, 0, 9, 9], [20, 20, 29, 29]]), "labels": np.zeros(2)}
    pred = {
        "boxes": np.array([[0, 0, 9, 9], [50, 50, 59, 59], [21, 20, 30, 29]]),
        "scores": np.array([0.9, 0.5, 0.1]),
        "labels": np.zeros(3),
    }
    assert average_precision([pred], [target]) == pytest.approx(0.5 + 0.5 * 2 / 3)
    # +1 pixel convention: boxes 0..9 and 1..10 are 10 pixels wide and share 9 columns
    iou = box_overlap(np.array([[0.0, 0, 9, 9]]), np.array([[1.0, 0, 10, 9]]))
    assert iou[0, 0] == pytest.approx(90 / 110)
    assert evaluate("darkface_official", [pred], [target], ["face"]) == {
        METRIC: pytest.approx(5 / 6)
    }
    assert metric_names("darkface_official", ["face"]) == ([METRIC], [])
    with pytest.raises(ValueError, match="one class"):
        evaluate("darkface_official", [pred], [target], ["face", "person"])


def test_bad_input_is_named():
    target = {"boxes": np.zeros((1, 4)), "labels": np.zeros(1)}
    pred = {"boxes": np.zeros((1, 4)), "scores": np.array([np.nan]), "labels": np.zeros(1)}
    with pytest.raises(ValueError, match="image 0: scores: not finite"):
        average_precision([pred], [target])
    pred = {"boxes": np.zeros((2, 4)), "scores": np.array([0.5]), "labels": np.zeros(2)}
    with pytest.raises(ValueError, match="2 predicted boxes but 1 scores"):
        average_precision([pred], [target])


def test_reaggregation_equals_the_metric_on_the_resampled_set():
    preds, targets = as_inputs(CASES["cases"]["many_faces"])
    n = len(preds)
    records = [{"pred": p, "target": t} for p, t in zip(preds, targets, strict=True)]
    agg = Reaggregator([f"{i}.png" for i in range(n)], records)
    rng = np.random.default_rng(0)
    draws = rng.integers(0, n, size=(3, n))
    weights = np.vstack([np.ones(n)] + [np.bincount(d, minlength=n) for d in draws])
    values = agg.values(weights)[METRIC]
    assert values[0] == average_precision(preds, targets)
    for d, v in zip(draws, values[1:], strict=True):  # the official metric on the drawn list
        assert v == pytest.approx(average_precision([preds[i] for i in d], [targets[i] for i in d]))
    # dropping the image holding the highest score changes the score range (and the value)
    top = int(np.argmax([p["scores"].max(initial=-np.inf) for p in preds]))
    keep = np.ones(n)
    keep[top] = 0
    rest = [i for i in range(n) if i != top]
    expected = average_precision([preds[i] for i in rest], [targets[i] for i in rest])
    assert agg.values(keep[None])[METRIC][0] == pytest.approx(expected)


# -- against mmdet's eval_map on the same predictions -------------------------------------------
def face(x, y, size=20):
    return [x, y, x + size - 1, y + size - 1]


def dets(rows, scores):
    return {
        "boxes": np.array(rows, dtype=np.float32).reshape(-1, 4),
        "scores": np.array(scores, dtype=np.float32),
        "labels": np.zeros(len(scores), int),
    }


def faces(rows):
    return {"boxes": np.array(rows, dtype=np.float32).reshape(-1, 4), "labels": np.zeros(len(rows))}


def both(preds, targets) -> tuple[float, float]:
    official = evaluate("darkface_official", preds, targets, ["face"])[METRIC]
    voc = evaluate("voc", preds, targets, ["face"])["mAP50"]
    return official, voc


def test_official_and_eval_map_disagree_on_the_same_predictions():
    pytest.importorskip("mmdet")
    # 1. confident detections on an image without faces: false positives for eval_map only
    preds = [dets([face(10, 10), face(60, 10)], [0.8, 0.7]), dets([face(5, 5)], [0.95])]
    targets = [faces([face(10, 10), face(60, 10)]), faces([])]
    official, voc = both(preds, targets)
    assert official == pytest.approx(1.0) and voc == pytest.approx(2 / 3)
    # 2. tiny faces found one pixel off: IoU 0.5 with the +1 pixel convention, 1/3 without
    preds = [dets([[11, 10, 13, 12], [31, 30, 33, 32]], [0.9, 0.8])]
    targets = [faces([[10, 10, 12, 12], [30, 30, 32, 32]])]
    official, voc = both(preds, targets)
    assert official == pytest.approx(1.0) and voc == 0.0
    # 3. a true positive scored just above a false one, in the same 1/1000 threshold bin
    # [0.500, 0.501): eval_map sees the true one alone first, the official curve cannot
    preds = [
        dets(
            [face(10, 10), face(60, 10), face(100, 100), face(200, 200)], [1.0, 0.5004, 0.5003, 0.0]
        )
    ]
    targets = [faces([face(10, 10), face(60, 10)])]
    official, voc = both(preds, targets)
    assert voc == pytest.approx(1.0) and official == pytest.approx(0.5 + 0.5 * 2 / 3)


# -- the face detection task ----------------------------------------------------------------------
def test_face_detection_declares_and_computes_it():
    from gefu.tasks import create_task
    from gefu.tasks.scoring import build, decode, encode

    task = create_task("face_detection", metric="darkface_official")
    assert [m.name for m in task.metrics()] == [METRIC]
    assert not task.metrics()[0].lower_better
    assert task.spec()["metric"] == "darkface_official" and task.spec()["iou_thr"] is None
    consistency = create_task("face_consistency", metric="darkface_official")
    assert [m.name for m in consistency.metrics()] == [METRIC]
    preds, targets = as_inputs(CASES["cases"]["basic"])
    records = [{"pred": p, "target": t} for p, t in zip(preds, targets, strict=True)]
    expected = CASES["cases"]["basic"]["official"]["ap"]
    assert task.compute(records) == {METRIC: pytest.approx(expected, abs=1e-6)}
    # the store's per-image records (as the runner keeps them) re-aggregate to the same value
    assert task.scoring() == {"kind": "darkface_official"}
    stored = [decode(encode(task.scoring(), r)) for r in records]
    assert all(scoring == task.scoring() for scoring, _ in stored)
    agg = build(task.scoring(), [str(i) for i in range(len(stored))], [r for _, r in stored])
    assert isinstance(agg, Reaggregator)
    assert agg.values(np.ones((1, len(stored))))[METRIC][0] == pytest.approx(expected, abs=1e-6)
    with pytest.raises(ValueError, match="fixes IoU 0.5"):
        create_task("face_detection", metric="darkface_official", iou_thr=0.7)
    with pytest.raises(ValueError, match="use the face_detection evaluation"):
        create_task(
            "detection", model={"family": "mmdet", "config": "x.py"}, metric="darkface_official"
        )
