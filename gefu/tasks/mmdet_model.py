"""MMDetection 3.x adapter: build a detector from a config (a path, or a config shipped inside
the mmdet package), load its checkpoint, and predict on an in-memory batch through the model's
own test pipeline.

The enhanced batch replaces only the image loading (``LoadImageFromNDArray`` instead of
``LoadImageFromFile``; ``LoadAnnotations`` dropped): resize, padding and normalisation are the
config's. Images go in as float32 0-255 BGR arrays (what ``LoadImageFromFile`` would give, but
without the 8-bit quantisation), so the enhancer's precision reaches the model. The pipeline runs
on the CPU, as in mmdet's own inference, and the data preprocessor moves the batch to the device.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gefu.tasks import openmmlab


class MMDetModel(openmmlab.OpenMMLabModel):
    """A frozen mmdet detector (options: ``OpenMMLabModel``)."""

    family = package = "mmdet"
    serves = ("detector", "face_detector")
    packages = {"mmdet": "mmdet", **openmmlab.COMMON}

    def build(self, device: str) -> MMDetDetector:
        return MMDetDetector(self.config, self.weights_file(), device, self.cfg_options)


class MMDetDetector:
    """A frozen mmdet detector. ``classes``: the names of its labels, from the checkpoint's
    metadata, else the config's test dataset. Checkpoints load strictly, MMDetection 2.x
    layouts converted (``gefu.tasks.mmdet_checkpoint``). Without a checkpoint the weights are random
    (seeded, so that runs repeat)."""

    def __init__(
        self,
        config: str | Path,
        checkpoint: str | Path | None = None,
        device: str = "cpu",
        cfg_options: dict | None = None,
        seed: int = 0,
    ):
        import torch
        from mmcv.transforms import Compose
        from mmdet.registry import MODELS
        from mmdet.utils import get_test_pipeline_cfg
        from mmengine.model import revert_sync_batchnorm
        from mmengine.registry import DefaultScope, init_default_scope

        import gefu.tasks.mmdet2_yolo  # noqa: F401  (registers YOLOV3HeadMMDet2)
        from gefu.tasks.mmdet_checkpoint import checkpoint_classes, load_into

        cfg = openmmlab.read_config("mmdet", config, cfg_options)
        self.scope = cfg.get("default_scope", "mmdet") or "mmdet"
        init_default_scope(self.scope)
        with DefaultScope.overwrite_default_scope(self.scope):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                model = revert_sync_batchnorm(MODELS.build(cfg.model))
            meta_classes = None
            if checkpoint is not None:  # 2.x files (GEFU's / MAET's fork) converted
                meta_classes = checkpoint_classes(load_into(model, checkpoint))
            self.classes = tuple(meta_classes or config_classes(cfg))
            n_model = head_classes(model)
            if n_model is not None and n_model != len(self.classes):
                raise ValueError(
                    f"mmdet model predicts {n_model} classes but its class names list "
                    f"{len(self.classes)}: give the config's test dataset a metainfo with "
                    "its classes, or use a checkpoint that stores them"
                )
            steps = get_test_pipeline_cfg(cfg)
            self.pipeline = Compose(
                openmmlab.in_memory_pipeline(steps, "mmdet.LoadImageFromNDArray")
            )
        model.cfg = cfg
        self.model = model.to(device).eval()

    def predict(self, images) -> list[dict[str, Any]]:
        """``images``: ``[B,3,H,W]`` RGB in [0,1] -> per image ``boxes`` [N,4] (x1,y1,x2,y2 in
        input pixels), ``scores`` [N], ``labels`` [N] (indices into ``classes``), numpy."""
        import numpy as np
        import torch
        from mmengine.registry import DefaultScope

        bgr = openmmlab.bgr_arrays(images)
        inputs, data_samples = [], []
        with DefaultScope.overwrite_default_scope(self.scope):
            for i, img in enumerate(bgr):
                packed = self.pipeline({"img": np.ascontiguousarray(img), "img_id": i})
                inputs.append(packed["inputs"])
                data_samples.append(packed["data_samples"])
            with torch.no_grad():
                results = self.model.test_step({"inputs": inputs, "data_samples": data_samples})
        return [
            {
                "boxes": r.pred_instances.bboxes.float().cpu().numpy(),
                "scores": r.pred_instances.scores.float().cpu().numpy(),
                "labels": r.pred_instances.labels.cpu().numpy().astype(np.int64),
            }
            for r in results
        ]


def config_classes(cfg) -> tuple[str, ...]:
    """Class names of the config's test dataset: its ``metainfo``, else the dataset type's."""
    from mmdet.registry import DATASETS

    dataset = cfg.get("test_dataloader", {}).get("dataset", {})
    while "metainfo" not in dataset and isinstance(dataset.get("dataset"), dict):
        dataset = dataset["dataset"]  # wrappers (RepeatDataset, ...)
    classes = (dataset.get("metainfo") or {}).get("classes")
    if classes:
        return tuple(classes)
    dataset_cls = DATASETS.get(dataset.get("type", ""))
    if dataset_cls is None or "classes" not in getattr(dataset_cls, "METAINFO", {}):
        raise ValueError(
            "cannot tell the mmdet model's class names: neither the checkpoint nor the config's "
            "test_dataloader.dataset (metainfo or type) names them"
        )
    return tuple(dataset_cls.METAINFO["classes"])


def head_classes(model) -> int | None:
    """``num_classes`` of the detection head (one-stage or two-stage), if it says."""
    for path in ("bbox_head", "roi_head.bbox_head"):
        head = model
        for part in path.split("."):
            head = getattr(head, part, None)
        if head is not None and not hasattr(head, "num_classes") and hasattr(head, "__len__"):
            head = head[-1]  # cascade heads: a ModuleList, one head per stage
        if head is not None and isinstance(getattr(head, "num_classes", None), int):
            return head.num_classes
    return None
