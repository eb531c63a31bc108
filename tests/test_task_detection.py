"""MMDetection evaluations: real configs shipped with mmdet, random weights, on CPU; end to end
through the runner on an ExDark-format fixture."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from conftest import write_photo
from gefu.bench.config import validate_config
from gefu.bench.runner import Runner
from gefu.bench.store import Store
from gefu.datasets.base import Sample
from gefu.tasks import TASKS, create_task
from gefu.tasks.detection import Detection, DetectionConsistency

pytest.importorskip("mmdet")
pytest.importorskip("mmcv.ops")

YOLO = "yolo/yolov3_d53_8xb8-ms-608-273e_coco.py"
FASTER_RCNN = "faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py"
RETINANET = "retinanet/retinanet_r18_fpn_1x_coco.py"  # random weights give finite boxes
# Test-size overrides (the config's own pipeline, at a smaller scale; YAML lists are fine).
SMALL = {"test_dataloader.dataset.pipeline.1.scale": [160, 160]}
SMALL_RCNN = {**SMALL, "model.test_cfg.rpn.max_per_img": 100}


def mmdet(config: str, **options) -> dict:
    """The evaluation's nested model spec for an mmdet detector."""
    return {"family": "mmdet", "config": config, **options}


class FakeDataset:
    def __init__(self, task="detection", classes=("a", "b"), paired=False):
        self.task, self.classes, self.paired = task, classes, paired


def test_registered_and_validated():
    assert TASKS.get("detection") is Detection
    assert TASKS.get("detection_consistency") is DetectionConsistency
    with pytest.raises(ValueError, match="coco, voc"):
        Detection(mmdet(YOLO), metric="kitti")
    with pytest.raises(ValueError, match="unknown class_map"):
        Detection(mmdet(YOLO), class_map="exdark_to_voc")
    with pytest.raises(FileNotFoundError, match="neither a file nor a config shipped"):
        Detection(mmdet("yolo/no_such_config.py"))
    with pytest.raises(ValueError, match="voc_mode"):
        Detection(mmdet(YOLO), metric="voc", voc_mode="12points")


def test_metric_names_primary_first_per_class_after():
    coco = create_task("detection", model=mmdet(YOLO, allow_random_weights=True))
    assert [m.name for m in coco.metrics(FakeDataset())] == [
        "mAP",
        "mAP50",
        "mAP75",
        "AP/a",
        "AP/b",
    ]
    voc = Detection(mmdet(YOLO, allow_random_weights=True), metric="voc")
    assert [m.name for m in voc.metrics(FakeDataset())] == ["mAP50", "AP50/a", "AP50/b"]
    assert all(not m.lower_better and m.unavailable is None for m in voc.metrics())
    consistency = DetectionConsistency(mmdet(YOLO, allow_random_weights=True))
    assert [m.name for m in consistency.metrics()] == ["mAP", "mAP50", "mAP75"]
    assert all(m.uses_reference for m in consistency.metrics())


def test_missing_weights_make_metrics_unavailable_without_downloading(tmp_path):
    url = "https://example.invalid/models/never_downloaded_detector.pth"
    task = Detection(mmdet(YOLO, checkpoint=url))
    reasons = {m.unavailable for m in task.metrics(FakeDataset())}
    assert len(reasons) == 1 and "not downloaded yet" in reasons.pop()
    assert "not downloaded yet" in task.incompatible(FakeDataset())
    assert not list(tmp_path.iterdir())
    assert Detection(mmdet(YOLO)).metrics()[0].unavailable.startswith("no checkpoint given")
    missing = Detection(mmdet(YOLO, checkpoint=str(tmp_path / "nope.pth")))
    assert "checkpoint not found" in missing.metrics()[0].unavailable
    spec = Detection(
        mmdet(YOLO, checkpoint=str(tmp_path / "nope.pth"), allow_random_weights=True)
    ).spec()
    assert spec["model"]["random_weights"] is True and spec["model"]["config_hash"]
    assert spec["model"]["versions"]["mmdet"].startswith("3.")


def test_incompatible_datasets():
    task = Detection(mmdet(YOLO, allow_random_weights=True))
    assert "needs a detection dataset" in task.incompatible(FakeDataset(task="segmentation"))
    assert task.incompatible(FakeDataset(classes=("a", "b"))) is None
    assert task.incompatible(FakeDataset(classes=("c",))) is None  # a question binds nothing
    task.bind(FakeDataset(classes=("a", "b")))
    assert task.eval_classes() == ("a", "b")
    assert "declare a second" in task.incompatible(FakeDataset(classes=("c",)))
    with pytest.raises(ValueError, match="declare a second"):
        task.bind(FakeDataset(classes=("c",)))
    consistency = DetectionConsistency(mmdet(YOLO, allow_random_weights=True))
    assert "paired" in consistency.incompatible(FakeDataset(paired=False))


