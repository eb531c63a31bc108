"""The fine-tune recipe matches the published one item by item (MAET yolo_zero_dce.py /
IAT yolo_exdark.py; DARK FACE: MAET maet_yolo_ug2.py), in the defaults, in the shipped configs
and in the MMEngine config it becomes; ``seeds:`` makes one evaluation per seed."""

from __future__ import annotations

import importlib.util

import pytest

from conftest import REPO
from gefu.bench.config import load_config, validate_config
from gefu.core.errors import ConfigError
from gefu.tasks.finetune_recipe import Recipe

# ICCV_MAET configs/MAET_yolo/yolo_zero_dce.py (IAT configs/yolo/yolo_exdark.py: 24 epochs)
EXDARK = {
    "epochs": 25,
    "batch_size": 8,
    "lr": 1e-3,
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "grad_clip": 35.0,
    "warmup_iters": 2000,
    "warmup_ratio": 0.1,
    "milestones": [18, 23],
    "gamma": 0.1,
    "repeat": 1,
    "mean": [0, 0, 0],
    "std": [255, 255, 255],
    "to_rgb": True,
    "expand_ratio": [1, 2],
    "min_ious": [0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
    "min_crop_size": 0.3,
    "train_scales": [[320, 320], [608, 608]],
    "flip": 0.5,
    "test_scale": [608, 608],
    "nms_iou": 0.45,
    "score_thr": 0.05,
    "conf_thr": 0.005,
    "max_per_img": 100,
    "nms_pre": 1000,
    "anchors": None,
}
# ICCV_MAET configs/MAET_yolo/maet_yolo_ug2.py
DARKFACE = {
    **EXDARK,
    "epochs": 20,
    "batch_size": 12,
    "warmup_iters": 0,
    "milestones": [14, 18],
    "repeat": 3,
    "test_scale": [664, 664],
    "nms_iou": 0.55,
    "anchors": [
        [[58, 45], [78, 99], [180, 163]],
        [[15, 31], [32, 25], [29, 59]],
        [[5, 8], [8, 15], [23, 13]],
    ],
}
HAS_MMDET = importlib.util.find_spec("mmdet") is not None


def _published(recipe: Recipe, expected: dict) -> None:
    got = recipe.model_dump()
    for key, value in expected.items():
        assert got[key] == value, key


def test_recipe_defaults_are_maet_exdark():
    _published(Recipe(), EXDARK)


@pytest.mark.parametrize(
    "name, expected",
    [("exdark_finetune_yolov3.yaml", EXDARK), ("darkface_finetune_yolov3.yaml", DARKFACE)],
)
def test_shipped_recipes_match_publication(name, expected):
    config = load_config(REPO / "configs" / "gefu" / name, check_paths=False)
    tuned = [e for e in config.evaluations if e.name == "finetune_detection"]
    assert [e.params["seed"] for e in tuned] == [0, 1, 2]
    assert [e.label for e in tuned] == [f"yolov3-finetuned@seed{s}" for s in (0, 1, 2)]
    for e in tuned:
        _published(Recipe.model_validate(e.params["recipe"]), expected)
        assert e.params["metric"] == "voc" and e.params.get("voc_mode", "area") == "area"
        assert "yolov3_d53_mstrain-608_273e_coco_20210518_115020-a2c3acb8" in e.params["checkpoint"]


def test_unknown_recipe_key_is_an_error():
    with pytest.raises(ValueError, match="epoch"):
        Recipe.model_validate({"epoch": 3})


def _config(**evaluation):
    return {
        "name": "t",
        "enhancers": [{"name": "identity"}],
        "datasets": [{"name": "demo"}],
        "evaluations": [{"name": "finetune_detection", **evaluation}],
    }


def test_seeds_make_one_evaluation_per_seed():
    config = validate_config(_config(seeds=[3, 1]), check_paths=False)
    assert [(e.label, e.params["seed"]) for e in config.evaluations] == [
        ("finetune_detection@seed3", 3),
        ("finetune_detection@seed1", 1),
    ]
    with pytest.raises(ConfigError, match="not both"):
        validate_config(_config(seeds=[0], params={"seed": 1}), check_paths=False)
    with pytest.raises(ConfigError, match="twice"):
        validate_config(_config(seeds=[0, 0]), check_paths=False)


@pytest.mark.skipif(not HAS_MMDET, reason="needs the OpenMMLab stack")
def test_runner_config_is_the_published_recipe(tmp_path):
    from mmengine.config import ConfigDict as Config

    from gefu.tasks import openmmlab
    from gefu.tasks.finetune_recipe import COCO_YOLOV3, YOLOV3_CONFIG, runner_config

    base = openmmlab.read_config("mmdet", YOLOV3_CONFIG)
    classes = tuple(f"c{i}" for i in range(12))
    cfg = runner_config(base, Recipe(), classes, tmp_path, tmp_path / "w", 7, COCO_YOLOV3)
    assert cfg.model.bbox_head.num_classes == 12
    assert (
        cfg.model.bbox_head.anchor_generator.base_sizes
        == base.model.bbox_head.anchor_generator.base_sizes
    )
    pre = cfg.model.data_preprocessor
    assert (pre.mean, pre.std, pre.bgr_to_rgb) == ([0, 0, 0], [255, 255, 255], True)
    steps = {s["type"]: s for s in cfg.train_dataloader.dataset.pipeline}
    assert list(steps) == [
        "LoadImageFromFile",
        "LoadAnnotations",
        "Expand",
        "MinIoURandomCrop",
        "RandomResize",
        "RandomFlip",
        "PackDetInputs",
    ]
    assert steps["Expand"]["ratio_range"] == (1, 2)
    assert steps["MinIoURandomCrop"]["min_ious"] == (0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
    assert steps["MinIoURandomCrop"]["min_crop_size"] == 0.3
    assert steps["RandomResize"]["scale"] == [(320, 320), (608, 608)]
    assert steps["RandomResize"]["keep_ratio"] and steps["RandomFlip"]["prob"] == 0.5
    assert cfg.train_dataloader.batch_size == 8
    opt = cfg.optim_wrapper
    assert opt.optimizer == {"type": "SGD", "lr": 1e-3, "momentum": 0.9, "weight_decay": 5e-4}
    assert opt.clip_grad == {"max_norm": 35.0, "norm_type": 2}
    warm, step = (Config(s) for s in cfg.param_scheduler)
    assert (warm.type, warm.start_factor, warm.by_epoch, warm.end) == ("LinearLR", 0.1, False, 2000)
    assert (step.type, step.milestones, step.gamma, step.by_epoch) == (
        "MultiStepLR",
        [18, 23],
        0.1,
        True,
    )
    assert cfg.train_cfg.max_epochs == 25
    test = cfg.model.test_cfg
    assert (test.nms.iou_threshold, test.score_thr, test.conf_thr, test.max_per_img) == (
        0.45,
        0.05,
        0.005,
        100,
    )
    resize = cfg.test_dataloader.dataset.pipeline[1]
    assert resize["scale"] == (608, 608) and resize["keep_ratio"]
    assert cfg.load_from == COCO_YOLOV3 and cfg.randomness.seed == 7
    dark = runner_config(base, Recipe(**DARKFACE), ("face",), tmp_path, tmp_path / "w", 0, None)
    assert dark.train_dataloader.dataset.type == "RepeatDataset"
    assert dark.train_dataloader.dataset.times == 3
    assert [p["type"] for p in dark.param_scheduler] == ["MultiStepLR"]
    assert dark.model.bbox_head.anchor_generator.base_sizes[2] == [(5, 8), (8, 15), (23, 13)]


def test_dry_run_of_the_shipped_config_prints_the_published_recipe_without_the_data(tmp_path):
    from gefu.bench.dry_run import dry_run

    config = load_config(REPO / "configs/gefu/exdark_finetune_yolov3.yaml", check_paths=False)
    config = config.model_copy(update={"output": str(tmp_path / "out")})
    lines: list[str] = []
    totals = dry_run(config, out=lines.append)
    text = "\n".join(lines)
    for setting in (
        "epochs: 25",
        "batch_size: 8",
        "lr: 0.001",
        "momentum: 0.9",
        "weight_decay: 0.0005",
        "grad_clip: 35.0",
        "warmup_iters: 2000",
        "warmup_ratio: 0.1",
        "milestones: [18, 23]",
        "nms_iou: 0.45",
    ):
        assert f"  {setting}\n" in text + "\n", setting
    assert "not readable here" in text and totals["finetunes"] >= 3  # 3 seeds per row
    assert not (tmp_path / "out").exists()  # a plan writes nothing
