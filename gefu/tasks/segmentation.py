"""Semantic segmentation by a frozen MMSegmentation model: ``segmentation`` scores it against
the dataset's masks, ``segmentation_consistency`` against its own prediction on the reference.

Scores are mmseg's (``IoUMetric``): per image, ``intersect_and_union`` counts the pixels of
each class in the intersection, union, prediction and label; the dataset's totals then go
through ``IoUMetric.total_area_to_metrics``. So mIoU is a dataset-level value, not a mean over
images: classes absent from both the labels and the predictions (IoU 0/0) are left out of the
mean, as in mmseg. Values are percentages, unrounded (mmseg rounds to 2 decimals); counts are
summed in float64 (mmseg sums float32, which rounds past 2**24 pixels per class).

Both tasks report no per-image scores: mean per-image IoU is a different statistic from the
dataset's mIoU, and bootstrapping it would give intervals for the wrong number.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from gefu.datasets.cityscapes_ids import TRAIN_CLASSES
from gefu.tasks import register_task
from gefu.tasks.base import MetricInfo, Task
from gefu.tasks.frozen import checkpoint_available, file_sha256, load_once, resolve_checkpoint
from gefu.tasks.mmseg_model import MMSegModel, config_digest, mmseg_missing

AREAS = ("area_intersect", "area_union", "area_pred_label", "area_label")
NO_CHECKPOINT = (
    "no checkpoint given: set `checkpoint` (a path or URL), or `allow_random_weights: true` "
    "for a smoke test"
)


def _version(dist: str) -> str | None:
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def area_counts(pred, label, num_classes: int, ignore_index: int) -> dict[str, Any]:
    """mmseg's per-image pixel counts per class, as float64 CPU tensors."""
    from mmseg.evaluation.metrics import IoUMetric

    if pred.shape != label.shape:
        raise ValueError(f"prediction is {tuple(pred.shape)} but the label {tuple(label.shape)}")
    areas = IoUMetric.intersect_and_union(pred, label.to(pred.device), num_classes, ignore_index)
    return {name: a.double() for name, a in zip(AREAS, areas, strict=True)}


def iou_scores(records: list[dict[str, Any]], classes: tuple[str, ...]) -> dict[str, float]:
    """aAcc, mIoU, mAcc and ``IoU/<class>`` (percent) from per-image area counts."""
    import warnings

    import numpy as np
    from mmseg.evaluation.metrics import IoUMetric

    rows = [r for r in records if AREAS[0] in r]
    if not rows:
        return {}
    totals = [sum(r[name] for r in rows) for name in AREAS]
    scores = IoUMetric.total_area_to_metrics(*totals, metrics=["mIoU"])
    with warnings.catch_warnings():  # every class absent: the mean is NaN, not a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        out = {
            "mIoU": float(np.nanmean(scores["IoU"]) * 100),
            "mAcc": float(np.nanmean(scores["Acc"]) * 100),
            "aAcc": float(scores["aAcc"] * 100),
        }
    out.update({f"IoU/{c}": float(v * 100) for c, v in zip(classes, scores["IoU"], strict=True)})
    return out