def test_adapter_matches_mmdet_inference_detector():
    """Our batched in-memory path gives what mmdet's own inference gives on the same image."""
    from mmdet.apis import inference_detector

    task = Detection(mmdet(RETINANET, allow_random_weights=True, cfg_options=SMALL))
    task.setup("cpu")
    detector = task.predictor
    images = torch.rand(2, 3, 48, 64, generator=torch.Generator().manual_seed(0))
    ours = detector.predict(images)
    bgr = (images.flip(1) * 255).permute(0, 2, 3, 1).numpy()  # float32 BGR, as we feed it
    for mine, img in zip(ours, bgr):
        theirs = inference_detector(detector.model, img).pred_instances
        assert len(mine["scores"]) == len(theirs.scores) > 0
        np.testing.assert_allclose(mine["boxes"], theirs.bboxes.numpy(), rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(mine["scores"], theirs.scores.numpy(), rtol=1e-4, atol=1e-5)
    assert len(detector.classes) == 80 and detector.classes[0] == "person"


def test_exdark_class_map_keeps_mapped_classes_only():
    from gefu.datasets.class_maps import COCO_CLASSES
    from gefu.datasets.exdark import CLASSES

    task = Detection(
        mmdet(YOLO, allow_random_weights=True),
        class_map="exdark_to_coco",
    )
    assert task.incompatible(FakeDataset(classes=CLASSES)) is None
    task.bind(FakeDataset(classes=CLASSES))
    task.predictor = type("FakeDetector", (), {"classes": COCO_CLASSES})
    pred = {
        "boxes": np.arange(12, dtype=np.float32).reshape(3, 4),
        "scores": np.array([0.9, 0.8, 0.7], np.float32),
        "labels": np.array([0, 2, 13]),  # person -> People, car -> Car, bench -> dropped
    }
    out = task.to_eval(pred)
    assert out["labels"].tolist() == [CLASSES.index("People"), CLASSES.index("Car")]
    assert out["scores"].tolist() == pytest.approx([0.9, 0.8])


def test_consistency_with_the_reference_itself_is_perfect():
    task = DetectionConsistency(mmdet(RETINANET, allow_random_weights=True, cfg_options=SMALL))
    task.setup("cpu")
    reference = torch.rand(3, 48, 64, generator=torch.Generator().manual_seed(1))
    sample = [Sample("x.png", reference * 0.1, reference=reference)]
    same = task.compute(task.process(reference[None], sample))
    assert same["mAP"] == pytest.approx(1.0) and same["mAP50"] == pytest.approx(1.0)
    dark = task.compute(task.process(reference[None] * 0.1, sample))
    assert 0.0 <= dark["mAP50"] < 1.0
    assert len(task.references) == 1  # predicted once, served from the cache after


def write_exdark(root, n=2, size=(64, 64)) -> None:
    """``ExDark/<Class>/<img>``, ``ExDark_Annno/<Class>/<img>.txt``, ``imageclasslist.txt``."""
    from gefu.datasets.exdark import CLASSES

    rows = ["Name Class Light In/Out Train/Val/Test"]
    for i, cls in enumerate(["Bicycle", "Car", "People"][:n]):
        name = f"2015_{i:05d}.png"
        write_photo(root / "ExDark" / cls / name, size, seed=i, scale=0.3)
        ann = root / "ExDark_Annno" / cls / f"{name}.txt"
        ann.parent.mkdir(parents=True, exist_ok=True)
        ann.write_text(f"% bbGt version=3\n{cls} 8 10 30 40 0 0 0 0 0 0 0\n")
        rows.append(f"{name} {CLASSES.index(cls) + 1} 1 2 3")  # light 1, outdoor, test split
    (root / "imageclasslist.txt").write_text("\n".join(rows) + "\n")


def test_yolov3_and_faster_rcnn_end_to_end_through_the_runner(tmp_path):
    write_exdark(tmp_path / "exdark")
    common = {"class_map": "exdark_to_coco"}
    # YOLOv3 with random weights explodes (boxes at +-inf): the metrics must cope with junk
    config = {
        "name": "det",
        "output": str(tmp_path / "results"),
        "device": "cpu",
        "batch_size": 2,
        "enhancers": [{"name": "identity"}],
        "datasets": [{"name": "exdark", "root": str(tmp_path / "exdark")}],
        "evaluations": [
            {
                "name": "detection",
                "id": "yolo",
                "params": {
                    "model": mmdet(YOLO, cfg_options=SMALL, allow_random_weights=True),
                    **common,
                },
            },
            {
                "name": "detection",
                "id": "frcnn",
                "params": {
                    "model": mmdet(FASTER_RCNN, cfg_options=SMALL_RCNN, allow_random_weights=True),
                    "metric": "voc",
                    **common,
                },
            },
        ],
    }
    outcome = Runner(validate_config(config), quiet=True).run()
    assert not outcome.failed, outcome.failed
    assert sorted(c.evaluation for c in outcome.computed) == ["frcnn", "yolo"]
    with Store(tmp_path / "results") as store:
        for cell in outcome.computed:
            metrics = {m["metric"]: m for m in store.cell_metrics(cell.key)}
            primary = "mAP" if cell.evaluation == "yolo" else "mAP50"
            assert metrics[primary]["position"] == 0
            assert 0.0 <= metrics[primary]["value"] <= 1.0
            no_boat = metrics["AP/Boat" if primary == "mAP" else "AP50/Boat"]["value"]
            assert no_boat is None or math.isnan(no_boat)  # no Boat in the fixture: no AP
            assert store.cell(cell.key)["n_images"] == 2
    board = (tmp_path / "results" / "leaderboard.md").read_text()
    assert "mAP50" in board and "mAP" in board
