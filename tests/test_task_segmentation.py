"""Segmentation evaluations: mIoU parity with a hand count and with mmseg's IoUMetric, real
mmseg configs (random weights) end to end through the runner, and reference consistency."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import write_photo
from gefu.bench.config import validate_config
from gefu.bench.runner import Runner
from gefu.bench.store import Store
from gefu.datasets.base import Sample
from gefu.tasks import TASKS, create_task

pytest.importorskip("mmseg")
from gefu.tasks.mmseg_model import MMSegSegmenter  # noqa: E402
from gefu.tasks.openmmlab import resolve_config  # noqa: E402
from gefu.tasks.segmentation import Segmentation, SegmentationConsistency  # noqa: E402

DEEPLAB = "deeplabv3plus_r18-d8_4xb2-80k_cityscapes-512x1024"  # whole inference
SEGFORMER = "segformer/segformer_mit-b0_8xb1-160k_cityscapes-1024x1024.py"  # slide, 1024 crops
NATIVE_SIZE = {"test_pipeline.1.scale": [128, 64]}  # no upscaling to 2048x1024 (test speed)


def mmseg(config: str, **options) -> dict:
    """The evaluation's nested model spec for an mmseg segmenter."""
    return {"family": "mmseg", "config": config, **options}


class FixedModel:
    """Stands in for the mmseg model: returns preset label maps, counts images predicted."""

    def __init__(self, maps, num_classes):
        self.maps, self.num_classes, self.device, self.seen = list(maps), num_classes, "cpu", 0

    def predict(self, images):
        self.seen += len(images)
        return torch.stack([torch.as_tensor(self.maps.pop(0)) for _ in images])


def with_fixed_model(task, maps, num_classes):
    task.predictor = FixedModel(maps, num_classes)
    return task


# Image A (3 classes, one ignored pixel) and image B, counted by hand:
#   class 0: intersection 1+1, prediction 2+2, label 2+1 -> IoU 2/5, Acc 2/3
#   class 1: intersection 3+0, prediction 4+0, label 3+1 -> IoU 3/5, Acc 3/4
#   class 2: intersection 1,   prediction 1 (the ignored pixel is not counted), label 2
#            -> IoU 1/2, Acc 1/2;  class 3: never present -> NaN, left out of the means
LABELS = [np.array([[0, 0, 1, 1], [2, 2, 255, 1]]), np.array([[0, 1]])]
PREDS = [np.array([[0, 1, 1, 1], [2, 0, 2, 1]]), np.array([[0, 0]])]
HAND = {"mIoU": 100 * 1.5 / 3, "mAcc": 100 * 23 / 36, "aAcc": 100 * 6 / 9}


def run_fixed(task, labels=LABELS, preds=PREDS):
    with_fixed_model(task, preds, len(task.classes))
    records = []
    for label in labels:
        h, w = label.shape
        sample = Sample("x.png", torch.zeros(3, h, w), target=torch.as_tensor(label))
        records += task.process(torch.zeros(1, 3, h, w), [sample])
    return task.compute(records)


def test_miou_equals_hand_count_and_mmseg_iou_metric():
    from mmseg.evaluation.metrics import IoUMetric

    task = Segmentation(mmseg(DEEPLAB), classes=["a", "b", "c", "d"])
    scores = run_fixed(task)
    for name, value in HAND.items():
        assert scores[name] == pytest.approx(value)
    assert scores["IoU/a"] == pytest.approx(40) and scores["IoU/c"] == pytest.approx(50)
    assert math.isnan(scores["IoU/d"])

    metric = IoUMetric(ignore_index=255)  # mmseg's own evaluator on the same maps
    metric.dataset_meta = {"classes": ["a", "b", "c", "d"]}
    metric.process(
        {},
        [
            {
                "pred_sem_seg": {"data": torch.as_tensor(p)[None]},
                "gt_sem_seg": {"data": torch.as_tensor(g)[None]},
            }
            for p, g in zip(PREDS, LABELS, strict=True)
        ],
    )
    theirs = metric.compute_metrics(metric.results)
    assert {k: round(scores[k], 2) for k in HAND} == pytest.approx(theirs)


