"""The evaluation interface, shaped like mmengine's metrics: ``process`` per batch, ``compute``
once. Per-image scores are kept so that the report can bootstrap confidence intervals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from gefu.core.registry import RegisteredName

SKIPPED = "skipped"  # record entry {metric: why} for an image a metric cannot score (too small)


@dataclass(frozen=True)
class MetricInfo:
    name: str
    lower_better: bool
    unavailable: str | None = None  # why it cannot be computed here, or None
    uses_reference: bool = False  # compares with the reference (trivial on the reference row)
    # per-image scores are 0/1 outcomes (top-1, agreement): their mean is a proportion
    proportion: bool = False


class Task:
    registry_name = RegisteredName("gefu.tasks:TASKS")  # the name it is listed under
    # Distributions that compute this evaluation's metrics (its scorer): their versions are
    # part of its cells' cache keys and stored with them. A frozen model's own libraries are
    # declared by its family, with their versions, in the model's ``spec`` (also in the key).
    libraries: ClassVar[tuple[str, ...]] = ()

    def metrics(self, dataset=None) -> list[MetricInfo]:
        """Every metric this evaluation reports, available or not, primary one first; with
        ``dataset``, also those it cannot compute there (marked unavailable)."""
        raise NotImplementedError

    def spec(self) -> dict[str, Any]:
        """Everything that determines the results (for the runner's cache key)."""
        raise NotImplementedError

    def code_dependencies(self) -> tuple[type, ...]:
        """Classes, besides this one, whose source determines the results (cache key): e.g.
        metric implementations reached through a registry rather than an import."""
        return ()

    def scoring(self) -> dict[str, Any] | None:
        """How the dataset-level metrics aggregate per-image records, for ``gefu.tasks.scoring``
        (its kind and options), or None when every metric is a mean of per-image scores. The
        runner stores the records with it; the report recomputes the metrics from them."""
        return None

    def incompatible(self, dataset) -> str | None:
        """Why this evaluation cannot run on ``dataset``, or None (a question: changes nothing)."""
        return None

    def bind(self, dataset) -> None:
        """Take from ``dataset`` (a compatible one) what scoring needs, e.g. its class names;
        called by the grid and by each worker before the evaluation runs on it."""

    def setup(self, device: str) -> None:
        """Load frozen models once per run."""

    def process(self, enhanced, samples) -> list[dict[str, Any]]:
        """Score one enhanced batch ``[B,3,H,W]``: one record per image. Entries named after a
        metric with a number as value are per-image scores (stored, bootstrapped in the report);
        other entries (predictions, confusion counts...) only feed ``compute``."""
        raise NotImplementedError

    def compute(self, records: list[dict[str, Any]]) -> dict[str, float]:
        """Dataset-level values from all records; the mean of the per-image scores unless
        overridden (mAP and mIoU are not means over images: their tasks override this)."""
        out = {}
        for m in self.metrics():
            vals = [r[m.name] for r in records if isinstance(r.get(m.name), int | float)]
            out[m.name] = sum(vals) / len(vals) if vals else float("nan")
        return out


def per_image_scores(record: dict[str, Any], metric_names: set[str]) -> dict[str, float]:
    """The per-image scores in a record (see ``Task.process``)."""
    return {
        k: float(v)
        for k, v in record.items()
        if k in metric_names and isinstance(v, int | float) and not isinstance(v, bool)
    }
