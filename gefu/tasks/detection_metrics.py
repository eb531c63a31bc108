"""Detection mAP through the libraries: COCO-style through pycocotools' ``COCOeval`` (built in
memory, as mmdet's ``CocoMetric`` does) and VOC-style through mmdet's ``eval_map``; for faces
also the official UG2+ DARK FACE metric (``darkface_official``, a port of the challenge's
Octave code checked against it: ``gefu.tasks.darkface_official``).

Predictions are ``{"boxes": [N,4] x1,y1,x2,y2, "scores": [N], "labels": [N]}`` and targets
``{"boxes", "labels"}`` (+ optional ``"ignore"``: bool [N]) as numpy arrays, labels indexing
``classes``. Ignored boxes follow each protocol: COCO treats them as ``iscrowd`` (a detection
matching one is neither a true nor a false positive, and crowd IoU is used), VOC as
``bboxes_ignore`` ("difficult"). Classes without a single (non-ignored) ground-truth box have no
AP (NaN) and do not enter the mean, in both protocols.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence

import numpy as np

PROTOCOLS = ("coco", "voc", "darkface_official")
ONE_CLASS = ("darkface_official",)  # protocols that score a single class (faces)
VOC_MODES = ("area", "11points")


def protocol_unavailable(protocol: str) -> str | None:
    """Why the library computing ``protocol`` cannot be used here, or None."""
    import importlib.util

    if protocol == "darkface_official":
        return None  # numpy only
    if protocol == "voc":
        from gefu.tasks.frozen import packages_unavailable
        from gefu.tasks.mmdet_model import MMDetModel

        reason = packages_unavailable(MMDetModel.packages, MMDetModel.install_hint)
        return f"VOC mAP is computed by mmdet's eval_map, but {reason}" if reason else None
    if importlib.util.find_spec("pycocotools") is None:
        return "pycocotools is not installed: pip install pycocotools"
    return None


def metric_names(
    protocol: str, classes: Sequence[str] = (), iou_thr: float = 0.5
) -> tuple[list[str], list[str]]:
    """(summary names, primary first; per-class names in ``classes`` order).
    COCO: ``mAP`` (IoU 0.50:0.95), ``mAP50``, ``mAP75``, ``AP/<class>``; VOC at IoU 0.5:
    ``mAP50``, ``AP50/<class>`` (the number follows ``iou_thr``); DARK FACE official:
    ``darkface_AP`` alone."""
    if protocol == "darkface_official":
        from gefu.tasks.darkface_official import METRIC

        return [METRIC], []
    if protocol == "coco":
        return ["mAP", "mAP50", "mAP75"], [f"AP/{c}" for c in classes]
    if protocol == "voc":
        pct = f"{iou_thr * 100:g}"
        return [f"mAP{pct}"], [f"AP{pct}/{c}" for c in classes]
    raise ValueError(f"unknown detection metric {protocol!r}; choose one of {', '.join(PROTOCOLS)}")


def evaluate(
    protocol: str,
    predictions: Sequence[dict],
    targets: Sequence[dict],
    classes: Sequence[str],
    iou_thr: float = 0.5,
    voc_mode: str = "area",
) -> dict[str, float]:
    """Summary and per-class values named as ``metric_names`` says."""
    if len(predictions) != len(targets):
        raise ValueError(f"{len(predictions)} predictions but {len(targets)} targets")
    if not targets:
        summary, per_class = metric_names(protocol, classes, iou_thr)
        return dict.fromkeys(summary + per_class, float("nan"))
    if protocol == "coco":
        return coco_map(predictions, targets, classes)
    if protocol == "voc":
        return voc_map(predictions, targets, classes, iou_thr, voc_mode)
    if protocol == "darkface_official":
        from gefu.tasks import darkface_official

        return darkface_official.evaluate(predictions, targets, classes)
    raise ValueError(f"unknown detection metric {protocol!r}; choose one of {', '.join(PROTOCOLS)}")


# -- COCO ---------------------------------------------------------------------------------------
def coco_map(predictions, targets, classes) -> dict[str, float]:
    """pycocotools' ``COCOeval`` (bbox, standard parameters: 10 IoUs 0.50:0.95, maxDets 100)."""
    from pycocotools.cocoeval import COCOeval

    images = [{"id": i + 1} for i in range(len(targets))]
    categories = [{"id": k + 1, "name": str(c)} for k, c in enumerate(classes)]
    gt_anns, dt_anns = [], []
    for i, (pred, target) in enumerate(zip(predictions, targets, strict=True)):
        ignore = ignored(target)
        for box, label, crowd in zip(boxes_of(target), labels_of(target), ignore, strict=True):
            gt_anns.append(coco_annotation(len(gt_anns) + 1, i + 1, box, label, iscrowd=int(crowd)))
        for box, label, score in zip(boxes_of(pred), labels_of(pred), scores_of(pred), strict=True):
            dt_anns.append(coco_annotation(len(dt_anns) + 1, i + 1, box, label, score=float(score)))
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        gt = coco_index(images, categories, gt_anns)
        dt = coco_index(images, categories, dt_anns)
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    summary = [_nan_if_negative(v) for v in ev.stats[:3]]
    out = dict(zip(metric_names("coco")[0], summary, strict=True))
    # precision: [IoU, recall, class, area range ("all" first), maxDets (100 last)]
    precision = ev.eval["precision"]
    for k, name in enumerate(metric_names("coco", classes)[1]):
        p = precision[:, :, k, 0, -1]
        out[name] = float(p[p > -1].mean()) if (p > -1).any() else float("nan")
    return out


