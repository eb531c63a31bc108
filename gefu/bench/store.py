"""The results store: one SQLite file per results directory.

Each cell (enhancer x dataset x evaluation) is written in one transaction, so a run killed at
any moment loses at most the cells in flight; reports read only this file.

Several drivers may share one store: a driver claims the cells it is about to compute with a
lease (``claims``), renews it while it computes and releases it in the transaction that writes
the cell; another driver takes over a claim whose lease ran out, or at once one whose driver
ran on this host and has exited (killed).
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from gefu.bench.cell_result import CellResult  # noqa: F401  (re-exported: what a cell writes)

DB_NAME = "results.sqlite"
LEASE_S = 120.0  # how long a claim lives unless renewed; GEFU_LEASE_S overrides it
BUSY_TIMEOUT_S = 60.0  # how long a write waits for another process's transaction

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    started     REAL NOT NULL,
    finished    REAL,
    config_json TEXT NOT NULL,       -- the fully resolved benchmark config
    versions    TEXT NOT NULL        -- suite and library versions, device
);
CREATE TABLE IF NOT EXISTS run_cells (  -- which cells make up each run's grid, in order
    run_id     INTEGER NOT NULL REFERENCES runs(run_id),
    position   INTEGER NOT NULL,
    cell_key   TEXT NOT NULL,
    enhancer   TEXT NOT NULL,
    dataset    TEXT NOT NULL,
    evaluation TEXT NOT NULL,
    PRIMARY KEY (run_id, position)
);
CREATE TABLE IF NOT EXISTS cells (
    cell_key      TEXT PRIMARY KEY,  -- content hash of everything that determines the result
    enhancer      TEXT NOT NULL,
    dataset       TEXT NOT NULL,
    evaluation    TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    error         TEXT,
    spec_json     TEXT NOT NULL,
    n_images      INTEGER NOT NULL,
    n_skipped     INTEGER NOT NULL,
    params        INTEGER,           -- enhancer parameter count
    trainable     INTEGER,
    enhance_s     REAL,              -- enhancer compute alone
    images_per_s  REAL,
    ms_per_mp     REAL,              -- enhancer ms per megapixel
    wall_s        REAL,
    created       REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS cell_metrics (
    cell_key     TEXT NOT NULL REFERENCES cells(cell_key) ON DELETE CASCADE,
    metric       TEXT NOT NULL,
    position     INTEGER NOT NULL,   -- the evaluation's order; 0 is the primary metric
    value        REAL,
    lower_better INTEGER NOT NULL,
    unavailable  TEXT,               -- why it could not be computed, else NULL
    PRIMARY KEY (cell_key, metric)
);
CREATE TABLE IF NOT EXISTS image_scores (
    cell_key TEXT NOT NULL REFERENCES cells(cell_key) ON DELETE CASCADE,
    image    TEXT NOT NULL,
    metric   TEXT NOT NULL,
    value    REAL,
    PRIMARY KEY (cell_key, image, metric)
);
CREATE TABLE IF NOT EXISTS proportion_metrics (  -- metrics whose per-image scores are 0/1
    cell_key TEXT NOT NULL REFERENCES cells(cell_key) ON DELETE CASCADE,
    metric   TEXT NOT NULL,
    PRIMARY KEY (cell_key, metric)
);
CREATE TABLE IF NOT EXISTS image_records (  -- per-image inputs of dataset-level metrics
    cell_key TEXT NOT NULL REFERENCES cells(cell_key) ON DELETE CASCADE,
    image    TEXT NOT NULL,
    record   BLOB NOT NULL,             -- gefu.bench.records: boxes or pixel counts, .npz
    PRIMARY KEY (cell_key, image)
);
CREATE TABLE IF NOT EXISTS image_groups (   -- each image's sampling unit and condition
    cell_key TEXT NOT NULL REFERENCES cells(cell_key) ON DELETE CASCADE,
    image    TEXT NOT NULL,
    cluster  TEXT,                      -- scene / sequence / source photo; NULL: the image
    stratum  TEXT,                      -- e.g. darkness level; NULL: none
    PRIMARY KEY (cell_key, image)
);
CREATE TABLE IF NOT EXISTS problems (   -- unreadable images, unmatched pairs, ...
    cell_key TEXT NOT NULL REFERENCES cells(cell_key) ON DELETE CASCADE,
    item     TEXT NOT NULL,
    message  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS samples (    -- small crops for the report's image grid
    cell_key TEXT NOT NULL REFERENCES cells(cell_key) ON DELETE CASCADE,
    image    TEXT NOT NULL,
    kind     TEXT NOT NULL CHECK (kind IN ('input', 'output', 'reference')),
    png      BLOB NOT NULL,
    PRIMARY KEY (cell_key, image, kind)
);
CREATE TABLE IF NOT EXISTS claims (     -- cells a driver is computing now
    cell_key TEXT PRIMARY KEY,
    owner    TEXT NOT NULL,             -- host:pid:random of that driver
    expires  REAL NOT NULL              -- unix time; after it, another driver may take over
);
"""


