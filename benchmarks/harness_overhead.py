"""How much time does the harness add on top of the work it measures?

One process, the embedded demo benchmark, every enhancer. For each enhancer, side by side:
- harness: the wall time of its demo cell as ``gefu run`` computes it (reading and darkening
  the images, batching, output validation, scoring, sample crops, the SQLite write);
- compute: the enhancer's forward and the evaluation's scoring alone, called directly on the
  same batches, pre-loaded in memory.
Overhead = harness / compute - 1 (target: under 10 %). Minimum over ``--repeats`` runs.

    python benchmarks/harness_overhead.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch


def batches(samples, batch_size):
    """The runner's batching: consecutive same-size samples, at most ``batch_size``."""
    out: list[list] = []
    for s in samples:
        if out and len(out[-1]) < batch_size and s.image.shape == out[-1][0].image.shape:
            out[-1].append(s)
        else:
            out.append([s])
    return out


def main() -> None:
    from gefu.bench.config import load_config
    from gefu.bench.runner import Runner
    from gefu.bench.store import Store

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    config = load_config(None)
    harness: dict[str, float] = {}
    compute: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        config = config.model_copy(update={"output": tmp, "include_reference": False})
        runner = Runner(config, quiet=True, device="cpu")
        runner._build()
        for label, task in runner.tasks.items():
            task.setup("cpu")
            runner._ready_tasks.add(label)
        ((ds_label, (dataset, _)),) = runner.datasets.items()
        samples = [dataset.load(i) for i in range(len(dataset))]
        with Store(tmp) as store:
            for _ in range(args.repeats):
                grid = runner._grid()  # fresh cells: they accumulate scores while running
                for spec in config.enhancers:
                    cells = [c for c in grid if c.enhancer == spec.label]
                    model = runner._enhancer(spec.label)
                    t0 = time.perf_counter()
                    for result, _cell in runner._run_group(ds_label, spec.label, cells):
                        store.write_cell(result)
                    wall = time.perf_counter() - t0
                    harness[spec.label] = min(harness.get(spec.label, wall), wall)

                    t0 = time.perf_counter()
                    with torch.inference_mode():
                        for batch in batches(samples, config.batch_size):
                            out = model(torch.stack([s.image for s in batch]))
                            for task in runner.tasks.values():
                                task.process(out, batch)
                    direct = time.perf_counter() - t0
                    compute[spec.label] = min(compute.get(spec.label, direct), direct)

    print(f"{'enhancer':<26}{'harness s':>11}{'compute s':>11}{'overhead':>10}")
    for label in harness:
        print(f"{label:<26}{harness[label]:>11.3f}{compute[label]:>11.3f}"
              f"{harness[label] / compute[label] - 1:>10.1%}")  # fmt: skip
    h, c = sum(harness.values()), sum(compute.values())
    print(f"{'all':<26}{h:>11.3f}{c:>11.3f}{h / c - 1:>10.1%}")


if __name__ == "__main__":
    main()