class _MMSegTask(Task):
    libraries = ("mmsegmentation", "mmcv", "mmengine")
    """What both evaluations share: the frozen model, its availability and its spec."""

    def __init__(self, config, checkpoint, cfg_options, allow_random_weights):
        self.config = str(config)
        self.checkpoint = None if checkpoint is None else str(checkpoint)
        self.cfg_options = dict(cfg_options or {})
        self.allow_random_weights = bool(allow_random_weights)
        self._model: MMSegModel | None = None
        self._setup_error: str | None = None
        self._config_hash: str | None = None

    def _unavailable(self) -> str | None:
        """Why no metric can be computed (checked without any download), or None."""
        missing = mmseg_missing()
        if missing or self._setup_error:
            return missing or self._setup_error
        if self.allow_random_weights or self._model is not None:
            return None
        return NO_CHECKPOINT if self.checkpoint is None else checkpoint_available(self.checkpoint)

    def _random_weights(self) -> bool:
        return self.checkpoint is None or (
            self.allow_random_weights and checkpoint_available(self.checkpoint) is not None
        )

    def spec(self) -> dict[str, Any]:
        if self._config_hash is None and mmseg_missing() is None:
            # a config that cannot be read fails in setup, with its own message
            with contextlib.suppress(Exception):
                self._config_hash = config_digest(self.config, self.cfg_options)
        random = self._random_weights()
        return {
            "task": self.registry_name,
            "config": self.config,
            "config_hash": self._config_hash,
            "cfg_options": self.cfg_options,
            "checkpoint": self.checkpoint,
            "checkpoint_sha256": None if random else file_sha256(self.checkpoint),
            "random_weights": random,
            "versions": {d: _version(d) for d in ("mmsegmentation", "mmcv", "mmengine")},
        }

    def setup(self, device: str) -> None:
        """Load the model once per process (shared by evaluations naming the same one).
        Downloads a checkpoint URL where the network allows; offline, the metrics become
        unavailable with the reason rather than failing the run."""
        if mmseg_missing() or self._model is not None:
            return
        checkpoint = None
        if not self._random_weights():
            try:
                checkpoint = str(resolve_checkpoint(self.checkpoint))
            except FileNotFoundError as exc:
                self._setup_error = str(exc)
                return
        elif not self.allow_random_weights:
            return  # no checkpoint and no permission to run a random model: unavailable
        options = json.dumps(self.cfg_options, sort_keys=True)
        self._model = load_once(
            ("mmseg", self.config, checkpoint, device, options),
            lambda: MMSegModel(self.config, checkpoint, device, self.cfg_options),
        )

    def _ready(self, enhanced) -> bool:
        if self._model is None and self._setup_error is None:
            self.setup(str(enhanced.device))
        return self._model is not None


@register_task("segmentation")
class Segmentation(_MMSegTask):
    """A frozen mmseg model scored against the dataset's label masks: mIoU (primary), mAcc,
    aAcc and IoU per class (``IoU/<class>``), percentages as mmseg reports them.

    ``config``: a config file, or one shipped in mmseg (``mmseg/.mim/configs``), by relative
    path or file name. ``checkpoint``: a path or URL. ``classes``: what the model predicts and
    the masks' train ids index (default: Cityscapes' 19); a dataset with other classes is
    incompatible. ``cfg_options``: mmseg's ``--cfg-options`` overrides, e.g.
    ``{"model.test_cfg.mode": "whole", "test_pipeline.1.scale": [1024, 512]}`` (they change
    the protocol and are part of the spec; pipeline overrides go to ``test_pipeline``, which
    is what mmseg's inference API reads, not ``test_dataloader``). Images without a mask (an
    unlabelled split such as ACDC test) are an error naming the image: a score over part of a
    batch would be silently biased; unlabelled splits are rejected up front where the reader
    says it has no labels."""

    def __init__(
        self,
        config: str,
        checkpoint: str | None = None,
        classes: list[str] | None = None,
        ignore_index: int = 255,
        cfg_options: dict | None = None,
        allow_random_weights: bool = False,
    ):
        super().__init__(config, checkpoint, cfg_options, allow_random_weights)
        self.classes = tuple(str(c) for c in classes) if classes else TRAIN_CLASSES
        self.ignore_index = int(ignore_index)

    def metrics(self, dataset=None) -> list[MetricInfo]:
        why = self._unavailable()
        names = ["mIoU", "mAcc", "aAcc", *(f"IoU/{c}" for c in self.classes)]
        return [MetricInfo(name, False, why) for name in names]

    def spec(self) -> dict[str, Any]:
        return {**super().spec(), "classes": list(self.classes), "ignore_index": self.ignore_index}

    def incompatible(self, dataset) -> str | None:
        if getattr(dataset, "task", None) != "segmentation":
            return f"not a segmentation dataset (its task is {getattr(dataset, 'task', None)})"
        if getattr(dataset, "labelled", True) is False:
            return f"split {getattr(dataset, 'split', '?')!r} has no label masks"
        ds_classes = tuple(getattr(dataset, "classes", ()) or ())
        if ds_classes and ds_classes != self.classes:
            return (
                f"the dataset's {len(ds_classes)} classes differ from the evaluation's "
                f"{len(self.classes)} (set `classes` to the model's label set)"
            )
        return None

    def setup(self, device: str) -> None:
        super().setup(device)
        if self._model is not None and self._model.num_classes != len(self.classes):
            n = self._model.num_classes
            self._model = None
            raise ValueError(
                f"segmentation: the model predicts {n} classes but `classes` lists "
                f"{len(self.classes)}"
            )

    def process(self, enhanced, samples) -> list[dict[str, Any]]:
        unlabelled = [s.name for s in samples if s.target is None]
        if unlabelled:
            raise ValueError(
                f"segmentation: no label mask for {', '.join(unlabelled[:5])}: evaluate a "
                "labelled split (or use segmentation_consistency on a paired set)"
            )
        if not self._ready(enhanced):
            return [{} for _ in samples]
        preds = self._model.predict(enhanced)
        rows = []
        for pred, sample in zip(preds, samples, strict=True):
            try:
                rows.append(area_counts(pred, sample.target, len(self.classes), self.ignore_index))
            except ValueError as exc:
                raise ValueError(f"segmentation: {sample.name}: {exc}") from None
        return rows

    def compute(self, records: list[dict[str, Any]]) -> dict[str, float]:
        scores = iou_scores(records, self.classes)
        return {m.name: scores.get(m.name, math.nan) for m in self.metrics()}


