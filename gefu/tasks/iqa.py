"""The ``iqa`` evaluation: image-quality metrics on the enhanced images.

Full-reference metrics (PSNR, SSIM, LPIPS...) compare with ``sample.reference``; on a dataset
without references they are reported unavailable rather than failing the evaluation. A metric
that fails on a batch raises an error naming the metric and the images; the runner then fails
that cell (a NaN would silently bias or poison the mean). An image a metric is not defined for
(smaller than NIQE's 96 px blocks, flat) is skipped for that metric and named in the cell's
problems; the others are scored.
"""

from __future__ import annotations

from typing import Any

from gefu.metrics import create_metric
from gefu.tasks.base import SKIPPED, MetricInfo, Task

DEFAULT_METRICS = ("psnr", "ssim", "niqe", "piqe")
NO_REFERENCE = "dataset has no reference images"


class IQA(Task):
    """``metrics``: registered metric names, the first one primary."""

    def __init__(self, metrics: list[str] | tuple[str, ...] = DEFAULT_METRICS):
        names = [metrics] if isinstance(metrics, str) else list(metrics)
        if not names:
            raise ValueError("iqa: give at least one metric")
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"iqa: metric(s) listed twice: {', '.join(repeated)}")
        self._metrics = {name: create_metric(name) for name in names}  # unknown -> RegistryError
        self._active: list[str] | None = None  # the metrics set up to run

    @staticmethod
    def check_params(params: dict, where: str = "params") -> list[str]:
        """Unknown metric names, each with close matches (checked before a run starts)."""
        from gefu.metrics import METRICS

        names = params.get("metrics", [])
        problems = []
        for i, name in enumerate([names] if isinstance(names, str) else names or []):
            try:
                METRICS.check(name)
            except KeyError as exc:
                problems.append(f"{where}.metrics[{i}]: {exc.args[0] if exc.args else exc}")
        return problems

    def metrics(self, dataset=None) -> list[MetricInfo]:
        """Every metric, available or not; with ``dataset``, full-reference ones are unavailable
        when it has no references."""
        unpaired = dataset is not None and not getattr(dataset, "paired", False)
        infos = []
        for name, metric in self._metrics.items():
            reason = metric.unavailable()
            if reason is None and metric.full_reference and unpaired:
                reason = NO_REFERENCE
            infos.append(MetricInfo(name, metric.lower_better, reason, metric.full_reference))
        return infos

    libraries = ("pyiqa",)

    def code_dependencies(self) -> tuple[type, ...]:
        return tuple(type(m) for m in self._metrics.values())

    def spec(self) -> dict[str, Any]:
        return {"task": "iqa", "metrics": [m.spec() for m in self._metrics.values()]}

    def incompatible(self, dataset) -> str | None:
        infos = self.metrics(dataset)
        if all(m.unavailable for m in infos):
            return "no metric can run: " + "; ".join(f"{m.name}: {m.unavailable}" for m in infos)
        return None

    def setup(self, device: str) -> None:
        active = [n for n, m in self._metrics.items() if m.unavailable() is None]
        for name in active:
            self._metrics[name].setup(device)
        self._active = active

    def process(self, enhanced, samples) -> list[dict[str, float]]:
        import torch

        if len(samples) != enhanced.shape[0]:
            raise ValueError(f"iqa: {enhanced.shape[0]} images but {len(samples)} samples")
        if self._active is None:
            self.setup(str(enhanced.device))
        has_ref = [s.reference is not None for s in samples]
        if any(has_ref) and not all(has_ref):
            raise ValueError("iqa: a batch mixes samples with and without reference images")
        references = torch.stack([s.reference for s in samples]) if all(has_ref) else None

        rows: list[dict[str, float]] = [{} for _ in samples]
        for name in self._active:
            metric = self._metrics[name]
            if metric.full_reference and references is None:
                continue  # unavailable on this dataset: see metrics(dataset)
            skip = metric.unscorable(enhanced)
            for i, why in skip.items():
                rows[i].setdefault(SKIPPED, {})[name] = why
            keep = [i for i in range(len(samples)) if i not in skip]
            if not keep:
                continue
            try:
                scores = metric(enhanced[keep], references[keep] if metric.full_reference else None)
            except Exception as exc:
                shown = ", ".join(samples[i].name for i in keep[:5])
                more = f" and {len(keep) - 5} more" if len(keep) > 5 else ""
                raise RuntimeError(f"metric {name!r} failed on {shown}{more}: {exc}") from exc
            for i, value in zip(keep, scores.tolist(), strict=True):
                rows[i][name] = float(value)
        return rows