@dataclass
class Claims:
    """What one ``Store.claim`` found for each cell key."""

    mine: set[str] = field(default_factory=set)  # claimed by this driver now: compute them
    taken: dict[str, str] = field(default_factory=dict)  # of those, dead drivers': old owner
    others: set[str] = field(default_factory=set)  # leased by another live driver
    done: dict[str, str] = field(default_factory=dict)  # finished: key -> status


def lease_seconds() -> float:
    """``LEASE_S``, or the ``GEFU_LEASE_S`` environment variable (tests shorten it)."""
    raw = os.environ.get("GEFU_LEASE_S")
    if raw is None:
        return LEASE_S
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise ValueError(f"GEFU_LEASE_S must be a positive number of seconds, got {raw!r}")
    return value


class StoreError(RuntimeError):
    """A results store that cannot be opened, written or read (corrupt): one line naming the
    file, what is wrong and what to do."""


def store_error(path: Path, exc: BaseException) -> StoreError:
    """``exc`` (an OSError or sqlite3 error on the store at ``path``) as one clear line."""
    msg = str(exc).strip() or type(exc).__name__
    low = msg.lower()
    if isinstance(exc, OSError) or any(
        s in low for s in ("readonly", "read-only", "unable to open", "permission", "disk i/o")
    ):
        return StoreError(
            f"cannot open or write the results store {path} ({msg}): check that the folder is "
            "writable, or pass another results folder (--output)"
        )
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
        return StoreError(
            f"the results store {path} is corrupt ({msg}): restore it from a backup or move it "
            "away to start afresh; nothing was overwritten"
        )
    return StoreError(f"results store {path}: {msg}")


