"""MMSegmentation 1.x segmenters fed in memory: a config and a checkpoint in, label maps out.

The model's own test pipeline is kept (resize, packing; normalisation in its data
preprocessor); only the file loading step is replaced by ``LoadImageFromNDArray``, which is
given the enhanced image as a float32 0-255 BGR array (what mmseg's loaders produce, minus the
uint8 rounding, so the enhancer's precision reaches the model). Inference follows the config's
``test_cfg`` (``whole`` or ``slide``); mmseg resizes the logits back to the input size.

Note: every ``mmseg`` import needs ``ftfy`` and ``regex`` (``mmseg.utils`` imports its CLIP
tokenizer), which mmsegmentation 1.2.2 does not declare.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gefu.tasks import openmmlab


class MMSegModel(openmmlab.OpenMMLabModel):
    """A frozen mmseg segmenter (options: ``OpenMMLabModel``; a shipped config may be named
    by its file name alone)."""

    family = package = "mmseg"
    serves = ("segmenter",)
    packages = {"mmseg": "mmsegmentation", **openmmlab.COMMON, "ftfy": "ftfy", "regex": "regex"}

    def build(self, device: str) -> MMSegSegmenter:
        return MMSegSegmenter(self.config, self.weights_file(), device, self.cfg_options)


class MMSegSegmenter:
    """A frozen mmseg segmenter on ``device``; ``checkpoint=None`` keeps a random init (seed 0)."""

    def __init__(
        self,
        config: str,
        checkpoint: str | Path | None,
        device: str,
        cfg_options: dict | None = None,
    ):
        import torch
        from mmengine.dataset import Compose
        from mmengine.model import revert_sync_batchnorm
        from mmengine.registry import DefaultScope
        from mmseg.apis import init_model

        path = openmmlab.resolve_config("mmseg", config)
        # Registries are resolved from the default scope: pin it to mmseg while building, so
        # that an mmdet model loaded in the same process cannot capture our transforms.
        with DefaultScope.overwrite_default_scope("mmseg"), torch.random.fork_rng():
            torch.manual_seed(0)  # a random-weight model is the same model on every run
            model = init_model(
                str(path),
                str(checkpoint) if checkpoint is not None else None,
                device=device,
                cfg_options=openmmlab.yaml_tuples(cfg_options),
            )
            steps = model.cfg.get("test_pipeline") or model.cfg.test_dataloader.dataset.pipeline
            self.pipeline = Compose(openmmlab.in_memory_pipeline(steps))
        # SyncBN needs a process group; in eval mode it computes what plain BN computes.
        self.model = revert_sync_batchnorm(model).to(device).eval()
        self.device = device
        head = model.decode_head
        self.num_classes = int(
            head[-1].num_classes if hasattr(head, "__getitem__") else head.num_classes
        )
        self.test_mode = model.test_cfg.get("mode", "whole")

    def predict(self, images) -> Any:
        """Label maps ``[B,H,W]`` int64 (argmax classes at the input size) for ``images``
        ``[B,3,H,W]`` RGB in [0,1] (any device); the maps are on the model's device."""
        import torch

        bgr = openmmlab.bgr_arrays(images)
        inputs, data_samples = [], []
        for array in bgr:
            packed = self.pipeline({"img": array})
            inputs.append(packed["inputs"])
            data_samples.append(packed["data_samples"])
        with torch.inference_mode():
            results = self.model.test_step({"inputs": inputs, "data_samples": data_samples})
        return torch.stack([r.pred_sem_seg.data[0].long() for r in results])
