"""The driver: builds the grid, decides what is pending, hands units of work to an executor,
gathers their records into cells and is the only writer of the store.

A unit is one shard of a dataset through one row into every pending evaluation of that pair
(``gefu.bench.work``); results do not depend on the executor, the number of workers or the
shard size. Failures are confined to their cell: the rest of the grid goes on, and the run
reports them at the end. Runs that share a results folder split its cells through the store's
claims, and each waits for the others'.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field
from typing import Any

from gefu.bench.assemble import assemble_cell, failed_cell
from gefu.bench.batches import short_error
from gefu.bench.config import BenchmarkConfig, ConfigError
from gefu.bench.executors import EXECUTORS, implied_executor, resolve_device
from gefu.bench.grid import Cell, build_grid
from gefu.bench.parts import Parts
from gefu.bench.store import Store
from gefu.bench.work import Unit, Worker
from gefu.core.hashing import BASE_LIBRARIES, digest, library_versions
from gefu.core.specs import REFERENCE_ROW

WAIT_POLL_S = 0.5  # how often a run re-reads the store while another run computes its cells


@dataclass
class RunOutcome:
    results_dir: Any
    computed: list[Cell]
    cached: list[Cell]
    failed: list[tuple[Cell, str]]
    report: dict[str, Any] = field(default_factory=dict)
    unavailable: list[tuple[str, str, str]] = field(default_factory=list)  # eval, dataset, why


@dataclass
class _Group:
    """The pending cells of one (dataset, row) pair and the units computing them."""

    dataset: str
    row: str
    cells: list[Cell]
    units: list[Unit] = field(default_factory=list)
    results: list = field(default_factory=list)


class Runner:
    def __init__(
        self,
        config: BenchmarkConfig,
        *,
        force: bool = False,
        save_images: bool = False,
        device: str | None = None,
        quiet: bool = False,
        debug: bool = False,
        executor: str | None = None,
        executor_options: dict[str, Any] | None = None,
        shard_size: int | None = None,
    ):
        """``executor``: a name in ``gefu.bench.executors.EXECUTORS`` (None: the one its
        options imply, else local); ``executor_options``: its options (None: not given)."""
        self.config = config
        self.force = force
        self.debug = debug
        options = executor_options or {}
        self.executor = EXECUTORS.get(executor or implied_executor(options))
        self.executor_options = self.executor.check_options(options)
        device = device or config.device
        on_workers = self.executor.resolves_devices_on_workers
        self.device = device if on_workers else resolve_device(device)
        self.shard_size = shard_size or self.executor.default_shard_size
        self.results_dir = config.output_dir
        from rich.console import Console

        self.console = Console(stderr=True, quiet=quiet, highlight=False)
        self.quiet = quiet
        self.grid = None
        self._computable: set[str] = set()
        self.parts = Parts()  # the grid's datasets and evaluations, shared with the worker
        self.worker = Worker(
            config, self.device, save_images=save_images, debug=debug, parts=self.parts
        )

    def _print_left_out(self) -> None:
        from gefu.enhancers.weights import is_release_name

        left = self.config.left_out
        trained = [label for label, w in left.items() if not is_release_name(w)]
        releases = sorted({w for w in left.values() if is_release_name(w)})
        if trained:
            names = ", ".join(trained)
            self.console.print(f"[dim]left out until trained (no weights yet):[/] {names}")
        if releases:
            self.console.print(
                "[dim]left out until their released weights are fetched:[/] "
                f"{', '.join(releases)} (`gefu weights fetch {' '.join(releases)}`)",
                soft_wrap=True,  # one line: the command stays whole
            )

    @property
    def tasks(self) -> dict[str, Any]:
        return self.grid.tasks if self.grid else {}

    # -- the run -------------------------------------------------------------------------------
    def run(self) -> RunOutcome:
        self.grid = build_grid(self.config, lambda exc: short_error(exc, self.debug), self.parts)
        self._refuse_broken_parts()
        self._print_left_out()
        for t_label, d_label, reason in self.grid.unavailable:
            self.console.print(f"[yellow]unavailable[/] {t_label} on {d_label}: {reason}")
        grid = self.grid.cells
        outcome = RunOutcome(self.results_dir, [], [], [], unavailable=self.grid.unavailable)
        started = time.time()  # cells others write from now on count as this run's
        with Store(self.results_dir) as store:
            pending = []
            for cell in grid:
                if not self.force and store.cell_status(cell.key) == "ok":
                    outcome.cached.append(cell)
                else:
                    pending.append(cell)
            if outcome.cached:
                self.console.print(f"{len(outcome.cached)} cell(s) up to date, not recomputed")
            if self.worker.save_images:
                self._save_cached_images(outcome.cached, pending)
            run = (
                self.config.model_dump(mode="json"),
                versions(self.device, self.grid.tasks.values()),
                [(c.key, c.enhancer, c.dataset, c.evaluation) for c in grid],
            )
            if not pending and store.repeats_latest(*run):  # nothing new: no run to record
                outcome.report = self._write_report()
                return outcome
            run_id = store.start_run(*run)
            if pending:
                with store.renewing():
                    try:
                        self._compute(store, pending, outcome, started)
                    finally:
                        store.release_claims()
            store.finish_run(run_id)
        outcome.report = self._write_report()
        return outcome

    def _save_cached_images(self, cached: list[Cell], pending: list[Cell]) -> None:
        """``--save-images`` with cached cells: enhance again, here, the rows whose images are
        not saved yet (the images only: no evaluation runs, the store is untouched)."""
        from gefu.bench.work import images_folder

        computing = {(c.dataset, c.enhancer) for c in pending}
        todo = {}
        for c in cached:
            group = (c.dataset, c.enhancer)
            folder = images_folder(self.config, *group)
            saved = folder.is_dir() and any(folder.iterdir())
            if c.enhancer != REFERENCE_ROW and group not in computing and not saved:
                todo.setdefault(group, c)
        for (d_label, row), cell in todo.items():
            ds = self.grid.datasets[d_label]
            seed_key = digest([cell.spec["enhancer"], cell.spec["dataset"]])
            unit = Unit(d_label, row, (), 0, len(ds), 0, seed_key)
            result = self.worker.run(unit)
            if result.error:
                self.console.print(f"[red]images not saved[/] {row} · {d_label}: {result.error}")
            else:
                folder = images_folder(self.config, d_label, row)
                self.console.print(
                    f"saved {result.n_images} image(s) of cached {row} · {d_label} into {folder}"
                )

    def _refuse_broken_parts(self) -> None:
        """Datasets that cannot be opened (a missing annotation folder or list file) and
        evaluations that cannot be built, all listed in one ConfigError before the results
        folder is touched."""
        problems = [
            f"{section}[{i}] ({spec.label}): {self.grid.errors[spec.label]}"
            for section in ("datasets", "evaluations")
            for i, spec in enumerate(getattr(self.config, section))
            if spec.label in self.grid.errors
        ]
        if problems:
            raise ConfigError("\n  ".join(["cannot start the run:", *problems]))

    def _compute(self, store: Store, pending: list[Cell], outcome: RunOutcome, started: float):
        """Compute the pending cells; cells another run holds are left to it and awaited at the
        end (its lease runs out if it dies, and this run takes them over)."""
        executor = self.executor(self.worker, **self.executor_options)
        self._written: set[str] = set()  # by this run (labels with equal specs share a key)
        self._by_others, waiting, todo = 0, False, pending
        try:
            with self._progress() as progress:
                while todo:
                    todo, ran = self._pass(store, todo, outcome, started, executor, progress)
                    if todo and not ran:  # nothing left to do here but wait
                        if not waiting:
                            self.console.print(
                                f"waiting for {len(todo)} cell(s) being computed by another process"
                            )
                            waiting = True
                        time.sleep(WAIT_POLL_S)
        finally:
            executor.close()
        if self._by_others:
            self.console.print(f"{self._by_others} cell(s) computed by another process")

    def _pass(self, store, todo, outcome, started, executor, progress):
        """One pass over the pending cells: claim group by group, with at most as many groups
        in flight as the executor has workers. Returns the cells others hold, and whether
        this run computed anything."""
        queue, busy, ran = _groups(todo), [], False
        in_flight: dict[Unit, _Group] = {}
        while queue or in_flight:
            while queue and len(set(map(id, in_flight.values()))) < executor.capacity:
                group = queue.pop(0)
                claims = self._claim(store, group, started, outcome)
                busy += [c for c in group.cells if c.key in claims.others]
                group.cells = [c for c in group.cells if c.key in claims.mine]
                if group.cells and self._start(group, executor, progress, store, outcome):
                    in_flight.update(dict.fromkeys(group.units, group))
                    ran = True
            if not in_flight:
                continue
            unit, result = executor.next_result()
            group = in_flight.pop(unit)
            group.results.append(result)
            progress.unit_done(group, result.n_items, executor)
            for item, msg in result.problems:
                self.console.print(f"[yellow]unreadable[/] {unit.dataset}/{item}: {msg}")
            if len(group.results) == len(group.units):
                self._finish(group, store, outcome)
        return busy, ran

    def _claim(self, store, group, started, outcome):
        """Claim a group's cells; those finished meanwhile are recorded as cached or failed."""
        claims = store.claim([c.key for c in group.cells], since=started, redo=self.force)
        for cell in group.cells:
            if cell.key in claims.done:  # written meanwhile, here or by another run
                self._by_others += cell.key not in self._written
                row = store.cell(cell.key)
                if row["status"] == "ok":
                    outcome.cached.append(cell)
                else:
                    outcome.failed.append((cell, row["error"]))
        if claims.taken:
            owners = ", ".join(sorted(set(claims.taken.values())))
            self.console.print(
                f"taking over {len(claims.taken)} cell(s) left by a run that stopped ({owners})"
            )
        return claims

    def _start(self, group, executor, progress, store, outcome) -> bool:
        """Submit a group's units, or fail its cells at once where nothing can run."""
        ds = self.grid.datasets[group.dataset]
        error = self.grid.errors.get(group.dataset)
        if error:
            for c in group.cells:
                self._write(failed_cell(c, error), c, store, outcome)
            return False
        runnable = []
        for c in group.cells:
            if c.evaluation in self.grid.errors:
                self._write(failed_cell(c, self.grid.errors[c.evaluation]), c, store, outcome)
            else:
                runnable.append(c)
        group.cells = runnable
        if not runnable:
            return False
        alone = any(c.alone for c in runnable)  # a fine-tune: one unit, the whole dataset
        step = max(len(ds), 1) if alone else self._shard_step(len(ds))
        seed_key = digest([runnable[0].spec["enhancer"], runnable[0].spec["dataset"]])
        evaluations = tuple(dict.fromkeys(c.evaluation for c in runnable))
        for shard, start in enumerate(range(0, max(len(ds), 1), step)):
            stop = min(start + step, len(ds))
            group.units.append(
                Unit(group.dataset, group.row, evaluations, start, stop, shard, seed_key)
            )
        advance = progress.start(group, len(ds))
        for unit in group.units:
            executor.submit(unit, advance)
        return True

    def _shard_step(self, n: int) -> int:
        b = self.config.batch_size
        size = self.shard_size or max(n, 1)
        return max(b, -(-size // b) * b)  # whole batches

    def _finish(self, group, store, outcome) -> None:
        ds = self.grid.datasets[group.dataset]
        for c in group.cells:
            try:
                self._ready_to_compute(c.evaluation)
                result = assemble_cell(
                    c,
                    group.results,
                    self.grid.tasks[c.evaluation],
                    ds,
                    group.row == REFERENCE_ROW,
                    self.config.samples,
                )
            except Exception as exc:
                result = failed_cell(c, f"{c.evaluation} failed: {short_error(exc, self.debug)}")
            self._write(result, c, store, outcome)

    def _ready_to_compute(self, label: str) -> None:
        """Set up the driver's copy of an evaluation once, on CPU, when units ran elsewhere:
        what ``compute`` and the metric list depend on beyond the records (a detector's class
        names, whether a model could be loaded) is then the same as on the workers. No image
        goes through it here."""
        if not self.executor.shares_tasks_with_driver and label not in self._computable:
            self._computable.add(label)
            self.grid.tasks[label].setup("cpu")

    def _write(self, result, cell, store, outcome) -> None:
        store.write_cell(result)
        self._written.add(cell.key)
        if result.status == "ok":
            outcome.computed.append(cell)
        else:
            self.console.print(
                f"[red]failed[/] {cell.enhancer} · {cell.dataset} · {cell.evaluation}: "
                f"{result.error}"
            )
            outcome.failed.append((cell, result.error))

    def _write_report(self) -> dict[str, Any]:
        """The report, or, if writing it fails, the reason (the store is complete either way)."""
        from gefu.bench.report import write_report

        try:
            return write_report(self.results_dir, reuse=True)
        except Exception as exc:
            return {
                "error": f"{short_error(exc, self.debug)}; the results are safe in the store: "
                f"rebuild the report with `gefu report {self.results_dir}`"
            }

    def _progress(self):
        return _Progress(self.console, disable=self.quiet)


def _groups(cells: list[Cell]) -> list[_Group]:
    groups: dict[tuple[str, str], _Group] = {}
    for cell in cells:
        key = (cell.dataset, cell.enhancer, cell.evaluation if cell.alone else None)
        groups.setdefault(key, _Group(cell.dataset, cell.enhancer, []))
        groups[key].cells.append(cell)
    return list(groups.values())


class _Progress:
    """One bar per (row, dataset) group: advanced per batch in this process, per finished
    unit for workers elsewhere."""

    def __init__(self, console, disable):
        self.console, self.disable = console, disable
        self._bars: dict[int, Any] = {}

    def __enter__(self):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        self.bar = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            disable=self.disable,
            transient=False,
        )
        self.bar.__enter__()
        return self

    def start(self, group, total: int):
        task = self.bar.add_task(f"{group.row} · {group.dataset}", total=total)
        self._bars[id(group)] = task
        return lambda n: self.bar.advance(task, n)

    def unit_done(self, group, n: int, executor) -> None:
        if not executor.reports_batches:  # a worker elsewhere: advanced per finished unit
            self.bar.advance(self._bars[id(group)], n)

    def __exit__(self, *exc):
        self.bar.__exit__(*exc)


def versions(device: str, tasks=()) -> dict[str, str]:
    """Python, device, the suite and every library that can change this run's results: the
    base ones, each evaluation's scorer's (``Task.libraries``) and its frozen model's (declared
    by the family, ``FrozenModel.packages``)."""
    names = {"gefu-bench", *BASE_LIBRARIES}
    for task in tasks:
        names.update(task.libraries)
        names.update(getattr(getattr(task, "model", None), "packages", {}).values())
    out = {"python": platform.python_version(), "device": device}
    return out | library_versions(tuple(sorted(names)))
