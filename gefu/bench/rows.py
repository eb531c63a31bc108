"""The rows of a leaderboard: an enhancer, or the reference row (the normal-light image itself).

Both turn a batch of samples into the images the evaluations score, timed and checked. The
reference row is not timed, has no parameters, and its reference-based metrics are trivial.
"""

from __future__ import annotations

import math
import time

from gefu.core.specs import REFERENCE_ROW


class EnhancerRow:
    is_reference = False

    def __init__(self, model, device: str):
        self.model, self.device = model, device

    @property
    def params(self) -> int:
        """Every parameter, trainable and frozen, of any ``torch.nn.Module`` (each once)."""
        if hasattr(self.model, "parameters"):
            return sum(p.numel() for p in self.model.parameters())
        return int(getattr(self.model, "num_parameters", 0))

    @property
    def trainable(self) -> bool:
        return bool(getattr(self.model, "trainable", False))

    def __call__(self, batch):
        """(enhanced batch on the device, seconds the enhancer took)."""
        import torch

        x = torch.stack([s.image for s in batch]).to(self.device)
        _sync(self.device)
        t0 = time.perf_counter()
        out = self.model(x)
        _sync(self.device)
        secs = time.perf_counter() - t0
        return checked_output(out, x), secs


class ReferenceRow:
    """The "enhancer" that returns each sample's normal-light reference."""

    is_reference, params, trainable = True, None, None

    def __init__(self, device: str):
        self.device = device

    def __call__(self, batch):
        import torch

        return torch.stack([s.reference for s in batch]).to(self.device), 0.0


def build_row(label: str, spec, device: str):
    """The row for an enhancer label (``spec``: its config entry; None for the reference)."""
    if label == REFERENCE_ROW:
        return ReferenceRow(device)
    from gefu.enhancers import create_enhancer

    model = create_enhancer(spec.name, weights=spec.weights, **spec.params)
    return EnhancerRow(model.to(device).eval(), device)


def checked_output(out, x):
    """The enhancer's output if it is a finite tensor of the input's shape in [0, 1]."""
    import torch

    if not isinstance(out, torch.Tensor):
        raise TypeError(f"enhancer returned {type(out).__name__}, expected a tensor")
    if out.shape != x.shape:
        raise ValueError(f"enhancer returned shape {tuple(out.shape)} for {tuple(x.shape)}")
    lo, hi = torch.aminmax(out.detach())
    lo, hi = lo.item(), hi.item()  # NaN propagates to both; one pass over the batch
    if not (math.isfinite(lo) and math.isfinite(hi)):
        bad = (~torch.isfinite(out)).sum().item()
        raise ValueError(f"enhancer returned {bad} NaN/Inf value(s)")
    if lo < -1e-3 or hi > 1 + 1e-3:
        raise ValueError(f"enhancer returned values in [{lo:.3g}, {hi:.3g}], outside [0, 1]")
    return out.clamp(0, 1).float()


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()
