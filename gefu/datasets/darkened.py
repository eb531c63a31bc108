"""``darkened``: any registered dataset turned into a paired dark benchmark by the simulator.

Each item's image is darkened by ``gefu.simulate.LowLightSimulator``, seeded per image from the
item name (so a result does not depend on order, limit or subset); the clean image becomes the
``reference``; target and metadata pass through untouched (metadata gains ``simulator``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from gefu.datasets import DATASETS, create_dataset
from gefu.datasets.base import CheckReport, Dataset, Sample

SPEC_KEYS = ("name", "root", "params", "limit")


class Darkened(Dataset):
    """``dataset``: the wrapped set, ``{name, root, params, limit}`` as in a config's
    ``datasets:`` entry. ``root`` given to ``darkened`` itself is forwarded to the wrapped set
    when its spec has none (a differing second root is an error); ``limit`` applies on top of
    the wrapped set's own. The wrapped set's ``image`` is taken as the clean image: a reference
    it may carry is dropped. ``model``/``severity``/``seed``: see ``gefu.simulate``.

    ``severities`` (instead of ``severity``): every image at each of several severities, named
    ``<name>@<severity>`` (image-major order; ``limit`` counts these items). Sampling units:
    with several severities the stratum is the severity and the cluster the source image (or
    the wrapped set's own cluster, e.g. an ACDC sequence); with one, no strata and the wrapped
    set's clusters."""

    paired = True

    def __init__(
        self,
        dataset: dict[str, Any],
        root=None,
        limit: int | None = None,
        model: str = "physical",
        severity: str | None = None,
        seed: int = 0,
        severities: list[str] | None = None,
    ):
        from gefu.simulate import LowLightSimulator

        name, inner_root, params, inner_limit = _parse_spec(dataset)
        if root is not None and inner_root is not None and str(root) != str(inner_root):
            raise ValueError(
                f"darkened: two roots given ({root} and dataset.root {inner_root}); give one"
            )
        if severities is not None and severity is not None:
            raise ValueError("darkened: give `severity` or `severities`, not both")
        if severities is not None and (
            isinstance(severities, str) or not severities or len(set(severities)) < len(severities)
        ):
            raise ValueError(
                f"darkened: severities must be a list of distinct severities, got {severities!r}"
            )
        self.severities = tuple(severities) if severities else (severity or "moderate",)
        # One simulator per severity; validates model and severity names now, not at load time.
        self.simulators = {s: LowLightSimulator(model, s, seed=seed) for s in self.severities}
        self.simulator = self.simulators[self.severities[0]]
        self.dataset = create_dataset(
            name, root=inner_root if inner_root is not None else root, limit=inner_limit, **params
        )
        super().__init__(self.dataset.root, limit)
        self.findings = self.dataset.findings
        self.task = self.dataset.task
        self.classes = tuple(self.dataset.classes)
        self.items = self._limited(
            [(i, s) for i in range(len(self.dataset)) for s in self.severities]
        )
        self.size = len(self.items)

    def __getattr__(self, attr: str):
        """Anything else the wrapped set offers (a class map, a label map) passes through."""
        if attr.startswith("_") or "dataset" not in self.__dict__:
            raise AttributeError(attr)
        return getattr(self.dataset, attr)

    def __len__(self) -> int:
        return self.size

    @property
    def stratified(self) -> bool:
        return len(self.severities) > 1

    def name_of(self, index: int) -> str:
        inner, severity = self.items[index]
        name = self.dataset.name_of(inner)
        return f"{name}@{severity}" if self.stratified else name

    def cluster_of(self, index: int) -> str | None:
        inner = self.items[index][0]
        cluster = self.dataset.cluster_of(inner)
        if cluster is None and self.stratified:
            cluster = self.dataset.name_of(inner)
        return cluster

    def stratum_of(self, index: int) -> str | None:
        inner, severity = self.items[index]
        return severity if self.stratified else self.dataset.stratum_of(inner)

    def load(self, index: int) -> Sample:
        if not 0 <= index < self.size:
            raise IndexError(index)
        inner_index, severity = self.items[index]
        inner = self.dataset.load(inner_index)
        name = f"{inner.name}@{severity}" if self.stratified else inner.name
        simulator = self.simulators[severity]
        dark = simulator(inner.image, name=name)
        meta = {**inner.meta, "simulator": simulator.config()}
        return Sample(
            name,
            dark,
            inner.image,
            inner.target,
            meta,
            cluster=self.cluster_of(index),
            stratum=self.stratum_of(index),
        )

    def fingerprint(self) -> str:
        identity = {"dataset": self.dataset.fingerprint(), "items": self.size}
        if self.stratified:
            identity["simulators"] = {s: sim.config() for s, sim in self.simulators.items()}
        else:  # the single-severity identity of earlier versions: their cached cells still hit
            identity["simulator"] = self.simulator.config()
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
    from gefu.core.params import unknown_params

    misplaced = sorted(set(params) & {"root", "limit"})
    if misplaced:
        key = misplaced[0]
        raise ValueError(f"darkened: dataset.params.{key}: set `{key}` beside `params`")
    unknown = unknown_params(cls, name, params, where="dataset.params")
    if unknown:
        raise ValueError(f"darkened: {unknown[0]}")
