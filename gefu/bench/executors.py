"""Where units of work run: in this process (``local``), in worker processes on this machine
(``processes``, one per device when several are given) or on a Ray cluster (``ray``).
Workers share the driver's torch threads among them (see ``_worker_threads``).

Every executor takes units with ``submit`` and hands back finished ``(unit, result)`` pairs
with ``next_result``; the driver alone writes the store. Workers build each model once and keep
it for all the units they run. A worker that dies (killed, out of memory) has its units run
again on a fresh one, up to ``RETRIES`` times, then they fail with that reason.
"""

from __future__ import annotations

import os
from collections import deque

from gefu.bench.work import UnitResult, Worker

EXECUTORS = ("local", "processes", "ray")
RETRIES = 2


class LocalExecutor:
    """Units run one after the other in this process, on the driver's own objects."""

    def __init__(self, worker: Worker):
        self.worker, self.capacity = worker, 1
        self.reports_batches = True  # units advance the progress bar batch by batch
        self._queue: deque = deque()

    def submit(self, unit, advance=None) -> None:
        self._queue.append((unit, advance))

    def next_result(self):
        unit, advance = self._queue.popleft()
        return unit, self.worker.run(unit, advance)

    def close(self) -> None:
        pass


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


class ProcessExecutor:
    def __init__(self, config, devices: list[str], workers: int, *, save_images=False, debug=False):
        import multiprocessing

        self.capacity, self.reports_batches = workers, False
        self._ctx = multiprocessing.get_context("spawn")  # CUDA and torch threads need it
        threads = _worker_threads(workers)
        self._init = (config.model_dump(mode="json"), devices, threads, save_images, debug)
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


class RayExecutor:
    """Each unit is a Ray task (``num_gpus`` 1 on CUDA); Ray retries it if its worker dies."""

    def __init__(
        self,
        config,
        device: str,
        workers: int,
        address: str | None = None,
        *,
        save_images=False,
        debug=False,
    ):
        import ray

        self.ray = ray
        if not ray.is_initialized():
            if address:
                ray.init(address=address, include_dashboard=False, log_to_driver=True)
            else:  # a local cluster on this machine
                ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=True)
        if device == "auto":
            device = "cuda" if ray.cluster_resources().get("GPU", 0) > 0 else "cpu"
        gpus = 1 if device.startswith("cuda") else 0
        self.capacity, self.reports_batches = workers, False
        self._task = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=RETRIES)(_run_on_ray)
        threads = _worker_threads(workers)
        setup = (config.model_dump(mode="json"), device, threads, save_images, debug)
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


def make_executor(
    name: str,
    *,
    worker: Worker,
    config,
    device: str,
    workers: int = 1,
    devices: list[str] | None = None,
    ray_address: str | None = None,
):
    if name == "local":
        return LocalExecutor(worker)
    opts = dict(save_images=worker.save_images, debug=worker.debug)
    if name == "processes":
        return ProcessExecutor(config, devices or [device], workers, **opts)
    if name == "ray":
        return RayExecutor(config, device, workers, ray_address, **opts)
    raise ValueError(f"unknown executor {name!r}; valid: {', '.join(EXECUTORS)}")
