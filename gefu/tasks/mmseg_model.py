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

import copy
import importlib.util
from pathlib import Path
from typing import Any

_NEEDED = (("mmseg", "mmsegmentation"), ("mmcv", "mmcv"), ("ftfy", "ftfy"), ("regex", "regex"))


def mmseg_missing() -> str | None:
    """Why mmseg cannot be used here (a package is not installed), or None; imports nothing."""
    absent = [pip for module, pip in _NEEDED if importlib.util.find_spec(module) is None]
    if absent:
        missing = ", ".join(absent)
        return f"not installed: {missing}; install with `make install-openmmlab` (see README)"
    return None


def shipped_configs() -> Path:
    """The configs folder inside the installed mmseg package (``mmseg/.mim/configs``)."""
    spec = importlib.util.find_spec("mmseg")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("mmsegmentation is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / ".mim" / "configs"


def resolve_config(config: str) -> Path:
    """A config file from a path, or a config shipped inside mmseg, named relative to its
    configs folder (``segformer/segformer_mit-b0_8xb1-160k_cityscapes-1024x1024.py``) or by
    its file name alone (``.py`` optional)."""
    path = Path(config).expanduser()
    if path.is_file():
        return path
    root = shipped_configs()
    if (root / config).is_file():
        return root / config
    name = path.name if path.suffix == ".py" else f"{path.name}.py"
    found = sorted(root.rglob(name))
    if len(found) == 1:
        return found[0]
    if found:
        shown = ", ".join(str(p.relative_to(root)) for p in found[:5])
        raise FileNotFoundError(f"mmseg config {config!r} is ambiguous: {shown}")
    raise FileNotFoundError(
        f"mmseg config {config!r} not found: not a file, nor a config shipped in {root}"
    )


def config_digest(config: str, cfg_options: dict | None) -> str:
    """Hash of the fully resolved config (bases merged, overrides applied)."""
    import hashlib
    import json

    from mmengine import Config

    cfg = Config.fromfile(str(resolve_config(config)))
    if cfg_options:
        cfg.merge_from_dict(as_tuples(cfg_options))
    text = json.dumps(cfg.to_dict(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def as_tuples(options: dict | None) -> dict | None:
    """Config overrides with lists of numbers as tuples: YAML has no tuples, and mmcv's sizes
    (``Resize.scale``, ``crop_size``) must be tuples."""

    def convert(value):
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            items = [convert(v) for v in value]
            numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in items)
            return tuple(items) if numbers and items else items
        return value

    return None if options is None else convert(copy.deepcopy(options))


class MMSegModel:
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

        path = resolve_config(config)
        # Registries are resolved from the default scope: pin it to mmseg while building, so
        # that an mmdet model loaded in the same process cannot capture our transforms.
        with DefaultScope.overwrite_default_scope("mmseg"), torch.random.fork_rng():
            torch.manual_seed(0)  # a random-weight model is the same model on every run
            model = init_model(
                str(path),
                str(checkpoint) if checkpoint is not None else None,
                device=device,
                cfg_options=as_tuples(cfg_options),
            )
            self.pipeline = Compose(_in_memory_pipeline(model.cfg))
        # SyncBN needs a process group; in eval mode it computes what plain BN computes.
        self.model = revert_sync_batchnorm(model).to(device).eval()
        self.device = device
        head = model.decode_head
        self.num_classes = int(head[-1].num_classes if hasattr(head, "__getitem__") else
                               head.num_classes)  # fmt: skip
        self.test_mode = model.test_cfg.get("mode", "whole")

    def predict(self, images) -> Any:
        """Label maps ``[B,H,W]`` int64 (argmax classes at the input size) for ``images``
        ``[B,3,H,W]`` RGB in [0,1] (any device); the maps are on the model's device."""
        import torch

        bgr = (images.detach().flip(1) * 255).permute(0, 2, 3, 1).float().cpu().numpy()
        inputs, data_samples = [], []
        for array in bgr:
            packed = self.pipeline({"img": array})
            inputs.append(packed["inputs"])
            data_samples.append(packed["data_samples"])
        with torch.inference_mode():
            results = self.model.test_step({"inputs": inputs, "data_samples": data_samples})
        return torch.stack([r.pred_sem_seg.data[0].long() for r in results])


def _in_memory_pipeline(cfg) -> list[dict]:
    """The config's test pipeline with its file loader swapped for the in-memory one and the
    annotation loader dropped (labels are scored outside mmseg's dataset)."""
    steps = cfg.get("test_pipeline") or cfg.test_dataloader.dataset.pipeline
    steps = [copy.deepcopy(dict(s)) for s in steps if s["type"] != "LoadAnnotations"]
    if not steps or not str(steps[0]["type"]).startswith("LoadImage"):
        raise ValueError(
            f"the config's test pipeline starts with {steps[0]['type'] if steps else 'nothing'}, "
            "not an image loader: cannot feed it in-memory images"
        )
    steps[0] = {"type": "LoadImageFromNDArray"}
    return steps
