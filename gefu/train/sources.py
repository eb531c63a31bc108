"""The training data vocabulary: a training config names its data sources with the dataset
entries benchmarks use (``gefu.core.specs.DatasetSpec``: registry name, root, params, limit),
``darkened`` for normal-light images darkened on the fly.

In training, a ``darkened`` entry darkens each training patch (one draw from the sample's
seed), not each whole image once as a benchmark does; its ``model`` and ``severity`` mean what
they mean there, plus ``severity: random`` (the strength drawn per patch too).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from gefu.core.errors import ConfigError
from gefu.core.specs import DatasetSpec
from gefu.core.strict import StrictModel, validate
from gefu.datasets.base import Dataset

DARKEN_PARAMS = ("dataset", "model", "severity")
# the photos shipped with installed packages, as stored
BUNDLED = {"name": "bundled_photos", "params": {"max_side": None}}


class Darkening(StrictModel):
    """How a ``darkened`` entry darkens in training: once per training patch, drawn from the
    sample's seed (``severity: random`` draws the strength too), where a benchmark darkens each
    whole image once. Defaults are ``darkened``'s own."""

    model: Literal["physical", "gamma_curve"] = "physical"  # see gefu.simulate
    severity: Literal["mild", "moderate", "severe", "random"] = "moderate"

    def check_presets(self, where: str) -> None:
        """For methods that darken through ``gefu.simulate.LowLightSimulator``: its presets
        (``random`` exists for gamma_curve only)."""
        from gefu.simulate import resolve_params

        try:
            resolve_params(self.model, self.severity)
        except ValueError as exc:
            raise ConfigError(f"{where}.params.severity: {exc}") from None


def open_source(spec: DatasetSpec, where: str) -> tuple[Dataset, Darkening | None]:
    """The registered dataset a training ``data:`` entry names (``where``: its key path, for
    errors) and, for a ``darkened`` entry, the wrapped dataset and its darkening."""
    if spec.name != "darkened":
        return _create(spec, where), None
    params = dict(spec.params)
    unknown = sorted(set(params) - set(DARKEN_PARAMS))
    if unknown:
        raise ConfigError(
            f"{where}.params.{unknown[0]}: not a parameter of `darkened` in training (every "
            f"draw comes from the run's seed); valid: {', '.join(DARKEN_PARAMS)}"
        )
    if "dataset" not in params:
        raise ConfigError(
            f"{where}.params.dataset: required key is missing (the dataset to darken, "
            "e.g. {name: bundled_photos})"
        )
    inner = validate(DatasetSpec, params.pop("dataset"), prefix=f"{where}.params.dataset")
    darkening = validate(Darkening, params, prefix=f"{where}.params")
    if spec.root is not None and inner.root is not None and spec.root != inner.root:
        raise ConfigError(f"{where}: two roots given ({spec.root} and {inner.root}); give one")
    limits = [n for n in (spec.limit, inner.limit) if n is not None]
    inner = inner.model_copy(
        update={"root": inner.root or spec.root, "limit": min(limits) if limits else None}
    )
    return _create(inner, f"{where}.params.dataset"), darkening


def _create(spec: DatasetSpec, where: str) -> Dataset:
    from gefu.core.params import unknown_params
    from gefu.datasets import DATASETS, open_dataset

    try:
        cls = DATASETS.get(spec.name)
    except KeyError as exc:
        raise ConfigError(f"{where}.name: {exc}") from None
    unknown = unknown_params(cls, spec.name, spec.params, f"{where}.params")
    if unknown:
        raise ConfigError(unknown[0])
    try:
        dataset = open_dataset(spec)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if len(dataset) == 0:
        raise FileNotFoundError(
            f"{where}: {spec.name} has no images" + (f" at {spec.root}" if spec.root else "")
        )
    return dataset


def _bundled() -> dict:
    return {"name": BUNDLED["name"], "params": dict(BUNDLED["params"])}


class PatchConfig(StrictModel):
    """The ``data:`` section of methods trained on image patches (Zero-DCE, Zero-DCE++)."""

    # a dataset entry as in a benchmark: ``darkened`` for normal-light images darkened on the
    # fly (``{low, normal}``), any other for real low-light or multi-exposure captures used as
    # they are (SICE, as Zero-DCE and Zero-DCE++ train; the sample then has only ``low``)
    dataset: DatasetSpec = Field(
        default_factory=lambda: DatasetSpec(
            name="darkened", params={"dataset": _bundled(), "severity": "random"}
        )
    )
    resize: int | None = Field(None, ge=1, description="shorter side before cropping")
    crop: int = Field(256, ge=8)
    # crop: a random crop x crop patch; square: the whole image resized to crop x crop
    # (Zero-DCE's and Zero-DCE++'s released loaders: 256² and 512², no crop)
    fit: Literal["crop", "square"] = "crop"
    flip: bool = True
    cache: bool = True  # keep decoded (resized) photos in memory
