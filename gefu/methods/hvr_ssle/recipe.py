"""HVR-SSLE training: self-supervised on any normal-light photo collection (COCO in the paper),
with low-light inputs synthesised on the fly (``gefu.methods.hvr_ssle.train_data``).

Per batch, as in the released ``train.py``: the images are mapped to [-1, 1]; latents start
from a truncated normal; for each of the ``n_supervision`` segments the model runs
``HVRSSLE.segment`` (T*C-1 refinement steps without gradient, one with), the loss of that
segment's output is backpropagated and the optimiser steps, and the detached latents feed the
next segment (deep supervision: ``n_supervision`` optimiser steps per batch).

Loss: ``1.0 MAE`` (on [-1, 1] images) ``+ 1.0 (0.1 saturation + 0.5 chroma)`` (on [0, 1]
images) ``+ 0.1 LPIPS`` (AlexNet LPIPS v0.1 on [-1, 1] images, through pyiqa). LPIPS needs its
weights in the torch hub cache; without them the term is disabled with a warning.
AdamW (lr 5e-4, torch's default weight decay 0.01); learning rate: linear warm-up over 5% of
each cycle, cosine decay to 1e-9, two cycles with the second peak scaled by 0.2 (the released
``CosineWithScaledRestartsLR``; the paper says only "cosine with 5% warm-up").

Batch: the released run used a global batch of 512 (64 per process on 8 GPUs; its
``checkpoint/config.json``: 300 epochs = 69,300 steps of 231 batches). ``micro_batch`` splits
each loop batch into chunks whose gradients are accumulated before each optimiser step, so one
GPU reproduces that update with ``batch_size: 512, micro_batch: 64`` (each chunk draws its own
latents and keeps them across the deep-supervision segments, exactly as each DDP process
does); ``null`` runs the whole batch at once.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import torch
from pydantic import Field

from gefu.core.strict import validate
from gefu.train.method import MethodConfig, TrainMethod

LPIPS_FILES = ("pyiqa/LPIPS_v0.1_alex-df73285e.pth", "checkpoints/alexnet-owt-7be5be79.pth")


class HVRSSLEConfig(MethodConfig):
    T: int = 2
    C: int = 2
    n_supervision: int = 2
    dim: int = 24
    features: int = 24
    groups: int = 2
    depths: list[int] = [2, 2]
    heads: list[int] = [4, 4]
    window: int = 8
    mlp_ratio: float = 2.0
    lr: float = 5e-4
    weight_decay: float = 0.01
    lr_min: float = 1e-9
    warmup_fraction: float = 0.05
    lr_cycles: int = 2
    lr_cycle_scale: float = 0.2
    schedule_steps: int | None = None  # training steps the schedule spans; None: constant lr
    micro_batch: int | None = Field(None, ge=1)  # gradient accumulation chunk; None: no split
    w_mae: float = 1.0
    w_chroma_sat: float = 1.0
    w_saturation: float = 0.1  # inside the chroma/saturation term
    w_chroma: float = 0.5
    w_lpips: float = 0.1


# -- losses ------------------------------------------------------------------------------------
def mae_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (pred - target).abs().mean()


def saturation(img: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """HSV-style saturation ``(max - min) / (max + eps)`` of [0,1] RGB, ``[B,1,H,W]``."""
    high, low = img.amax(1, keepdim=True), img.amin(1, keepdim=True)
    return (high - low) / (high + eps)


def saturation_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (saturation(pred) - saturation(target)).abs().mean()


def chroma_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 of the colour differences ``B - Y`` and ``R - Y`` (BT.601 luma), summed, averaged."""
    from gefu.enhancers.base import luminance

    def diffs(img):
        y = luminance(img)
        return img[:, 2:3] - y, img[:, 0:1] - y

    (pb, pr), (tb, tr) = diffs(pred), diffs(target)
    return ((pb - tb).abs() + (pr - tr).abs()).mean()


def lpips_weights_present(hub_dir: str | Path | None = None) -> bool:
    hub = Path(hub_dir or torch.hub.get_dir())
    return all((hub / f).is_file() for f in LPIPS_FILES)


def make_lpips(device) -> Any | None:
    """pyiqa's LPIPS as a loss, or ``None`` (with a warning) when its weights are absent."""
    if not lpips_weights_present():
        hub = torch.hub.get_dir()
        warnings.warn(
            f"hvr_ssle: LPIPS term disabled: its weights are not in {hub} ({', '.join(LPIPS_FILES)}"
            "); run `python -c \"import pyiqa; pyiqa.create_metric('lpips')\"` once online, or "
            "set params.w_lpips: 0 to silence this",
            stacklevel=2,
        )
        return None
    import pyiqa

    return pyiqa.create_metric("lpips", as_loss=True, device=device)


