"""``face_detection`` and ``face_consistency``: a frozen face detector on the enhanced images,
scored with VOC AP@0.5 (mmdet's ``eval_map``; the DARK FACE protocol) or COCO mAP.

Detectors: ``"mtcnn"``, facenet-pytorch's MTCNN, whose weights ship inside the package (a real
detector that works offline; it gets the enhanced batch as a float 0-255 tensor on the device,
without 8-bit quantisation), or ``"mmdet"``, any MMDetection face detector from ``config`` +
``checkpoint`` (GEFU's protocol: YOLOv3-D53 on DARK FACE), or ``"darknet"``, a Darknet face
detector (``config`` .cfg, ``checkpoint`` .weights, ``darknet: {names: ...}``; see
``gefu.tasks.detection``). ``face_detection`` needs a dataset
whose only class is "face" (DARK FACE); ``face_consistency`` takes the detector's faces on the
normal-light reference (score >= ``ref_score_thr``) as the targets, on any paired set.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from gefu.tasks import register_task
from gefu.tasks.detection import BoxEvaluation, detector_source, relabel
from gefu.tasks.frozen import load_once

DETECTORS = ("mtcnn", "mmdet", "darknet")
MTCNN_THRESHOLDS = (0.6, 0.7, 0.7)  # facenet-pytorch's defaults for its three stages


class MTCNNFaces:
    """facenet-pytorch's MTCNN as a batch face detector: ``predict([B,3,H,W] in [0,1])``."""

    classes = ("face",)

    def __init__(self, device: str, min_face_size: int = 20):
        import torch
        from facenet_pytorch import MTCNN

        self.min_face_size = min_face_size
        self.net = MTCNN(
            keep_all=True,
            select_largest=False,  # keep boxes in probability order
            min_face_size=min_face_size,
            thresholds=list(MTCNN_THRESHOLDS),
            device=torch.device(device),
        ).eval()

    def predict(self, images) -> list[dict[str, Any]]:
        import numpy as np

        empty = {
            "boxes": np.zeros((0, 4), np.float32),
            "scores": np.zeros(0, np.float32),
            "labels": np.zeros(0, np.int64),
        }
        if min(images.shape[-2:]) < self.min_face_size:  # no scale of MTCNN's pyramid fits
            return [dict(empty) for _ in range(images.shape[0])]
        pixels = images.detach().float().mul(255).permute(0, 2, 3, 1).contiguous()  # BHWC RGB
        boxes, probs = self.net.detect(pixels)
        out = []
        for b, p in zip(boxes, probs, strict=True):
            if b is None:
                out.append(dict(empty))
                continue
            scores = np.asarray(p, dtype=np.float32).reshape(-1)
            out.append(
                {
                    "boxes": np.asarray(b, dtype=np.float32).reshape(-1, 4),
                    "scores": scores,
                    "labels": np.zeros(len(scores), np.int64),
                }
            )
        return out


class MTCNNSource:
    def __init__(self, min_face_size: int):
        self.min_face_size = min_face_size

    def unavailable(self) -> str | None:
        if importlib.util.find_spec("facenet_pytorch") is None:
            return "facenet-pytorch is not installed (pip install --no-deps facenet-pytorch)"
        return None

    def spec(self) -> dict[str, Any]:
        from importlib.metadata import PackageNotFoundError, version

        try:
            installed = version("facenet-pytorch")
        except PackageNotFoundError:
            installed = "absent"
        return {
            "library": "facenet-pytorch",
            "version": installed,  # the weights ship inside the package
            "min_face_size": self.min_face_size,
            "thresholds": list(MTCNN_THRESHOLDS),
        }

    def load(self, device: str) -> MTCNNFaces:
        key = ("mtcnn", self.min_face_size, device)
        return load_once(key, lambda: MTCNNFaces(device, self.min_face_size))


def face_source(
    detector, config, checkpoint, cfg_options, allow_random_weights, min_face_size, darknet
):
    if detector == "mtcnn":
        if config or checkpoint or darknet:
            raise ValueError("detector 'mtcnn' takes no config/checkpoint (its weights ship)")
        return MTCNNSource(min_face_size)
    if detector == "darknet" and config is None:
        raise ValueError("detector 'darknet' needs a face model's `config` and `checkpoint`")
    if detector in DETECTORS:
        return detector_source(
            detector, config, checkpoint, cfg_options, allow_random_weights, darknet
        )
    raise ValueError(f"unknown face detector {detector!r}; choose one of {', '.join(DETECTORS)}")


class _FaceEvaluation(BoxEvaluation):
    """Evaluation class "face": the detector's face label (its only class, or the one named
    "face") becomes label 0; predictions of other classes are dropped."""

    _face_label: int | None = None

    def eval_classes(self) -> tuple[str, ...]:
        return ("face",)

    def to_eval(self, pred: dict) -> dict:
        if self._face_label is None:
            names = [str(c).lower() for c in self.detector.classes]
            if len(names) != 1 and "face" not in names:
                raise ValueError(f"the detector has no 'face' class (it has {len(names)})")
            self._face_label = 0 if len(names) == 1 else names.index("face")
        return relabel(pred, {self._face_label: 0})


@register_task("face_detection")
class FaceDetection(_FaceEvaluation):
    """A face detector against the dataset's face boxes (DARK FACE: VOC AP@0.5, "area")."""

    def __init__(
        self,
        detector: str = "mtcnn",
        config: str | None = None,
        checkpoint: str | None = None,
        metric: str = "voc",
        iou_thr: float = 0.5,
        voc_mode: str = "area",
        score_thr: float | None = None,
        min_face_size: int = 20,
        cfg_options: dict[str, Any] | None = None,
        allow_random_weights: bool = False,
        darknet: dict[str, Any] | None = None,
    ):
        source = face_source(
            detector, config, checkpoint, cfg_options, allow_random_weights, min_face_size, darknet
        )
        super().__init__(source, metric, iou_thr, voc_mode, score_thr)

    def dataset_problem(self, dataset) -> str | None:
        if getattr(dataset, "task", None) != "detection":
            return "needs a face detection dataset (DARK FACE)"
        if [str(c).lower() for c in dataset.classes] != ["face"]:
            return f"needs a dataset whose only class is 'face' (not {', '.join(dataset.classes)})"
        return None


@register_task("face_consistency")
class FaceConsistency(_FaceEvaluation):
    """Faces found on the enhanced image against those found on the reference (score >=
    ``ref_score_thr``): VOC AP@0.5 by default. Any paired set; no labels needed."""

    consistency = True

    def __init__(
        self,
        detector: str = "mtcnn",
        config: str | None = None,
        checkpoint: str | None = None,
        metric: str = "voc",
        iou_thr: float = 0.5,
        voc_mode: str = "area",
        score_thr: float | None = None,
        ref_score_thr: float = 0.9,
        min_face_size: int = 20,
        cfg_options: dict[str, Any] | None = None,
        allow_random_weights: bool = False,
        darknet: dict[str, Any] | None = None,
    ):
        source = face_source(
            detector, config, checkpoint, cfg_options, allow_random_weights, min_face_size, darknet
        )
        super().__init__(source, metric, iou_thr, voc_mode, score_thr, ref_score_thr)
