"""Time one training step of each method at its paper-scale recipe's batch and crop size (the
shipped ``configs/train/<method>.yaml``), on a GPU: steps/s and peak GPU memory.

    python benchmarks/train_step_gpu.py [METHOD ...] [--steps 3]
    python benchmarks/train_step_gpu.py scuf --device cpu --batch 1 --crop 64   # reduced, CPU
    python benchmarks/train_step_gpu.py semi_llie --set params.checkpoint_blocks=true
    python benchmarks/train_step_gpu.py hvr_ssle --set compile=false

The batch is random tensors of the recipe's shape (data loading is not timed); frozen auxiliary
networks get random weights (their cost is what is measured), gradients are clipped as the
config says. SCUF is built from the published SD-Turbo and CLIP ViT-B/32 configurations with
random weights (``base: full-config``; its LPIPS-VGG and DecomNet teachers are random
stand-ins of the same role). ``--batch`` / ``--crop`` override the recipe's shape (reduced
runs on a CPU; peak memory there is the allocator's, from ``gefu.train.memory``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
METHODS = ("zero_dce", "zero_dce_pp", "scl_lle", "sagc", "hvr_ssle", "semi_llie", "scuf")


def timed(step, device: torch.device) -> float:
    """Seconds of one ``step()``, the GPU's queued work included (synchronised on CUDA)."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def fake_batch(method: str, data: dict, batch: int, device) -> dict:
    def img(size: int, scale: float = 1.0) -> torch.Tensor:
        return (torch.rand(batch, 3, size, size, device=device) * scale).contiguous()

    if method in ("zero_dce", "zero_dce_pp"):
        return {"train": {"low": img(data["crop"], 0.3)}}
    if method == "scl_lle":
        s = data["crop"]
        labels = torch.randint(0, 19, (batch, s, s), device=device)
        return {
            "scenes": {"image": img(s, 0.3), "clean": img(s), "labels": labels},
            "contrast": {"positive": img(s), "negative": img(s, 0.3)},
        }
    if method == "sagc":
        return {"low": img(data["size"], 0.3), "normal": img(data["size"])}
    if method == "hvr_ssle":
        return {"train": {"low": img(data["crop"], 0.3), "normal": img(data["crop"])}}
    if method == "semi_llie":
        s = data["crop"]
        return {
            "labeled": {"low": img(s, 0.3), "normal": img(s)},
            "unlabeled": {"weak": img(s, 0.3), "strong": img(s, 0.3)},
        }
    if method == "scuf":
        s, words = data["crop"], ["a photo"] * batch
        return {
            "low": {"image": img(s, 0.3), "caption": words},
            "normal": {"image": img(s), "caption": words},
        }
    raise KeyError(method)


