"""How an evaluation's dataset-level metrics (mAP, mIoU) aggregate per-image records, and how
they are recomputed under any weighting of the images: the statistics layer of the tasks.

A task names its scoring (``Task.scoring()``: ``{"kind": "coco"}``, ``{"kind": "voc",
"iou_thr": .5, "voc_mode": "area"}``, ``{"kind": "segmentation"}``); the runner stores each
image's record with that spec (``encode``), and the report rebuilds the scorer from the records
alone (``from_blobs``), never from task internals.

A weighting of n images is a vector of n non-negative numbers: a bootstrap resample is how often
each image was drawn; a paired swap of two rows scored on the same images is a 0/1 choice per
image between row A's and row B's record (``joint``: a scorer over both rows' records, 2n
images). The expensive per-image part of each library's computation runs once: pycocotools'
``evaluate`` (the per-image, per-class matching, ``evalImgs``), mmdet's ``tpfp_default`` (VOC
matching), mmseg's ``intersect_and_union`` (pixel counts, already stored per image). Each
weighting then re-aggregates those: weighted true / false positive counts accumulated exactly as
``COCOeval.accumulate`` / ``eval_map`` do, mmdet's ``average_precision``, or mmseg's
``total_area_to_metrics`` on re-summed counts. With every weight 1 the result is the library's
own value (tested); a weight of 0 drops an image, a weight of k counts it k times.
"""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from gefu.tasks.detection_metrics import as_numpy
from gefu.tasks.segmentation import AREAS  # the pixel counts mmseg sums

BOX_KEYS = {"pred": ("boxes", "scores", "labels"), "target": ("boxes", "labels", "ignore")}
KINDS = ("coco", "voc", "segmentation", "darkface_official")
CHUNK = 2048  # weightings evaluated at once (bounds memory)


def _check(scoring: dict) -> str:
    kind = scoring.get("kind") if isinstance(scoring, dict) else None
    if kind not in KINDS:
        raise ValueError(f"unknown scoring {scoring!r}; its kind must be one of {', '.join(KINDS)}")
    return kind


def encode(scoring: dict, record: dict[str, Any]) -> bytes:
    """One image's record, with the scoring it feeds, as ``.npz`` bytes."""
    kind = _check(scoring)
    arrays: dict[str, np.ndarray] = {}
    if kind == "segmentation":
        arrays.update({name: as_numpy(record[name]).astype(np.float64) for name in AREAS})
    else:
        for part, keys in BOX_KEYS.items():
            for key in keys:
                if record[part].get(key) is not None:
                    arrays[f"{part}.{key}"] = as_numpy(record[part][key])
    buf = io.BytesIO()
    np.savez_compressed(buf, scoring=np.array(json.dumps(scoring, sort_keys=True)), **arrays)
    return buf.getvalue()


def decode(blob: bytes) -> tuple[dict, dict[str, Any]]:
    """``(scoring, record)``: the record rebuilt in the shape the task produced (nested for
    detection), as numpy arrays."""
    with np.load(io.BytesIO(blob), allow_pickle=False) as data:
        if "scoring" not in data.files:
            raise ValueError("a per-image record without its scoring (written by an older gefu)")
        scoring = json.loads(str(data["scoring"]))
        if _check(scoring) == "segmentation":
            return scoring, {name: data[name] for name in AREAS}
        record: dict[str, Any] = {"pred": {}, "target": {}}
        for name in data.files:
            if "." in name:
                part, key = name.split(".", 1)
                record[part][key] = data[name]
        return scoring, record


def encode_all(scoring: dict | None, names: list[str], records: list[dict]) -> list[tuple]:
    """``(image, blob)`` for every record (none when the task has no dataset-level scoring)."""
    if scoring is None:
        return []
    return [(n, encode(scoring, r)) for n, r in zip(names, records, strict=True) if r]


def same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two decoded records are identical (a swap between them changes nothing)."""
    if a.keys() != b.keys():
        return False
    for k in a:
        if isinstance(a[k], dict):
            if not same(a[k], b[k]):
                return False
        elif not np.array_equal(np.asarray(a[k]), np.asarray(b[k])):
            return False
    return True


class Scorer:
    """Recomputes a cell's dataset-level metrics for many weightings of its images at once."""

    images: list[str]  # the weight columns, in this order
    metrics: tuple[str, ...]

    def values(self, weights: np.ndarray) -> dict[str, np.ndarray]:
        """``weights``: ``[B, len(images)]`` -> metric -> ``[B]`` values (NaN: undefined)."""
        weights = np.atleast_2d(np.asarray(weights, np.float64))
        parts = [self._values(weights[i : i + CHUNK]) for i in range(0, len(weights), CHUNK)]
        return {m: np.concatenate([p[m] for p in parts]) for m in parts[0]}

    def _values(self, weights: np.ndarray) -> dict[str, np.ndarray]:
        raise NotImplementedError


