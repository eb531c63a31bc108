"""Peak memory of a computation, as its allocator saw it, on a CPU or a GPU."""

from __future__ import annotations

from collections.abc import Callable


def peak_memory(fn: Callable[[], object], device: str = "cpu") -> int:
    """Bytes above the starting point at the busiest moment while ``fn()`` runs.

    On CUDA: the caching allocator's ``max_memory_allocated``. On a CPU: every allocation and
    free recorded by the PyTorch profiler (``profile_memory``), summed in time order — tensors
    only, not Python objects or the allocator's own caches."""
    import torch

    if str(device).startswith("cuda"):
        torch.cuda.synchronize()
        start = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        fn()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - start
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = getattr(prof.profiler, "kineto_results", None)
    if events is None:
        raise RuntimeError("this PyTorch's profiler does not expose its memory events")
    changes = sorted((e.start_ns(), e.nbytes()) for e in events.events() if e.name() == "[memory]")
    now = peak = 0
    for _, nbytes in changes:
        now += nbytes
        peak = max(peak, now)
    return peak
