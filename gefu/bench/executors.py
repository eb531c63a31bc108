"""Where units of work run: a registry of executors, each a class with its own options.

Built in: ``local`` (this process), ``processes`` (worker processes on this machine, one per
device when several are given) and ``ray`` (a Ray cluster); a third-party executor is a class
in its own module, registered under the entry-point group ``gefu.executors``. Workers share the
driver's torch threads among them (see ``_worker_threads``).

Every executor takes units with ``submit`` and hands back finished ``(unit, result)`` pairs
with ``next_result``; the driver alone writes the store. Each process builds each dataset and
evaluation once (``gefu.bench.parts``), and each worker each model, kept for all the units it
runs. A worker that dies (killed, out of memory) has its units run again on a fresh one, up to
``RETRIES`` times, then they fail with that reason. How the driver treats an executor is said
by the class's attributes (``Executor``), never by its name.
"""

from __future__ import annotations

import os
from collections import deque
from typing import Any, ClassVar

from gefu.bench.work import UnitResult, Worker
from gefu.core.errors import ConfigError
from gefu.core.registry import Registry

EXECUTORS: Registry = Registry("executor")
register_executor = EXECUTORS.register  # for plugins; the built-ins are the table below
for _name, _target in {
    "local": "gefu.bench.executors:LocalExecutor",
    "processes": "gefu.bench.executors:ProcessExecutor",
    "ray": "gefu.bench.executors:RayExecutor",
}.items():
    EXECUTORS.add_lazy(_name, _target)
DEFAULT = "local"  # with no executor named and no option that implies one
RETRIES = 2
SHARD_SIZE = 256  # images per unit on the parallel executors (rounded to whole batches)


class Executor:
    """The interface. ``__init__(worker, **options)`` gets the driver's ``Worker`` (its config,
    device, save_images and debug) and the options ``check_options`` returned."""

    registry_name: ClassVar[str] = ""
    options: ClassVar[dict[str, Any]] = {}  # the options it takes, with their defaults
    implied_by: ClassVar[tuple[str, ...]] = ()  # options that pick it when none is named
    shares_tasks_with_driver: ClassVar[bool] = False  # units run on the driver's objects
    reports_batches: ClassVar[bool] = False  # advances the progress bar batch by batch
    resolves_devices_on_workers: ClassVar[bool] = False  # "auto" is decided where units run
    default_shard_size: ClassVar[int | None] = SHARD_SIZE  # None: a dataset per unit
    capacity: int = 1  # units in flight at once

    @classmethod
    def check_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        """The options (None: not given) with defaults filled in; a ConfigError names any
        this executor does not take or accept."""
        given = {k: v for k, v in options.items() if v is not None}
        unknown = sorted(set(given) - set(cls.options))
        if unknown:
            takes = ", ".join(cls.options) or "none"
            raise ConfigError(
                f"executor {cls.registry_name!r} takes no {', '.join(unknown)} "
                f"(its options: {takes})"
            )
        return {**cls.options, **given}

    def submit(self, unit, advance=None) -> None:
        raise NotImplementedError

    def next_result(self) -> tuple[Any, UnitResult]:
        raise NotImplementedError

    def close(self) -> None:
        pass


def implied_executor(options: dict[str, Any]) -> str:
    """The executor to use when none is named: the one that the given options (None: not
    given) imply and that takes them all; ``DEFAULT`` with none given."""
    given = {k for k, v in options.items() if v is not None}
    if not given:
        return DEFAULT
    classes = {name: EXECUTORS.get(name) for name in EXECUTORS.names()}
    fits = [n for n, c in classes.items() if given & set(c.implied_by) and given <= set(c.options)]
    if len(fits) != 1:
        which = "several executors take" if fits else "no executor takes"
        raise ConfigError(
            f"{which} {', '.join(sorted(given))}: name one ({', '.join(fits or EXECUTORS.names())})"
        )
    return fits[0]


def resolve_device(device: str) -> str:
    """``auto``: ``cuda`` where torch sees a GPU, else ``cpu``; a missing CUDA is an error."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for, but torch sees no CUDA device")
    return device


class LocalExecutor(Executor):
    """Units run one after the other in this process, on the driver's own objects."""

    shares_tasks_with_driver = reports_batches = True
    default_shard_size = None

    def __init__(self, worker: Worker):
        self.worker = worker
        self._queue: deque = deque()

    def submit(self, unit, advance=None) -> None:
        self._queue.append((unit, advance))

    def next_result(self):
        unit, advance = self._queue.popleft()
        return unit, self.worker.run(unit, advance)


# -- worker processes -------------------------------------------------------------------------
_WORKER: Worker | None = None


def _start_worker(config_data, devices, threads, save_images, debug, counter) -> None:
    """Runs once in each worker process: its device (round robin) and its Worker; the
    process ends with its driver, even one killed with SIGKILL."""
    global _WORKER
    import threading

    import torch

    threading.Thread(target=_exit_with_parent, daemon=True).start()

    from gefu.bench.config import validate_config

    with counter.get_lock():
        index = counter.value
        counter.value += 1
    torch.set_num_threads(threads)
    config = validate_config(config_data, check_params=False, check_paths=False)
    device = devices[index % len(devices)]
    _WORKER = Worker(config, device, save_images=save_images, debug=debug)


def _exit_with_parent() -> None:
    import multiprocessing.connection

    parent = multiprocessing.parent_process()
    if parent is not None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(1)


def _run_in_worker(unit) -> UnitResult:
    return _WORKER.run(unit)


