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

import importlib.util
import json
from pathlib import Path
from typing import Any

from gefu.tasks.frozen import checkpoint_available, file_sha256, load_once, resolve_checkpoint

SHIPPED_PREFIX = "mmdet::"


def shipped_configs_dir() -> Path:
    """``<mmdet>/.mim/configs`` (found without importing mmdet)."""
    spec = importlib.util.find_spec("mmdet")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("mmdet is not installed (see README, 'Install')")
    return Path(next(iter(spec.submodule_search_locations))) / ".mim" / "configs"


def resolve_config(config: str | Path) -> Path:
    """A config file: ``config`` itself, or a config shipped with mmdet named relative to its
    configs folder (``"yolo/yolov3_d53_8xb8-ms-608-273e_coco.py"``, ``mmdet::`` prefix allowed)."""
    path = Path(config).expanduser()
    if path.is_file():
        return path
    name = str(config).removeprefix(SHIPPED_PREFIX)
    shipped = shipped_configs_dir() / name
    if shipped.is_file():
        return shipped
    raise FileNotFoundError(
        f"mmdet config {config!r} is neither a file nor a config shipped with mmdet "
        f"(looked in {shipped.parent})"
    )


INSTALL_OPENMMLAB = "`make install-openmmlab` (builds mmcv 2.1 from source; see README, 'Install')"


def mmdet_available() -> str | None:
    """None if mmdet (with mmcv's compiled ops) can be used, else why not."""
    for module in ("mmdet", "mmengine", "mmcv"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed: {INSTALL_OPENMMLAB}"
    return None


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in ("mmdet", "mmcv", "mmengine", "pycocotools"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "absent"
    return out


def config_digest(config: str | Path, cfg_options: dict | None = None) -> str:
    """Hash of the fully resolved config (``_base_`` files included)."""
    from mmengine.config import Config

    from gefu.tasks.frozen import short_hash

    cfg = Config.fromfile(str(resolve_config(config)))
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return short_hash(json.dumps(cfg.to_dict(), sort_keys=True, default=str))


NO_WEIGHTS = "no checkpoint given (allow_random_weights: true runs random weights, for smoke tests)"


class MMDetSource:
    """Where a frozen mmdet detector comes from: config, checkpoint, config overrides."""

    def __init__(self, config: str, checkpoint, cfg_options, allow_random_weights: bool):
        self.config, self.checkpoint = config, checkpoint
        self.cfg_options = {k: yaml_tuples(v) for k, v in (cfg_options or {}).items()}
        self.allow_random_weights = allow_random_weights
        self._config_digest: str | None = None
        if mmdet_available() is None:
            resolve_config(config)  # a wrong name fails now, with the folder it looked in

    @property
    def random_weights(self) -> bool:
        if not self.allow_random_weights:
            return False
        return not self.checkpoint or checkpoint_available(self.checkpoint) is not None

    def unavailable(self) -> str | None:
        missing = mmdet_available()
        if missing or self.allow_random_weights:
            return missing
        return checkpoint_available(self.checkpoint) if self.checkpoint else NO_WEIGHTS

    def spec(self) -> dict[str, Any]:
        random = self.random_weights
        if self._config_digest is None and mmdet_available() is None:
            self._config_digest = config_digest(self.config, self.cfg_options)
        return {
            "library": "mmdet",
            "config": self.config,
            "config_hash": self._config_digest,
            "cfg_options": self.cfg_options,
            "checkpoint": self.checkpoint,
            "checkpoint_sha256": None if random else file_sha256(self.checkpoint),
            "random_weights": random,
            "versions": versions(),
        }

    def load(self, device: str):
        checkpoint = None if self.random_weights else resolve_checkpoint(self.checkpoint)
        config = str(resolve_config(self.config))
        options = json.dumps(self.cfg_options, sort_keys=True, default=str)
        key = ("mmdet", config, options, str(checkpoint), device)
        return load_once(key, lambda: MMDetDetector(config, checkpoint, device, self.cfg_options))


class MMDetDetector:
    """A frozen mmdet detector. ``classes``: the names of its labels, from the checkpoint's
    metadata, else the config's test dataset. Without a checkpoint the weights are random
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
        from mmengine.config import Config
        from mmengine.model import revert_sync_batchnorm
        from mmengine.registry import DefaultScope, init_default_scope
        from mmengine.runner import load_checkpoint

        cfg = Config.fromfile(str(resolve_config(config)))
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
        self.scope = cfg.get("default_scope", "mmdet") or "mmdet"
        init_default_scope(self.scope)
        with DefaultScope.overwrite_default_scope(self.scope):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                model = revert_sync_batchnorm(MODELS.build(cfg.model))
            meta_classes = None
            if checkpoint is not None:
                meta = load_checkpoint(model, str(checkpoint), map_location="cpu").get("meta", {})
                dataset_meta = {k.lower(): v for k, v in meta.get("dataset_meta", {}).items()}
                meta_classes = dataset_meta.get("classes") or meta.get("CLASSES")
            self.classes = tuple(meta_classes or config_classes(cfg))
            n_model = head_classes(model)
            if n_model is not None and n_model != len(self.classes):
                raise ValueError(
                    f"mmdet model predicts {n_model} classes but its class names list "
                    f"{len(self.classes)}: give the config's test dataset a metainfo with "
                    "its classes, or use a checkpoint that stores them"
                )
            pipeline = [
                step
                for step in get_test_pipeline_cfg(cfg)
                if not str(step["type"]).endswith("LoadAnnotations")
            ]
            pipeline[0] = {"type": "mmdet.LoadImageFromNDArray"}
            self.pipeline = Compose(pipeline)
        model.cfg = cfg
        self.model = model.to(device).eval()

    def predict(self, images) -> list[dict[str, Any]]:
        """``images``: ``[B,3,H,W]`` RGB in [0,1] -> per image ``boxes`` [N,4] (x1,y1,x2,y2 in
        input pixels), ``scores`` [N], ``labels`` [N] (indices into ``classes``), numpy."""
        import numpy as np
        import torch
        from mmengine.registry import DefaultScope

        bgr = (images.detach().flip(1).float() * 255).permute(0, 2, 3, 1).cpu().numpy()
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


def yaml_tuples(value):
    """Lists of numbers as tuples: YAML has no tuples, and mmdet wants them for sizes such as
    ``Resize.scale`` (``"test_dataloader.dataset.pipeline.1.scale": [320, 320]``)."""
    if isinstance(value, list | tuple) and value and all(isinstance(v, int | float) for v in value):
        return tuple(value)
    if isinstance(value, dict):
        return {k: yaml_tuples(v) for k, v in value.items()}
    return value
