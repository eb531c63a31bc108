"""Evaluations: what is measured on an enhanced batch (IQA metrics, frozen downstream models)."""

from __future__ import annotations

from typing import Any

from gefu.registry import Registry

TASKS: Registry = Registry("task")
register_task = TASKS.register

for _name, _target in {
    "iqa": "gefu.tasks.iqa:IQA",
}.items():
    TASKS.add_lazy(_name, _target)


def create_task(name: str, **params: Any):
    return TASKS.get(name)(**{k: v for k, v in params.items() if v is not None})
