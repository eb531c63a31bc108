"""The fine-tuning recipe of the published fine-tuned-detector protocol, as typed settings, and
the MMEngine config it becomes.

Defaults are MAET's ExDark recipe (``cuiziteng/ICCV_MAET: configs/MAET_yolo/yolo_zero_dce.py``,
the same as IAT's ``configs/yolo/yolo_exdark.py`` but for 24 epochs there): init from the
MMDetection YOLOv3-D53 608 COCO checkpoint; Normalize(mean 0, std 255, to RGB), Expand(1-2),
MinIoURandomCrop, multi-scale resize 320-608 (keep ratio), flip 0.5; batch 8; SGD lr 1e-3,
momentum 0.9, weight decay 5e-4, grad-clip 35; linear warm-up 2000 iterations from 0.1 x lr;
x0.1 at epochs 18 and 23; 25 epochs; test 608 keep-ratio, NMS 0.45, score 0.05, conf 0.005,
100 boxes. Every setting is a key here, so a deviation is a named, visible option.

MMDetection 3.x spellings of the 2.x recipe: ``Resize(img_scale=[a, b])`` (2.x "range"
multi-scale) is ``RandomResize(scale=[a, b])``; ``Normalize`` + ``Pad(32)`` are the model's
``DetDataPreprocessor``; ``lr_config`` is ``LinearLR`` (per iteration) + ``MultiStepLR`` (per
epoch); ``grad_clip`` is the optimizer wrapper's ``clip_grad``.
"""

from __future__ import annotations

import copy
from pathlib import Path

from pydantic import Field

from gefu.core.strict import StrictModel

# MMDetection's zoo checkpoint the publications start from (mmdet 2.x file, loads in 3.x).
COCO_YOLOV3 = (
    "https://download.openmmlab.com/mmdetection/v2.0/yolo/yolov3_d53_mstrain-608_273e_coco/"
    "yolov3_d53_mstrain-608_273e_coco_20210518_115020-a2c3acb8.pth"
)
YOLOV3_CONFIG = "yolo/yolov3_d53_8xb8-ms-608-273e_coco.py"  # shipped inside mmdet 3.x


class Recipe(StrictModel):
    """One fine-tune's settings (defaults: MAET's ExDark recipe)."""

    epochs: int = Field(25, ge=1, description="MAET 25; IAT 24; DARK FACE 20")
    batch_size: int = Field(8, ge=1, description="images per iteration (one GPU)")
    lr: float = Field(1e-3, gt=0)
    momentum: float = 0.9
    weight_decay: float = 5e-4
    grad_clip: float | None = Field(35.0, description="max L2 norm; None: no clipping")
    warmup_iters: int = Field(2000, ge=0, description="linear warm-up, per iteration")
    warmup_ratio: float = Field(0.1, gt=0, le=1, description="warm-up starts at ratio x lr")
    milestones: list[int] = Field([18, 23], description="epochs where lr is multiplied by gamma")
    gamma: float = 0.1
    repeat: int = Field(1, ge=1, description="RepeatDataset times (DARK FACE: 3)")
    # train pipeline
    mean: list[float] = [0.0, 0.0, 0.0]
    std: list[float] = [255.0, 255.0, 255.0]
    to_rgb: bool = True
    expand_ratio: list[float] | None = Field([1.0, 2.0], description="None: no Expand")
    min_ious: list[float] | None = Field(
        [0.4, 0.5, 0.6, 0.7, 0.8, 0.9], description="None: no crop"
    )
    min_crop_size: float = 0.3
    train_scales: list[list[int]] = Field([[320, 320], [608, 608]], description="range, w x h")
    flip: float = Field(0.5, ge=0, le=1)
    # test
    test_scale: list[int] = [608, 608]
    nms_iou: float = 0.45
    score_thr: float = 0.05
    conf_thr: float = 0.005
    max_per_img: int = 100
    nms_pre: int = 1000
    anchors: list[list[list[int]]] | None = Field(None, description="None: the config's (COCO)")
    # machinery (no effect on the numbers on one device with deterministic kernels)
    num_workers: int = Field(2, ge=0, description="data-loading processes")
    log_interval: int = Field(50, ge=1)
    log_level: str = "INFO"


