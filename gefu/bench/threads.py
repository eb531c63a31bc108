"""How many CPU threads a command uses: ``--threads``, else ``GEFU_THREADS``, else a config's
``threads:``, else ``OMP_NUM_THREADS``, else the CPUs this process may use (affinity, cgroup
quota) less the current load. Applied to torch, OpenCV and, where threadpoolctl is installed,
BLAS; child processes inherit it through the usual ``OMP_NUM_THREADS``-style variables.

On a busy machine torch's default (one thread per core) makes CPU-heavy enhancers many times
slower than one thread: see ``benchmarks/threads.py``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

ENV = "GEFU_THREADS"
CHILD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


class ThreadsError(ValueError):
    """A thread count that is not a positive integer (``--threads``, GEFU_THREADS, config)."""


def allowed_cpus() -> int:
    """CPUs this process may run on: its affinity mask, capped by a cgroup v2 CPU quota."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        n = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            n = min(n, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, n)


def default_threads() -> int:
    """The allowed CPUs less those busy now (1-minute load average), at least one."""
    n = allowed_cpus()
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        load = 0.0
    return max(1, min(n, round(n - load)))


def choose_threads(requested: int | None = None, configured: int | None = None) -> tuple[int, str]:
    """(threads, where the number came from)."""
    if requested is not None:
        return _positive(requested, "--threads"), "--threads"
    raw = os.environ.get(ENV)
    if raw not in (None, ""):
        if not raw.strip().isdigit() or int(raw) < 1:
            raise ThreadsError(f"{ENV} must be a positive integer, got {raw!r}")
        return int(raw), ENV
    if configured is not None:
        return _positive(configured, "threads"), "config `threads`"
    omp = os.environ.get("OMP_NUM_THREADS", "")
    if omp.isdigit() and int(omp) > 0:  # set by the user for every OpenMP program
        return int(omp), "OMP_NUM_THREADS"
    return default_threads(), "the free CPUs"


def apply_threads(requested: int | None = None, configured: int | None = None) -> int:
    """Choose the thread count and set it for torch, OpenCV, BLAS and child processes."""
    n, _ = choose_threads(requested, configured)
    import torch

    torch.set_num_threads(n)
    for name in CHILD_ENV:
        os.environ[name] = str(n)
    try:
        import cv2

        cv2.setNumThreads(n)
    except ImportError:
        pass
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(n)
    except ImportError:
        pass
    return n


def _positive(value, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ThreadsError(f"{where} must be a positive integer, got {value!r}")
    return value
