"""How long the `gefu` command takes to answer when nothing heavy is needed, in a fresh process
(interpreter start included): `gefu --help`, and `gefu run` on a config with a typo (which must
fail with one line before any model, dataset or torch import). Target: under 2 s each on an
idle 2-core machine. These were wall-clock asserts in the tests, which fail on a loaded machine.

Run: ``python benchmarks/cli_startup.py [--repeats 5]``; prints the best and median of each.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GEFU = [sys.executable, "-m", "gefu.cli.main"]
TYPO = (
    "name: t\nenhancers: [{name: identity}]\ndatasets: [{name: demo}]\n"
    "evaluations: [{name: iqa}]\nbatchsize: 2\n"
)


def timed(cmd: list[str], expect: int) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != expect:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr[-500:]}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "typo.yaml"
        config.write_text(TYPO)
        cases = {
            "gefu --help": ([*GEFU, "--help"], 0),
            "gefu run typo.yaml": ([*GEFU, "run", str(config)], 2),
        }
        for label, (cmd, expect) in cases.items():
            times = [timed(cmd, expect) for _ in range(args.repeats)]
            verdict = "ok" if min(times) < 2.0 else "OVER the 2 s target"
            best, median = min(times), statistics.median(times)
            print(f"{label:22s} best {best:.2f} s, median {median:.2f} s: {verdict}")


if __name__ == "__main__":
    main()