class Store:
    """``readonly``: open an existing store for reading only (reports, comparisons), so that
    it works on read-only storage and never changes the file."""

    def __init__(
        self, results_dir: str | Path, *, lease_s: float | None = None, readonly: bool = False
    ):
        self.dir = Path(results_dir)
        self.path = self.dir / DB_NAME
        self.readonly = readonly
        self.lease_s = lease_seconds() if lease_s is None else lease_s
        self.owner = _owner()  # this driver, in claims
        self.db = None
        try:
            if readonly and not self.path.is_file():
                raise StoreError(f"no results store ({DB_NAME}) in {self.dir}")
            if not readonly:
                self.dir.mkdir(parents=True, exist_ok=True)
            self.db = self._connect()
            if not readonly:
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.executescript(f"BEGIN IMMEDIATE;{SCHEMA}COMMIT;")
            self._check_integrity()
        except (OSError, sqlite3.Error) as exc:
            self.close()
            raise store_error(self.path, exc) from None
        except StoreError:
            self.close()
            raise

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: explicit transactions; timeout: wait for another process's
        # write instead of failing with "database is locked"
        if self.readonly:
            db = _open_readonly(self.path)
        else:
            db = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT_S)
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
        db.row_factory = sqlite3.Row
        return db

    def _check_integrity(self) -> None:
        """SQLite's ``quick_check`` (every page and record readable; linear in the file's
        size, far below a run's cost): a damaged store is refused before a cached cell is
        trusted or a report is made from it."""
        rows = [  # a row may hold several lines ("*** in database main ***\nPage 13: ...")
            " ".join(str(r[0]).split()) for r in self.db.execute("PRAGMA quick_check(5)").fetchall()
        ]
        tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master")}
        if rows == ["ok"] and not {"runs", "cells"} <= tables:
            raise StoreError(
                f"{self.path} is not a gefu results store (no runs or cells table): "
                "pass the folder `gefu run` wrote"
            )
        if rows != ["ok"]:
            raise StoreError(
                f"the results store {self.path} is corrupt (PRAGMA quick_check: "
                f"{'; '.join(rows)}): restore it from a backup or move it away to start "
                "afresh; nothing was overwritten"
            )

    def close(self) -> None:
        if self.db is not None:
            self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with _immediate(self.db) as db:
            yield db

    # -- claims ------------------------------------------------------------------------
    def claim(self, keys: Iterable[str], *, since: float | None = None, redo: bool = False):
        """Claim, in one transaction, every cell of ``keys`` that is neither finished nor
        leased by another live driver. Finished: ``ok`` in the store (unless ``redo``), or
        written (``ok`` or ``failed``) at or after ``since``. A lease is taken over once it
        runs out, or at once if its driver ran on this host and has exited. Returns a
        ``Claims``."""
        out = Claims()
        now = time.time()
        with self.transaction() as db:
            for key in dict.fromkeys(keys):
                cell = db.execute(
                    "SELECT status, created FROM cells WHERE cell_key = ?", (key,)
                ).fetchone()
                if cell and (
                    (cell["status"] == "ok" and not redo)
                    or (since is not None and cell["created"] >= since)
                ):
                    out.done[key] = cell["status"]
                    continue
                lease = db.execute(
                    "SELECT owner, expires FROM claims WHERE cell_key = ?", (key,)
                ).fetchone()
                if lease and lease["owner"] != self.owner:
                    if lease["expires"] > now and not _exited(lease["owner"]):
                        out.others.add(key)
                        continue
                    out.taken[key] = lease["owner"]
                db.execute(
                    "INSERT OR REPLACE INTO claims VALUES (?, ?, ?)",
                    (key, self.owner, now + self.lease_s),
                )
                out.mine.add(key)
        return out

    def renew_claims(self, db: sqlite3.Connection | None = None) -> None:
        """Extend every claim of this driver by a full lease."""
        with _immediate(db or self.db) as db:
            db.execute(
                "UPDATE claims SET expires = ? WHERE owner = ?",
                (time.time() + self.lease_s, self.owner),
            )

    def release_claims(self) -> None:
        """Drop every claim of this driver (its cells were not written: another may take them)."""
        with self.transaction() as db:
            db.execute("DELETE FROM claims WHERE owner = ?", (self.owner,))

    def claims(self) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM claims ORDER BY cell_key").fetchall()

    @contextmanager
    def renewing(self) -> Iterator[None]:
        """Renew this driver's claims every third of a lease while the block runs: a thread
        that sleeps in between, on its own connection, so a long batch or a slow metric never
        lets a live driver's lease run out; a killed driver's claims expire."""
        stop = threading.Event()

        def beat():
            db = self._connect()
            try:
                while not stop.wait(self.lease_s / 3):
                    # busy past the timeout: try again at the next beat
                    with suppress(sqlite3.OperationalError):
                        self.renew_claims(db)
            finally:
                db.close()

        thread = threading.Thread(target=beat, name="gefu-lease", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    # -- runs --------------------------------------------------------------------------
    def start_run(self, config: dict, versions: dict, grid: Iterable[tuple[str, str, str, str]]):
        """Record a run and its grid of (cell_key, enhancer, dataset, evaluation)."""
        with self.transaction() as db:
            cur = db.execute(
                "INSERT INTO runs (started, config_json, versions) VALUES (?, ?, ?)",
                (time.time(), json.dumps(config, sort_keys=True), json.dumps(versions)),
            )
            run_id = cur.lastrowid
            db.executemany(
                "INSERT INTO run_cells VALUES (?, ?, ?, ?, ?, ?)",
                [(run_id, i, *cell) for i, cell in enumerate(grid)],
            )
        return run_id

    def repeats_latest(self, config: dict, versions: dict, grid: list[tuple]) -> bool:
        """Whether the latest run finished with this config, versions and grid: a re-run that
        then finds every cell cached changes nothing and records no new run."""
        run = self.latest_run()
        if run is None or run["finished"] is None:
            return False
        same = run["config_json"] == json.dumps(config, sort_keys=True)
        same = same and json.loads(run["versions"]) == versions
        rows = [
            (r["cell_key"], r["enhancer"], r["dataset"], r["evaluation"])
            for r in self.run_grid(run["run_id"])
        ]
        return same and rows == [tuple(c) for c in grid]

    def finish_run(self, run_id: int) -> None:
        with self.transaction() as db:
            db.execute("UPDATE runs SET finished = ? WHERE run_id = ?", (time.time(), run_id))

    def latest_run(self) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM runs ORDER BY run_id DESC LIMIT 1").fetchone()

    def run_grid(self, run_id: int) -> list[sqlite3.Row]:
        return self.db.execute(
            "SELECT * FROM run_cells WHERE run_id = ? ORDER BY position", (run_id,)
        ).fetchall()

    # -- cells -------------------------------------------------------------------------
    def cell_status(self, cell_key: str) -> str | None:
        row = self.db.execute("SELECT status FROM cells WHERE cell_key = ?", (cell_key,)).fetchone()
        return row["status"] if row else None

    def write_cell(self, r: CellResult) -> None:
        """Replace any earlier result under the same key and release this driver's claim on
        it, atomically."""
        with self.transaction() as db:
            db.execute(
                "DELETE FROM claims WHERE cell_key = ? AND owner = ?", (r.cell_key, self.owner)
            )
            db.execute("DELETE FROM cells WHERE cell_key = ?", (r.cell_key,))
            db.execute(
                "INSERT INTO cells VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    r.cell_key,
                    r.enhancer,
                    r.dataset,
                    r.evaluation,
                    r.status,
                    r.error,
                    json.dumps(r.spec, sort_keys=True),
                    r.n_images,
                    r.n_skipped,
                    r.params,
                    None if r.trainable is None else int(r.trainable),
                    r.enhance_s,
                    r.images_per_s,
                    r.ms_per_mp,
                    r.wall_s,
                    time.time(),
                ),
            )
            db.executemany(
                "INSERT INTO cell_metrics VALUES (?,?,?,?,?,?)",
                [
                    (r.cell_key, name, i, value, int(lower), why)
                    for i, (name, value, lower, why) in enumerate(r.metrics)
                ],
            )
            db.executemany(
                "INSERT INTO proportion_metrics VALUES (?,?)",
                [(r.cell_key, name) for name in r.proportions],
            )
            db.executemany(
                "INSERT INTO image_scores VALUES (?,?,?,?)",
                [(r.cell_key, *row) for row in r.image_scores],
            )
            db.executemany(
                "INSERT INTO problems VALUES (?,?,?)", [(r.cell_key, *p) for p in r.problems]
            )
            db.executemany(
                "INSERT INTO samples VALUES (?,?,?,?)", [(r.cell_key, *s) for s in r.samples]
            )
            db.executemany(
                "INSERT INTO image_records VALUES (?,?,?)",
                [(r.cell_key, *rec) for rec in r.image_records],
            )
            db.executemany(
                "INSERT INTO image_groups VALUES (?,?,?,?)",
                [(r.cell_key, *g) for g in r.image_groups],
            )

    def cell(self, cell_key: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM cells WHERE cell_key = ?", (cell_key,)).fetchone()

    def cell_metrics(self, cell_key: str) -> list[sqlite3.Row]:
        return self.db.execute(
            "SELECT * FROM cell_metrics WHERE cell_key = ? ORDER BY position", (cell_key,)
        ).fetchall()

    def proportion_metrics(self, cell_key: str) -> set[str] | None:
        """The cell's metrics whose per-image scores are 0/1 outcomes (declared by the task);
        None for a store written before they were declared, opened read-only."""
        try:
            rows = self.db.execute(
                "SELECT metric FROM proportion_metrics WHERE cell_key = ?", (cell_key,)
            ).fetchall()
        except sqlite3.OperationalError:  # no such table
            return None
        return {r["metric"] for r in rows}

    def image_scores(self, cell_key: str, metric: str) -> list[float]:
        rows = self.db.execute(
            "SELECT value FROM image_scores WHERE cell_key = ? AND metric = ? ORDER BY image",
            (cell_key, metric),
        ).fetchall()
        return [r["value"] for r in rows]

    def image_score_map(self, cell_key: str, metric: str) -> dict[str, float | None]:
        """Per-image scores by image name (the pairing key of the report's paired statistics)."""
        rows = self.db.execute(
            "SELECT image, value FROM image_scores WHERE cell_key = ? AND metric = ?",
            (cell_key, metric),
        ).fetchall()
        return {r["image"]: r["value"] for r in rows}

    def image_records(self, cell_key: str) -> list[tuple[str, bytes]]:
        """``(image, blob)`` per image, by image name (see ``gefu.bench.records``)."""
        rows = self.db.execute(
            "SELECT image, record FROM image_records WHERE cell_key = ? ORDER BY image",
            (cell_key,),
        ).fetchall()
        return [(r["image"], bytes(r["record"])) for r in rows]

    def image_groups(self, cell_key: str) -> dict[str, tuple[str | None, str | None]]:
        """Image -> ``(cluster, stratum)`` as the dataset reader gave them (may be empty)."""
        rows = self.db.execute(
            "SELECT image, cluster, stratum FROM image_groups WHERE cell_key = ?", (cell_key,)
        )
        return {r["image"]: (r["cluster"], r["stratum"]) for r in rows}

    def problems(self, cell_key: str) -> list[sqlite3.Row]:
        return self.db.execute(
            "SELECT item, message FROM problems WHERE cell_key = ?", (cell_key,)
        ).fetchall()

    def samples(self, cell_key: str) -> list[sqlite3.Row]:
        return self.db.execute(
            "SELECT image, kind, png FROM samples WHERE cell_key = ? ORDER BY image, kind",
            (cell_key,),
        ).fetchall()


def _open_readonly(path: Path) -> sqlite3.Connection:
    """The store opened read-only (``mode=ro``). On read-only storage SQLite cannot create the
    lock files a WAL database needs; nothing can write the file there, so it is then opened as
    ``immutable``."""
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    db = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=BUSY_TIMEOUT_S)
    try:
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError:
        if os.access(path.parent, os.W_OK):
            raise
        db.close()
        db = sqlite3.connect(f"{uri}&immutable=1", uri=True, isolation_level=None)
    return db


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"


def _exited(owner: str) -> bool:
    """Whether a claim's driver ran on this host and its process is gone (POSIX only: a
    process that cannot be checked counts as alive, and its lease is awaited)."""
    host, _, pid = owner.rpartition(":")[0].rpartition(":")
    if os.name != "posix" or host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)  # signal 0: only checks that the process exists
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):
        pass
    return False


@contextmanager
def _immediate(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction that takes the lock up front (waiting up to the busy timeout), so
    concurrent writers queue instead of failing."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
