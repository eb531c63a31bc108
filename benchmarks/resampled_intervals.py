"""Intervals for COCO mAP by resampling images, on a synthetic detection cell.

Builds a results store with two enhancers' detection cells of N images x K classes (synthetic
boxes: jittered targets, missed objects, false positives), then times what the report does for
them: decode the stored per-image records, run pycocotools' matching once per cell, re-aggregate
1,000 resamples per cell, and compare the two rows (paired), i.e. the whole ``write_report``.
Target: under a minute on 2 cores for 2,500 images x 12 classes.

    python benchmarks/resampled_intervals.py [--images 2500] [--classes 12]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def build(folder: Path, n: int, k: int) -> None:
    from test_resample import synthetic_detections

    from gefu.bench.records import encode_all
    from gefu.bench.store import CellResult, Store
    from gefu.tasks.detection_metrics import coco_map

    names = [f"img{i:05d}.png" for i in range(n)]
    classes = [f"class{c}" for c in range(k)]
    spec = {"evaluation": {"task": {"task": "detection", "metric": "coco"}}}
    with Store(folder) as store:
        grid = [(f"k-{e}", e, "synthetic", "detection") for e in ("A", "B")]
        store.start_run({}, {}, grid)
        preds, targets = synthetic_detections(n, k, seed=0)
        rng = np.random.default_rng(1)
        noisier = [  # B: the same images, boxes shifted a little more, scores shuffled a bit
            p | {"boxes": p["boxes"] + rng.normal(0, 4, p["boxes"].shape).astype(np.float32),
                 "scores": np.clip(p["scores"] + rng.normal(0, 0.1, p["scores"].shape), 0, 1)}
            for p in preds
        ]  # fmt: skip
        for (key, enhancer, _, _), dets in zip(grid, (preds, noisier), strict=True):
            values = coco_map(dets, targets, classes)
            records = [{"pred": p, "target": t} for p, t in zip(dets, targets, strict=True)]
            store.write_cell(
                CellResult(
                    key, enhancer, "synthetic", "detection", "ok", spec, n_images=n,
                    metrics=[(m, values[m], False, None) for m in ("mAP", "mAP50", "mAP75")],
                    image_records=encode_all(names, records),
                )
            )  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=2500)
    p.add_argument("--classes", type=int, default=12)
    args = p.parse_args()
    from gefu.bench.report import write_report
    from gefu.bench.report.collect import load_report
    from gefu.bench.report.compare import analyse
    from gefu.bench.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        build(folder, args.images, args.classes)
        built = time.perf_counter() - t0
        t0 = time.perf_counter()
        with Store(folder) as store:
            report = analyse(load_report(store))
        analysed = time.perf_counter() - t0
        t0 = time.perf_counter()
        write_report(folder)
        whole = time.perf_counter() - t0
    table = report.tables[0]
    print(f"{args.images} images x {args.classes} classes, 2 cells (store built in {built:.1f} s)")
    for r in table.rows:
        m = r.metrics["mAP"]
        print(f"  {r.enhancer}: mAP {m.value:.4f}, 95% interval [{m.ci[0]:.4f}, {m.ci[1]:.4f}]")
    pair, p_adj = table.stats.result("A", "B")
    print(f"  A - B: {pair.delta:+.4f} [{pair.ci[0]:+.4f}, {pair.ci[1]:+.4f}], p {p_adj:.4g}")
    print(f"intervals + paired comparison: {analysed:.1f} s; whole report: {whole:.1f} s")
    assert np.isfinite(pair.delta)


if __name__ == "__main__":
    main()
