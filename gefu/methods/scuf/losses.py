"""SCUF's loss terms (released ``src/train.py``); images in [-1,1] unless said otherwise."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def ssim(x: torch.Tensor, y: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Mean SSIM of images in [0,1], Gaussian window, valid region (torchmetrics' default)."""
    r = torch.arange(window, dtype=x.dtype, device=x.device) - (window - 1) / 2
    g = torch.exp(-(r**2) / (2 * sigma**2))
    g = g / g.sum()
    k = (g[:, None] * g[None, :]).expand(x.shape[1], 1, window, window)

    def blur(t):
        return F.conv2d(t, k, groups=x.shape[1])

    c1, c2 = 0.01**2, 0.03**2
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return s.mean()


def reconstruction(pred, target, lpips=None, w_l1: float = 1.0, w_lpips: float = 1.0):
    """w_l1 * L1 + w_lpips * LPIPS (LPIPS skipped when ``lpips`` is None); ([-1,1] inputs)."""
    loss = F.l1_loss(pred, target) * w_l1
    if lpips is not None and w_lpips:
        loss = loss + lpips((pred + 1) / 2, (target + 1) / 2).mean() * w_lpips
    return loss


def caption_consistency(latent: torch.Tensor, teacher_latent: torch.Tensor) -> torch.Tensor:
    """1 - mean cosine similarity over the channel dimension of two latents."""
    return 1 - F.cosine_similarity(latent, teacher_latent, dim=1, eps=1e-7).mean()


def reflectance(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 + (1 - SSIM) against the frozen DecomNet's reflectance (both in [0,1])."""
    target = target.detach()
    return F.l1_loss(pred, target) + (1 - ssim(pred, target))


def reflectance_agreement(r_fake: torch.Tensor, r_rec: torch.Tensor) -> torch.Tensor:
    """MSE between the reflectances of the translation and of its reconstruction (the latter
    detached, as released)."""
    return F.mse_loss(r_fake, r_rec.detach())


def gan_bce(logits: list[torch.Tensor], real: bool) -> torch.Tensor:
    """Multi-level sigmoid (BCE-with-logits) loss, mean over levels."""
    return torch.stack([F.softplus(-lg if real else lg).mean() for lg in logits]).mean()
