"""``gefu run --dry-run``: what a config would compute, without computing it: the cells, the
fine-tunes (each evaluation's resolved recipe, training-split size, iterations) and an estimate
of their cost. Datasets are listed (not decoded), evaluations built (no model loaded)."""

from __future__ import annotations

import math
import os

# Seconds per fine-tuning iteration of the ExDark recipe (YOLOv3-D53, batch 8, 320-608 inputs)
# on one GPU, for the cost estimate: an assumption, not a measurement (no GPU was at hand; see
# docs/scaling.md). Measure with benchmarks/finetune_iteration.py --device cuda; GEFU_ITER_S
# overrides it.
ITERATION_S = 0.35


def dry_run(config, out=print) -> dict:
    """Print the plan of ``config``; returns its figures (cells, fine-tunes, iterations)."""
    from gefu.bench.config import weights_exist
    from gefu.bench.grid import build_grid
    from gefu.bench.store import DB_NAME, Store
    from gefu.datasets import open_dataset

    absent = [s.label for s in config.enhancers if s.weights and not weights_exist(s.weights)]
    if absent:  # a plan needs no weights: those rows are named, not keyed
        kept = [s for s in config.enhancers if s.label not in absent]
        config = config.model_copy(update={"enhancers": kept})
    grid = build_grid(config, lambda exc: str(exc))
    cached = set()
    if (config.output_dir / DB_NAME).exists():
        with Store(config.output_dir) as store:
            cached = {c.key for c in grid.cells if store.cell_status(c.key) == "ok"}
    out(f"config {config.name!r} -> {config.output_dir}")
    out(
        f"{len(grid.cells)} cell(s): {len(grid.cells) - len(cached)} to compute, "
        f"{len(cached)} cached"
    )
    for label, why in grid.errors.items():
        out(f"  error {label}: {why}")
    for t_label, d_label, why in grid.unavailable:
        out(f"  unavailable {t_label} on {d_label}: {why}")
    for name in config.left_out:
        out(f"  left out until trained: {name}")
    for name in absent:
        out(f"  weights not found (not counted): {name}")
    finetunes = [c for c in grid.cells if c.alone]
    totals = {
        "cells": len(grid.cells),
        "cached": len(cached),
        "finetunes": len(finetunes),
        "iterations": 0,
        "todo_iterations": 0,
    }
    shown = set()
    for cell in finetunes:
        task = grid.tasks[cell.evaluation]
        d_spec = next(s for s in config.datasets if s.label == cell.dataset)
        spec = task.train_spec(d_spec)
        r = task.recipe
        try:
            train = open_dataset(spec)
        except (OSError, ValueError) as exc:  # the data is not here: the recipe still prints
            size, iters = f"not readable here: {exc}", 0
        else:
            size = f"{len(train)} images"
            iters = r.epochs * math.ceil(len(train) * r.repeat / r.batch_size)
        totals["iterations"] += iters
        totals["todo_iterations"] += 0 if cell.key in cached else iters
        if (cell.evaluation, cell.dataset) in shown:
            continue
        shown.add((cell.evaluation, cell.dataset))
        out(
            f"fine-tune {cell.evaluation} on {cell.dataset}: training split {spec.params} "
            f"({size}), seed {task.seed}, {iters or 'unknown'} iterations"
        )
        out(f"  detector {task.model.config}, init {task.model.checkpoint}")
        for key, value in r.model_dump().items():
            out(f"  {key}: {value}")
    if finetunes:
        s = float(os.environ.get("GEFU_ITER_S", ITERATION_S))
        rows = len({c.enhancer for c in finetunes})
        out(
            f"{len(finetunes)} fine-tune(s) ({rows} row(s) x seeds x datasets), "
            f"{totals['iterations']:,} iterations, {totals['todo_iterations']:,} to run: about "
            f"{totals['todo_iterations'] * s / 3600:.1f} GPU-hours at {s} s/iteration "
            "(an estimate; GEFU_ITER_S sets the rate)"
        )
    return totals
