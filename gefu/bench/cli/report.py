"""``gefu report [RESULTS_DIR]``."""

from __future__ import annotations

import sys
from pathlib import Path


def add_arguments(p) -> None:
    p.add_argument("results_dir", nargs="?", default="results/demo", help="default: results/demo")


def main(args) -> int:
    from gefu.bench.store import DB_NAME

    folder = Path(args.results_dir)
    if not (folder / DB_NAME).is_file():
        print(f"error: no results store ({DB_NAME}) in {folder}", file=sys.stderr)
        return 2
    from gefu.bench.report import write_report

    for kind, path in write_report(folder).items():
        print(f"{kind}: {path}")
    return 0
