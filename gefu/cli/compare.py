"""``gefu compare RESULTS_DIR A B``: the paired comparison of two enhancers, per evaluation."""

from __future__ import annotations

import sys
from pathlib import Path

HELP = "paired comparison of two enhancers on every evaluation of a results folder"


def add_arguments(p) -> None:
    p.add_argument("results_dir", help="a results folder (with results.sqlite)")
    p.add_argument("a", help="enhancer label, as in the leaderboard")
    p.add_argument("b", help="enhancer label to compare against")


def main(args) -> int:
    import sqlite3

    from gefu.bench.store import DB_NAME, Store, StoreError, store_error

    folder = Path(args.results_dir)
    if not (folder / DB_NAME).is_file():
        print(f"error: no results store ({DB_NAME}) in {folder}", file=sys.stderr)
        return 2
    from gefu.bench.report.collect import load_report
    from gefu.bench.report.compare import analyse
    from gefu.bench.report.compare_text import comparison_lines

    try:
        with Store(folder, readonly=True) as store:
            known = enhancers_of_latest_run(store)  # checked before the statistics
            missing = [name for name in (args.a, args.b) if name not in known]
            if missing:
                choices = ", ".join(known) or "none: the store has no completed run"
                print(
                    f"error: unknown enhancer {', '.join(missing)}; choose from: {choices}",
                    file=sys.stderr,
                )
                return 2
            report = analyse(load_report(store))
    except (StoreError, sqlite3.DatabaseError) as exc:
        err = exc if isinstance(exc, StoreError) else store_error(folder / DB_NAME, exc)
        print(f"error: {err}", file=sys.stderr)
        return 2
    print("\n".join(comparison_lines(report, args.a, args.b)))
    return 0


def enhancers_of_latest_run(store) -> list[str]:
    """The row labels of the latest run's grid (what the report's tables show)."""
    run = store.latest_run()
    grid = store.run_grid(run["run_id"]) if run else []
    return sorted({r["enhancer"] for r in grid})
