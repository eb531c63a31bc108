"""How fast can the driver write finished cells into the SQLite store?

Writes ``--cells`` synthetic cells shaped like a detection cell of ``--images`` images (one
transaction each, as ``gefu run`` does: cell row, 5 metrics, 2 per-image scores per image, one
per-image record blob of ~600 bytes per image, 3 sample thumbnails of ~20 KB) and reports cells/s
and rows/s. The full-protocol plan in docs/scaling.md compares this with the rate at which a
cluster finishes cells.

    python benchmarks/store_write_rate.py [--cells 50] [--images 1000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time


def cell(i: int, images: int):
    from gefu.bench.store import CellResult

    names = [f"img_{j:06d}.jpg" for j in range(images)]
    return CellResult(
        f"key{i:08d}",
        enhancer=f"e{i % 10}",
        dataset="exdark",
        evaluation="detection",
        status="ok",
        spec={"i": i},
        n_images=images,
        enhance_s=1.0,
        wall_s=2.0,
        metrics=[(m, 0.5, False, None) for m in ("mAP", "AP50", "AP75", "APs", "APl")],
        image_scores=[(n, m, 0.5) for n in names for m in ("n_pred", "n_ref")],
        samples=[(names[k], "output", os.urandom(20_000)) for k in range(3)],
        image_records=[(n, os.urandom(600)) for n in names],
    )


def main() -> None:
    from gefu.bench.store import Store

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=50)
    parser.add_argument("--images", type=int, default=1000)
    args = parser.parse_args()
    results = [cell(i, args.images) for i in range(args.cells)]
    rows_per_cell = 1 + 5 + 2 * args.images + 3 + args.images
    with tempfile.TemporaryDirectory() as tmp, Store(tmp) as store:
        t0 = time.perf_counter()
        for r in results:
            store.write_cell(r)
        secs = time.perf_counter() - t0
        size = os.path.getsize(os.path.join(tmp, "results.sqlite")) / 1e6
    print(f"{args.cells} cells x {args.images} images: {secs:.2f} s")
    print(
        f"{args.cells / secs:.1f} cells/s, {args.cells * rows_per_cell / secs:,.0f} rows/s, "
        f"{size / args.cells:.2f} MB per cell"
    )


if __name__ == "__main__":
    main()
