"""The runner: a grid of cells (enhancer x dataset x evaluation), each cached by content.

Images stream dataset -> enhancer -> every pending evaluation in batches, in memory; each
finished cell is written to the store in its own transaction. Failures are confined to their
cell: the rest of the grid goes on, and the run reports them at the end. Runs that share a
results folder split its cells through the store's claims, and each waits for the others'.
"""

from __future__ import annotations

import platform
import sys
import time
import traceback
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from gefu.bench.config import BenchmarkConfig
from gefu.bench.records import encode_all
from gefu.bench.store import CellResult, Store
from gefu.core.hashing import (
    BASE_LIBRARIES,
    RESULT_LIBRARIES,
    code_hash,
    digest,
    library_versions,
    weights_hash,
)
from gefu.core.params import resolved_params
from gefu.core.specs import REFERENCE_ROW
from gefu.tasks.base import per_image_scores

REFERENCE = REFERENCE_ROW  # the "enhancer" that returns the normal-light image
WAIT_POLL_S = 0.5  # how often a run re-reads the store while another run computes its cells


@dataclass
class Cell:
    key: str
    enhancer: str
    dataset: str
    evaluation: str
    spec: dict[str, Any]
    # filled while running
    scores: list[tuple[str, str, float]] = field(default_factory=list)
    per_image: list[dict[str, float]] = field(default_factory=list)
    names: list[str] = field(default_factory=list)  # the image of each per_image record
    error: str | None = None