class ProcessExecutor(Executor):
    """``workers`` spawned processes on this machine (default: one per entry of ``devices``,
    else 2), each on a device of ``devices`` round robin (default: the run's device)."""

    options = {"workers": None, "devices": None}
    implied_by = ("workers", "devices")

    @classmethod
    def check_options(cls, options):
        out = super().check_options(options)
        devices = out["devices"]
        out["devices"] = [resolve_device(d) for d in devices] if devices else None
        if out["workers"] is None:
            out["workers"] = len(devices) if devices else 2
        out["workers"] = _positive(out["workers"])
        return out

    def __init__(self, worker: Worker, workers: int, devices: list[str] | None):
        import multiprocessing

        self.capacity = workers
        self._ctx = multiprocessing.get_context("spawn")  # CUDA and torch threads need it
        threads = _worker_threads(workers)
        config = worker.config.model_dump(mode="json")
        devices = devices or [worker.device]
        self._init = (config, devices, threads, worker.save_images, worker.debug)
        self._pool = None
        self._futures: dict = {}  # future -> unit
        self._tries: dict = {}

    def _ensure_pool(self):
        from concurrent.futures import ProcessPoolExecutor

        if self._pool is None:
            initargs = (*self._init, self._ctx.Value("i", 0))  # a fresh device counter
            self._pool = ProcessPoolExecutor(
                self.capacity, mp_context=self._ctx, initializer=_start_worker, initargs=initargs
            )
        return self._pool

    def submit(self, unit, advance=None) -> None:
        self._futures[self._ensure_pool().submit(_run_in_worker, unit)] = unit

    def next_result(self):
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        done, _ = wait(list(self._futures), return_when=FIRST_COMPLETED)
        future = next(iter(done))
        unit = self._futures.pop(future)
        try:
            return unit, future.result()
        except BrokenProcessPool:  # a worker died: every unit in flight is lost with it
            lost = [unit, *self._futures.values()]
            self._futures.clear()
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
            for u in lost[1:]:
                self.submit(u)
            return self._retry(unit, "a worker process died")

    def _retry(self, unit, reason: str):
        self._tries[unit] = self._tries.get(unit, 0) + 1
        if self._tries[unit] > RETRIES:
            return unit, UnitResult(unit, error=f"{reason} ({RETRIES + 1} tries)")
        self.submit(unit)
        return self.next_result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


# -- Ray ----------------------------------------------------------------------------------------
_RAY_WORKERS: dict = {}


def _worker_threads(workers: int) -> int:
    """Torch threads per worker: the driver's, shared among the workers (more would make
    them fight over the cores: 12x slower measured with 2 workers x 2 threads on 2 cores).
    CPU kernels may sum in another order with another thread count, so CPU scores can differ
    from an in-process run's in the last bits; with equal threads they are identical."""
    import torch

    return max(1, torch.get_num_threads() // workers)


def _run_on_ray(setup: tuple, unit) -> UnitResult:
    """A Ray task: the Worker for ``setup`` is built once per Ray worker process."""
    config_data, device, threads, save_images, debug = setup
    key = repr(setup)
    if key not in _RAY_WORKERS:
        import torch

        from gefu.bench.config import validate_config

        torch.set_num_threads(threads)

        config = validate_config(config_data, check_params=False, check_paths=False)
        _RAY_WORKERS[key] = Worker(config, device, save_images=save_images, debug=debug)
    return _RAY_WORKERS[key].run(unit)


class RayExecutor(Executor):
    """Each unit is a Ray task (``num_gpus`` 1 on CUDA); Ray retries it if its worker dies.
    ``ray_address``: a running cluster (default: a local one); ``workers`` (default 2)."""

    options = {"workers": 2, "ray_address": None}
    implied_by = ("ray_address",)
    resolves_devices_on_workers = True  # the workers' machines have the devices

    @classmethod
    def check_options(cls, options):
        try:
            import ray  # noqa: F401
        except ImportError:
            raise RuntimeError(
                "--executor ray needs Ray: pip install 'gefu-bench[ray]' (or pip install ray)"
            ) from None
        out = super().check_options(options)
        return out | {"workers": _positive(out["workers"])}

    def __init__(self, worker: Worker, workers: int, ray_address: str | None):
        import ray

        self.ray = ray
        if not ray.is_initialized():
            if ray_address:
                ray.init(address=ray_address, include_dashboard=False, log_to_driver=True)
            else:  # a local cluster on this machine
                ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=True)
        device = worker.device
        if device == "auto":
            device = "cuda" if ray.cluster_resources().get("GPU", 0) > 0 else "cpu"
        gpus = 1 if device.startswith("cuda") else 0
        self.capacity = workers
        self._task = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=RETRIES)(_run_on_ray)
        threads = _worker_threads(workers)
        config = worker.config.model_dump(mode="json")
        setup = (config, device, threads, worker.save_images, worker.debug)
        self._setup = ray.put(setup)
        self._refs: dict = {}

    def submit(self, unit, advance=None) -> None:
        self._refs[self._task.remote(self._setup, unit)] = unit

    def next_result(self):
        (ref,), _ = self.ray.wait(list(self._refs), num_returns=1)
        unit = self._refs.pop(ref)
        try:
            return unit, self.ray.get(ref)
        except self.ray.exceptions.RayError as exc:
            return unit, UnitResult(unit, error=f"Ray task failed: {str(exc).splitlines()[0]}")

    def close(self) -> None:
        for ref in self._refs:
            self.ray.cancel(ref, force=True)


def _positive(workers) -> int:
    if not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers must be a positive whole number, not {workers!r}")
    return workers
