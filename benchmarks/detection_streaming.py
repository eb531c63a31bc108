"""Streaming versus the seeds' way, for a detection cell, on the same images in one process.

- streaming (gefu): the cell as ``gefu run`` computes it: each batch is enhanced and handed to
  the frozen detector in memory (float, decoded once, no 8-bit rounding), scored, its cell
  assembled and written to the results store;
- disk (the seed methods' scripts): enhance every image and save it as PNG, and the
  normal-light references (a consistency score needs them as targets), then read both folders
  back and run the detector over them, scored the same way (no store).
Both use the same enhancer, the same frozen detector (the demo's Darknet YOLOv3-tiny, weights
in its package) on the same device, batches of the config's size; the detector is loaded once,
outside both timings. Minimum over ``--repeats``.

    python benchmarks/detection_streaming.py [--limit 15] [--enhancer gamma] [--device cpu]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

DETECTOR = {
    "model": {"family": "darknet", "input_size": 256},
    "ref_score_thr": 0.25,
    "metric": "coco",
}


def main() -> None:
    from gefu.bench.assemble import assemble_cell
    from gefu.bench.batches import iter_batches
    from gefu.bench.config import validate_config
    from gefu.bench.grid import build_grid
    from gefu.bench.store import Store
    from gefu.bench.work import Unit, Worker
    from gefu.datasets.base import Sample
    from gefu.io import read_image, write_image

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=15)
    parser.add_argument("--enhancer", default="gamma")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--input-size", type=int, default=256, help="the detector's input")
    args = parser.parse_args()
    DETECTOR["model"]["input_size"] = args.input_size
    dev = args.device
    with tempfile.TemporaryDirectory() as tmp:
        config = validate_config(
            {
                "name": "stream",
                "output": tmp,
                "device": dev,
                "include_reference": False,
                "samples": 0,
                "enhancers": [{"name": args.enhancer}],
                "datasets": [{"name": "demo", "limit": args.limit}],
                "evaluations": [{"name": "detection_consistency", "params": DETECTOR}],
            }
        )
        grid = build_grid(config, str)
        (cell,) = grid.cells
        ds = grid.datasets[cell.dataset]
        task = grid.tasks[cell.evaluation]
        worker = Worker(config, dev, datasets=grid.datasets, tasks=grid.tasks)
        worker._setup(cell.evaluation, ds)  # the detector, loaded once for both paths
        row = worker._row(cell.enhancer)
        unit = Unit(cell.dataset, cell.enhancer, (cell.evaluation,), 0, len(ds), 0, "b")

        def streaming(store) -> float:
            task.references = type(task.references)()  # predicted afresh in each timing
            t0 = time.perf_counter()
            result = worker.run(unit)
            store.write_cell(assemble_cell(cell, [result], task, ds, False, 0))
            return time.perf_counter() - t0

        def disk(folder: Path) -> float:
            task.references = type(task.references)()  # predicted afresh in each timing
            t0 = time.perf_counter()
            batches = []
            with torch.inference_mode():
                for batch, _ in iter_batches(ds, config.batch_size):
                    out, _ = row(batch)
                    for s, img in zip(batch, out, strict=True):
                        write_image(folder / f"{s.name}.png", img)
                        write_image(folder / f"{s.name}_ref.png", s.reference)
                    batches.append([s.name for s in batch])
                records = []
                for names in batches:
                    files = [
                        Sample(
                            n,
                            read_image(folder / f"{n}.png"),
                            reference=read_image(folder / f"{n}_ref.png"),
                        )
                        for n in names
                    ]
                    images = torch.stack([f.image for f in files]).to(dev)
                    records += task.process(images, files)
                task.compute(records)
            if dev.startswith("cuda"):
                torch.cuda.synchronize()
            return time.perf_counter() - t0

        s_times, d_times = [], []
        with Store(tmp) as store:
            for i in range(args.repeats):
                s_times.append(streaming(store))
                (Path(tmp) / f"disk{i}").mkdir()
                d_times.append(disk(Path(tmp) / f"disk{i}"))
    s, d = min(s_times), min(d_times)
    name = torch.cuda.get_device_name(0) if dev.startswith("cuda") else "CPU"
    print(
        f"{len(ds)} demo images, enhancer {args.enhancer}, Darknet YOLOv3-tiny at "
        f"{args.input_size}, {name}"
    )
    print(f"streaming (gefu run cell):                {s:7.2f} s")
    print(f"disk (write PNGs, read back, detect):     {d:7.2f} s")
    print(f"disk / streaming:                         {d / s:7.2f}x")


if __name__ == "__main__":
    main()
