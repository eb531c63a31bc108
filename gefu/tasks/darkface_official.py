"""The official UG2+ DARK FACE metric (``metric: darkface_official`` of ``face_detection``), a
port of the challenge's Octave evaluation (``Ir1d/DARKFACE_eval_tools``, commit ea0bc35:
``df_eval.m``, ``norm_score.m``, ``evaluation.m``, ``boxoverlap.m``, ``utils/VOCap.m``),
itself derived from WIDER FACE's tools. It matches Octave's output to 1e-6 on the fixtures in
``tests/fixtures/darkface_official`` (how they were made: ``PROVENANCE`` there).

What the official evaluation does, in order:

1. **Score normalisation over the whole set** (``norm_score.m``): every score becomes
   ``(s - min) / (max - min)``, min and max over all predictions of all images (images without
   faces included), **in single precision**: the running maximum starts at
   ``realmin('single')`` (2**-126) and the minimum at ``realmax('single')``, and Octave's
   mixed single / double arithmetic is single. So when every score is <= 0 the "max" is
   2**-126, and when max == min the scores are shifted instead, ``s - (min - 1)`` (all 1).
2. **Matching per image** (``evaluation.m``): predictions in descending score order; each
   marks the face of highest IoU (the first one on ties) as found when that IoU >= 0.5,
   whether or not an earlier prediction found it. IoU uses the +1 pixel convention
   (``boxoverlap.m``: a box ``x1..x2`` is ``x2 - x1 + 1`` wide).
3. **A precision / recall curve at 1000 fixed thresholds** ``1 - t/1000``, t = 1..1000 (0.999
   down to 0): at each, the detections with normalised score >= it are the proposals and the
   faces they found the true positives, summed over images; precision = found / proposals
   (NaN where there are none), recall = found / all faces. **Images without a face or
   without a detection are skipped**: their faces still count in the recall's denominator,
   but detections on face-free images are never false positives.
4. **AP** (``VOCap.m``): the area under the precision envelope, recall padded with 0 and 1,
   precision with 0 (Octave's ``max`` skips NaN, as ``numpy.fmax`` does). No face at all:
   NaN.

How it differs from mmdet's ``eval_map`` (VOC "area", ``metric: voc``) on the same
predictions: ``eval_map`` counts every detection on a face-free image as a false positive
(the official metric ignores them: higher), has no +1 pixel in mmdet 3.x (small faces found
a pixel or two off pass IoU 0.5 only with it: higher), and takes a curve point after every
detection where the official metric has 1000 score bins (a true positive followed within
1/1000 of normalised score by false ones loses its point: lower). A face detected twice is
one true positive and one false positive / extra proposal in both. There is no "difficult"
flag in the official tool: ``ignore`` boxes count as faces here. ``tests/
test_darkface_official.py`` shows each direction.

``evaluate`` takes the suite's detection dicts (``boxes`` x1, y1, x2, y2 as the label files
write them, ``scores``); ``Reaggregator`` recomputes the AP for many weightings of the images
at once (the report's intervals).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

METRIC = "darkface_AP"
IOU_THR = 0.5
THRESHOLDS = 1 - np.arange(1, 1001) / 1000  # evaluation.m: 1 - t/thresh_num, t = 1..1000
_ASCENDING = THRESHOLDS[::-1]
_MAX_INIT = float(np.finfo(np.float32).tiny)  # realmin('single')
_MIN_INIT = float(np.finfo(np.float32).max)  # realmax('single')


def evaluate(
    predictions: Sequence[dict], targets: Sequence[dict], classes: Sequence[str] = ("face",)
) -> dict[str, float]:
    """``{"darkface_AP": AP}`` (a fraction, as the official tool prints it)."""
    if len(classes) != 1:
        raise ValueError(f"the DARK FACE metric scores one class (faces), not {len(classes)}")
    return {METRIC: average_precision(predictions, targets)}


def average_precision(predictions: Sequence[dict], targets: Sequence[dict]) -> float:
    curve = pr_curve(predictions, targets)
    return float(voc_ap(curve[:, 1], curve[:, 0]))


def pr_curve(predictions: Sequence[dict], targets: Sequence[dict]) -> np.ndarray:
    """``[1000, 2]``: (precision, recall) at each threshold, as ``evaluation.m`` saves it."""
    m = Matches(predictions, targets)
    return m.curves(np.ones((1, len(m.n_gt))))[0]


def voc_ap(recall: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """``VOCap.m`` for one curve ``[T]`` or many ``[B, T]`` (-> ``[B]``)."""
    rec, prec = np.atleast_2d(recall), np.atleast_2d(precision)
    n = rec.shape[0]
    mrec = np.hstack([np.zeros((n, 1)), rec, np.ones((n, 1))])
    mpre = np.hstack([np.zeros((n, 1)), prec, np.zeros((n, 1))])
    mpre = np.fmax.accumulate(mpre[:, ::-1], axis=1)[:, ::-1]  # the envelope, NaN ignored
    step = mrec[:, 1:] - mrec[:, :-1]
    changed = mrec[:, 1:] != mrec[:, :-1]  # NaN != anything: a NaN recall gives a NaN AP
    with np.errstate(invalid="ignore"):
        ap = np.where(changed, step * mpre[:, 1:], 0.0).sum(axis=1)
    return ap if np.ndim(recall) == 2 else ap[0]


def box_overlap(gt: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """``boxoverlap.m`` for every (box, face) pair: ``[P, G]`` IoU, +1 pixel convention, 0
    where the boxes do not intersect."""
    a, b = gt[None, :, :], boxes[:, None, :]
    w = np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]) + 1
    h = np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]) + 1
    inter = w * h
    a_area = (a[..., 2] - a[..., 0] + 1) * (a[..., 3] - a[..., 1] + 1)
    b_area = (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        o = inter / (a_area + b_area - inter)
    return np.where((w <= 0) | (h <= 0), 0.0, o)


class Matches:
    """The per-image part of the evaluation, done once: for each image its raw scores, and
    for each face the highest raw score among the detections that found it (normalisation is
    monotonic, so it commutes with the maximum). ``curves`` then sums them for any weighting
    of the images (weight 1 each: the official curve)."""

    def __init__(self, predictions: Sequence[dict], targets: Sequence[dict]):
        if len(predictions) != len(targets):
            raise ValueError(f"{len(predictions)} predictions but {len(targets)} targets")
        n = len(targets)
        self.n_gt = np.zeros(n)
        self.lo, self.hi = np.full(n, np.inf), np.full(n, -np.inf)  # per-image score range
        scores, score_img, found, found_img = [], [], [], []
        for i, (pred, target) in enumerate(zip(predictions, targets, strict=True)):
            gt = _array(target["boxes"], f"image {i}: target boxes").reshape(-1, 4)
            boxes = _array(pred["boxes"], f"image {i}: predicted boxes").reshape(-1, 4)
            s = _array(pred["scores"], f"image {i}: scores").reshape(-1)
            if len(s) != len(boxes):
                raise ValueError(f"image {i}: {len(boxes)} predicted boxes but {len(s)} scores")
            self.n_gt[i] = len(gt)
            if len(s):
                self.lo[i], self.hi[i] = s.min(), s.max()
            if not len(gt) or not len(s):
                continue  # evaluation.m skips the image (its faces still count)
            iou = box_overlap(gt, boxes)
            iou = np.where(np.isnan(iou), -np.inf, iou)  # Octave's max skips NaN
            best = iou.argmax(axis=1)
            hit = iou[np.arange(len(s)), best] >= IOU_THR
            face_best = np.full(len(gt), -np.inf)
            np.maximum.at(face_best, best[hit], s[hit])
            scores.append(s)
            score_img.append(np.full(len(s), i))
            kept = np.isfinite(face_best)
            found.append(face_best[kept])
            found_img.append(np.full(int(kept.sum()), i))
        self.scores, self.score_img = _cat(scores), _cat(score_img).astype(np.int64)
        self.found, self.found_img = _cat(found), _cat(found_img).astype(np.int64)
        self._bins: dict[tuple[float, float], tuple[np.ndarray, np.ndarray]] = {}

    def _first_threshold(self, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
        """The index of the first threshold each proposal / found face passes (1000: none),
        for the score range (lo, hi) as ``norm_score.m`` sets it."""
        key = (lo, hi)
        if key not in self._bins:
            out = []
            lo32, hi32 = np.float32(lo), np.float32(hi)  # single, as in norm_score.m
            for s in (self.scores, self.found):
                s32 = s.astype(np.float32)
                norm = (s32 - lo32) / (hi32 - lo32) if hi32 != lo32 else s32 - (lo32 - 1)
                norm = norm.astype(np.float64)  # stored back into a double matrix
                out.append(1000 - np.searchsorted(_ASCENDING, norm, side="right"))
            self._bins[key] = (out[0], out[1])
        return self._bins[key]

    def curves(self, weights: np.ndarray) -> np.ndarray:
        """``weights`` ``[B, n images]`` -> ``[B, 1000, 2]`` (precision, recall) curves."""
        weights = np.atleast_2d(np.asarray(weights, dtype=np.float64))
        out = np.empty((weights.shape[0], 1000, 2))
        for b, w in enumerate(weights):
            present = w > 0
            hi = max(_MAX_INIT, float(self.hi[present].max(initial=-np.inf)))
            lo = min(_MIN_INIT, float(self.lo[present].min(initial=np.inf)))
            first_p, first_f = self._first_threshold(lo, hi)
            proposals = np.bincount(first_p, w[self.score_img], minlength=1001)[:1000].cumsum()
            tp = np.bincount(first_f, w[self.found_img], minlength=1001)[:1000].cumsum()
            faces = w @ self.n_gt
            with np.errstate(divide="ignore", invalid="ignore"):
                out[b, :, 0] = tp / proposals
                out[b, :, 1] = tp / faces
        return out


class Reaggregator:
    """``darkface_AP`` for many weightings of the images (the report's intervals and paired
    tests; the interface of ``gefu.tasks.scoring.Scorer``, scoring kind ``darkface_official``).
    A resample is scored as the official tool would score that set of images: the score range
    is taken over the images drawn, a face is counted as often as its image is drawn."""

    metrics = (METRIC,)

    def __init__(self, images: Sequence[str], records: Sequence[dict]):
        self.images = list(images)
        self.matches = Matches([r["pred"] for r in records], [r["target"] for r in records])

    def values(self, weights: np.ndarray) -> dict[str, np.ndarray]:
        curves = self.matches.curves(weights)
        return {METRIC: voc_ap(curves[:, :, 1], curves[:, :, 0])}


def _array(value, what: str) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    out = np.asarray(value, dtype=np.float64)
    if not np.isfinite(out).all():
        raise ValueError(f"{what}: not finite (NaN or infinity)")
    return out


def _cat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0)
