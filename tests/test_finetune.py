"""``finetune_detection`` end to end on CPU: a tiny YOLOv3 (MobileNetV2 x0.25 backbone, built
from mmdet's shipped config with random weights) fine-tuned for a few iterations per row and
seed on generated labelled images, through the benchmark runner and MMEngine's Runner."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("mmdet")

from gefu.bench.config import validate_config  # noqa: E402
from gefu.bench.runner import Runner  # noqa: E402
from gefu.bench.store import Store  # noqa: E402
from gefu.tasks.scoring import decode  # noqa: E402

TINY = {
    "model.backbone.widen_factor": 0.25,
    "model.neck.in_channels": [80, 24, 8],
    "model.neck.out_channels": [16, 16, 16],
    "model.bbox_head.in_channels": [16, 16, 16],
    "model.bbox_head.out_channels": [32, 32, 32],
}
RECIPE = {
    "epochs": 2,
    "batch_size": 2,
    "lr": 0.01,
    "warmup_iters": 1,
    "milestones": [1],
    # one scale, no expand/crop: a sum-reduced YOLO loss is comparable across iterations
    # (the resume test runs the published augmentations)
    "train_scales": [[96, 96], [96, 96]],
    "expand_ratio": None,
    "min_ious": None,
    "test_scale": [96, 96],
    "num_workers": 0,
    "log_interval": 1,
    "log_level": "WARNING",
}
CLASSES = ("square", "bar")


def write_set(root, n_train=4, n_test=2, size=96):
    """Dark noisy images with bright squares and bars, COCO JSON per split."""
    from PIL import Image

    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    for split, n in (("train", n_train), ("test", n_test)):
        images, anns = [], []
        for i in range(n):
            img = rng.uniform(0, 0.08, (size, size, 3))
            name = f"{split}{i}.png"
            for label, (w, h) in enumerate(((24, 24), (36, 12))):
                x, y = rng.integers(4, size - 40, 2)
                img[y : y + h, x : x + w] = rng.uniform(0.3, 0.6, 3)
                anns.append(
                    {
                        "id": len(anns) + 1,
                        "image_id": i + 1,
                        "category_id": label + 1,
                        "bbox": [int(x), int(y), w, h],
                        "area": w * h,
                        "iscrowd": 0,
                    }
                )
            Image.fromarray((img * 255).astype(np.uint8)).save(root / "images" / name)
            images.append({"id": i + 1, "file_name": name, "width": size, "height": size})
        cats = [{"id": i + 1, "name": c} for i, c in enumerate(CLASSES)]
        doc = {"images": images, "annotations": anns, "categories": cats}
        (root / f"{split}.json").write_text(json.dumps(doc))
    return root


def evaluation(**extra):
    return {
        "name": "finetune_detection",
        "id": "ft",
        "params": {
            "config": "yolo/yolov3_mobilenetv2_8xb24-320-300e_coco.py",
            "allow_random_weights": True,
            "cfg_options": TINY,
            "train": {"annotations": "train.json", "split": "train"},
            "recipe": RECIPE,
        },
        **extra,
    }


def bench(tmp_path, root):
    return validate_config(
        {
            "name": "ft",
            "output": str(tmp_path / "results"),
            "device": "cpu",
            "batch_size": 4,
            "samples": 0,
            "enhancers": [{"name": "identity"}],
            "datasets": [
                {
                    "name": "coco_detection",
                    "root": str(root),
                    "params": {"annotations": "test.json", "split": "test"},
                }
            ],
            "evaluations": [evaluation(seeds=[0, 1])],
        }
    )


def test_finetune_cells_end_to_end(tmp_path):
    import torch

    root = write_set(tmp_path / "set")
    config = bench(tmp_path, root)
    outcome = Runner(config, quiet=True).run()
    assert not outcome.failed, [e for _, e in outcome.failed]
    assert len(outcome.computed) == 2  # 1 row x 2 seeds, each a cell of its own
    folder = tmp_path / "results" / "finetune"
    # the enhanced training split: once per row, shared by both seeds
    assert len(list((folder / "data").iterdir())) == 1
    runs = sorted((folder / "runs").iterdir())
    assert len(runs) == 2 and all((r / "done.json").is_file() for r in runs)
    with Store(tmp_path / "results") as store:
        for cell in outcome.computed:
            records = store.image_records(cell.key)
            assert [name for name, _ in records] == ["test0.png", "test1.png"]
            scoring, record = decode(records[0][1])
            assert scoring["kind"] == "voc" and record["target"]["boxes"].shape == (2, 4)
            metrics = {r["metric"]: r["value"] for r in store.cell_metrics(cell.key)}
            assert np.isfinite(metrics["mAP50"])
    # the loss goes down over the fine-tune; seeds give distinct models
    weights = {}
    for run in runs:
        scalars = next(run.rglob("scalars.json")).read_text().splitlines()
        losses = [json.loads(line)["loss"] for line in scalars if '"loss"' in line]
        assert len(losses) == 4 and losses[-1] < losses[0]
        ckpt = run / json.loads((run / "done.json").read_text())["checkpoint"]
        weights[run.name] = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]
    first, second = weights.values()
    assert any(not torch.equal(first[k], second[k]) for k in first)
    # a second run recomputes nothing; the report has the seed section
    again = Runner(bench(tmp_path, root), quiet=True).run()
    assert not again.computed and len(again.cached) == 2
    text = (tmp_path / "results" / "leaderboard.md").read_text()
    assert "## Across seeds: coco_detection · ft" in text


def test_killed_finetune_resumes_to_the_same_weights(tmp_path, monkeypatch):
    import torch
    from mmengine.runner import EpochBasedTrainLoop

    from gefu.bench.finetune_data import enhanced_split
    from gefu.bench.rows import ReferenceRow
    from gefu.datasets import create_dataset
    from gefu.tasks import create_task
    from gefu.tasks.finetune import finetune

    root = write_set(tmp_path / "set")
    params = evaluation()["params"]
    augment = {
        "train_scales": [[64, 64], [96, 96]],
        "expand_ratio": [1, 2],
        "min_ious": [0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
    }
    task = create_task("finetune_detection", **params | {"recipe": RECIPE | augment})
    test_set = create_dataset("coco_detection", root=root, annotations="test.json")
    assert task.incompatible(test_set) is None
    task.bind(test_set)
    task.setup("cpu")

    class Input(ReferenceRow):  # the un-enhanced input
        def __call__(self, batch):
            return torch.stack([s.image for s in batch]), 0.0

    train = create_dataset("coco_detection", root=root, annotations="train.json")
    data = enhanced_split(Input("cpu"), train, "k", tmp_path / "data", 4, log=lambda _: None)
    full = finetune(task, data, tmp_path / "full")

    run_epoch = EpochBasedTrainLoop.run_epoch

    def killed(loop):
        if loop.epoch == 1:
            raise KeyboardInterrupt("killed")
        run_epoch(loop)

    monkeypatch.setattr(EpochBasedTrainLoop, "run_epoch", killed)
    with pytest.raises(KeyboardInterrupt):
        finetune(task, data, tmp_path / "killed")
    assert not (tmp_path / "killed" / "done.json").exists()
    monkeypatch.setattr(EpochBasedTrainLoop, "run_epoch", run_epoch)
    resumed = finetune(task, data, tmp_path / "killed")
    a = torch.load(full, map_location="cpu", weights_only=True)["state_dict"]
    b = torch.load(resumed, map_location="cpu", weights_only=True)["state_dict"]
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)


def test_dry_run_prints_the_plan_and_runs_nothing(tmp_path, capsys):
    import yaml

    from gefu.cli.main import main

    root = write_set(tmp_path / "set")
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(bench(tmp_path, root).model_dump(mode="json")))
    assert main(["run", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "2 cell(s): 2 to compute, 0 cached" in out
    assert "fine-tune ft@seed0 on coco_detection: training split" in out
    assert "(4 images), seed 0, 4 iterations" in out  # 2 epochs x 4 images / batch 2
    assert "  lr: 0.01" in out and "  milestones: [1]" in out
    assert "2 fine-tune(s) (1 row(s) x seeds x datasets), 8 iterations, 8 to run" in out
    assert not (tmp_path / "results").exists()
