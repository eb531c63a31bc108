"""The grid: every (row, dataset, evaluation) cell of a benchmark config, each with the cache key
of everything that determines its result (see gefu.core.hashing), and the evaluations that
cannot run on a dataset, with the reason."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gefu.bench.keys import dataset_key, enhancer_key
from gefu.bench.parts import Parts
from gefu.core.hashing import BASE_LIBRARIES, code_hash, digest, library_versions
from gefu.core.specs import REFERENCE_ROW


@dataclass
class Cell:
    key: str
    enhancer: str  # the row: an enhancer label, or the reference row
    dataset: str
    evaluation: str
    spec: dict[str, Any]
    alone: bool = False  # a unit of work of its own, whole dataset (a fine-tune: finetune.py)


@dataclass
class Grid:
    cells: list[Cell] = field(default_factory=list)
    datasets: dict[str, Any] = field(default_factory=dict)  # label -> dataset (None: broken)
    tasks: dict[str, Any] = field(default_factory=dict)  # label -> evaluation
    errors: dict[str, str] = field(default_factory=dict)  # dataset/evaluation label -> why
    unavailable: list[tuple[str, str, str]] = field(default_factory=list)  # eval, dataset, why
    parts: Parts = field(default_factory=Parts)  # what was built, for this process's workers


def build_grid(config, why, parts: Parts | None = None) -> Grid:
    """Open the datasets, build the evaluations (no models loaded) through ``parts``, bind
    each evaluation to the datasets it runs on and key every cell; ``why(exc)`` turns a
    failure into its one-line reason."""
    from gefu.bench.assemble import assemble_cell
    from gefu.bench.finetune_data import enhanced_split
    from gefu.bench.work import Worker
    from gefu.datasets import DATASETS
    from gefu.enhancers import ENHANCERS

    grid = Grid(parts=parts or Parts())
    dataset_keys = {}
    for spec in config.datasets:
        try:
            ds = grid.parts.dataset(spec)
            grid.datasets[spec.label] = ds
            dataset_keys[spec.label] = dataset_key(spec, ds, DATASETS)
        except Exception as exc:
            grid.errors[spec.label] = f"cannot open dataset: {why(exc)}"
            grid.datasets[spec.label] = None
            dataset_keys[spec.label] = {"spec": spec.model_dump()}
    for s in config.evaluations:
        try:
            grid.tasks[s.label] = grid.parts.task(s)
        except Exception as exc:  # a plugin's constructor, a model file that will not parse
            grid.errors[s.label] = f"cannot build evaluation: {why(exc)}"
    enhancer_keys = {spec.label: enhancer_key(spec, ENHANCERS) for spec in config.enhancers}
    pipeline = code_hash(Worker, assemble_cell)  # batching, seeding, checks, scoring
    for d_label, ds in grid.datasets.items():
        rows = list(enhancer_keys.items())
        if config.include_reference and ds is not None and ds.paired:
            rows.append((REFERENCE_ROW, {"name": REFERENCE_ROW}))
        for t_spec in config.evaluations:
            t_label = t_spec.label
            task = grid.tasks.get(t_label)
            reason = task.incompatible(ds) if ds is not None and task is not None else None
            if reason:
                grid.unavailable.append((t_label, d_label, reason))
                continue
            if task is not None and ds is not None:
                task.bind(ds)
            evaluation = (
                _evaluation_key(task, ds) if task is not None else {"error": grid.errors[t_label]}
            )
            evaluation["protocol"] = t_spec.protocol  # printed beside the numbers
            # -- fine-tuned evaluations (gefu.tasks.finetune): the training split is in the key
            if hasattr(task, "train_spec") and ds is not None:
                d_spec = next(s for s in config.datasets if s.label == d_label)
                try:
                    train = task.train_spec(d_spec)
                    key = dataset_key(train, grid.parts.dataset(train), DATASETS)
                    evaluation["train_data"] = key | {"enhanced_by": code_hash(enhanced_split)}
                except Exception as exc:
                    reason = f"cannot open the training split: {why(exc)}"
                    grid.unavailable.append((t_label, d_label, reason))
                    continue
            alone = bool(getattr(task, "unit_per_cell", False))
            # -- end fine-tuned evaluations
            libraries = library_versions(BASE_LIBRARIES + getattr(task, "libraries", ()))
            for e_label, e_key in rows:
                spec = {
                    "enhancer": e_key,
                    "dataset": dataset_keys[d_label],
                    "evaluation": evaluation,
                    "libraries": libraries,
                    "batch_size": config.batch_size,  # a batch shares one RNG seed
                }
                key = digest({"pipeline": pipeline, **spec})
                grid.cells.append(Cell(key, e_label, d_label, t_label, spec, alone))
    return grid


def _evaluation_key(task, ds) -> dict:
    facts = [[m.name, m.lower_better, m.unavailable is None] for m in task.metrics(ds)]
    return {
        "task": task.spec(),
        "metrics": facts,
        "code": code_hash(type(task), *task.code_dependencies()),
    }
