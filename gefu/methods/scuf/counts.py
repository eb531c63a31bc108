"""Parameter counts of a SCUF model, trainable and frozen, per component (``parameter_counts``
in ``gefu.methods.scuf.network`` builds the model without weights and counts it here)."""

from __future__ import annotations

COMPONENTS = ("unet", "text_encoder", "clip_vision", "vae_a2b", "vae_b2a", "vae_ref", "prompt_proj")


def count_model(model) -> dict[str, dict[str, int]]:
    """``{component: {"trainable": n, "frozen": n}}`` plus ``"total"``; the cycle-attention
    processors live inside the UNet and count as its trainable part."""
    out = {}
    for name in COMPONENTS:
        module = getattr(model, name)
        params = list(module.parameters()) if module is not None else []
        out[name] = {
            "trainable": sum(p.numel() for p in params if p.requires_grad),
            "frozen": sum(p.numel() for p in params if not p.requires_grad),
        }
    out["total"] = {k: sum(v[k] for v in out.values()) for k in ("trainable", "frozen")}
    return out
