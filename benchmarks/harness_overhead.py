"""How much time does the harness add on top of the work it measures?

One process, the embedded demo benchmark (every enhancer, every evaluation), then a detection
cell alone (``--detection``). For each enhancer, side by side on the same images:
- harness: its (enhancer, dataset) unit as ``gefu run`` runs it (batching, seeding, output
  checks, every evaluation, sample thumbnails), then its cells assembled and written to SQLite;
- loading: reading and darkening the images alone (the dataset's own work);
- compute: the enhancer's forward, each evaluation's ``process`` and ``compute`` (the frozen
  models and the metrics' library calls) alone, on the same batches pre-loaded in memory.
The frozen models' predictions on the references are cached before any timing (one untimed
pass), in both paths alike.
Overhead = (harness - loading) / compute - 1 (target: 5 % at most). Minimum over ``--repeats``.

    python benchmarks/harness_overhead.py [--repeats 3] [--detection]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from functools import partial

import torch

DETECTION = {
    "name": "detection_consistency",
    "params": {
        "model": {"family": "darknet", "input_size": 256},
        "ref_score_thr": 0.25,
        "metric": "coco",
    },
}


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    from gefu.bench.assemble import assemble_cell
    from gefu.bench.batches import iter_batches
    from gefu.bench.config import load_config
    from gefu.bench.grid import build_grid
    from gefu.bench.store import Store
    from gefu.bench.work import Unit, Worker

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--detection", action="store_true", help="a detection cell alone")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--config", help="benchmark YAML (default: the embedded demo)")
    args = parser.parse_args()

    config = load_config(args.config)
    update = {"include_reference": False}
    if args.detection:
        from gefu.core.specs import EvaluationSpec

        update["evaluations"] = [EvaluationSpec(**DETECTION)]
    best: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        config = config.model_copy(update={"output": tmp, **update})
        grid = build_grid(config, str)
        ((ds_label, dataset),) = grid.datasets.items()
        worker = Worker(config, args.device, datasets=grid.datasets, tasks=grid.tasks)
        for label in grid.tasks:
            worker._setup(label, dataset)  # models loaded once, outside every timing
        batches = [b for b, _ in iter_batches(dataset, config.batch_size)]

        def harness(unit, cells, store):
            result = worker.run(unit)
            for c in cells:
                task = grid.tasks[c.evaluation]
                store.write_cell(assemble_cell(c, [result], task, dataset, False, config.samples))

        def loading():
            for _ in iter_batches(dataset, config.batch_size):
                pass

        def compute(model):
            records: dict[str, list] = {label: [] for label in grid.tasks}
            with torch.inference_mode():
                for batch in batches:
                    out = model(torch.stack([s.image for s in batch]).to(args.device))
                    for label, task in grid.tasks.items():
                        records[label] += task.process(out, batch)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            for label, task in grid.tasks.items():
                task.compute(records[label])

        with Store(tmp) as store:
            for spec in config.enhancers[:1]:  # fills the reference caches, untimed
                unit = Unit(ds_label, spec.label, tuple(grid.tasks), 0, len(dataset), 0, "b")
                worker.run(unit)
            for _ in range(args.repeats):
                for spec in config.enhancers:
                    cells = [c for c in grid.cells if c.enhancer == spec.label]
                    unit = Unit(ds_label, spec.label, tuple(grid.tasks), 0, len(dataset), 0, "b")
                    model = worker._row(spec.label).model
                    times = [
                        timed(partial(harness, unit, cells, store)),
                        timed(loading),
                        timed(partial(compute, model)),
                    ]
                    old = best.get(spec.label, times)
                    best[spec.label] = [min(a, b) for a, b in zip(old, times, strict=True)]

    what = "detection cell" if args.detection else "demo cells"
    where = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "CPU"
    print(f"{what}, {len(dataset)} images, {where}, {torch.get_num_threads()} torch threads")
    print(f"{'enhancer':<26}{'harness s':>11}{'loading s':>11}{'compute s':>11}{'overhead':>10}")
    for label, (h, ld, c) in best.items():
        print(f"{label:<26}{h:>11.3f}{ld:>11.3f}{c:>11.3f}{(h - ld) / c - 1:>10.1%}")
    h, ld, c = (sum(v[i] for v in best.values()) for i in range(3))
    print(f"{'all':<26}{h:>11.3f}{ld:>11.3f}{c:>11.3f}{(h - ld) / c - 1:>10.1%}")


if __name__ == "__main__":
    main()
