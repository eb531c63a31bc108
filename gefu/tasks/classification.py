"""Classification: a frozen classifier (``gefu.tasks.classifiers``) scored by top-1 agreement.

``classification`` (target: the dataset's labels) reports top-1 / top-5 accuracy, the GEFU
CODaN protocol; ``classification_consistency`` (target: the model's top-1 on the normal-light
reference; needs no labels, only a paired set) reports ``agreement`` and ``ref_prob``. Model
options (``arch``, ``checkpoint``, ``num_classes``, ``mean``, ``std``, ``resize``,
``center_crop``, ``interpolation``, ``allow_random_weights``) are the classifier's.
"""

from __future__ import annotations

from typing import Any

from gefu.tasks.base import MetricInfo
from gefu.tasks.classifiers import AUTO, Classifier
from gefu.tasks.downstream import DownstreamTask, specialise


class Classification(DownstreamTask):
    """Target "labels": top-1 / top-5 accuracy (per image 0/1) on a labelled classification
    set. ``class_map``: dataset class (name or index) -> model class index, or a list of
    indices (an ImageNet model on another label set: "Cat" -> [281, 282, 283, 284, 285]); a
    prediction counts when it is any of them. Without it, dataset index i is model class i.

    Target "reference": ``agreement`` (top-1 on the enhanced image equals top-1 on the
    reference, per image 0/1) and ``ref_prob`` (the probability the model gives the
    reference's top-1 class on the enhanced image)."""

    defaults = {"arch": {"labels": "gefu_codan_resnet18", "reference": "efficientnet_lite0"}}
    label_options = ("class_map",)

    def __init__(
        self,
        arch: str | None = None,
        checkpoint: str | None = None,
        num_classes: int | None = None,
        mean: list[float] | None = None,
        std: list[float] | None = None,
        resize: int | list[int] | str | None = AUTO,
        center_crop: int | list[int] | str | None = AUTO,
        interpolation: str = AUTO,
        class_map: dict[str, int | list[int]] | None = None,
        allow_random_weights: bool = False,
    ):
        arch = self.target_options(arch=arch, class_map=class_map)["arch"]
        contract = {
            "mean": mean,
            "std": std,
            "resize": resize,
            "center_crop": center_crop,
            "interpolation": interpolation,
        }
        self.attach(Classifier(arch, checkpoint, num_classes, allow_random_weights, **contract))
        self.num_classes = self.model.num_classes
        self.class_map = None
        if class_map is not None:
            self.class_map = {str(k): _index_set(v, self.num_classes) for k, v in class_map.items()}

    def metrics(self, dataset=None) -> list[MetricInfo]:
        why = self.unavailable()
        if self.consistency:
            # On the reference row agreement is trivially 1, but ref_prob is the model's own
            # confidence on the clean image: the ceiling the enhancers are compared with.
            return [
                MetricInfo("agreement", False, why, True, proportion=True),
                MetricInfo("ref_prob", False, why),
            ]
        few = f"the model has only {self.num_classes} classes" if self.num_classes <= 5 else None
        return [
            MetricInfo("top1", False, why, proportion=True),
            MetricInfo("top5", False, why or few, proportion=True),
        ]

    def spec(self) -> dict[str, Any]:
        if self.consistency:
            return super().spec()
        class_map = {k: sorted(v) for k, v in (self.class_map or {}).items()}
        return {**super().spec(), "class_map": class_map or None}

    def labels_incompatible(self, dataset) -> str | None:
        kind = getattr(dataset, "task", None)
        if kind != "classification":
            return f"needs a classification dataset (this one's task is {kind or 'none'})"
        classes = list(getattr(dataset, "classes", ()))
        if self.class_map is None:  # dataset class i is model class i: same label space only
            if len(classes) != self.num_classes:
                shown = ", ".join(classes[:4]) + (", ..." if len(classes) > 4 else "")
                return (
                    f"the dataset's {len(classes)} classes ({shown}) are not the model's "
                    f"{self.num_classes} classes, and without a class map dataset class i "
                    "would be scored as model class i: give the evaluation `class_map: "
                    f"{{{classes[0] if classes else 'Class'}: [model class index, ...], ...}}`"
                )
            return None
        unmapped = [
            c
            for i, c in enumerate(classes)
            if c not in self.class_map and str(i) not in self.class_map
        ]
        return f"class_map misses dataset class(es) {', '.join(unmapped)}" if unmapped else None

    def logits(self, images):
        """``[B,3,H,W]`` in [0,1] -> ``[B,num_classes]`` float logits."""
        return self.predictor.predict(images)

    def process(self, enhanced, samples) -> list[dict[str, Any]]:
        if not self.ready(enhanced):
            return [{} for _ in samples]
        if self.consistency:
            return self._agreement(enhanced, samples)
        k = min(5, self.num_classes)
        top = self.logits(enhanced).topk(k, dim=1).indices.cpu().tolist()
        rows = []
        for sample, ranked in zip(samples, top, strict=True):
            wanted = self._wanted(sample)
            row = {"top1": float(ranked[0] in wanted), "pred": ranked[0], "target": sample.target}
            if self.num_classes > 5:
                row["top5"] = float(any(i in wanted for i in ranked))
            rows.append(row)
        return rows

    def _agreement(self, enhanced, samples) -> list[dict[str, Any]]:
        refs = self.references.get(
            samples, "cpu", lambda batch: self.logits(batch).argmax(dim=1).tolist()
        )
        probs = self.logits(enhanced).softmax(dim=1)
        preds = probs.argmax(dim=1).tolist()
        rows = []
        for i, (ref, pred) in enumerate(zip(refs, preds, strict=True)):
            rows.append(
                {
                    "agreement": float(pred == ref),
                    "ref_prob": float(probs[i, ref]),
                    "pred": pred,
                    "ref_pred": ref,
                }
            )
        return rows

    def _wanted(self, sample) -> set[int]:
        if sample.target is None:
            raise ValueError(f"{sample.name} has no class label")
        target = int(sample.target)
        if self.class_map is None:
            return {target}
        name = sample.meta.get("class")
        wanted = self.class_map.get(name) if name is not None else None
        wanted = wanted if wanted is not None else self.class_map.get(str(target))
        if wanted is None:
            raise ValueError(f"class_map has no entry for {name or target} ({sample.name})")
        return wanted


ClassificationConsistency = specialise(
    Classification, "ClassificationConsistency", target="reference"
)


def _index_set(value, num_classes: int) -> set[int]:
    values = [value] if isinstance(value, int) else list(value)
    bad = [v for v in values if not isinstance(v, int) or not 0 <= v < num_classes]
    if bad or not values:
        raise ValueError(f"class_map: model class indices must be in [0, {num_classes}): {value}")
    return set(values)