@dataclass
class RunOutcome:
    results_dir: Any
    computed: list[Cell]
    cached: list[Cell]
    failed: list[tuple[Cell, str]]
    report: dict[str, Any] = field(default_factory=dict)
    unavailable: list[tuple[str, str, str]] = field(default_factory=list)  # eval, dataset, why


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
    ):
        self.config = config
        self.force = force
        self.save_images = save_images
        self.device = resolve_device(device or config.device)
        self.quiet = quiet
        self.debug = debug
        self.unavailable: list[tuple[str, str, str]] = []
        self.results_dir = config.output_dir
        from rich.console import Console

        self.console = Console(stderr=True, quiet=quiet, highlight=False)
        self._enhancers: dict[str, Any] = {}
        self._ready_tasks: set[str] = set()

    # -- building ----------------------------------------------------------------------
    def _build(self):
        from gefu.datasets import DATASETS, create_dataset
        from gefu.enhancers import ENHANCERS
        from gefu.tasks import create_task

        self.datasets, self.dataset_errors = {}, {}
        for spec in self.config.datasets:
            try:
                ds = create_dataset(spec.name, root=spec.root, limit=spec.limit, **spec.params)
                self.datasets[spec.label] = (ds, self._dataset_key(spec, ds, DATASETS))
            except Exception as exc:
                self.dataset_errors[spec.label] = f"cannot open dataset: {self._why(exc)}"
                self.datasets[spec.label] = (None, {"spec": spec.model_dump()})
        self.tasks, self.task_errors = {}, {}
        for s in self.config.evaluations:
            try:
                self.tasks[s.label] = create_task(s.name, **s.params)
            except Exception as exc:  # a plugin's constructor, a model file that will not parse
                self.task_errors[s.label] = f"cannot build evaluation: {self._why(exc)}"
        if self.config.left_out:
            names = ", ".join(self.config.left_out)
            self.console.print(f"[dim]left out until trained (no weights yet):[/] {names}")
        self.enhancer_specs = {s.label: s for s in self.config.enhancers}
        self.enhancer_keys = {}
        for spec in self.config.enhancers:
            cls = ENHANCERS.get(spec.name)
            self.enhancer_keys[spec.label] = {
                "name": spec.name,
                "params": resolved_params(cls, spec.params),
                "weights": weights_hash(spec.weights),
                "code": code_hash(cls),
            }

    @staticmethod
    def _dataset_key(spec, ds, registry) -> dict:
        cls = registry.get(spec.name)
        readers = [cls]  # and the sets it wraps (``darkened``)
        inner = ds.__dict__.get("dataset")
        while inner is not None and hasattr(inner, "fingerprint"):
            readers.append(type(inner))
            inner = inner.__dict__.get("dataset")
        return {
            "name": spec.name,
            "params": resolved_params(cls, spec.params),
            "limit": spec.limit,
            "code": code_hash(*readers),
            "files": ds.fingerprint(),
        }

    def _evaluation_key(self, task, ds) -> dict:
        return {
            "task": task.spec(),
            "metrics": _metric_facts(task, ds),
            "code": code_hash(type(task), *task.code_dependencies()),
        }

    def _grid(self) -> list[Cell]:
        cells = []
        suite = code_hash(Runner)
        for d_label, (ds, d_key) in self.datasets.items():
            rows = list(self.enhancer_keys.items())
            if self.config.include_reference and ds is not None and ds.paired:
                rows.append((REFERENCE, {"name": REFERENCE}))
            for t_label in [s.label for s in self.config.evaluations]:
                task = self.tasks.get(t_label)
                reason = task.incompatible(ds) if ds is not None and task is not None else None
                if reason:
                    self.unavailable.append((t_label, d_label, reason))
                    self.console.print(f"[yellow]unavailable[/] {t_label} on {d_label}: {reason}")
                    continue
                evaluation = (
                    self._evaluation_key(task, ds) if task is not None
                    else {"error": self.task_errors[t_label]}
                )  # fmt: skip
                libraries = library_versions(BASE_LIBRARIES + getattr(task, "libraries", ()))
                for e_label, e_key in rows:
                    spec = {
                        "enhancer": e_key,
                        "dataset": d_key,
                        "evaluation": evaluation,
                        "libraries": libraries,
                        "batch_size": self.config.batch_size,  # batches share RNG draws
                    }
                    key = digest({"suite": suite, **spec})
                    cells.append(Cell(key, e_label, d_label, t_label, spec))
        return cells

    # -- running -----------------------------------------------------------------------
    def run(self) -> RunOutcome:
        self._build()
        grid = self._grid()
        outcome = RunOutcome(self.results_dir, [], [], [], unavailable=self.unavailable)
        started = time.time()  # cells others write from now on count as this run's
        with Store(self.results_dir) as store:
            run_id = store.start_run(
                self.config.model_dump(mode="json"),
                versions(self.device),
                [(c.key, c.enhancer, c.dataset, c.evaluation) for c in grid],
            )
            pending = []
            for cell in grid:
                if not self.force and store.cell_status(cell.key) == "ok":
                    outcome.cached.append(cell)
                else:
                    pending.append(cell)
            if outcome.cached:
                self.console.print(f"{len(outcome.cached)} cell(s) up to date, not recomputed")
            if pending:
                with store.renewing():
                    try:
                        self._compute(store, pending, outcome, started)
                    finally:
                        store.release_claims()
            store.finish_run(run_id)
        outcome.report = self._write_report()
        return outcome

    def _compute(self, store: Store, pending: list[Cell], outcome: RunOutcome, started: float):
        """Compute the pending cells group by group, each group claimed just before it runs;
        cells another run holds are left to it and awaited at the end (its lease runs out if it
        dies, and this run takes them over)."""
        todo, waiting, by_others = pending, False, 0
        written: set[str] = set()  # by this run (labels with equal specs share a key)
        while todo:
            busy, ran = [], False
            groups: dict[tuple[str, str], list[Cell]] = {}
            for cell in todo:
                groups.setdefault((cell.dataset, cell.enhancer), []).append(cell)
            for (d_label, e_label), cells in groups.items():
                claims = store.claim([c.key for c in cells], since=started, redo=self.force)
                for cell in cells:
                    if cell.key in claims.done:  # written meanwhile, here or by another run
                        by_others += cell.key not in written
                        row = store.cell(cell.key)
                        if row["status"] == "ok":
                            outcome.cached.append(cell)
                        else:
                            outcome.failed.append((cell, row["error"]))
                    elif cell.key in claims.others:
                        busy.append(cell)
                if claims.taken:
                    owners = ", ".join(sorted(set(claims.taken.values())))
                    self.console.print(
                        f"taking over {len(claims.taken)} cell(s) left by a run that stopped "
                        f"({owners})"
                    )
                mine = [c for c in cells if c.key in claims.mine]
                if not mine:
                    continue
                ran = True
                for result, cell in self._run_group(d_label, e_label, mine):
                    store.write_cell(result)
                    written.add(cell.key)
                    if result.status == "ok":
                        outcome.computed.append(cell)
                    else:
                        outcome.failed.append((cell, result.error))
            todo = busy
            if todo and not ran:  # nothing left to do here but wait
                if not waiting:
                    self.console.print(
                        f"waiting for {len(todo)} cell(s) being computed by another process"
                    )
                    waiting = True
                time.sleep(WAIT_POLL_S)
        if by_others:
            self.console.print(f"{by_others} cell(s) computed by another process")

    def _write_report(self) -> dict[str, Any]:
        """The report, or, if writing it fails, the reason (the store is complete either way)."""
        from gefu.bench.report import write_report

        try:
            return write_report(self.results_dir)
        except Exception as exc:
            self._explain(exc)
            return {"error": f"{self._why(exc)}; the results are safe in the store: rebuild "
                             f"the report with `gefu report {self.results_dir}`"}  # fmt: skip

    def _run_group(self, d_label: str, e_label: str, cells: list[Cell]):
        """Enhance the dataset once and feed every pending evaluation; yields finished cells."""
        import torch

        ds, _ = self.datasets[d_label]
        started = time.perf_counter()
        base = dict(enhancer=e_label, dataset=d_label)
        if ds is None:
            for c in cells:
                yield self._failed(c, self.dataset_errors[d_label], base), c
            return
        try:
            enhancer = self._enhancer(e_label)
        except Exception as exc:
            for c in cells:
                yield self._failed(c, f"cannot build enhancer: {self._why(exc)}", base), c
            return
        for c in cells:
            c.error = self.task_errors.get(c.evaluation)
            if c.error is None:
                try:
                    self._setup_task(c.evaluation)
                except Exception as exc:
                    c.error = f"{c.evaluation} setup failed: {self._why(exc)}"

        n_done, n_pixels, enhance_s = 0, 0, 0.0
        problems = [("(dataset)", p) for p in ds.problems]
        samples_png: list[tuple[str, str, bytes]] = []
        group_error = None
        with self._progress(f"{e_label} · {d_label}", len(ds)) as advance, torch.inference_mode():
            try:
                for batch, bad in iter_batches(ds, self.config.batch_size):
                    problems += bad
                    for item, msg in bad:
                        self.console.print(f"[yellow]unreadable[/] {d_label}/{item}: {msg}")
                    if batch:
                        # Enhancers that draw from torch's global RNG (HVR-SSLE's latents,
                        # SCUF's posterior sample, as released) give the same output on every
                        # run: the seed is a function of the cell's key and the batch's images.
                        torch.manual_seed(_batch_seed(cells[0].spec, batch))
                        out, secs = self._enhance(enhancer, batch)
                        enhance_s += secs
                        n_done += len(batch)
                        n_pixels += sum(s.image.shape[-1] * s.image.shape[-2] for s in batch)
                        for c in cells:
                            self._score(c, out, batch)
                        samples_png += self._samples(batch, out, n_done - len(batch))
                        if self.save_images:
                            self._save(d_label, e_label, batch, out)
                    advance(len(batch) + len(bad))
            except Exception as exc:  # the enhancer, reading, samples or saving: the group
                group_error = self._why(exc)
        wall = time.perf_counter() - started
        for c in cells:
            error = group_error or c.error
            if error is None and n_done == 0:
                error = "no readable images"
            if error is None:
                try:
                    result = self._finished(c, base, n_done, len(problems), enhance_s, n_pixels,
                                            wall, problems, samples_png)  # fmt: skip
                except Exception as exc:
                    error = f"{c.evaluation} failed: {self._why(exc)}"
            if error:
                yield self._failed(c, error, base, problems), c
            else:
                yield result, c

    def _enhancer(self, label: str):
        if label == REFERENCE:
            return None
        if label not in self._enhancers:
            from gefu.enhancers import create_enhancer

            spec = self.enhancer_specs[label]
            model = create_enhancer(spec.name, weights=spec.weights, **spec.params)
            self._enhancers[label] = model.to(self.device).eval()
        return self._enhancers[label]

    def _setup_task(self, label: str) -> None:
        if label not in self._ready_tasks:
            self.tasks[label].setup(self.device)
            self._ready_tasks.add(label)

    def _enhance(self, enhancer, batch):
        import torch

        x = torch.stack([s.image for s in batch]).to(self.device)
        if enhancer is None:  # the reference row
            return torch.stack([s.reference for s in batch]).to(self.device), 0.0
        _sync(self.device)
        t0 = time.perf_counter()
        out = enhancer(x)
        _sync(self.device)
        secs = time.perf_counter() - t0
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"enhancer returned {type(out).__name__}, expected a tensor")
        if out.shape != x.shape:
            raise ValueError(f"enhancer returned shape {tuple(out.shape)} for {tuple(x.shape)}")
        if not torch.isfinite(out).all():
            bad = (~torch.isfinite(out)).sum().item()
            raise ValueError(f"enhancer returned {bad} NaN/Inf value(s)")
        lo, hi = out.min().item(), out.max().item()
        if lo < -1e-3 or hi > 1 + 1e-3:
            raise ValueError(f"enhancer returned values in [{lo:.3g}, {hi:.3g}], outside [0, 1]")
        return out.clamp(0, 1).float(), secs

    def _score(self, cell: Cell, out, batch) -> None:
        if cell.error:
            return
        try:
            rows = self.tasks[cell.evaluation].process(out, batch)
            names = {m.name for m in self._metric_infos(cell)}
            if cell.enhancer == REFERENCE:
                names -= self._ref_metrics(cell)
            for sample, record in zip(batch, rows, strict=True):
                cell.per_image.append(record)
                cell.names.append(sample.name)
                scores = per_image_scores(record, names)
                cell.scores += [(sample.name, m, v) for m, v in scores.items()]
        except Exception as exc:
            cell.error = f"{cell.evaluation} failed: {self._why(exc)}"

    def _metric_infos(self, cell: Cell):
        return self.tasks[cell.evaluation].metrics(self.datasets[cell.dataset][0])

    def _ref_metrics(self, cell: Cell) -> set[str]:
        return {m.name for m in self._metric_infos(cell) if m.uses_reference}

    def _samples(self, batch, out, offset: int) -> list[tuple[str, str, bytes]]:
        from gefu.io import png_bytes

        rows = []
        for i, s in enumerate(batch):
            if offset + i >= self.config.samples:
                break
            rows.append((s.name, "input", png_bytes(thumbnail(s.image))))
            rows.append((s.name, "output", png_bytes(thumbnail(out[i]))))
            if s.reference is not None:
                rows.append((s.name, "reference", png_bytes(thumbnail(s.reference))))
        return rows

    def _save(self, d_label, e_label, batch, out) -> None:
        from gefu.io import write_image

        folder = self.results_dir / "images" / _safe(d_label) / _safe(e_label)
        for s, img in zip(batch, out, strict=True):
            write_image(folder / f"{_safe(s.name).rsplit('.', 1)[0]}.png", img)

    # -- results -----------------------------------------------------------------------
    def _failed(self, cell: Cell, error: str, base: dict, problems=()) -> CellResult:
        self.console.print(
            f"[red]failed[/] {cell.enhancer} · {cell.dataset} · {cell.evaluation}: {error}"
        )
        return CellResult(
            cell.key, evaluation=cell.evaluation, status="failed", spec=cell.spec, error=error,
            problems=list(problems), **base,
        )  # fmt: skip

    def _finished(self, cell, base, n, n_bad, enhance_s, pixels, wall, problems, samples):
        task = self.tasks[cell.evaluation]
        values = task.compute(cell.per_image)
        trivial = self._ref_metrics(cell) if cell.enhancer == REFERENCE else set()
        metrics = []
        for m in self._metric_infos(cell):
            why = m.unavailable or (
                "trivial for the reference itself" if m.name in trivial else None
            )
            value = None if why else values.get(m.name)
            metrics.append((m.name, value, m.lower_better, why))
        model = self._enhancers.get(cell.enhancer)
        is_ref = cell.enhancer == REFERENCE
        return CellResult(
            cell.key, evaluation=cell.evaluation, status="ok", spec=cell.spec, n_images=n,
            n_skipped=n_bad, params=None if is_ref else _num_params(model),
            trainable=None if is_ref else bool(getattr(model, "trainable", False)),
            enhance_s=None if is_ref else enhance_s,
            images_per_s=n / enhance_s if enhance_s > 0 else None,
            ms_per_mp=1000 * enhance_s / (pixels / 1e6) if enhance_s > 0 and pixels else None,
            wall_s=wall, metrics=metrics, image_scores=cell.scores, problems=problems,
            samples=samples, image_records=encode_all(cell.names, cell.per_image), **base,
        )  # fmt: skip

    def _why(self, exc: BaseException) -> str:
        """One line for a failure; the traceback too with ``--debug``."""
        self._explain(exc)
        return _short(exc)

    def _explain(self, exc: BaseException) -> None:
        if self.debug:  # even with --quiet: it was asked for
            traceback.print_exception(exc, file=sys.stderr)

    def _progress(self, title: str, total: int):
        return _Progress(self.console, title, total, disable=self.quiet)


