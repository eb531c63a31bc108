"""Leaderboards made from the results store alone: Markdown, a tidy CSV, a self-contained
HTML page with figures, and the machine-readable ``results.json``, for the latest run's grid."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gefu.bench.store import DB_NAME, Store

OUTPUTS = {
    "markdown": "leaderboard.md",
    "csv": "leaderboard.csv",
    "html": "report.html",
    "json": "results.json",
}


KEY_FILE = ".report-key"  # what the outputs were made from (see ``report_key``)
LOCK_FILE = ".report-lock"  # held while the outputs are written


def write_report(
    results_dir: str | Path, reuse: bool = False, out_dir: str | Path | None = None
) -> dict[str, Path]:
    """Write ``leaderboard.md``, ``leaderboard.csv``, ``report.html`` and ``results.json``
    into ``out_dir`` (default ``results_dir``) and return their paths by kind. Works on an
    empty store (the outputs say so). The store is opened read-only. ``reuse``: keep the
    outputs as they are if they were made from the same store contents by the same report
    code. Writers of one folder take turns (a lock file), so the last report written is made
    from the latest store contents even when two runs finish at once."""
    results_dir = Path(results_dir)
    if not (results_dir / DB_NAME).exists():
        raise FileNotFoundError(f"no results store ({DB_NAME}) in {results_dir}")
    out_dir = Path(out_dir) if out_dir is not None else results_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    with _locked(out_dir / LOCK_FILE):
        return _write(results_dir, out_dir, reuse)


def _write(results_dir: Path, out_dir: Path, reuse: bool) -> dict[str, Path]:
    from gefu.bench.report import html_page, results_doc, tables
    from gefu.bench.report.collect import load_report
    from gefu.bench.report.compare import analyse

    paths = {kind: out_dir / name for kind, name in OUTPUTS.items()}
    with Store(results_dir, readonly=True) as store:
        key = report_key(store)
        key_file = out_dir / KEY_FILE
        fresh = key_file.exists() and key_file.read_text() == key
        if reuse and fresh and all(p.exists() for p in paths.values()):
            return paths
        report = analyse(load_report(store))
    _replace(paths["markdown"], lambda p: p.write_text(tables.markdown(report), encoding="utf-8"))
    _replace(paths["csv"], lambda p: tables.write_csv(report, p))
    _replace(paths["html"], lambda p: p.write_text(html_page.page(report), encoding="utf-8"))
    _replace(paths["json"], lambda p: results_doc.write(report, p))
    _replace(key_file, lambda p: p.write_text(key))
    return paths


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` for the block (POSIX ``flock``; elsewhere none)."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def report_key(store: Store) -> str:
    """A hash of what the report shows: the latest run, each of its cells' status and write
    time (a cell is only ever replaced whole), and the report's own code."""
    from gefu.core.hashing import code_hash, digest

    run = store.latest_run()
    if run is None:
        return digest(["empty", code_hash(write_report)])
    cells = [
        [r["cell_key"], r["enhancer"], r["dataset"], r["evaluation"]]
        + list(
            store.db.execute(
                "SELECT status, created FROM cells WHERE cell_key = ?", (r["cell_key"],)
            ).fetchone()
            or []
        )
        for r in store.run_grid(run["run_id"])
    ]
    return digest([dict(run), cells, code_hash(write_report)])


def _replace(path: Path, write) -> None:
    """Write through a temporary file, then rename: a reader, or a second run finishing at the
    same moment, never sees a half-written or mixed file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
