"""The evaluation interface, shaped like mmengine's metrics: ``process`` per batch, ``compute``
once. Per-image scores are kept so that the report can bootstrap confidence intervals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class MetricInfo:
    name: str
    lower_better: bool
    unavailable: str | None = None  # why it cannot be computed here, or None
    uses_reference: bool = False  # compares with the reference (trivial on the reference row)


class Task:
    registry_name: ClassVar[str] = ""

    def metrics(self, dataset=None) -> list[MetricInfo]:
        """Every metric this evaluation reports, available or not, primary one first; with
        ``dataset``, also those it cannot compute there (marked unavailable)."""
        raise NotImplementedError

    def spec(self) -> dict[str, Any]:
        """Everything that determines the results (for the runner's cache key)."""
        raise NotImplementedError

    def incompatible(self, dataset) -> str | None:
        """Why this evaluation cannot run on ``dataset``, or None."""
        return None

    def setup(self, device: str) -> None:
        """Load frozen models once per run."""

    def process(self, enhanced, samples) -> list[dict[str, float]]:
        """Score one enhanced batch ``[B,3,H,W]``: one ``{metric: value}`` per image."""
        raise NotImplementedError

    def compute(self, per_image: list[dict[str, float]]) -> dict[str, float]:
        """Dataset-level values; the mean of the per-image scores unless overridden."""
        names = [m.name for m in self.metrics() if m.unavailable is None]
        out = {}
        for name in names:
            vals = [r[name] for r in per_image if name in r]
            out[name] = sum(vals) / len(vals) if vals else float("nan")
        return out
