"""Streaming versus the seeds' way, for a detection cell, on the same images in one process.

- streaming (gefu): a ``gefu run`` cell: each batch is enhanced and handed to the frozen
  detector in memory (float, no 8-bit rounding), scored, and written to the results store;
- disk (the seed methods' scripts): enhance every image and save it as PNG (and the
  normal-light references, which a consistency score needs as targets), then run the detector
  over both folders with mmdet's own ``inference_detector`` (reads the files back).
Both use the same enhancer, the same detector (RetinaNet-R18 config, random seeded weights:
speed does not depend on the weights) and the same test pipeline.

    python benchmarks/detection_streaming.py [--limit 12] [--enhancer gamma] [--repeats 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

DETECTOR = "retinanet/retinanet_r18_fpn_1x_coco.py"
OPTIONS: dict = {}  # mmdet config overrides shared by both paths (--scale)


def streaming(limit: int, enhancer: str, out: str) -> float:
    from gefu.bench.config import validate_config
    from gefu.bench.runner import Runner

    config = validate_config(
        {
            "name": "stream",
            "output": out,
            "device": "cpu",
            "include_reference": False,
            "samples": 0,
            "enhancers": [{"name": enhancer}],
            "datasets": [{"name": "demo", "limit": limit}],
            "evaluations": [
                {
                    "name": "detection_consistency",
                    "params": {
                        "config": DETECTOR,
                        "allow_random_weights": True,
                        "cfg_options": OPTIONS,
                    },
                }
            ],
        }
    )
    runner = Runner(config, quiet=True, force=True)
    runner._build()
    label = next(iter(runner.tasks))
    runner.tasks[label].setup("cpu")  # model loading excluded from both timings
    runner._ready_tasks.add(label)
    from gefu.bench.store import Store

    t0 = time.perf_counter()
    with Store(out) as store:
        for result, _ in runner._run_group("demo", enhancer, runner._grid()):
            store.write_cell(result)
    return time.perf_counter() - t0


def disk(limit: int, enhancer: str, folder: Path) -> float:
    from mmdet.apis import inference_detector

    from gefu.datasets import create_dataset
    from gefu.enhancers import create_enhancer
    from gefu.io import write_image
    from gefu.tasks.mmdet_model import MMDetDetector

    detector = MMDetDetector(DETECTOR, cfg_options=OPTIONS)  # the same seeded random weights
    model = detector.model
    model.cfg.test_dataloader.dataset.pipeline[0] = {"type": "LoadImageFromFile"}
    ds = create_dataset("demo", limit=limit)
    enh = create_enhancer(enhancer)
    t0 = time.perf_counter()
    with torch.inference_mode():
        for i in range(len(ds)):
            sample = ds.load(i)
            write_image(folder / f"{i:04d}.png", enh(sample.image[None])[0])
            write_image(folder / f"{i:04d}_ref.png", sample.reference)
    files = sorted(str(p) for p in folder.glob("*.png"))
    for path in files:
        inference_detector(model, path)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=12)
    parser.add_argument("--enhancer", default="gamma")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--scale", type=int, help="detector test size (default: the config's)")
    args = parser.parse_args()
    if args.scale:
        OPTIONS["test_pipeline.1.scale"] = (args.scale, args.scale)
        OPTIONS["test_dataloader.dataset.pipeline.1.scale"] = (args.scale, args.scale)
    s_times, d_times = [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            s_times.append(streaming(args.limit, args.enhancer, tmp))
        with tempfile.TemporaryDirectory() as tmp:
            d_times.append(disk(args.limit, args.enhancer, Path(tmp)))
    s, d = min(s_times), min(d_times)
    scale = f", test size {args.scale}" if args.scale else ""
    print(f"{args.limit} demo images, enhancer {args.enhancer}, detector {DETECTOR}{scale} (CPU)")
    print(f"streaming (gefu run cell):     {s:7.2f} s")
    print(f"disk (write PNGs, then detect): {d:7.2f} s")
    print(f"disk / streaming:              {d / s:7.2f}x")


if __name__ == "__main__":
    main()
