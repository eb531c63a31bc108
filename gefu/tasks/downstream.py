"""A downstream evaluation = a frozen model x a target x a scorer.

- the frozen model: a ``gefu.tasks.frozen.FrozenModel`` of any family that serves the task's
  ``model_kind``, named by the ``model`` option (``{family: mmdet, config: ..., ...}``; the
  family's own options, checked by ``frozen_model``);
- the target (``target``): ``"labels"``, the dataset's annotations, or ``"reference"``, the
  same model's prediction on the sample's normal-light reference (needs a paired set, no
  labels). Reference predictions go through one cache (``ReferenceCache``), keyed by sample
  name and ``reference_hash`` of the reference's pixels, so each is predicted once per run;
- the scorer: the task kind's (``classification``, ``detection``, ``faces``, ``segmentation``),
  computed by the libraries (torch top-1, pycocotools / mmdet ``eval_map``, mmseg ``IoUMetric``).

``*_consistency`` evaluations are the same task kinds with ``target = "reference"``, made by
``specialise`` (no constructor of their own): options that only make sense with labels are
rejected there, and ``defaults`` names the options whose default differs by target.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, ClassVar

from gefu.tasks.base import Task
from gefu.tasks.frozen import FrozenModel, ModelUnavailable, frozen_model, model_problems

TARGETS = ("labels", "reference")
# The flat spellings of 0.1.0's first cut, removed: each says where its value goes now.
_NESTED = "moved into the nested model spec `model: {family: <name>, ...its options}`"
MOVED = {
    "detector": f"{_NESTED}: `detector: X` is `model: {{family: X}}`",
    "segmenter": f"{_NESTED}: `segmenter: X` is `model: {{family: X}}`",
    **{
        key: f"{_NESTED}, e.g. `model: {{family: mmdet, config: ..., checkpoint: ...}}`"
        for key in ("config", "checkpoint", "cfg_options", "allow_random_weights")
    },
    "min_face_size": f"{_NESTED}: `model: {{family: mtcnn, min_face_size: 20}}`",
    **{
        key: f"{_NESTED}: the `{key}:` options are the family's own keys, e.g. `model: "
        f"{{family: {key}, input_size: 192}}`"
        for key in ("darknet", "refinenet")
    },
}


def reference_hash(image) -> str:
    """The content hash of a reference image tensor (its shape, dtype and pixels)."""
    array = image.detach().cpu().contiguous().numpy()
    h = hashlib.sha256(f"{array.shape}{array.dtype}".encode())
    h.update(array.tobytes())
    return h.hexdigest()


class ReferenceCache:
    """The model's target on each sample's reference, predicted once per sample and content."""

    def __init__(self):
        self._items: dict[tuple[str, str], Any] = {}

    def __len__(self) -> int:
        return len(self._items)

    def get(self, samples, device, predict: Callable[[Any], list[Any]]) -> list[Any]:
        """One target per sample; ``predict`` maps a stacked batch of references (those not
        cached yet, grouped by size) to their targets."""
        import torch

        missing = [s.name for s in samples if s.reference is None]
        if missing:
            raise ValueError(f"{missing[0]} has no reference image (the target needs one)")
        keys = [(s.name, reference_hash(s.reference)) for s in samples]
        by_size: dict[tuple, list[int]] = {}
        for i, key in enumerate(keys):
            if key not in self._items:
                by_size.setdefault(tuple(samples[i].reference.shape), []).append(i)
        for group in by_size.values():
            batch = torch.stack([samples[i].reference for i in group]).to(device)
            for i, target in zip(group, predict(batch), strict=True):
                self._items[keys[i]] = target
        return [self._items[k] for k in keys]


class DownstreamTask(Task):
    """What every downstream task kind shares: the frozen model, its availability, the
    target, loading once per run and the cache key. A kind sets ``model`` in its constructor
    (``target_options``, then ``attach``) and implements ``metrics``, ``process`` and its
    dataset checks (``labels_incompatible``)."""

    target: ClassVar[str] = "labels"
    # options whose default depends on the target: {option: {target: default}}
    defaults: ClassVar[dict[str, dict[str, Any]]] = {}
    # options that only apply to target "labels" (rejected with "reference")
    label_options: ClassVar[tuple[str, ...]] = ()
    # options that only apply to target "reference" (rejected with "labels")
    reference_options: ClassVar[tuple[str, ...]] = ()
    # what the ``model`` option must serve (``gefu.tasks.frozen.KINDS``); "" builds its own
    model_kind: ClassVar[str] = ""
    default_model: ClassVar[dict[str, Any] | None] = None  # ``model`` when none is given
    moved: ClassVar[dict[str, str]] = MOVED  # removed option -> where it went (config errors)

    @classmethod
    def check_params(cls, params: dict[str, Any], where: str) -> list[str]:
        """The ``model`` spec's problems, found when the config is read (nothing is built)."""
        spec = params.get("model") or cls.default_model
        if not cls.model_kind or not isinstance(spec, dict):  # the type check says why
            return []
        return model_problems(spec, cls.model_kind, f"{where}.model")

    def frozen_model(self, model: dict[str, Any] | None) -> FrozenModel:
        """The model the ``model`` spec names (the default where None), serving ``model_kind``."""
        return frozen_model(model or self.default_model, self.model_kind)

    def target_options(self, **options) -> dict[str, Any]:
        """The target-specific ``options`` (None: not given), checked against the target and
        with their defaults for it filled in."""
        if self.target not in TARGETS:
            raise ValueError(f"target must be one of {', '.join(TARGETS)}, not {self.target!r}")
        other = "labels" if self.target == "reference" else "reference"
        wrong = self.label_options if other == "labels" else self.reference_options
        given = sorted(k for k in wrong if options.get(k) is not None)
        if given:
            raise ValueError(
                f"{self.registry_name or type(self).__name__}: {', '.join(given)} only "
                f"apply to target {other!r}"
            )
        return {
            k: v if v is not None else self.defaults.get(k, {}).get(self.target)
            for k, v in options.items()
        }

    def attach(self, model: FrozenModel) -> None:
        """Evaluate with ``model`` (nothing is loaded before ``setup``)."""
        self.model = model
        self.device: str | None = None
        self.predictor = None
        self.setup_error: str | None = None
        self.references = ReferenceCache()

    @property
    def consistency(self) -> bool:
        return self.target == "reference"

    # -- availability ----------------------------------------------------------------------
    def unavailable(self) -> str | None:
        """Why the metrics cannot be computed here (no download), or None."""
        if self.setup_error:
            return self.setup_error
        return None if self.predictor is not None else self.model.unavailable()

    def incompatible(self, dataset) -> str | None:
        if self.consistency and not getattr(dataset, "paired", False):
            return "needs a paired dataset (the target is the prediction on the reference)"
        return None if self.consistency else self.labels_incompatible(dataset)

    def labels_incompatible(self, dataset) -> str | None:
        """Why ``dataset``'s labels cannot be the target of this evaluation, or None."""
        return None

    def spec(self) -> dict[str, Any]:
        return {"task": self.registry_name, "target": self.target, "model": self.model.spec()}

    def code_dependencies(self) -> tuple[type, ...]:
        return (type(self.model),)  # the family is reached through a registry, not an import

    # -- running -----------------------------------------------------------------------------
    def setup(self, device: str) -> None:
        """Load the model once per run (shared with other evaluations of the same model);
        only here may a checkpoint URL be downloaded. A model that cannot be loaded leaves the
        metrics unavailable, with the reason, rather than failing the run."""
        self.device, self.predictor, self.setup_error = device, None, None
        if self.model.unavailable(download=True) is not None:
            return
        try:
            self.predictor = self.model.load(device)
        except ModelUnavailable as exc:
            self.setup_error = str(exc)

    def ready(self, enhanced) -> bool:
        """Set up on the batch's device if ``setup`` was not called; whether there is a model."""
        if self.predictor is None and self.device is None:
            self.setup(str(enhanced.device))
        return self.predictor is not None


def specialise(base: type, name: str, **attributes) -> type:
    """``base`` with other class attributes (e.g. ``target="reference"``): a registered name
    of its own, and no constructor of its own."""
    doc = f"``{base.__name__}`` with {', '.join(f'{k}={v!r}' for k, v in attributes.items())}."
    return type(name, (base,), {**attributes, "__module__": base.__module__, "__doc__": doc})