@register_task("segmentation_consistency")
class SegmentationConsistency(_MMSegTask):
    """Label-free segmentation on a paired set: the target is the same frozen model's label
    map on the normal-light reference, every pixel and class counted. mIoU (primary) and
    aAcc, percentages. Reference maps are predicted once per run and cached by sample name
    and the reference's content hash, so every enhancer is compared with the same target."""

    def __init__(
        self,
        config: str,
        checkpoint: str | None = None,
        cfg_options: dict | None = None,
        allow_random_weights: bool = False,
    ):
        super().__init__(config, checkpoint, cfg_options, allow_random_weights)
        self._references: dict[tuple[str, str], Any] = {}

    def metrics(self, dataset=None) -> list[MetricInfo]:
        why = self._unavailable()
        return [MetricInfo(name, False, why, uses_reference=True) for name in ("mIoU", "aAcc")]

    def incompatible(self, dataset) -> str | None:
        if not getattr(dataset, "paired", False):
            return "needs a paired dataset (the target is the prediction on the reference)"
        return None

    def _reference_maps(self, samples) -> list[Any]:
        import torch

        keys = [(s.name, _content_hash(s.reference)) for s in samples]
        todo = [i for i, k in enumerate(keys) if k not in self._references]
        dtype = torch.uint8 if self._model.num_classes <= 256 else torch.int32
        by_size: dict[tuple, list[int]] = {}
        for i in todo:  # batched by size: references need not share one
            by_size.setdefault(tuple(samples[i].reference.shape), []).append(i)
        for group in by_size.values():
            refs = torch.stack([samples[i].reference for i in group])
            for i, pred in zip(group, self._model.predict(refs), strict=True):
                self._references[keys[i]] = pred.to("cpu", dtype)  # compact: kept all run
        return [self._references[k] for k in keys]

    def process(self, enhanced, samples) -> list[dict[str, Any]]:
        missing = [s.name for s in samples if s.reference is None]
        if missing:
            raise ValueError(f"segmentation_consistency: no reference for {missing[0]}")
        if not self._ready(enhanced):
            return [{} for _ in samples]
        targets = self._reference_maps(samples)
        preds = self._model.predict(enhanced)
        n = self._model.num_classes
        return [
            area_counts(pred, target.long(), n, ignore_index=-1)  # no label is -1: count all
            for pred, target in zip(preds, targets, strict=True)
        ]

    def compute(self, records: list[dict[str, Any]]) -> dict[str, float]:
        n = len(records[0][AREAS[0]]) if records and AREAS[0] in records[0] else 0
        scores = iou_scores(records, tuple(str(i) for i in range(n)))
        return {m.name: scores.get(m.name, math.nan) for m in self.metrics()}


def _content_hash(image) -> str:
    return hashlib.sha256(image.detach().cpu().contiguous().numpy().tobytes()).hexdigest()
