"""Segmentation: a frozen segmenter scored by mmseg's IoU; ``segmentation`` against the
dataset's masks, ``segmentation_consistency`` against its own prediction on the reference.

The segmenter is ``model: {family: <name>, ...}``, any ``gefu.tasks.FAMILIES`` family that
serves "segmenter", with that family's options: ``mmseg``, any MMSegmentation model from
``config`` + ``checkpoint`` (``gefu.tasks.mmseg_model``); ``refinenet``, the
RefineNet-ResNet-101 of GEFU's / CIConv's evaluators with their inference (``size``,
``scales``, ``flip``, ``normalize``; ``gefu.tasks.refinenet_model``). A segmenter that
scores at its own size (RefineNet: 360x640) resizes the label mask to it as its evaluator does
(``fit_label``).

Scores are mmseg's (``IoUMetric``): per image, ``intersect_and_union`` counts the pixels of
each class in the intersection, union, prediction and label; the dataset's totals then go
through ``IoUMetric.total_area_to_metrics``. So mIoU is a dataset-level value, not a mean over
images: classes absent from both the labels and the predictions (IoU 0/0) are left out of the
mean, as in mmseg (``absent_classes: zero`` counts them as 0 instead, as GEFU's and CIConv's
``iouCalc`` does). Values are percentages, unrounded (mmseg rounds to 2 decimals); counts are
summed in float64 (mmseg sums float32, which rounds past 2**24 pixels per class).

Both tasks report no per-image scores: mean per-image IoU is a different statistic from the
dataset's mIoU, and bootstrapping it would give intervals for the wrong number.
"""

from __future__ import annotations

import math
from typing import Any

from gefu.datasets.cityscapes_ids import TRAIN_CLASSES
from gefu.tasks.base import MetricInfo
from gefu.tasks.downstream import DownstreamTask, specialise

ABSENT = ("skip", "zero")
AREAS = ("area_intersect", "area_union", "area_pred_label", "area_label")


def area_counts(pred, label, num_classes: int, ignore_index: int) -> dict[str, Any]:
    """mmseg's per-image pixel counts per class, as float64 CPU tensors."""
    from mmseg.evaluation.metrics import IoUMetric

    if pred.shape != label.shape:
        raise ValueError(f"prediction is {tuple(pred.shape)} but the label {tuple(label.shape)}")
    areas = IoUMetric.intersect_and_union(pred, label.to(pred.device), num_classes, ignore_index)
    return {name: a.double() for name, a in zip(AREAS, areas, strict=True)}


def iou_scores(
    records: list[dict[str, Any]], classes: tuple[str, ...], absent: str = "skip"
) -> dict[str, float]:
    """aAcc, mIoU, mAcc and ``IoU/<class>`` (percent) from per-image area counts; ``absent``:
    classes with an empty union are left out of mIoU ("skip", mmseg) or count as 0 ("zero")."""
    import warnings

    import numpy as np
    from mmseg.evaluation.metrics import IoUMetric

    rows = [r for r in records if AREAS[0] in r]
    if not rows:
        return {}
    totals = [sum(r[name] for r in rows) for name in AREAS]
    scores = IoUMetric.total_area_to_metrics(*totals, metrics=["mIoU"])
    if absent == "zero":
        scores["IoU"] = np.nan_to_num(np.asarray(scores["IoU"], dtype=np.float64), nan=0.0)
    with warnings.catch_warnings():  # every class absent: the mean is NaN, not a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        out = {
            "mIoU": float(np.nanmean(scores["IoU"]) * 100),
            "mAcc": float(np.nanmean(scores["Acc"]) * 100),
            "aAcc": float(scores["aAcc"] * 100),
        }
    out.update({f"IoU/{c}": float(v * 100) for c, v in zip(classes, scores["IoU"], strict=True)})
    return out


