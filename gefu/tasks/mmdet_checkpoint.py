"""Checkpoints of MMDetection 2.x (and of its forks) loaded into an MMDetection 3.x model.

What a 2.x file holds, as written by mmcv 1.x's ``save_checkpoint`` (GEFU's and MAET's fork:
mmdet 2.7.0 on mmcv-full 1.1.6, ``gefu_eval/detection/mmdet``): ``{"meta": {...},
"state_dict": ..., "optimizer": ...}``. ``meta`` has ``mmdet_version`` ("2.7.0" + a git hash),
``mmcv_version``, ``CLASSES`` (GEFU's face sets: ``["Face"]``), ``config`` (the config's text),
``epoch``, ``iter``, ``time``, and from ``tools/train.py`` ``env_info``, ``seed``,
``exp_name``; 3.x files name the classes in ``meta["dataset_meta"]["classes"]`` instead.

The weights: for YOLOv3 (Darknet-53 backbone, ``YOLOV3Neck``, ``YOLOV3Head``) the 2.7 fork's
module names are 3.x's (``backbone.conv_res_block<i>.res<j>.conv1.{conv,bn}``,
``neck.detect<i>.conv<j>``, ``neck.conv<i>``, ``bbox_head.convs_bridge.<i>``,
``bbox_head.convs_pred.<i>``), so those keys map one to one. What does not map, detected from the
keys: DataParallel's ``module.`` prefix (removed), RPN weights for a one-stage detector
(``rpn_head.`` -> ``bbox_head.``, as mmdet 3.x's ``SingleStageDetector`` loading does) and
MAET's degradation branch (``aet.``, the
``MAET_YOLO`` detector's auxiliary head, unused at test time: dropped). mmdet 1.x files (their
class-score layout differs) are refused with the upgrade tool to use. Loading is strict:
weights missing from the file, or left over, are an error naming them, instead of mmengine's
warning and a model that runs with random parts.

Files are read with ``torch.load(weights_only=True)``, numpy scalars allowed (old training
scripts store metrics as numpy values); nothing callable is unpickled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gefu.core.checkpoint import key_mismatch, load_checkpoint

DROPPED_PREFIXES = ("aet.",)  # MAET_YOLO's auxiliary degradation head


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint as ``{"meta": ..., "state_dict": ...}`` (a bare state dict too)."""
    obj = load_checkpoint(path, allow_numpy=True)
    if not isinstance(obj, dict):
        raise ValueError(f"{Path(path).name}: not a checkpoint (a {type(obj).__name__})")
    if isinstance(obj.get("state_dict"), dict):
        return {"meta": dict(obj.get("meta") or {}), "state_dict": dict(obj["state_dict"])}
    return {"meta": {}, "state_dict": dict(obj)}


def convert_state_dict(
    state: dict[str, Any], expected: set[str], meta: dict | None = None
) -> tuple[dict[str, Any], list[str]]:
    """``state`` in the 3.x model's key names (``expected``) and the keys dropped."""
    version = str((meta or {}).get("mmdet_version", ""))
    if version.startswith("1."):
        raise ValueError(
            f"an mmdet {version} checkpoint: upgrade it to 2.x first with MMDetection's "
            "tools/model_converters/upgrade_model_version.py"
        )
    keys = list(state)
    if keys and all(k.startswith("module.") for k in keys):
        state = {k.removeprefix("module."): v for k, v in state.items()}
    heads = {k.split(".")[0] for k in state}
    if (
        "rpn_head" in heads
        and "bbox_head" not in heads
        and "rpn_head" not in {k.split(".")[0] for k in expected}
    ):  # an RPN's weights in a one-stage detector: mmdet 3.x's own loading renames them too
        state = {
            "bbox_head" + k[8:] if k.startswith("rpn_head.") else k: v for k, v in state.items()
        }
    dropped = sorted(k for k in state if k not in expected and k.startswith(DROPPED_PREFIXES))
    state = {k: v for k, v in state.items() if k not in dropped}
    mismatch = key_mismatch(state, expected)
    if mismatch:
        raise ValueError(f"checkpoint does not fit the model: {mismatch}")
    return state, dropped


def checkpoint_classes(meta: dict) -> tuple[str, ...] | None:
    """Class names stored with a checkpoint: 3.x ``dataset_meta``, else 2.x ``CLASSES``."""
    dataset_meta = {k.lower(): v for k, v in (meta.get("dataset_meta") or {}).items()}
    names = dataset_meta.get("classes") or meta.get("CLASSES")
    return tuple(str(n) for n in names) if names else None


def load_into(model, path: str | Path) -> dict[str, Any]:
    """Load a 2.x or 3.x checkpoint into ``model`` (strict, converted); returns its meta."""
    ckpt = read_checkpoint(path)
    expected = set(model.state_dict())
    try:
        state, _ = convert_state_dict(ckpt["state_dict"], expected, ckpt["meta"])
    except ValueError as exc:
        raise ValueError(f"{Path(path).name}: {exc}") from None
    model.load_state_dict(state, strict=True)
    return ckpt["meta"]