def coco_index(images, categories, annotations):
    from pycocotools.coco import COCO

    coco = COCO()
    coco.dataset = {"images": images, "categories": categories, "annotations": annotations}
    coco.createIndex()
    return coco


def coco_annotation(ann_id, image_id, box, label, iscrowd=0, score=None) -> dict:
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = x2 - x1, y2 - y1
    ann = {
        "id": ann_id,
        "image_id": image_id,
        "category_id": int(label) + 1,
        "bbox": [x1, y1, w, h],
        "area": w * h,
        "iscrowd": iscrowd,
    }
    if score is not None:
        ann["score"] = score
    return ann


def _nan_if_negative(value: float) -> float:
    return float("nan") if value < 0 else float(value)  # COCOeval's -1: no ground truth


# -- VOC ----------------------------------------------------------------------------------------
def voc_map(predictions, targets, classes, iou_thr=0.5, voc_mode="area") -> dict[str, float]:
    """mmdet's ``eval_map`` (``tpfp_default``, boxes without the legacy +1)."""
    from mmdet.evaluation.functional import eval_map

    if voc_mode not in VOC_MODES:
        raise ValueError(f"voc_mode must be one of {', '.join(VOC_MODES)}, not {voc_mode!r}")
    n_classes = len(classes)
    det_results = []
    for pred in predictions:
        boxes, labels, scores = boxes_of(pred), labels_of(pred), scores_of(pred)
        det_results.append(
            [
                np.hstack([boxes[labels == k], scores[labels == k, None]]).astype(np.float32)
                for k in range(n_classes)
            ]
        )
    annotations = []
    for target in targets:
        boxes, labels, ignore = boxes_of(target), labels_of(target), ignored(target)
        annotations.append(
            {
                "bboxes": boxes[~ignore],
                "labels": labels[~ignore],
                "bboxes_ignore": boxes[ignore],
                "labels_ignore": labels[ignore],
            }
        )
    summary, names = metric_names("voc", classes, iou_thr)
    _, per_class = eval_map(
        det_results, annotations, iou_thr=iou_thr, eval_mode=voc_mode, nproc=1, logger="silent"
    )
    aps = [float(r["ap"]) if r["num_gts"] > 0 else float("nan") for r in per_class]
    valid = [a for a in aps if not np.isnan(a)]
    out = {summary[0]: float(np.mean(valid)) if valid else float("nan")}
    out.update(zip(names, aps, strict=True))
    return out


# -- array access -------------------------------------------------------------------------------
def boxes_of(d: dict) -> np.ndarray:
    return as_numpy(d["boxes"], np.float32).reshape(-1, 4)


def labels_of(d: dict) -> np.ndarray:
    return as_numpy(d["labels"], np.int64).reshape(-1)


def scores_of(d: dict) -> np.ndarray:
    return as_numpy(d["scores"], np.float32).reshape(-1)


def ignored(d: dict) -> np.ndarray:
    if d.get("ignore") is None:
        return np.zeros(len(labels_of(d)), dtype=bool)
    return as_numpy(d["ignore"], bool).reshape(-1)


def as_numpy(value, dtype=None) -> np.ndarray:
    """A torch tensor (on any device) or array-like as a numpy array."""
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=dtype)
