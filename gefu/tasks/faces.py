"""Face detection: a frozen face detector scored with VOC AP@0.5 (mmdet's ``eval_map``; the
MAET / GEFU DARK FACE protocol), the official UG2+ DARK FACE metric (``metric:
darkface_official``, ``gefu.tasks.darkface_official``; the challenge's protocol) or COCO mAP.

The detector (``model``, any family that serves "face_detector"; default ``{family:
mtcnn}``): ``mtcnn``, facenet-pytorch's MTCNN, whose weights ship inside the package (a real
detector that works offline; see ``gefu.tasks.mtcnn_model``), ``mmdet``, any MMDetection face
detector from ``config`` + ``checkpoint`` (GEFU's protocol: YOLOv3-D53 on DARK FACE), or
``darknet``, a Darknet face detector (``config`` .cfg, ``checkpoint`` .weights, ``names``;
see ``gefu.tasks.detection``). ``face_detection`` needs a dataset whose only
class is "face" (DARK FACE); ``face_consistency`` takes the detector's faces on the
normal-light reference (score >= ``ref_score_thr``, default 0.9) as the targets, on any paired
set.
"""

from __future__ import annotations

from typing import Any

from gefu.tasks.detection import BoxTask, relabel
from gefu.tasks.downstream import specialise


class FaceDetection(BoxTask):
    """Evaluation class "face": the detector's face label (its only class, or the one named
    "face") becomes label 0; predictions of other classes are dropped. Target "labels": the
    dataset's face boxes (DARK FACE: VOC AP@0.5, "area"); target "reference": the faces found
    on the reference. ``metric``: "voc", "coco" or "darkface_official" (``darkface_AP``)."""

    model_kind = "face_detector"
    default_model = {"family": "mtcnn"}
    defaults = {"ref_score_thr": {"reference": 0.9}}

    def __init__(
        self,
        model: dict[str, Any] | None = None,
        metric: str = "voc",
        iou_thr: float = 0.5,
        voc_mode: str = "area",
        score_thr: float | None = None,
        ref_score_thr: float | None = None,
    ):
        model = self.frozen_model(model)
        self._init_boxes(model, metric, iou_thr, voc_mode, score_thr, ref_score_thr)
        self._face_label: int | None = None

    def eval_classes(self) -> tuple[str, ...]:
        return ("face",)

    def to_eval(self, pred: dict) -> dict:
        if self._face_label is None:
            names = [str(c).lower() for c in self.predictor.classes]
            if len(names) != 1 and "face" not in names:
                raise ValueError(f"the detector has no 'face' class (it has {len(names)})")
            self._face_label = 0 if len(names) == 1 else names.index("face")
        return relabel(pred, {self._face_label: 0})

    def labels_incompatible(self, dataset) -> str | None:
        if getattr(dataset, "task", None) != "detection":
            return "needs a face detection dataset (DARK FACE)"
        if [str(c).lower() for c in dataset.classes] != ["face"]:
            return f"needs a dataset whose only class is 'face' (not {', '.join(dataset.classes)})"
        return None


FaceConsistency = specialise(FaceDetection, "FaceConsistency", target="reference")
