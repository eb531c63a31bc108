"""Image-quality metrics (through pyiqa). Each knows its direction and its needs."""

from __future__ import annotations

from gefu.core.registry import Registry

METRICS: Registry = Registry("metric")
register_metric = METRICS.register

# name -> factory; facts (direction, full-reference, weights) live in gefu.metrics.iqa.SPECS.
for _name in (
    "psnr",
    "psnr_y",
    "ssim",
    "ms_ssim",
    "lpips",
    "niqe",
    "piqe",
    "brisque",
    "musiq",
    "clipiqa",
):
    METRICS.add_lazy(_name, f"gefu.metrics.iqa:{_name}")


def create_metric(name: str, **params):
    return METRICS.build(name, params)
