"""Time the selective scan's backends side by side: the pure-PyTorch scan (at two chunk
sizes), the naive step-by-step loop under autograd, and mamba_ssm's CUDA kernel where it
imports (on a GPU). Semi-LLIE's shapes: 4 directions x 128 channels, d_state 16.

    python benchmarks/selective_scan.py [--lengths 1024 4096] [--device cpu]
"""

from __future__ import annotations

import argparse
import time

import torch

from gefu.methods.semi_llie.mamba_scan import _cuda_kernel, naive_scan, selective_scan, torch_scan


def inputs(length: int, device: str, channels: int = 512, state: int = 16, groups: int = 4):
    g = torch.Generator().manual_seed(0)
    r = lambda *s: torch.randn(*s, generator=g).to(device)  # noqa: E731
    a = -torch.arange(1, state + 1).float().repeat(channels, 1).to(device)
    u, delta = r(1, channels, length), r(1, channels, length) - 2
    return u, delta, a, r(1, groups, state, length), r(1, groups, state, length), r(channels)


def timed(fn, args, backward: bool, device: str) -> float:
    args = [a.clone().requires_grad_(backward) for a in args]
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    with torch.set_grad_enabled(backward):
        y = fn(*args)
        if backward:
            y.square().mean().backward()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lengths", type=int, nargs="+", default=[1024, 4096])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args()
    backends = {
        "torch, chunk 32": lambda *a: torch_scan(*a, delta_softplus=True, chunk=32),
        "torch, chunk 256": lambda *a: torch_scan(*a, delta_softplus=True, chunk=256),
        "naive loop": lambda *a: naive_scan(*a, delta_softplus=True),
    }
    if args.device == "cuda" and _cuda_kernel() is not None:
        backends["mamba_ssm kernel"] = lambda *a: selective_scan(
            *a, delta_softplus=True, backend="cuda"
        )
    print(f"| backend | length | forward s | forward+backward s |  ({args.device})")
    print("|---|---|---|---|")
    for length in args.lengths:
        x = inputs(length, args.device)
        for name, fn in backends.items():
            timed(fn, x, False, args.device)  # warm-up
            fwd = timed(fn, x, False, args.device)
            if name == "naive loop" and length > 1024:  # its autograd graph takes minutes
                print(f"| {name} | {length} | {fwd:.3f} | (skipped) |")
                continue
            print(f"| {name} | {length} | {fwd:.3f} | {timed(fn, x, True, args.device):.3f} |")


if __name__ == "__main__":
    main()