def runner_config(
    base,
    recipe: Recipe,
    classes: tuple[str, ...],
    data: Path,
    work_dir: Path,
    seed: int,
    load_from: str | None,
):
    """The MMEngine ``Config`` of one fine-tune: ``base`` (the detector's config, bases merged)
    with the recipe's data, pipeline, schedule and test settings; ``data``: a folder holding
    ``images/`` and ``annotations.json`` (COCO format, ``gefu.bench.finetune_data``)."""
    r = recipe
    cfg = copy.deepcopy(base)
    # The backbone's ImageNet init (a download) is overwritten by ``load_from``: never fetched.
    cfg.model.backbone.pop("init_cfg", None)
    head = cfg.model.bbox_head
    head.num_classes = len(classes)
    if r.anchors is not None:
        head.anchor_generator.base_sizes = [[tuple(a) for a in level] for level in r.anchors]
    cfg.model.data_preprocessor = dict(
        type="DetDataPreprocessor",
        mean=r.mean,
        std=r.std,
        bgr_to_rgb=r.to_rgb,
        pad_size_divisor=32,
    )
    cfg.model.test_cfg = dict(
        nms_pre=r.nms_pre,
        min_bbox_size=0,
        score_thr=r.score_thr,
        conf_thr=r.conf_thr,
        nms=dict(type="nms", iou_threshold=r.nms_iou),
        max_per_img=r.max_per_img,
    )
    train = [dict(type="LoadImageFromFile"), dict(type="LoadAnnotations", with_bbox=True)]
    if r.expand_ratio is not None:
        train.append(
            dict(type="Expand", mean=r.mean, to_rgb=r.to_rgb, ratio_range=tuple(r.expand_ratio))
        )
    if r.min_ious is not None:
        train.append(
            dict(type="MinIoURandomCrop", min_ious=tuple(r.min_ious), min_crop_size=r.min_crop_size)
        )
    train += [
        dict(type="RandomResize", scale=[tuple(s) for s in r.train_scales], keep_ratio=True),
        dict(type="RandomFlip", prob=r.flip),
        dict(type="PackDetInputs"),
    ]
    test = [
        dict(type="LoadImageFromFile"),
        dict(type="Resize", scale=tuple(r.test_scale), keep_ratio=True),
        dict(type="LoadAnnotations", with_bbox=True),
        dict(
            type="PackDetInputs",
            meta_keys=("img_id", "img_path", "ori_shape", "img_shape", "scale_factor"),
        ),
    ]
    coco = dict(  # the split mmdet reads, train and test alike
        type="CocoDataset",
        data_root=str(data),
        ann_file="annotations.json",
        data_prefix=dict(img="images/"),
        metainfo=dict(classes=tuple(classes)),
    )
    dataset = dict(coco, filter_cfg=dict(filter_empty_gt=True, min_size=0), pipeline=train)
    if r.repeat > 1:
        dataset = dict(type="RepeatDataset", times=r.repeat, dataset=dataset)
    cfg.train_dataloader = dict(
        batch_size=r.batch_size,
        num_workers=r.num_workers,
        persistent_workers=r.num_workers > 0,
        sampler=dict(type="DefaultSampler", shuffle=True),
        batch_sampler=dict(type="AspectRatioBatchSampler"),
        dataset=dataset,
    )
    test_set = dict(coco, test_mode=True, pipeline=test)
    cfg.test_dataloader = dict(
        batch_size=1,
        num_workers=0,
        dataset=test_set,
        sampler=dict(type="DefaultSampler", shuffle=False),
    )
    for key in ("val_dataloader", "val_evaluator", "val_cfg", "test_evaluator", "test_cfg"):
        cfg.pop(key, None)  # scored by the suite (per-image records), not inside training
    cfg.train_cfg = dict(type="EpochBasedTrainLoop", max_epochs=r.epochs, val_interval=r.epochs)
    cfg.optim_wrapper = dict(
        type="OptimWrapper",
        optimizer=dict(type="SGD", lr=r.lr, momentum=r.momentum, weight_decay=r.weight_decay),
        clip_grad=None if r.grad_clip is None else dict(max_norm=r.grad_clip, norm_type=2),
    )
    cfg.param_scheduler = [
        dict(type="MultiStepLR", by_epoch=True, milestones=list(r.milestones), gamma=r.gamma),
    ]
    if r.warmup_iters:
        cfg.param_scheduler.insert(
            0,
            dict(
                type="LinearLR",
                start_factor=r.warmup_ratio,
                by_epoch=False,
                begin=0,
                end=r.warmup_iters,
            ),
        )
    cfg.auto_scale_lr = dict(enable=False, base_batch_size=r.batch_size)
    cfg.default_hooks = dict(
        timer=dict(type="IterTimerHook"),
        logger=dict(type="LoggerHook", interval=r.log_interval),
        param_scheduler=dict(type="ParamSchedulerHook"),
        checkpoint=dict(type="CheckpointHook", interval=1, max_keep_ckpts=1, save_last=True),
        sampler_seed=dict(type="DistSamplerSeedHook"),
    )
    cfg.custom_hooks = []
    cfg.randomness = dict(seed=seed, deterministic=False)
    cfg.work_dir = str(work_dir)
    cfg.load_from = load_from
    cfg.resume = False  # the caller decides (a finished epoch in work_dir: resume)
    cfg.log_level = r.log_level
    cfg.env_cfg = dict(
        cudnn_benchmark=False, mp_cfg=dict(mp_start_method="fork"), dist_cfg=dict(backend="nccl")
    )
    cfg.visualizer = dict(type="DetLocalVisualizer", vis_backends=[dict(type="LocalVisBackend")])
    return cfg
