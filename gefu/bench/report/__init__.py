"""Leaderboards made from the results store alone: Markdown, a tidy CSV, a self-contained
HTML page with figures, and the machine-readable ``results.json``, for the latest run's grid."""

from __future__ import annotations

import os
from pathlib import Path

from gefu.bench.store import DB_NAME, Store

OUTPUTS = {
    "markdown": "leaderboard.md",
    "csv": "leaderboard.csv",
    "html": "report.html",
    "json": "results.json",
}


def write_report(results_dir: str | Path) -> dict[str, Path]:
    """Write ``leaderboard.md``, ``leaderboard.csv``, ``report.html`` and ``results.json``
    into ``results_dir`` and return their paths by kind. Works on an empty store (the outputs
    say so)."""
    from gefu.bench.report import html_page, results_doc, tables
    from gefu.bench.report.collect import load_report
    from gefu.bench.report.compare import analyse

    results_dir = Path(results_dir)
    if not (results_dir / DB_NAME).exists():
        raise FileNotFoundError(f"no results store ({DB_NAME}) in {results_dir}")
    with Store(results_dir) as store:
        report = analyse(load_report(store))
    paths = {kind: results_dir / name for kind, name in OUTPUTS.items()}
    _replace(paths["markdown"], lambda p: p.write_text(tables.markdown(report), encoding="utf-8"))
    _replace(paths["csv"], lambda p: tables.write_csv(report, p))
    _replace(paths["html"], lambda p: p.write_text(html_page.page(report), encoding="utf-8"))
    _replace(paths["json"], lambda p: results_doc.write(report, p))
    return paths


def _replace(path: Path, write) -> None:
    """Write through a temporary file, then rename: a reader, or a second run finishing at the
    same moment, never sees a half-written or mixed file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