def build(scoring: dict, images: Sequence[str], records: Sequence[dict]) -> Scorer:
    """The scorer of ``scoring`` over these images' records."""
    kind = _check(scoring)
    if kind == "segmentation":
        return SegmentationCounts(images, records, scoring.get("absent") or "skip")
    if kind == "darkface_official":  # the UG2+ challenge's metric (gefu.tasks.darkface_official)
        from gefu.tasks.darkface_official import Reaggregator

        return Reaggregator(images, records)
    if kind == "voc":
        return VocMatching(images, records, scoring.get("iou_thr") or 0.5, scoring.get("voc_mode"))
    return CocoMatching(images, records)


def from_blobs(blobs: Sequence[tuple[str, bytes]]) -> tuple[dict, list[str], list[dict]] | None:
    """A cell's stored records: ``(scoring, images, records)``, or None when it has none."""
    if not blobs:
        return None
    decoded = [(image, *decode(blob)) for image, blob in blobs]
    specs = {json.dumps(s, sort_keys=True) for _, s, _ in decoded}
    if len(specs) != 1:
        raise ValueError(f"a cell mixes scorings: {sorted(specs)}")
    return decoded[0][1], [i for i, _, _ in decoded], [r for _, _, r in decoded]


# -- COCO -----------------------------------------------------------------------------------------
class CocoMatching(Scorer):
    """``mAP`` (IoU .50:.95), ``mAP50``, ``mAP75`` from pycocotools' per-image matching."""

    metrics = ("mAP", "mAP50", "mAP75")

    def __init__(self, images: list[str], records: list[dict[str, Any]]):
        from pycocotools.cocoeval import COCOeval

        from gefu.tasks.detection_metrics import coco_annotation, coco_index, ignored

        self.images = list(images)
        labels = set()
        for r in records:
            labels |= {int(v) for v in np.asarray(r["target"]["labels"]).reshape(-1)}
            labels |= {int(v) for v in np.asarray(r["pred"]["labels"]).reshape(-1)}
        cats = [{"id": k + 1, "name": str(k)} for k in sorted(labels)]
        imgs = [{"id": i + 1} for i in range(len(records))]
        gt_anns, dt_anns = [], []
        for i, r in enumerate(records):
            t, p = r["target"], r["pred"]
            t_boxes = np.asarray(t["boxes"], np.float32).reshape(-1, 4)
            t_labels = np.asarray(t["labels"]).reshape(-1)
            for box, label, crowd in zip(t_boxes, t_labels, ignored(t), strict=True):
                gt_anns.append(
                    coco_annotation(len(gt_anns) + 1, i + 1, box, label, iscrowd=int(crowd))
                )
            p_boxes = np.asarray(p["boxes"], np.float32).reshape(-1, 4)
            p_scores = np.asarray(p["scores"], np.float32).reshape(-1)
            for box, label, score in zip(
                p_boxes, np.asarray(p["labels"]).reshape(-1), p_scores, strict=True
            ):
                dt_anns.append(
                    coco_annotation(len(dt_anns) + 1, i + 1, box, label, score=float(score))
                )
        with contextlib.redirect_stdout(io.StringIO()):
            ev = COCOeval(coco_index(imgs, cats, gt_anns), coco_index(imgs, cats, dt_anns), "bbox")
            # the summary values use area "all" and 100 detections: match only for those
            ev.params.areaRng, ev.params.areaRngLbl = [ev.params.areaRng[0]], ["all"]
            ev.params.maxDets = [ev.params.maxDets[-1]]
            ev.evaluate()
        self.iou_thrs = ev.params.iouThrs
        self.rec_thrs = ev.params.recThrs
        self._classes = [self._class(ev, k) for k in range(len(ev.params.catIds))]

    def _class(self, ev, k: int):
        n_img = len(ev.params.imgIds)
        found = [(i, e) for i in range(n_img) if (e := ev.evalImgs[k * n_img + i]) is not None]
        if not found:
            return None
        max_det = ev.params.maxDets[-1]
        scores = np.concatenate([np.asarray(e["dtScores"][:max_det]) for _, e in found])
        image = np.concatenate([np.full(len(e["dtScores"][:max_det]), i) for i, e in found])
        dtm = np.concatenate([e["dtMatches"][:, :max_det] for _, e in found], axis=1)
        dt_ig = np.concatenate([e["dtIgnore"][:, :max_det] for _, e in found], axis=1)
        order = np.argsort(-scores, kind="mergesort")  # as COCOeval.accumulate sorts
        dtm, dt_ig, image = dtm[:, order], dt_ig[:, order], image[order].astype(np.int64)
        npig = np.zeros(n_img)
        for i, e in found:
            npig[i] = np.count_nonzero(np.asarray(e["gtIgnore"]) == 0)
        tps = np.logical_and(dtm, np.logical_not(dt_ig))
        fps = np.logical_and(np.logical_not(dtm), np.logical_not(dt_ig))
        return image, tps, fps, npig

    def precision(self, weights: np.ndarray) -> np.ndarray:
        """``[B, T, K]`` mean precision over the recall thresholds; -1 where undefined (as
        COCOeval marks classes without ground truth)."""
        n_b = weights.shape[0]
        out = -np.ones((n_b, len(self.iou_thrs), len(self._classes)))
        for k, found in enumerate(self._classes):
            if found is None:
                continue
            image, tps, fps, npig = found
            n_pos = weights @ npig  # [B]
            valid = n_pos > 0
            nd = image.size
            if nd == 0:
                out[valid, :, k] = 0.0
                continue
            w = weights[:, image]  # [B, nd]
            counted = np.logical_or(tps, fps)  # not ignored, per IoU threshold
            rows, which = np.unique(counted, axis=0, return_inverse=True)
            which = np.ravel(which)  # IoU threshold -> its row of ``rows``
            seen = [np.cumsum(w * r, axis=1) for r in rows]  # detections counted so far
            for t in range(tps.shape[0]):
                # Recall only rises at a true positive and precision only falls between
                # them, so COCO's interpolated precision (the envelope, looked up at the first
                # recall reaching each threshold) needs the curve at true positives only.
                at = np.flatnonzero(tps[t])
                if at.size == 0:
                    out[valid, t, k] = 0.0
                    continue
                tp = np.cumsum(w[:, at], axis=1)
                with np.errstate(divide="ignore", invalid="ignore"):
                    rc = tp / n_pos[:, None]
                pr = tp / (seen[which[t]][:, at] + np.spacing(1))
                pr = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]  # precision envelope
                q = _lookup(rc, pr, self.rec_thrs)
                out[valid, t, k] = q[valid].mean(axis=1)
        return out

    def _values(self, weights: np.ndarray) -> dict[str, np.ndarray]:
        prec = self.precision(np.atleast_2d(weights))
        out = {}
        for name, sel in (
            ("mAP", slice(None)),
            ("mAP50", np.isclose(self.iou_thrs, 0.5)),
            ("mAP75", np.isclose(self.iou_thrs, 0.75)),
        ):
            p = prec[:, sel, :].reshape(prec.shape[0], -1)
            ok = p > -1
            with np.errstate(invalid="ignore"):
                out[name] = np.where(ok.any(axis=1), (p * ok).sum(axis=1) / ok.sum(axis=1), np.nan)
        return out