# -- helpers ----------------------------------------------------------------------------
def iter_batches(ds, batch_size: int, prefetch: int = 0):
    """Yield (batch of same-size Samples, [(item, problem)]) in dataset order. ``prefetch > 0``
    decodes that many items ahead in a background thread (worth it for slow storage; on a
    small CPU machine it competes with torch's own threads, so it is off by default)."""
    batch, bad = [], []
    for sample, problem in _loaded(ds, prefetch):
        if problem:
            bad.append(problem)
            continue
        if batch and (
            sample.image.shape != batch[0].image.shape
            or (sample.reference is None) != (batch[0].reference is None)
        ):
            yield batch, bad
            batch, bad = [], []
        batch.append(sample)
        if len(batch) == batch_size:
            yield batch, bad
            batch, bad = [], []
    if batch or bad:
        yield batch, bad


def _loaded(ds, prefetch: int):
    """(sample, None) or (None, (item, problem)) for every item, in order."""

    def load(i):
        try:
            return ds.load(i), None
        except Exception as exc:
            return None, (ds.name_of(i), _short(exc))

    if prefetch <= 0:
        yield from (load(i) for i in range(len(ds)))
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        queue: deque = deque(pool.submit(load, i) for i in range(min(prefetch, len(ds))))
        next_i = len(queue)
        while queue:
            result = queue.popleft().result()
            if next_i < len(ds):
                queue.append(pool.submit(load, next_i))
                next_i += 1
            yield result


