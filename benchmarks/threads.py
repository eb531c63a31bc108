"""CPU threads for a CPU-heavy enhancer (LIME), side by side in one run: 1 thread, 2 threads,
the suite's default (``gefu.bench.threads``: the allowed CPUs less the current load) and
torch's own default (one per core), on the demo's dark photos. Optionally loads the machine
with ``--load K`` busy processes first, as a shared machine is.

Each setting enhances the same ``--images`` photos; the figure is the best of ``--repeats``
passes (seconds per image), so a burst of load elsewhere does not decide it.

    python benchmarks/threads.py [--images 3] [--repeats 2] [--load 0] [--enhancer lime]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time


def _busy() -> None:
    while True:
        pass


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=3)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--load", type=int, default=0, help="busy processes started first")
    p.add_argument("--enhancer", default="lime")
    args = p.parse_args()

    import torch

    from gefu.bench.threads import allowed_cpus, default_threads
    from gefu.datasets import create_dataset
    from gefu.enhancers import create_enhancer

    torch_default = torch.get_num_threads()  # before anything sets it
    busy = [multiprocessing.Process(target=_busy, daemon=True) for _ in range(args.load)]
    for proc in busy:
        proc.start()
    try:
        time.sleep(1.0 if busy else 0.0)
        chosen = default_threads()
        ds = create_dataset("demo", limit=args.images)
        images = [ds.load(i).image[None] for i in range(len(ds))]
        model = create_enhancer(args.enhancer).eval()
        print(
            f"{args.enhancer}, {len(images)} demo image(s) of {tuple(images[0].shape[-2:])}; "
            f"allowed CPUs {allowed_cpus()}, load {os.getloadavg()[0]:.1f}, "
            f"+{args.load} busy process(es)"
        )
        settings = {
            "1 thread": 1,
            "2 threads": 2,
            f"gefu default ({chosen})": chosen,
            f"torch default ({torch_default})": torch_default,
        }
        results = {}
        for label, n in settings.items():
            torch.set_num_threads(n)
            best = float("inf")
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                with torch.inference_mode():
                    for image in images:
                        model(image)
                best = min(best, (time.perf_counter() - t0) / len(images))
            results[label] = best
            print(f"  {label:<22} {best:8.2f} s/image", flush=True)
        base = results["1 thread"]
        print(
            "  relative to 1 thread: "
            + ", ".join(f"{k} {v / base:.2f}x" for k, v in results.items())
        )
    finally:
        for proc in busy:
            proc.terminate()


if __name__ == "__main__":
    main()