# -- the method --------------------------------------------------------------------------------
def lr_factor(opt_step: int, total: int, cfg: HVRSSLEConfig) -> float:
    """The released schedule as a multiple of ``lr``, at optimiser step ``opt_step`` of
    ``total``: each of ``lr_cycles`` equal cycles warms up linearly over ``warmup_fraction`` of
    the whole run, then decays by a cosine to ``lr_min``; cycle ``i`` peaks at ``scale**i``."""
    if opt_step >= total:
        return cfg.lr_min / cfg.lr
    cycle_len = total / cfg.lr_cycles
    cycle = min(int(opt_step // cycle_len), cfg.lr_cycles - 1)
    peak = cfg.lr_cycle_scale**cycle
    t = opt_step - cycle * cycle_len + 1
    warmup = max(1, int(cfg.warmup_fraction * total))
    if t <= warmup:
        return peak * t / warmup
    progress = min(max((t - warmup) / max(cycle_len - warmup, 1e-9), 0.0), 1.0)
    low = cfg.lr_min / cfg.lr
    return low + (max(peak, low) - low) * 0.5 * (1 + math.cos(math.pi * progress))


class HVRSSLETraining(TrainMethod):
    __doc__ = __doc__
    enhancer = "hvr_ssle"
    Config = HVRSSLEConfig
    released_compile = True  # its checkpoint's "_orig_mod." keys: trained under torch.compile

    def compile_modules(self, modules, backend: str = "inductor") -> None:
        """The step calls ``segment``, not ``forward``: compile the networks it calls."""
        model = modules["model"]
        for net in (model.embed, model.l_net, model.h_net, model.head):
            net.compile(backend=backend)

    def __init__(self, config: HVRSSLEConfig, data: dict[str, Any]):
        from gefu.methods.hvr_ssle.train_data import HVRData

        super().__init__(config, data)
        self.data_config = validate(HVRData, data, "data")
        self._modules: dict[str, Any] | None = None
        self._lpips: Any = False  # False: not built yet; None: disabled

    def modules(self) -> dict[str, Any]:
        if self._modules is None:
            from gefu.methods.hvr_ssle.network import HVRSSLE

            c = self.config
            model = HVRSSLE(
                T=c.T,
                C=c.C,
                n_supervision=c.n_supervision,
                dim=c.dim,
                features=c.features,
                groups=c.groups,
                depths=c.depths,
                heads=c.heads,
                window=c.window,
                mlp_ratio=c.mlp_ratio,
            )
            self._modules = {"model": model}
        return self._modules

    def optimizers(self, modules):
        c = self.config
        opt = torch.optim.AdamW(modules["model"].parameters(), lr=c.lr, weight_decay=c.weight_decay)
        if c.schedule_steps is None:
            return {"model": (opt, None)}
        total = c.schedule_steps * c.n_supervision  # one scheduler step per optimiser step
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, total, c))
        return {"model": (opt, sched)}

    def datasets(self) -> dict[str, Any]:
        from gefu.methods.hvr_ssle.train_data import HVRDegradedPhotos

        return {"train": HVRDegradedPhotos(self.data_config)}

    def losses(self, pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """Loss terms for an output and a target in [-1, 1]."""
        c = self.config
        p01, t01 = ((pred + 1) / 2).clamp(0, 1), ((target + 1) / 2).clamp(0, 1)
        sat, chroma = saturation_loss(p01, t01), chroma_loss(p01, t01)
        terms = {
            "mae": mae_loss(pred, target),
            "saturation": sat,
            "chroma": chroma,
            "chroma_sat": c.w_saturation * sat + c.w_chroma * chroma,
        }
        if c.w_lpips > 0:
            if self._lpips is False:
                self._lpips = make_lpips(pred.device)
            if self._lpips is not None:
                terms["lpips"] = self._lpips(
                    pred.clamp(-1, 1), target.clamp(-1, 1), normalize=False
                ).mean()
        total = c.w_mae * terms["mae"] + c.w_chroma_sat * terms["chroma_sat"]
        if "lpips" in terms:
            total = total + c.w_lpips * terms["lpips"]
        terms["total"] = total
        return terms

    def train_step(self, batch: dict[str, Any], ctx) -> dict[str, float]:
        model = self.modules()["model"]
        data = batch["train"]
        low, normal = data["low"] * 2 - 1, data["normal"] * 2 - 1
        gen = torch.Generator().manual_seed(ctx.step)  # latent init: reproducible on resume
        size = self.config.micro_batch or len(low)
        chunks = list(zip(low.split(size), normal.split(size), strict=True))
        latents: list[Any] = [None] * len(chunks)
        logs: dict[str, float] = {}
        for segment in range(self.config.n_supervision):
            logs = {}  # the last segment's, averaged over the chunks
            for i, (x, y) in enumerate(chunks):
                share = len(x) / len(low)
                z, pred = model.segment(x, latents[i], generator=gen if segment == 0 else None)
                terms = self.losses(pred.float(), y.float())
                ctx.backward(terms["total"] * share if share != 1 else terms["total"], "model")
                latents[i] = (z[0].detach(), z[1].detach())
                for name, v in terms.items():
                    logs[name] = logs.get(name, 0.0) + float(v.detach()) * share
            ctx.step_optimizer("model")
        return logs