class Segmentation(DownstreamTask):
    """A frozen segmenter (module doc) scored against the dataset's label
    masks (target "labels"): mIoU (primary), mAcc, aAcc and IoU per class (``IoU/<class>``),
    percentages as mmseg reports them; or against its own label map on the normal-light
    reference (target "reference", ``segmentation_consistency``): mIoU (primary) and aAcc,
    every pixel and class counted.

    ``model``: ``{family: mmseg, config: ..., checkpoint: ..., cfg_options: ...}``: ``config``
    a config file, or one shipped in mmseg (``mmseg/.mim/configs``), by relative path or file
    name; ``checkpoint`` a path or URL. ``classes`` (labels): what the model
    predicts and the masks' train ids index (default: Cityscapes' 19); a dataset with other
    classes is incompatible. ``cfg_options``: mmseg's ``--cfg-options`` overrides, e.g.
    ``{"model.test_cfg.mode": "whole", "test_pipeline.1.scale": [1024, 512]}`` (they change
    the protocol and are part of the spec; pipeline overrides go to ``test_pipeline``, which
    is what mmseg's inference API reads, not ``test_dataloader``). Images without a mask (an
    unlabelled split such as ACDC test) are an error naming the image: a score over part of a
    batch would be silently biased; unlabelled splits are rejected up front where the reader
    says it has no labels. ``model: {family: refinenet, checkpoint: ...}``: GEFU's
    RefineNet-R101 (options ``size``, ``scales``, ``flip``, ``normalize``). ``absent_classes``
    (labels): "skip" (mmseg) or "zero" (GEFU / CIConv), how mIoU treats a class with no pixel
    in the labels or the predictions."""

    model_kind = "segmenter"
    libraries = ("mmsegmentation", "mmcv", "mmengine")
    label_options = ("classes", "ignore_index", "absent_classes")
    defaults = {
        "classes": {"labels": TRAIN_CLASSES},
        "ignore_index": {"labels": 255},
        "absent_classes": {"labels": "skip"},
    }

    def __init__(
        self,
        model: dict[str, Any],
        classes: list[str] | None = None,
        ignore_index: int | None = None,
        absent_classes: str | None = None,
    ):
        options = self.target_options(
            classes=classes or None, ignore_index=ignore_index, absent_classes=absent_classes
        )
        if options["absent_classes"] not in (None, *ABSENT):
            raise ValueError(f"absent_classes must be one of {', '.join(ABSENT)}")
        self.attach(self.frozen_model(model))
        self.classes = tuple(str(c) for c in options["classes"] or ())
        ignore = options["ignore_index"]
        self.ignore_index = None if ignore is None else int(ignore)
        self.absent = options["absent_classes"] or "skip"

    def metrics(self, dataset=None) -> list[MetricInfo]:
        why = self.unavailable()
        if self.consistency:
            return [MetricInfo(name, False, why, uses_reference=True) for name in ("mIoU", "aAcc")]
        names = ["mIoU", "mAcc", "aAcc", *(f"IoU/{c}" for c in self.classes)]
        return [MetricInfo(name, False, why) for name in names]

    def spec(self) -> dict[str, Any]:
        if self.consistency:
            return super().spec()
        return {
            **super().spec(),
            "classes": list(self.classes),
            "ignore_index": self.ignore_index,
            "absent_classes": self.absent,
        }

    def labels_incompatible(self, dataset) -> str | None:
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
        n = self.predictor.num_classes if self.predictor is not None else None
        if n is not None and not self.consistency and n != len(self.classes):
            self.predictor = None
            raise ValueError(
                f"segmentation: the model predicts {n} classes but `classes` lists "
                f"{len(self.classes)}"
            )

    def scoring(self) -> dict[str, Any]:
        return {"kind": "segmentation", "absent": self.absent}

    def process(self, enhanced, samples) -> list[dict[str, Any]]:
        if not self.consistency:
            unlabelled = [s.name for s in samples if s.target is None]
            if unlabelled:
                raise ValueError(
                    f"segmentation: no label mask for {', '.join(unlabelled[:5])}: evaluate a "
                    "labelled split (or use segmentation_consistency on a paired set)"
                )
        else:
            missing = [s.name for s in samples if s.reference is None]
            if missing:
                raise ValueError(f"segmentation_consistency: no reference for {missing[0]}")
        if not self.ready(enhanced):
            return [{} for _ in samples]
        if self.consistency:
            return self._against_reference(enhanced, samples)
        preds = self.predictor.predict(enhanced)
        fit = getattr(self.predictor, "fit_label", None)  # scored at the model's own size
        rows = []
        for pred, sample in zip(preds, samples, strict=True):
            try:
                label = sample.target if fit is None else fit(sample.target)
                rows.append(area_counts(pred, label, len(self.classes), self.ignore_index))
            except ValueError as exc:
                raise ValueError(f"segmentation: {sample.name}: {exc}") from None
        return rows

    def _against_reference(self, enhanced, samples) -> list[dict[str, Any]]:
        import torch

        n = self.predictor.num_classes
        dtype = torch.uint8 if n <= 256 else torch.int32

        def reference_maps(references):  # compact on the CPU: kept all run
            return [pred.to("cpu", dtype) for pred in self.predictor.predict(references)]

        targets = self.references.get(samples, "cpu", reference_maps)
        preds = self.predictor.predict(enhanced)
        return [
            area_counts(pred, target.long(), n, ignore_index=-1)  # no label is -1: count all
            for pred, target in zip(preds, targets, strict=True)
        ]

    def compute(self, records: list[dict[str, Any]]) -> dict[str, float]:
        if self.consistency:
            n = len(records[0][AREAS[0]]) if records and AREAS[0] in records[0] else 0
            scores = iou_scores(records, tuple(str(i) for i in range(n)))
        else:
            scores = iou_scores(records, self.classes, self.absent)
        return {m.name: scores.get(m.name, math.nan) for m in self.metrics()}


SegmentationConsistency = specialise(Segmentation, "SegmentationConsistency", target="reference")
