"""What one finished (or failed) cell writes to the store: a plain record, kept apart from the
store's code so that editing the store does not change any cell's cache key."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class CellResult:
    """Everything one finished (or failed) cell writes."""

    cell_key: str
    enhancer: str
    dataset: str
    evaluation: str
    status: str
    spec: dict[str, Any]
    error: str | None = None
    n_images: int = 0
    n_skipped: int = 0
    params: int | None = None
    trainable: bool | None = None
    enhance_s: float | None = None
    images_per_s: float | None = None
    ms_per_mp: float | None = None
    wall_s: float | None = None
    # (metric, value, lower_better, unavailable_reason), primary first
    metrics: list[tuple[str, float | None, bool, str | None]] = field(default_factory=list)
    image_scores: list[tuple[str, str, float]] = field(default_factory=list)  # image, metric, v
    proportions: list[str] = field(default_factory=list)  # metrics whose mean is a proportion
    problems: list[tuple[str, str]] = field(default_factory=list)  # item, message
    samples: list[tuple[str, str, bytes]] = field(default_factory=list)  # image, kind, png
    image_records: list[tuple[str, bytes]] = field(default_factory=list)  # image, records blob
    # image, cluster (independent unit; None: the image), stratum (repeated condition or None)
    image_groups: list[tuple[str, str | None, str | None]] = field(default_factory=list)
