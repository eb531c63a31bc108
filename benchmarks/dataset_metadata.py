"""How long listing a dataset takes and how much memory it keeps, at 1,000 and 10,000 items.

Writes generated fixtures of small 8x8 PNGs into a temporary folder (a LOL-v2-real layout,
``lowXXXXX.png`` <-> ``normalXXXXX.png``, two files per item, and a flat DICM-style folder),
then, in a fresh child process per measurement (so the peak resident size is its own):

- ``construct``: building the reader (listing and pairing, no decoding);
- ``names+meta``: ``name_of(i)`` and ``meta_of(i)`` for every item (no decoding);
- ``headers``: every item's image size from the PNG header (what ``check()`` reads);
- memory: growth of the peak resident size (``resource.getrusage``) over the whole pass, and,
  in a second child under ``tracemalloc``, the Python heap's peak and what the reader retains,
  per item. Pixels are never kept, so the per-item figure is the same at both sizes.

Run: ``python benchmarks/dataset_metadata.py [--sizes 1000 10000]``. The files are in the OS
page cache when measured (just written): cold-disk listing is slower, memory is not affected.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

READERS = {  # name -> (reader, root relative to the fixture, files per item)
    "lol_v2_real": ("gefu.datasets.paired_sets:LOLv2Real", "LOL-v2", 2),
    "dicm": ("gefu.datasets.paired_sets:DICM", "DICM", 1),
}


def tiny_png() -> bytes:
    import io

    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((8, 8, 3), 40, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def write_fixture(root: Path, n: int) -> None:
    data = tiny_png()
    low, normal = root / "LOL-v2/Real_captured/Test/Low", root / "LOL-v2/Real_captured/Test/Normal"
    flat = root / "DICM"
    for folder in (low, normal, flat):
        folder.mkdir(parents=True)
    for i in range(1, n + 1):
        (low / f"low{i:05d}.png").write_bytes(data)
        (normal / f"normal{i:05d}.png").write_bytes(data)
        (flat / f"{i:05d}.png").write_bytes(data)


def measure(reader: str, root: str, traced: bool) -> dict:
    """One pass in this (child) process: timings and peak RSS, or tracemalloc figures."""
    import gc
    import importlib
    import resource
    import tracemalloc

    from PIL import Image

    from gefu.datasets.paired_sets import image_size

    module, _, attr = reader.partition(":")
    cls = getattr(importlib.import_module(module), attr)
    Image.init()  # PIL's format plugins: a fixed cost, kept out of the per-item figures
    gc.collect()
    if traced:
        tracemalloc.start()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    ds = cls(root)
    t1 = time.perf_counter()
    for i in range(len(ds)):
        ds.name_of(i), ds.meta_of(i)
    t2 = time.perf_counter()
    for i in range(len(ds)):
        image_size(Path(ds.meta_of(i)["path"]))
    t3 = time.perf_counter()
    out = {"items": len(ds)}
    if traced:
        gc.collect()
        retained, peak = tracemalloc.get_traced_memory()
        out.update(traced_peak=peak, retained=retained)
    else:
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out.update(construct=t1 - t0, iterate=t2 - t1, headers=t3 - t2, rss_kib=rss1 - rss0)
    return out


def child(reader: str, root: Path, traced: bool) -> dict:
    cmd = [sys.executable, __file__, "--child", reader, str(root)]
    cmd += ["--traced"] if traced else []
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(*args.child, traced=args.traced)))
        return

    header = (
        f"{'reader':<12} {'items':>6} {'files':>6} {'construct s':>11} {'names+meta s':>12} "
        f"{'headers s':>9} {'RSS grow MiB':>12} {'heap peak MiB':>13} {'kept B/item':>11}"
    )
    print(header)
    print("-" * len(header))
    retained: dict[str, list[tuple[int, int]]] = {name: [] for name in READERS}
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix="gefu-meta-") as tmp:
            write_fixture(Path(tmp), n)
            for name, (reader, rel, per_item) in READERS.items():
                plain = child(reader, Path(tmp) / rel, traced=False)
                traced = child(reader, Path(tmp) / rel, traced=True)
                assert plain["items"] == traced["items"] == n, (name, plain, traced)
                retained[name].append((n, traced["retained"]))
                print(
                    f"{name:<12} {n:>6} {n * per_item:>6} {plain['construct']:>11.3f} "
                    f"{plain['iterate']:>12.3f} {plain['headers']:>9.3f} "
                    f"{plain['rss_kib'] / 1024:>12.1f} {traced['traced_peak'] / 2**20:>13.2f} "
                    f"{traced['retained'] / n:>11.0f}"
                )
    print("\nheap bytes kept per added item (slope between the smallest and largest size):")
    for name, points in retained.items():
        (n0, r0), (n1, r1) = points[0], points[-1]
        if n1 > n0:
            print(f"  {name}: {(r1 - r0) / (n1 - n0):.0f} B/item (paths and names; no pixels)")


if __name__ == "__main__":
    main()
