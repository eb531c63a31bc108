"""Image-quality metrics (through pyiqa). Each knows its direction and its needs."""

from __future__ import annotations

from gefu.core.registry import Registry
from gefu.metrics.iqa import SPECS, factory

METRICS: Registry = Registry("metric")
register_metric = METRICS.register

# one entry per row of the pyiqa table (direction, full-reference, weights: gefu.metrics.iqa.SPECS)
for _name in SPECS:
    METRICS.add_built(_name, factory(_name))


def create_metric(name: str, **params):
    return METRICS.build(name, params)
