"""A cached re-run of the demo, as a user types it: ``gefu run`` twice more after a full run,
each a fresh process, wall time from the shell (interpreter start and imports included).
Side by side: the same command with ``--force``-free semantics but the report rebuilt
(``gefu report``), to show what reusing the report saves.

    python benchmarks/cached_rerun.py [--output results/demo]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time


def timed(*args: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "gefu.cli.main", *args], check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="results/demo")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    first = timed("run", "--output", args.output, "--quiet")  # computes what is missing
    cached = min(timed("run", "--output", args.output, "--quiet") for _ in range(args.repeats))
    report = min(timed("report", args.output) for _ in range(args.repeats))
    imports = min(timed("list", "--help") for _ in range(args.repeats))
    print(f"first run (whatever was missing):   {first:7.2f} s")
    print(f"cached re-run of the demo:          {cached:7.2f} s")
    print(f"rebuilding the report alone:        {report:7.2f} s")
    print(f"interpreter + CLI start (gefu list --help): {imports:5.2f} s")


if __name__ == "__main__":
    main()
