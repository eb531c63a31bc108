"""Time the selective scan's backends side by side and measure their peak memory (the
allocator's, ``gefu.train.memory.peak_memory``): the pure-PyTorch scan (chunks recomputed in
backward, or all states kept), the naive step-by-step loop under autograd, and mamba_ssm's
CUDA kernel where it imports (on a GPU). Semi-LLIE's shapes: 4 directions x 128 channels,
d_state 16. ``--model`` instead measures Semi-LLIE's enhancer (forward + backward, the paper
network) at the given batch x size pairs, keeping every state, recomputing scan chunks, and
also recomputing whole VSS blocks (``SemiLLIE.checkpoint_blocks``).

    python benchmarks/selective_scan.py [--lengths 1024 4096] [--device cpu]
    python benchmarks/selective_scan.py --model 1x32 1x64 2x64 1x128 [--device cpu]
"""

from __future__ import annotations

import argparse
import time

import torch
from train_step_gpu import timed as step_seconds

from gefu.methods.semi_llie.mamba_scan import _cuda_kernel, naive_scan, selective_scan, torch_scan
from gefu.train.memory import peak_memory


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


def model_step(shapes: list[str], device: str) -> None:
    """Semi-LLIE's enhancer, forward + backward at each ``BxS`` (batch x side)."""
    from gefu.methods.semi_llie import network

    print(f"| batch x size | scan | s / step | peak MiB | MiB per 1000 pixels |  ({device})")
    print("|---|---|---|---|---|")
    scan = network.selective_scan
    for shape in shapes:
        batch, side = (int(v) for v in shape.split("x"))
        torch.manual_seed(0)
        model = network.SemiLLIE().to(device).train()
        x = torch.rand(batch, 3, side, side, device=device)
        variants = {
            "keep states": (False, False),
            "recompute chunks": (True, False),
            "recompute chunks + blocks": (True, True),
        }
        for label, (recompute, blocks) in variants.items():
            network.selective_scan = lambda *a, r=recompute, **k: scan(*a, recompute=r, **k)
            model.checkpoint_blocks(blocks)
            step = lambda m=model, x=x: m.predict(x).square().mean().backward()  # noqa: E731
            seconds = step_seconds(step, torch.device(device))
            mib = peak_memory(step, device) / 2**20
            per = 1e3 * mib / (batch * side * side)
            print(
                f"| {batch} x {side}² | {label} | {seconds:.2f} | {mib:.0f} | {per:.2f} |",
                flush=True,
            )
    network.selective_scan = scan


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lengths", type=int, nargs="+", default=[1024, 4096])
    p.add_argument("--model", nargs="+", metavar="BxS", help="time Semi-LLIE's enhancer instead")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args()
    if args.model:
        return model_step(args.model, args.device)
    backends = {
        "torch, recompute, chunk 32": lambda *a: torch_scan(*a, delta_softplus=True, chunk=32),
        "torch, keep states, chunk 32": lambda *a: torch_scan(
            *a, delta_softplus=True, chunk=32, recompute=False
        ),
        "naive loop": lambda *a: naive_scan(*a, delta_softplus=True),
    }
    if args.device == "cuda" and _cuda_kernel() is not None:
        backends["mamba_ssm kernel"] = lambda *a: selective_scan(
            *a, delta_softplus=True, backend="cuda"
        )
    print(f"| backend | length | forward s | fwd+bwd s | peak MiB (fwd+bwd) |  ({args.device})")
    print("|---|---|---|---|---|")
    for length in args.lengths:
        x = inputs(length, args.device)
        for name, fn in backends.items():
            timed(fn, x, False, args.device)  # warm-up
            fwd = timed(fn, x, False, args.device)
            if name == "naive loop" and length > 1024:  # its autograd graph takes minutes
                print(f"| {name} | {length} | {fwd:.3f} | (skipped) | |")
                continue
            both = timed(fn, x, True, args.device)
            grads = [a.clone().requires_grad_() for a in x]

            def step(fn=fn, grads=grads):
                fn(*grads).square().mean().backward()

            mib = peak_memory(step, args.device) / 2**20
            print(f"| {name} | {length} | {fwd:.3f} | {both:.3f} | {mib:.0f} |", flush=True)


if __name__ == "__main__":
    main()