def thumbnail(image, size: int = 160):
    """A centre crop of at most ``size`` pixels on the short side, for the report."""
    import torch.nn.functional as F

    h, w = image.shape[-2:]
    scale = min(1.0, size / min(h, w))
    if scale < 1.0:
        image = F.interpolate(
            image[None], scale_factor=scale, mode="bilinear", antialias=True, align_corners=False
        )[0]
    h, w = image.shape[-2:]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return image[:, top : top + side, left : left + side].clamp(0, 1)


class _Progress:
    def __init__(self, console, title, total, disable):
        self.console, self.title, self.total, self.disable = console, title, total, disable

    def __enter__(self):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        self.bar = Progress(
            "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=self.console, disable=self.disable, transient=False,
        )  # fmt: skip
        self.bar.__enter__()
        task = self.bar.add_task(self.title, total=self.total)
        return lambda n: self.bar.advance(task, n)

    def __exit__(self, *exc):
        self.bar.__exit__(*exc)


def _batch_seed(spec: dict, batch) -> int:
    parts = [spec["enhancer"], spec["dataset"], [s.name for s in batch]]
    return int(digest(parts), 16) % 2**63


def _metric_facts(task, dataset) -> list:
    return [[m.name, m.lower_better, m.unavailable is None] for m in task.metrics(dataset)]


def _num_params(model) -> int | None:
    """Every parameter, trainable and frozen, of any ``torch.nn.Module`` (each counted once)."""
    if model is None:
        return None
    if hasattr(model, "parameters"):
        return sum(p.numel() for p in model.parameters())
    return int(getattr(model, "num_parameters", 0))


def _short(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    loc = f" (at {where.filename.rsplit('/', 1)[-1]}:{where.lineno})" if where else ""
    return f"{type(exc).__name__}: {msg}{loc}"[:500]


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.@" else "_" for c in name)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for, but torch sees no CUDA device")
    return device


def versions(device: str) -> dict[str, str]:
    """Python, device, the suite and every library that can change a result."""
    out = {"python": platform.python_version(), "device": device}
    return out | library_versions(("gefu-bench", *RESULT_LIBRARIES))
