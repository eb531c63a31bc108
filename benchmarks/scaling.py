"""Wall time of the demo grid by executor and worker count, side by side in one process.

Each row computes the whole embedded demo benchmark into a fresh results folder (``--force``
semantics: nothing cached) and writes its report: ``local`` (one process, torch using every
core), ``processes`` with 1 and 2 workers (each worker's torch gets cores / workers threads),
and Ray's local cluster with 2 workers (when Ray is installed). The leaderboards are checked to
be the same (to 6 significant digits; bit-identical where every process has the same torch
threads, see docs/scaling.md), so the speed-up is for the same numbers.

    python benchmarks/scaling.py [--shard-size 4] [--limit N]
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time


def metrics(results_dir) -> dict:
    from gefu.bench.store import Store

    with Store(results_dir) as store:
        grid = store.run_grid(store.latest_run()["run_id"])
        return {
            (g["enhancer"], g["evaluation"], m["metric"]): m["value"]
            for g in grid
            for m in store.cell_metrics(g["cell_key"])
        }


def main() -> None:
    from gefu.bench.config import load_config
    from gefu.bench.runner import Runner

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shard-size", type=int, default=4)
    parser.add_argument("--limit", type=int, help="images of the demo set (default: all 60)")
    args = parser.parse_args()
    config = load_config(None)
    if args.limit:
        config.datasets[0].limit = args.limit
    shard = args.shard_size
    rows = [("local", {}, None), ("processes", {"workers": 1}, shard)]
    rows.append(("processes", {"workers": 2}, shard))
    try:
        import ray  # noqa: F401

        rows.append(("ray", {"workers": 2}, shard))
    except ImportError:
        print("(Ray not installed: pip install 'gefu-bench[ray]' for its row)")
    times, boards = {}, {}
    for executor, options, shard_size in rows:
        name = f"{executor} x{options.get('workers', 1)}"
        with tempfile.TemporaryDirectory() as tmp:
            run_config = config.model_copy(update={"output": tmp})
            t0 = time.perf_counter()
            outcome = Runner(
                run_config,
                quiet=True,
                device="cpu",
                executor=executor,
                executor_options=options,
                shard_size=shard_size,
            ).run()
            times[name] = time.perf_counter() - t0
            assert not outcome.failed, outcome.failed
            boards[name] = metrics(tmp)
    first = next(iter(boards.values()))
    same = all(b == first for b in boards.values())
    close = all(
        b.keys() == first.keys()
        and all(math.isclose(b[k] or 0, first[k] or 0, rel_tol=1e-6) for k in b)
        for b in boards.values()
    )
    print(
        f"demo grid ({len(first)} metric values), {os.cpu_count()} CPU cores, shard size "
        f"{args.shard_size}; bit-identical: {same}; equal to 6 digits: {close}"
    )
    base = times["local x1"]
    for name, secs in times.items():
        print(f"{name:<14}{secs:8.1f} s   speed-up {base / secs:5.2f}x")


if __name__ == "__main__":
    main()
