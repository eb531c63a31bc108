"""``gefu compare RESULTS_DIR A B``: the paired comparison of two enhancers, per evaluation."""

from __future__ import annotations

import sys
from pathlib import Path


def add_arguments(p) -> None:
    p.add_argument("results_dir", help="a results folder (with results.sqlite)")
    p.add_argument("a", help="enhancer label, as in the leaderboard")
    p.add_argument("b", help="enhancer label to compare against")


def main(args) -> int:
    from gefu.bench.store import DB_NAME, Store

    folder = Path(args.results_dir)
    if not (folder / DB_NAME).is_file():
        print(f"error: no results store ({DB_NAME}) in {folder}", file=sys.stderr)
        return 2
    from gefu.bench.report.collect import load_report
    from gefu.bench.report.compare import analyse
    from gefu.bench.report.compare_text import comparison_lines

    with Store(folder) as store:
        report = analyse(load_report(store))
    known = sorted({r.enhancer for t in report.tables for r in t.rows})
    missing = [name for name in (args.a, args.b) if name not in known]
    if missing:
        choices = ", ".join(known) or "none: the store has no completed run"
        print(f"error: unknown enhancer {', '.join(missing)}; choose from: {choices}",
              file=sys.stderr)  # fmt: skip
        return 2
    print("\n".join(comparison_lines(report, args.a, args.b)))
    return 0