def _lookup(rc: np.ndarray, pr: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Row-wise ``pr[searchsorted(rc, thresholds, 'left')]``, 0 past the end (as COCOeval).
    Each row of ``rc`` is non-decreasing, so the index of threshold j is the number of recalls
    below it: counted per row from each recall's own threshold bin (no loop over rows)."""
    n_b, nd = rc.shape
    n_t = thresholds.size
    level = np.searchsorted(thresholds, np.where(np.isnan(rc), np.inf, rc), side="right")
    counts = np.bincount(
        (level + (n_t + 1) * np.arange(n_b)[:, None]).ravel(), minlength=n_b * (n_t + 1)
    )
    idx = np.cumsum(counts.reshape(n_b, n_t + 1), axis=1)[:, :n_t]
    inside = idx < nd
    return np.where(inside, np.take_along_axis(pr, np.minimum(idx, nd - 1), axis=1), 0.0)


# -- VOC ------------------------------------------------------------------------------------------
class VocMatching(Scorer):
    """VOC ``mAP<iou>`` from mmdet's per-image ``tpfp_default`` and ``average_precision``."""

    def __init__(self, images, records, iou_thr: float, voc_mode: str | None):
        from mmdet.evaluation.functional.mean_ap import tpfp_default

        from gefu.tasks.detection_metrics import (
            boxes_of,
            ignored,
            labels_of,
            metric_names,
            scores_of,
        )

        self.images, self.mode = list(images), voc_mode or "area"
        self.metrics = (metric_names("voc", (), iou_thr)[0][0],)
        labels = set()
        for r in records:
            labels |= set(labels_of(r["target"]).tolist())
        self._classes = []
        for k in sorted(labels):
            dets, tp, fp, image, n_gt = [], [], [], [], np.zeros(len(records))
            for i, r in enumerate(records):
                p, t = r["pred"], r["target"]
                keep = labels_of(p) == k
                det = np.hstack([boxes_of(p)[keep], scores_of(p)[keep, None]]).astype(np.float32)
                ig, lab = ignored(t), labels_of(t)
                gt, gt_ig = boxes_of(t)[(lab == k) & ~ig], boxes_of(t)[(lab == k) & ig]
                tpi, fpi = tpfp_default(det, gt, gt_ig, iou_thr, None)
                dets.append(det)
                tp.append(tpi[0])
                fp.append(fpi[0])
                image.append(np.full(len(det), i))
                n_gt[i] = len(gt)
            scores = np.vstack(dets)[:, -1]
            order = np.argsort(-scores)  # as eval_map sorts
            cat = [np.hstack(x)[order] for x in (tp, fp, image)]
            self._classes.append((cat[0], cat[1], cat[2].astype(np.int64), n_gt))

    def _values(self, weights: np.ndarray) -> dict[str, np.ndarray]:
        from mmdet.evaluation.functional.mean_ap import average_precision

        weights = np.atleast_2d(weights)
        eps = np.finfo(np.float32).eps
        aps = []
        for tp, fp, image, n_gt in self._classes:
            n_pos = weights @ n_gt
            w = weights[:, image]
            tps, fps = np.cumsum(w * tp, axis=1), np.cumsum(w * fp, axis=1)
            recalls = tps / np.maximum(n_pos[:, None], eps)
            precisions = tps / np.maximum(tps + fps, eps)
            ap = np.asarray(average_precision(recalls, precisions, self.mode), np.float64)
            aps.append(np.where(n_pos > 0, ap.reshape(-1), np.nan))
        if not aps:
            return {self.metrics[0]: np.full(weights.shape[0], np.nan)}
        with np.errstate(invalid="ignore"):
            stacked = np.stack(aps, axis=1)
            ok = np.isfinite(stacked)
            mean = np.where(ok.any(axis=1), np.nansum(stacked, axis=1) / ok.sum(axis=1), np.nan)
        return {self.metrics[0]: mean}


# -- segmentation ---------------------------------------------------------------------------------
class SegmentationCounts(Scorer):
    """``mIoU``, ``mAcc``, ``aAcc`` (percent) from mmseg's per-image pixel counts, re-summed
    with the weights and passed through ``IoUMetric.total_area_to_metrics``."""

    metrics = ("mIoU", "mAcc", "aAcc")

    def __init__(self, images, records, absent: str = "skip"):
        self.images = list(images)
        self.counts = np.stack([np.stack([r[a] for a in AREAS]) for r in records])  # [n, 4, C]
        self.absent = absent  # "zero": a class in neither labels nor predictions counts as 0

    def _values(self, weights: np.ndarray) -> dict[str, np.ndarray]:
        import torch
        from mmseg.evaluation.metrics import IoUMetric

        weights = np.atleast_2d(weights)
        totals = np.einsum("bn,nac->bac", weights, self.counts)
        out = {m: np.empty(weights.shape[0]) for m in self.metrics}
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a class absent from a resample
            for b, t in enumerate(totals):
                s = IoUMetric.total_area_to_metrics(*torch.from_numpy(t), metrics=["mIoU"])
                iou = np.asarray(s["IoU"], np.float64)
                if self.absent == "zero":
                    iou = np.nan_to_num(iou, nan=0.0)
                out["mIoU"][b] = np.nanmean(iou) * 100
                out["mAcc"][b] = np.nanmean(np.asarray(s["Acc"])) * 100
                out["aAcc"][b] = float(s["aAcc"]) * 100
        return out
