"""Face detection evaluations: MTCNN (weights inside facenet-pytorch) on scikit-image's
astronaut, the consistency evaluation, DARK FACE through the runner."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from gefu.bench.config import validate_config
from gefu.bench.runner import Runner
from gefu.bench.store import Store
from gefu.datasets.base import Sample
from gefu.tasks import TASKS, create_task
from gefu.tasks.faces import FaceConsistency, FaceDetection

pytest.importorskip("facenet_pytorch")
pytest.importorskip("mmdet")  # VOC AP goes through mmdet's eval_map

FACE = [181.0, 62.0, 268.0, 172.0]  # where the astronaut's face is (x1, y1, x2, y2)


class FakeDataset:
    def __init__(self, paired=False, task=None, classes=()):
        self.paired, self.task, self.classes = paired, task, classes


@pytest.fixture(scope="module")
def astronaut() -> torch.Tensor:
    from skimage import data

    return torch.from_numpy(data.astronaut()).permute(2, 0, 1).float() / 255


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_registered():
    assert TASKS.get("face_detection") is FaceDetection
    assert TASKS.get("face_consistency") is FaceConsistency
    assert [m.name for m in create_task("face_detection").metrics()] == ["mAP50"]
    assert [m.name for m in create_task("face_consistency", metric="coco").metrics()] == [
        "mAP",
        "mAP50",
        "mAP75",
    ]
    with pytest.raises(ValueError, match="unknown model family 'haar'.*darknet, mmdet"):
        FaceDetection(model={"family": "haar"})
    with pytest.raises(ValueError, match="model.config: required by model family 'mmdet'"):
        FaceDetection(model={"family": "mmdet"})
    with pytest.raises(ValueError, match="model.min_face: unknown option of model family 'mtc"):
        FaceDetection(model={"family": "mtcnn", "min_face": 10})
    assert FaceDetection(model={"family": "mtcnn", "min_face_size": 12}).model.min_face_size == 12


def test_mtcnn_finds_the_astronaut_and_nothing_in_the_dark(astronaut):
    task = FaceDetection()
    task.setup("cpu")
    bright, dark = task.predictor.predict(torch.stack([astronaut, astronaut * 0.08]))
    assert len(bright["scores"]) == 1 and bright["scores"][0] > 0.99
    assert iou(bright["boxes"][0].tolist(), FACE) > 0.8
    assert len(dark["scores"]) == 0 and dark["boxes"].shape == (0, 4)
    tiny = task.predictor.predict(torch.rand(1, 3, 12, 12))  # smaller than any face it looks for
    assert tiny[0]["boxes"].shape == (0, 4)


def test_face_consistency_on_the_task_directly(astronaut):
    task = FaceConsistency()
    assert task.incompatible(FakeDataset(paired=False)).startswith("needs a paired dataset")
    assert task.incompatible(FakeDataset(paired=True)) is None
    task.setup("cpu")
    dark = astronaut * 0.08
    sample = [Sample("astronaut.png", dark, reference=astronaut)]
    as_reference = task.process(astronaut[None], sample)  # the reference itself: perfect
    assert len(as_reference[0]["target"]["boxes"]) == 1
    assert task.compute(as_reference) == {"mAP50": pytest.approx(1.0)}
    as_dark = task.process(dark[None], sample)  # the dark input: the face is lost
    assert task.compute(as_dark) == {"mAP50": 0.0}
    # the reference was predicted once and then served from the cache
    assert len(task.references) == 1
    assert task.metrics()[0].uses_reference and not task.metrics()[0].lower_better


def test_face_detection_needs_a_face_dataset():
    task = FaceDetection()
    assert "face detection dataset" in task.incompatible(FakeDataset(task="segmentation"))
    assert "only class is 'face'" in task.incompatible(
        FakeDataset(task="detection", classes=("Car",))
    )
    assert task.incompatible(FakeDataset(task="detection", classes=("face",))) is None
    spec = task.spec()
    assert spec["model"]["library"] == "facenet-pytorch" and spec["metric"] == "voc"
    assert spec["voc_mode"] == "area" and spec["iou_thr"] == 0.5


def write_darkface(root, astronaut) -> None:
    """``image/N.png`` + ``label/N.txt``: the astronaut dark (8%) and half-dark, at 256x256."""
    img = torch.nn.functional.interpolate(astronaut[None], size=(256, 256), mode="area")[0]
    (root / "image").mkdir(parents=True)
    (root / "label").mkdir()
    face = " ".join(f"{v / 2:g}" for v in FACE)
    for n, scale in ((1, 0.08), (2, 0.5)):
        arr = (img * scale).permute(1, 2, 0).numpy()
        Image.fromarray((arr * 255 + 0.5).astype(np.uint8)).save(root / "image" / f"{n}.png")
        (root / "label" / f"{n}.txt").write_text(f"1\n{face}\n")


def test_face_detection_through_the_runner(tmp_path, astronaut):
    write_darkface(tmp_path / "darkface", astronaut)
    config = {
        "name": "faces",
        "output": str(tmp_path / "results"),
        "device": "cpu",
        "batch_size": 2,
        "enhancers": [{"name": "identity"}, {"name": "gamma", "params": {"gamma": 0.3}}],
        "datasets": [{"name": "darkface", "root": str(tmp_path / "darkface")}],
        "evaluations": [{"name": "face_detection"}],
    }
    outcome = Runner(validate_config(config), quiet=True).run()
    assert not outcome.failed and len(outcome.computed) == 2
    board = (tmp_path / "results" / "leaderboard.md").read_text()
    assert "mAP50" in board
    with Store(tmp_path / "results") as store:
        rows = {
            c.enhancer: {m["metric"]: m["value"] for m in store.cell_metrics(c.key)}["mAP50"]
            for c in outcome.computed
        }
    # identity finds the half-dark face only; brightening with gamma 0.3 finds both
    assert rows["identity"] == pytest.approx(0.5) and rows["gamma"] == pytest.approx(1.0)


def test_mmdet_face_detector_with_random_weights(astronaut):
    """The GEFU protocol's shape: a one-class ("face") YOLOv3 through the mmdet adapter."""
    task = FaceDetection(
        model={
            "family": "mmdet",
            "config": "yolo/yolov3_d53_8xb8-ms-608-273e_coco.py",
            "allow_random_weights": True,
            "cfg_options": {
                "model.bbox_head.num_classes": 1,
                "test_dataloader.dataset.metainfo": {"classes": ["face"]},
                "test_dataloader.dataset.pipeline.1.scale": [160, 160],
            },
        }
    )
    assert task.spec()["model"]["random_weights"] is True
    task.setup("cpu")
    assert task.predictor.classes == ("face",)
    target = {"boxes": torch.tensor([FACE]) / 4, "labels": torch.tensor([0])}
    small = torch.nn.functional.interpolate(astronaut[None], size=(128, 128), mode="area")
    records = task.process(small, [Sample("a.png", small[0], target=target)])
    value = task.compute(records)["mAP50"]
    assert 0.0 <= value <= 1.0 and not math.isnan(value)
