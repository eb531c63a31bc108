"""What the report's statistics cost, on synthetic stores (the report reads only the store).

1. COCO mAP: two enhancers' detection cells of N images x K classes (synthetic boxes: jittered
   targets, missed objects, false positives); the report decodes the stored per-image records,
   runs pycocotools' matching once per cell, re-aggregates 1,000 cluster resamples per cell for
   the intervals, and compares the two rows by the paired permutation test on mAP (swap each
   unit's detections between the rows, recompute; random swaps past 16 units, stopping early
   when the pair clearly cannot be significant). ``--clusters C`` groups the images into C
   scenes (the unit of resampling and swapping).
2. Paired tests on per-image scores: one table of R rows x M images, every pair through the
   BCa bootstrap and scipy's paired permutation test, Holm-corrected.

    python benchmarks/report_statistics.py [--images 2500] [--classes 12] [--rows 10]
        [--scored 1000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def build(folder: Path, n: int, k: int, clusters: int = 0) -> None:
    from test_scoring import synthetic_detections

    from gefu.bench.store import CellResult, Store
    from gefu.tasks.detection_metrics import coco_map
    from gefu.tasks.scoring import encode_all

    names = [f"img{i:05d}.png" for i in range(n)]
    classes = [f"class{c}" for c in range(k)]
    spec = {"evaluation": {"task": {"task": "detection", "metric": "coco"}}}
    with Store(folder) as store:
        grid = [(f"k-{e}", e, "synthetic", "detection") for e in ("A", "B")]
        store.start_run({}, {}, grid)
        preds, targets = synthetic_detections(n, k, seed=0)
        rng = np.random.default_rng(1)
        noisier = [  # B: the same images, boxes shifted a little more, scores shuffled a bit
            p
            | {
                "boxes": p["boxes"] + rng.normal(0, 4, p["boxes"].shape).astype(np.float32),
                "scores": np.clip(p["scores"] + rng.normal(0, 0.1, p["scores"].shape), 0, 1),
            }
            for p in preds
        ]
        for (key, enhancer, _, _), dets in zip(grid, (preds, noisier), strict=True):
            values = coco_map(dets, targets, classes)
            records = [{"pred": p, "target": t} for p, t in zip(dets, targets, strict=True)]
            store.write_cell(
                CellResult(
                    key,
                    enhancer,
                    "synthetic",
                    "detection",
                    "ok",
                    spec,
                    n_images=n,
                    metrics=[(m, values[m], False, None) for m in ("mAP", "mAP50", "mAP75")],
                    image_records=encode_all({"kind": "coco"}, names, records),
                    image_groups=[(x, f"scene{i % clusters}", None) for i, x in enumerate(names)]
                    if clusters
                    else [],
                )
            )


def build_scored(folder: Path, rows: int, n: int) -> None:
    """One IQA-like table: ``rows`` enhancers scored on the same ``n`` images."""
    from gefu.bench.store import CellResult, Store

    rng = np.random.default_rng(0)
    base = rng.normal(20.0, 2.0, n)
    names = [f"e{i}" for i in range(rows)]
    with Store(folder) as store:
        store.start_run({}, {}, [(f"k{e}", e, "synthetic", "iqa") for e in names])
        for i, e in enumerate(names):
            v = base + 0.05 * i + rng.normal(0.0, 0.5, n)
            scores = [(f"img{j:05d}.png", "psnr", float(x)) for j, x in enumerate(v)]
            store.write_cell(
                CellResult(
                    f"k{e}",
                    e,
                    "synthetic",
                    "iqa",
                    "ok",
                    {},
                    n_images=n,
                    metrics=[("psnr", float(v.mean()), False, None)],
                    image_scores=scores,
                )
            )


def scored_table(rows: int, n: int) -> None:
    from gefu.bench.report.collect import load_report
    from gefu.bench.report.compare import analyse
    from gefu.bench.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        build_scored(Path(tmp), rows, n)
        t0 = time.perf_counter()
        with Store(tmp) as store:
            report = analyse(load_report(store))
        took = time.perf_counter() - t0
    pairs = len(report.tables[0].stats.pairs)
    print(f"{rows} rows x {n} images: {pairs} paired tests + Holm + summary in {took:.1f} s")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=2500)
    p.add_argument("--classes", type=int, default=12)
    p.add_argument("--rows", type=int, default=10)
    p.add_argument("--scored", type=int, default=1000, help="images of the per-image table")
    p.add_argument("--clusters", type=int, default=0, help="scenes the images come from")
    args = p.parse_args()
    scored_table(args.rows, args.scored)
    from gefu.bench.report import write_report
    from gefu.bench.report.collect import load_report
    from gefu.bench.report.compare import analyse
    from gefu.bench.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        build(folder, args.images, args.classes, args.clusters)
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
    print(f"  units: {table.design.describe()}; test: {'; '.join(table.stats.tests)}")
    print(f"intervals + paired comparison: {analysed:.1f} s; whole report: {whole:.1f} s")
    assert np.isfinite(pair.delta)


if __name__ == "__main__":
    main()
