"""Datasets: lazy readers yielding ``Sample`` items (input, reference, target, metadata)."""

from __future__ import annotations

from typing import Any

from gefu.registry import Registry

DATASETS: Registry = Registry("dataset")
register_dataset = DATASETS.register

for _name, _target in {
    "paired_folder": "gefu.datasets.folders:PairedFolder",
    "unpaired_folder": "gefu.datasets.folders:UnpairedFolder",
    "demo": "gefu.datasets.demo:DemoDataset",
}.items():
    DATASETS.add_lazy(_name, _target)


def create_dataset(name: str, **params: Any):
    return DATASETS.get(name)(**{k: v for k, v in params.items() if v is not None})
