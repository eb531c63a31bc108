"""Time one training step of each method at its paper-scale recipe's batch and crop size (the
shipped ``configs/train/<method>.yaml``), on a GPU: steps/s and peak GPU memory.

    python benchmarks/train_step_gpu.py [METHOD ...] [--steps 3]

The batch is random tensors of the recipe's shape (data loading is not timed); frozen auxiliary
networks get random weights (their cost is what is measured). SCUF is left out: it needs the
SD-Turbo and CLIP weights.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
METHODS = ("zero_dce", "zero_dce_pp", "scl_lle", "sagc", "hvr_ssle", "semi_llie")


def fake_batch(method: str, data: dict, batch: int, device) -> dict:
    def img(size: int, scale: float = 1.0) -> torch.Tensor:
        return (torch.rand(batch, 3, size, size, device=device) * scale).contiguous()

    if method in ("zero_dce", "zero_dce_pp"):
        return {"train": {"low": img(data["crop"], 0.3)}}
    if method == "scl_lle":
        s = data["crop"]
        labels = torch.randint(0, 19, (batch, s, s), device=device)
        return {"scenes": {"image": img(s, 0.3), "clean": img(s), "labels": labels},
                "contrast": {"positive": img(s), "negative": img(s, 0.3)}}  # fmt: skip
    if method == "sagc":
        return {"low": img(data["size"], 0.3), "normal": img(data["size"])}
    if method == "hvr_ssle":
        return {"train": {"low": img(data["crop"], 0.3), "normal": img(data["crop"])}}
    if method == "semi_llie":
        s = data["crop"]
        return {"labeled": {"low": img(s, 0.3), "normal": img(s)},
                "unlabeled": {"weak": img(s, 0.3), "strong": img(s, 0.3)}}  # fmt: skip
    raise KeyError(method)


class Ctx:
    def __init__(self, optimizers, aux, device):
        self.optimizers, self._aux, self.device, self.step = optimizers, aux, device, 0

    def backward(self, loss, group):
        loss.backward()

    def step_optimizer(self, group):
        opt, scheduler = self.optimizers[group]
        opt.step()
        opt.zero_grad(set_to_none=True)
        if scheduler is not None:
            scheduler.step()

    def aux(self, name):
        return self._aux[name]


def measure(method_name: str, steps: int, device: str = "cuda") -> dict:
    import yaml

    from gefu.train import METHODS as REGISTRY
    from gefu.train.aux import build_aux
    from gefu.train.config import method_config, validate_train_config

    data = yaml.safe_load((REPO / "configs" / "train" / f"{method_name}.yaml").read_text())
    config = validate_train_config(data)
    device = torch.device(device)
    cuda = device.type == "cuda"
    method = REGISTRY.get(config.method)(method_config(config), config.data)
    modules = method.modules()
    for m in modules.values():
        m.to(device).train()
    optimizers = method.optimizers(modules)
    aux = {n: build_aux(n, config.aux.get(n), True, device) for n in method.aux_networks}
    if hasattr(method, "epoch_steps") and method.epoch_steps is None:
        method.epoch_steps = 125
    ctx = Ctx(optimizers, aux, device)
    batch = fake_batch(method_name, config.data, config.batch_size, device)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(config.mixed_precision)
    times = []
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    for step in range(steps + 1):  # the first step warms up
        ctx.step = step
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            method.train_step(batch, ctx)
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    per_step = sum(times[1:]) / steps
    return {
        "method": method_name,
        "batch": config.batch_size,
        "crop": config.data.get("crop", config.data.get("size")),
        "mixed_precision": config.mixed_precision,
        "seconds_per_step": round(per_step, 4),
        "steps_per_second": round(1 / per_step, 3),
        "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
        "device": torch.cuda.get_device_name() if cuda else "cpu",
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("methods", nargs="*", default=list(METHODS))
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--out", type=Path, help="write the figures here as JSON lines")
    args = p.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device", file=sys.stderr)
        return 2
    for name in args.methods:
        try:
            row = measure(name, args.steps)
        except Exception as exc:  # report and go on with the next method
            row = {"method": name, "error": f"{type(exc).__name__}: {exc}"[:500]}
        print(json.dumps(row), flush=True)
        if args.out is not None:
            with args.out.open("a") as f:
                f.write(json.dumps(row) + "\n")
        torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
