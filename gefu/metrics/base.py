"""The metric interface: per-image scores for a batch, with the facts ranking depends on."""

from __future__ import annotations

from typing import ClassVar


class Metric:
    """Scores images one by one. Subclasses set every class attribute (no silent defaults):
    ``lower_better`` decides ranking, ``full_reference`` whether a reference is needed."""

    registry_name: ClassVar[str] = ""
    lower_better: ClassVar[bool]
    full_reference: ClassVar[bool]

    def unavailable(self) -> str | None:
        """None when the metric can run offline here; otherwise why not (e.g. missing weights).
        Must not touch the network."""
        return None

    def setup(self, device: str) -> None:
        """Load weights onto ``device``; called once before the first batch."""

    def unscorable(self, images) -> dict[int, str]:
        """The images of a ``[B,3,H,W]`` batch this metric is not defined for (index -> why):
        the caller skips and reports them. None by default."""
        return {}

    def __call__(self, images, references=None):
        """``[B,3,H,W]`` in [0,1] (and references of the same shape) -> ``[B]`` scores."""
        raise NotImplementedError

    def spec(self) -> dict:
        """What determines this metric's values (part of the runner's cache key)."""
        return {"name": self.registry_name}