class Ctx:
    def __init__(self, optimizers, aux, device, grad_clip=None):
        self.optimizers, self._aux, self.device, self.step = optimizers, aux, device, 0
        self.grad_clip = grad_clip

    def backward(self, loss, group):
        loss.backward()

    def step_optimizer(self, group):
        opt, scheduler = self.optimizers[group]
        if self.grad_clip is not None:
            params = [p for g in opt.param_groups for p in g["params"]]
            torch.nn.utils.clip_grad_norm_(params, self.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if scheduler is not None:
            scheduler.step()

    def aux(self, name):
        return self._aux[name]


SCUF_RANDOM = {
    "base": "full-config",
    "clip": "full-config",
    "random_teachers": True,
    "retinexnet": None,
    "lpips_weights": None,
}


def build_step(
    method_name: str,
    device,
    batch: int | None = None,
    crop: int | None = None,
    params: dict | None = None,
    top: dict | None = None,
):
    """(one training step as a closure, its config, the trained modules) of
    ``configs/train/<method>.yaml`` on random tensors, optionally at another batch / crop size
    and with ``params`` (the method's) and ``top`` (the config's own keys) overridden."""
    import yaml

    from gefu.train import METHODS as REGISTRY
    from gefu.train.aux import build_aux
    from gefu.train.config import method_config, validate_train_config
    from gefu.train.loop import compile_backend

    data = yaml.safe_load((REPO / "configs" / "train" / f"{method_name}.yaml").read_text())
    if method_name == "scuf":
        data["params"] = {**data.get("params", {}), **SCUF_RANDOM}
    data["params"] = {**data.get("params", {}), **(params or {})}
    data.update(top or {})
    if batch is not None:
        data["batch_size"] = batch
    if crop is not None:
        data["data"]["size" if "size" in data["data"] else "crop"] = crop
    config = validate_train_config(data)
    device = torch.device(device)
    method = REGISTRY.get(config.method)(method_config(config), config.data)
    if method_name == "scuf":
        method._sets = {}  # random batches: its data folders are not read (released prompts)
    modules = method.modules()
    for m in modules.values():
        m.to(device).train()
    if (backend := compile_backend(method, config)) is not None:  # as the config says
        method.compile_modules(modules, backend)
    optimizers = method.optimizers(modules)
    aux = {n: build_aux(n, config.aux.get(n), True, device) for n in method.aux_networks}
    if hasattr(method, "epoch_steps") and method.epoch_steps is None:
        method.epoch_steps = 125
    ctx = Ctx(optimizers, aux, device, config.grad_clip)
    fake = fake_batch(method_name, config.data, config.batch_size, device)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(config.mixed_precision)

    def step():
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            method.train_step(fake, ctx)
        ctx.step += 1

    return step, config, modules


def measure(
    method_name: str,
    steps: int,
    device: str = "cuda",
    batch=None,
    crop=None,
    overrides: dict | None = None,
) -> dict:
    from gefu.train.memory import peak_memory

    overrides = overrides or {}
    params = {k.removeprefix("params."): v for k, v in overrides.items() if k.startswith("params.")}
    top = {k: v for k, v in overrides.items() if not k.startswith("params.")}
    step, config, _ = build_step(method_name, device, batch, crop, params, top)
    times = [timed(step, torch.device(device)) for _ in range(steps + 1)]  # 1st: warm-up
    per_step = sum(times[1:]) / steps
    peak = peak_memory(step, device)
    return {
        "method": method_name,
        "batch": config.batch_size,
        "crop": config.data.get("crop", config.data.get("size")),
        "mixed_precision": config.mixed_precision,
        "overrides": overrides,
        "seconds_per_step": round(per_step, 4),
        "steps_per_second": round(1 / per_step, 3),
        "peak_memory_gib": round(peak / 2**30, 2),
        "device": torch.cuda.get_device_name() if torch.device(device).type == "cuda" else "cpu",
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("methods", nargs="*", default=list(METHODS))
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--device", default="cuda")
    p.add_argument("--batch", type=int, help="instead of the recipe's batch")
    p.add_argument("--crop", type=int, help="instead of the recipe's crop (or size)")
    p.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="override config keys (YAML values), params.NAME for the method's",
    )
    p.add_argument("--out", type=Path, help="write the figures here as JSON lines")
    args = p.parse_args()
    import yaml

    overrides = {k: yaml.safe_load(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    cuda = torch.device(args.device).type == "cuda"
    if cuda and not torch.cuda.is_available():
        print("no CUDA device (pass --device cpu for a reduced CPU run)", file=sys.stderr)
        return 2
    for name in args.methods:
        try:
            row = measure(name, args.steps, args.device, args.batch, args.crop, overrides)
        except Exception as exc:  # report and go on with the next method
            row = {"method": name, "error": f"{type(exc).__name__}: {exc}"[:500]}
        print(json.dumps(row), flush=True)
        if args.out is not None:
            with args.out.open("a") as f:
                f.write(json.dumps(row) + "\n")
        if cuda:
            torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
