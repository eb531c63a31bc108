"""``gefu report [RESULTS_DIR] [--output DIR]``."""

from __future__ import annotations

import sys
from pathlib import Path

HELP = "write leaderboard.md/.csv and report.html from a results folder"


def add_arguments(p) -> None:
    p.add_argument("results_dir", nargs="?", default="results/demo", help="default: results/demo")
    p.add_argument(
        "--output",
        metavar="DIR",
        help="write the report files here (default: RESULTS_DIR; for a read-only results folder)",
    )


def main(args) -> int:
    import sqlite3

    from gefu.bench.store import DB_NAME, StoreError, store_error

    folder = Path(args.results_dir)
    if not (folder / DB_NAME).is_file():
        print(f"error: no results store ({DB_NAME}) in {folder}", file=sys.stderr)
        return 2
    from gefu.bench.report import write_report

    out = Path(args.output) if args.output else folder
    try:
        paths = write_report(folder, out_dir=out)
    except (StoreError, sqlite3.DatabaseError) as exc:
        err = exc if isinstance(exc, StoreError) else store_error(folder / DB_NAME, exc)
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as exc:  # the store read fine: the output folder cannot be written
        print(
            f"error: cannot write the report into {out} ({exc.strerror or exc}); pass --output DIR",
            file=sys.stderr,
        )
        return 2
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0
