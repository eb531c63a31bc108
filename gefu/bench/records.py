"""Per-image records of the dataset-level metrics, as the store keeps them.

mAP and mIoU are not means over images, so their intervals come from resampling images and
re-aggregating the per-image inputs of the library's computation: detection predictions and
targets (boxes, scores, labels), segmentation pixel counts (mmseg's intersection / union /
prediction / label areas per class). The runner stores those parts of each image's record as a
compressed ``.npz`` blob; records of other kinds are not kept (their per-image scores are).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

DETECTION, SEGMENTATION = "detection", "segmentation"
AREAS = ("area_intersect", "area_union", "area_pred_label", "area_label")
BOX_KEYS = {"pred": ("boxes", "scores", "labels"), "target": ("boxes", "labels", "ignore")}


def kind(record: dict[str, Any]) -> str | None:
    """Which dataset-level computation a task's per-image record feeds, or None."""
    if isinstance(record.get("pred"), dict) and isinstance(record.get("target"), dict):
        return DETECTION
    if all(name in record for name in AREAS):
        return SEGMENTATION
    return None


def _array(value) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def encode(record: dict[str, Any]) -> bytes | None:
    """The re-aggregation inputs of one record as ``.npz`` bytes, or None for other kinds."""
    found = kind(record)
    if found is None:
        return None
    arrays: dict[str, np.ndarray] = {}
    if found == DETECTION:
        for part, keys in BOX_KEYS.items():
            for key in keys:
                if record[part].get(key) is not None:
                    arrays[f"{part}.{key}"] = _array(record[part][key])
    else:
        arrays.update({name: _array(record[name]).astype(np.float64) for name in AREAS})
    buf = io.BytesIO()
    np.savez_compressed(buf, kind=np.array(found), **arrays)
    return buf.getvalue()


def decode(blob: bytes) -> tuple[str, dict[str, Any]]:
    """``(kind, record)``: the record rebuilt in the shape the task produced (nested for
    detection), as numpy arrays."""
    with np.load(io.BytesIO(blob), allow_pickle=False) as data:
        found = str(data["kind"])
        if found == DETECTION:
            record: dict[str, Any] = {"pred": {}, "target": {}}
            for name in data.files:
                if "." in name:
                    part, key = name.split(".", 1)
                    record[part][key] = data[name]
            return found, record
        if found == SEGMENTATION:
            return found, {name: data[name] for name in AREAS}
    raise ValueError(f"unknown per-image record kind {found!r}")


def encode_all(names: list[str], records: list[dict[str, Any]]) -> list[tuple[str, bytes]]:
    """``(image, blob)`` for every record of a kind the report can re-aggregate."""
    out = []
    for name, record in zip(names, records, strict=True):
        blob = encode(record)
        if blob is not None:
            out.append((name, blob))
    return out
