"""How much time does the harness add on top of the work it measures?

For each demo cell, in one process and on the same images: the wall time of a real
``gefu run`` cell (reading, batching, validation, scoring, SQLite writes, sample crops) versus
the sum of the enhancer's and the metrics' own compute when called directly in a tight loop.
Overhead = cell wall time / (enhancer + metrics) - 1. Target: under 10 %.

    python benchmarks/harness_overhead.py [--enhancers identity gamma lime] [--repeats 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch


def direct_compute(config, enhancer_spec, task) -> float:
    """Enhancer + metrics alone: data pre-loaded, no validation, no store."""
    from gefu.datasets import create_dataset
    from gefu.enhancers import create_enhancer

    ds_spec = config.datasets[0]
    ds = create_dataset(ds_spec.name, root=ds_spec.root, limit=ds_spec.limit, **ds_spec.params)
    samples = [ds.load(i) for i in range(len(ds))]
    model = create_enhancer(enhancer_spec.name, **enhancer_spec.params).eval()
    total = 0.0
    with torch.inference_mode():
        for start in range(0, len(samples), 1):  # the demo's images differ in size: batch 1
            batch = samples[start : start + 1]
            x = torch.stack([s.image for s in batch])
            t0 = time.perf_counter()
            out = model(x)
            task.process(out, batch)
            total += time.perf_counter() - t0
    return total


def main() -> None:
    from gefu.bench.config import load_config
    from gefu.bench.runner import Runner

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enhancers", nargs="*", default=None, help="ids from the demo config")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    config = load_config(None)
    specs = [e for e in config.enhancers if not args.enhancers or e.label in args.enhancers]
    print(f"{'enhancer':<26}{'cell wall s':>12}{'compute s':>12}{'overhead':>10}")
    totals = [0.0, 0.0]
    for spec in specs:
        walls, computes = [], []
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as tmp:
                one = config.model_copy(
                    update={
                        "enhancers": [spec],
                        "output": tmp,
                        "include_reference": False,
                        "device": "cpu",
                    }
                )
                runner = Runner(one, quiet=True)
                runner._build()
                task = next(iter(runner.tasks.values()))
                task.setup("cpu")
                computes.append(direct_compute(one, spec, task))
                t0 = time.perf_counter()
                runner._ready_tasks.add(next(iter(runner.tasks)))  # metric set-up excluded too
                list(runner._run_group(one.datasets[0].label, spec.label, runner._grid()))
                walls.append(time.perf_counter() - t0)
        wall, compute = min(walls), min(computes)
        totals[0] += wall
        totals[1] += compute
        print(f"{spec.label:<26}{wall:>12.3f}{compute:>12.3f}{wall / compute - 1:>10.1%}")
    print(f"{'all':<26}{totals[0]:>12.3f}{totals[1]:>12.3f}{totals[0] / totals[1] - 1:>10.1%}")


if __name__ == "__main__":
    main()
