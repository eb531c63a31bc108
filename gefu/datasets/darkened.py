"""``darkened``: any registered dataset turned into a paired dark benchmark by the simulator.

Each item's image is darkened by ``gefu.simulate.LowLightSimulator``, seeded per image from the
item name (so a result does not depend on order, limit or subset); the clean image becomes the
``reference``; target and metadata pass through untouched (metadata gains ``simulator``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from gefu.datasets import DATASETS, create_dataset, register_dataset
from gefu.datasets.base import CheckReport, Dataset, Sample

SPEC_KEYS = ("name", "root", "params", "limit")


@register_dataset("darkened")
class Darkened(Dataset):
    """``dataset``: the wrapped set, ``{name, root, params, limit}`` as in a config's
    ``datasets:`` entry. ``root`` given to ``darkened`` itself is forwarded to the wrapped set
    when its spec has none (a differing second root is an error); ``limit`` applies on top of
    the wrapped set's own. The wrapped set's ``image`` is taken as the clean image: a reference
    it may carry is dropped. ``model``/``severity``/``seed``: see ``gefu.simulate``."""

    paired = True

    def __init__(
        self,
        dataset: dict[str, Any],
        root=None,
        limit: int | None = None,
        model: str = "physical",
        severity: str = "moderate",
        seed: int = 0,
    ):
        from gefu.simulate import LowLightSimulator

        name, inner_root, params, inner_limit = _parse_spec(dataset)
        if root is not None and inner_root is not None and str(root) != str(inner_root):
            raise ValueError(
                f"darkened: two roots given ({root} and dataset.root {inner_root}); give one"
            )
        self.simulator = LowLightSimulator(model, severity, seed=seed)  # validates now
        self.dataset = create_dataset(
            name, root=inner_root if inner_root is not None else root, limit=inner_limit, **params
        )
        super().__init__(self.dataset.root, limit)
        self.problems = self.dataset.problems
        self.task = self.dataset.task
        self.classes = tuple(self.dataset.classes)
        self.size = len(self.dataset) if limit is None else min(limit, len(self.dataset))

    def __getattr__(self, attr: str):
        """Anything else the wrapped set offers (a class map, a label map) passes through."""
        if attr.startswith("_") or "dataset" not in self.__dict__:
            raise AttributeError(attr)
        return getattr(self.dataset, attr)

    def __len__(self) -> int:
        return self.size

    def name_of(self, index: int) -> str:
        return self.dataset.name_of(index)

    def load(self, index: int) -> Sample:
        if not 0 <= index < self.size:
            raise IndexError(index)
        inner = self.dataset.load(index)
        dark = self.simulator(inner.image, name=inner.name)
        meta = {**inner.meta, "simulator": self.simulator.config()}
        return Sample(inner.name, dark, inner.image, inner.target, meta)

    def fingerprint(self) -> str:
        identity = {
            "dataset": self.dataset.fingerprint(),
            "simulator": self.simulator.config(),
            "items": self.size,
        }
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()

    def check(self, read_images: bool = True) -> CheckReport:
        """The wrapped set's check: darkening adds no defects of its own."""
        return self.dataset.check(read_images)


def _parse_spec(spec: Any) -> tuple[str, Any, dict, int | None]:
    """Validate the nested ``dataset`` spec: known keys, a registered name, accepted params."""
    if not isinstance(spec, dict):
        raise ValueError(
            "darkened: `dataset` must be a mapping like {name: coco_detection, root: ...}, "
            f"got {type(spec).__name__}"
        )
    unknown = sorted(set(spec) - set(SPEC_KEYS))
    if unknown:
        raise ValueError(
            f"darkened: dataset.{unknown[0]}: unknown key; valid keys here: {', '.join(SPEC_KEYS)}"
        )
    if not isinstance(spec.get("name"), str):
        raise ValueError("darkened: dataset.name: required, the registered name of a dataset")
    name, params = spec["name"], spec.get("params") or {}
    cls = DATASETS.get(name)  # an unknown name raises the registry's error
    if not isinstance(params, dict):
        raise ValueError(f"darkened: dataset.params must be a mapping, got {params!r}")
    limit = spec.get("limit")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise ValueError(f"darkened: dataset.limit must be a positive integer, got {limit!r}")
    _check_params(name, cls, params)
    return name, spec.get("root"), params, limit


def _check_params(name: str, cls, params: dict) -> None:
    from gefu.core.params import constructor_params

    misplaced = sorted(set(params) & {"root", "limit"})
    if misplaced:
        key = misplaced[0]
        raise ValueError(f"darkened: dataset.params.{key}: set `{key}` beside `params`")
    accepted, _ = constructor_params(cls)
    if accepted is None:
        return
    unknown = sorted(set(params) - accepted)
    if unknown:
        valid = ", ".join(sorted(accepted - {"root", "limit"})) or "(none)"
        raise ValueError(
            f"darkened: dataset.params.{unknown[0]}: unknown parameter of {name!r}; valid: {valid}"
        )
