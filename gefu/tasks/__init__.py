"""Evaluations: what is measured on an enhanced batch (IQA metrics, frozen downstream models)."""

from __future__ import annotations

from typing import Any

from gefu.core.registry import Registry

TASKS: Registry = Registry("task")
# A built-in is declared once, by its line below; the decorator is for code
# outside the suite (a script, a test).
register_task = TASKS.register

for _name, _target in {
    "iqa": "gefu.tasks.iqa:IQA",
    # frozen downstream models (gefu.tasks.downstream), scored against the dataset's labels ...
    "classification": "gefu.tasks.classification:Classification",
    "detection": "gefu.tasks.detection:Detection",
    "segmentation": "gefu.tasks.segmentation:Segmentation",
    "face_detection": "gefu.tasks.faces:FaceDetection",
    # ... or against the same model's prediction on the normal-light reference (paired sets):
    # the same classes with target "reference" (``gefu.tasks.downstream.specialise``)
    "classification_consistency": "gefu.tasks.classification:ClassificationConsistency",
    "detection_consistency": "gefu.tasks.detection:DetectionConsistency",
    "segmentation_consistency": "gefu.tasks.segmentation:SegmentationConsistency",
    "face_consistency": "gefu.tasks.faces:FaceConsistency",
    # a detector fine-tuned per row on the row's enhanced training split (MAET / IAT protocol)
    "finetune_detection": "gefu.tasks.finetune:FinetuneDetection",
}.items():
    TASKS.add_lazy(_name, _target)


# Frozen-model families (``gefu.tasks.frozen.FrozenModel`` subclasses), named in an evaluation's
# ``model: {family: <name>, ...options}``; a third-party family registers in the entry-point
# group ``gefu.model_families`` (``throwaway = "my_pkg.family:ThrowawayDetector"``).
FAMILIES: Registry = Registry("model family", group="gefu.model_families")

for _name, _target in {
    "mmdet": "gefu.tasks.mmdet_model:MMDetModel",
    "darknet": "gefu.tasks.darknet_model:DarknetModel",
    "mtcnn": "gefu.tasks.mtcnn_model:MTCNNModel",
    "mmseg": "gefu.tasks.mmseg_model:MMSegModel",
    "refinenet": "gefu.tasks.refinenet_model:RefineNetModel",
}.items():
    FAMILIES.add_lazy(_name, _target)


def create_task(name: str, **params: Any):
    return TASKS.build(name, **params)  # None: the task's default