def test_two_class_confusion_matrix():
    label = np.array([[0, 0, 0, 1], [1, 1, 0, 1]])
    pred = np.array([[0, 1, 0, 1], [1, 0, 0, 1]])
    confusion = np.zeros((2, 2), int)
    np.add.at(confusion, (label.ravel(), pred.ravel()), 1)  # [[3, 1], [1, 3]]
    iou = np.diag(confusion) / (confusion.sum(0) + confusion.sum(1) - np.diag(confusion))
    scores = run_fixed(
        Segmentation(mmseg(DEEPLAB), classes=["x", "y"]),
        [label],
        [pred],
    )
    assert scores["mIoU"] == pytest.approx(100 * iou.mean()) == pytest.approx(60)
    assert scores["aAcc"] == pytest.approx(75)


def test_unlabelled_images_and_wrong_sizes_are_errors_naming_the_image():
    task = with_fixed_model(Segmentation(mmseg(DEEPLAB)), [np.zeros((2, 2))], 19)
    with pytest.raises(ValueError, match="no label mask for night_07.png"):
        task.process(torch.zeros(1, 3, 2, 2), [Sample("night_07.png", None)])
    bad = Sample("b.png", None, target=torch.zeros(3, 3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"b.png: prediction is \(2, 2\) but the label"):
        task.process(torch.zeros(1, 3, 2, 2), [bad])


def test_availability_compatibility_and_spec(tmp_path):
    assert TASKS.get("segmentation") is Segmentation
    plain = create_task("segmentation", model=mmseg(DEEPLAB))
    infos = plain.metrics()
    assert [m.name for m in infos[:4]] == ["mIoU", "mAcc", "aAcc", "IoU/road"]
    reasons = {m.unavailable for m in infos}
    assert len(infos) == 3 + 19 and len(reasons) == 1 and reasons.pop().startswith("no checkpoint")
    url = "https://download.openmmlab.com/x/not_here_0123.pth"
    offline = Segmentation(mmseg(DEEPLAB, checkpoint=url)).metrics()[0].unavailable
    assert "not downloaded yet: not_here_0123.pth" in offline
    smoke = Segmentation(mmseg(DEEPLAB, checkpoint=url, allow_random_weights=True))
    assert smoke.metrics()[0].unavailable is None
    spec = smoke.spec()
    assert (
        spec["model"]["random_weights"] is True
        and spec["model"]["versions"]["mmsegmentation"] == "1.2.2"
    )
    assert len(spec["model"]["config_hash"]) == 64
    over = Segmentation(mmseg(DEEPLAB, cfg_options={"model.test_cfg.mode": "slide"}))
    assert over.spec()["model"]["config_hash"] != spec["model"]["config_hash"]

    acdc = acdc_fixture(tmp_path, n=1)
    from gefu.datasets.segmentation import ACDCNight

    assert plain.incompatible(ACDCNight(acdc, split="val")) is None
    assert "no label masks" in plain.incompatible(ACDCNight(acdc, split="test"))
    assert "not a segmentation dataset" in plain.incompatible(object())
    other = Segmentation(mmseg(DEEPLAB), classes=["a", "b"])
    assert "differ" in other.incompatible(ACDCNight(acdc, split="val"))
    assert "paired" in SegmentationConsistency(mmseg(DEEPLAB)).incompatible(object())


def test_config_names_resolve_inside_mmseg():
    assert resolve_config("mmseg", DEEPLAB).name == DEEPLAB + ".py"
    assert resolve_config("mmseg", SEGFORMER).parent.name == "segformer"
    with pytest.raises(FileNotFoundError, match="not found"):
        resolve_config("mmseg", "no_such_model_config")


def acdc_fixture(root, n=3, size=(64, 128)):
    """ACDC-night layout: images, train-id masks (0-18, a few 255) and an unlabelled test split."""
    rng = np.random.default_rng(0)
    for split in ("val", "test"):
        for i in range(n):
            stem = f"GOPR0351_frame_{i:06d}"
            write_photo(
                root / f"rgb_anon/night/{split}/GOPR0351/{stem}_rgb_anon.png",
                size,
                seed=i,
                scale=0.3,
            )
            if split == "val":
                ids = rng.integers(0, 19, size).astype(np.uint8)
                ids[:4] = 255
                path = root / f"gt/night/{split}/GOPR0351/{stem}_gt_labelTrainIds.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(ids, mode="L").save(path)
    return root


def bench(tmp_path, dataset, evaluations, enhancers=("identity", "gamma")):
    return validate_config(
        {
            "name": "seg",
            "output": str(tmp_path / "results"),
            "device": "cpu",
            "batch_size": 2,
            "enhancers": [{"name": e} for e in enhancers],
            "datasets": [dataset],
            "evaluations": evaluations,
        }
    )


def test_real_configs_end_to_end_through_the_runner(tmp_path):
    root = acdc_fixture(tmp_path / "acdc", n=2)
    evaluations = [
        {
            "name": "segmentation",
            "id": "deeplabv3plus_r18",  # the config's whole inference
            "params": {"model": mmseg(DEEPLAB, cfg_options=NATIVE_SIZE, allow_random_weights=True)},
        },
        {
            "name": "segmentation",
            "id": "segformer_b0",  # slide: 3 windows of 64x64 per image
            "params": {
                "model": mmseg(
                    SEGFORMER,
                    allow_random_weights=True,
                    cfg_options={
                        **NATIVE_SIZE,
                        "model.test_cfg.crop_size": [64, 64],
                        "model.test_cfg.stride": [48, 48],
                    },
                ),
            },
        },
    ]
    dataset = {"name": "acdc_night", "root": str(root), "params": {"split": "val"}}
    runner = Runner(bench(tmp_path, dataset, evaluations), quiet=True)
    outcome = runner.run()
    assert not outcome.failed and len(outcome.computed) == 4  # 2 enhancers x 2 models
    assert runner.tasks["deeplabv3plus_r18"].predictor.test_mode == "whole"
    assert runner.tasks["segformer_b0"].predictor.test_mode == "slide"
    with Store(tmp_path / "results") as store:
        for cell in outcome.computed:
            values = {r["metric"]: r["value"] for r in store.cell_metrics(cell.key)}
            assert 0 <= values["mIoU"] <= 100 and 0 <= values["aAcc"] <= 100
            assert "IoU/traffic light" in values and store.cell(cell.key)["n_images"] == 2
    board = (tmp_path / "results" / "leaderboard.md").read_text()
    assert "mIoU" in board and "segformer_b0" in board


def test_consistency_predicts_each_reference_once(tmp_path, paired_dir, monkeypatch):
    calls = []
    predict = MMSegSegmenter.predict
    monkeypatch.setattr(
        MMSegSegmenter, "predict", lambda self, x: calls.append(len(x)) or predict(self, x)
    )
    params = {"model": mmseg(SEGFORMER, allow_random_weights=True, cfg_options=NATIVE_SIZE)}
    evaluations = [{"name": "segmentation_consistency", "params": params}]
    dataset = {"name": "paired_folder", "root": str(paired_dir)}
    runner = Runner(bench(tmp_path, dataset, evaluations), quiet=True)
    outcome = runner.run()
    assert not outcome.failed and len(outcome.computed) == 3  # identity, gamma, reference
    assert sum(calls) == 4 + 3 * 4  # 4 references once, then 4 images per row
    task = runner.tasks["segmentation_consistency"]
    assert len(task.references) == 4
    with Store(tmp_path / "results") as store:
        rows = {
            c.enhancer: {r["metric"]: r["value"] for r in store.cell_metrics(c.key)}
            for c in outcome.computed
        }
    assert rows["reference"]["mIoU"] is None  # trivial: the reference against itself
    assert all(0 <= rows[e]["mIoU"] <= 100 for e in ("identity", "gamma"))


def test_consistency_scores_against_the_reference_prediction():
    task = SegmentationConsistency(mmseg(DEEPLAB))
    ref_map, same, half = np.zeros((2, 2)), np.zeros((2, 2)), np.array([[0, 0], [1, 1]])
    with_fixed_model(task, [ref_map, same, half], num_classes=3)
    samples = [Sample("a.png", None, reference=torch.zeros(3, 2, 2))]
    first = task.process(torch.zeros(1, 3, 2, 2), samples)
    assert task.compute(first) == {"mIoU": pytest.approx(100), "aAcc": pytest.approx(100)}
    second = task.process(torch.ones(1, 3, 2, 2), samples)  # the reference map is cached
    assert task.predictor.seen == 3
    # class 0: intersection 2, union 4 -> 50; class 1: 0 / 2 -> 0; class 2 absent
    assert task.compute(second) == {"mIoU": pytest.approx(25), "aAcc": pytest.approx(50)}
