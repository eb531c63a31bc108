"""Parameter counts of SCUF (trainable and frozen, per component) without loading weights."""

from __future__ import annotations

import torch

COMPONENTS = ("unet", "text_encoder", "clip_vision", "vae_a2b", "vae_b2a", "vae_ref",
              "prompt_proj")  # fmt: skip


def count_model(model) -> dict[str, dict[str, int]]:
    """``{component: {"trainable": n, "frozen": n}}`` plus ``"total"``; the cycle-attention
    processors live inside the UNet and count as its trainable part."""
    out = {}
    for name in COMPONENTS:
        module = getattr(model, name)
        params = list(module.parameters()) if module is not None else []
        out[name] = {"trainable": sum(p.numel() for p in params if p.requires_grad),
                     "frozen": sum(p.numel() for p in params if not p.requires_grad)}  # fmt: skip
    out["total"] = {k: sum(v[k] for v in out.values()) for k in ("trainable", "frozen")}
    return out


def parameter_counts(size: str = "full") -> dict[str, dict[str, int]]:
    """Counts for ``size="tiny"`` (the test configuration) or ``"full"`` (the published
    SD-Turbo / CLIP ViT-B/32 architectures, built on the meta device: no memory, no weights).
    ``gefu list --details scuf`` can print ``parameter_counts("tiny")`` and ``("full")``."""
    from gefu.methods.scuf.network import SCUF

    if size not in ("tiny", "full"):
        raise ValueError(f"size must be 'tiny' or 'full', got {size!r}")
    source = "tiny" if size == "tiny" else "full-config"
    if size == "tiny":
        return count_model(SCUF(base=source, clip=source))
    with torch.device("meta"):
        return count_model(SCUF(base=source, clip=source))
