"""Zero-reference loss terms of Zero-DCE (Guo et al., CVPR 2020), shared by every method that
reuses them (Zero-DCE++, SCL-LLE, ...). Each takes ``[B,C,H,W]`` tensors and returns a scalar.

The forms follow the authors' released training code (``Myloss.py``), whose weights
(spatial 1, exposure 10, colour 5, TV 200 / 1600) are calibrated to them; where the paper's
equations differ, the docstring says how.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def spatial_consistency(enhanced: torch.Tensor, original: torch.Tensor, pool: int = 4):
    """Keep the contrast between neighbouring regions: channel means averaged over ``pool`` x
    ``pool`` regions; for each region i and each of its (up to 4) neighbours j inside the image,
    ``((Y_i - Y_j) - (I_i - I_j))^2``; summed over neighbours, averaged over regions.

    The released code pads with zeros, so border regions also compare against a black
    neighbour (a pull towards the input's brightness at the borders only); here neighbours
    outside the image do not exist, as in the paper. The paper writes |Y_i - Y_j|, the code the
    signed difference (used here)."""
    y = F.avg_pool2d(enhanced.mean(1, keepdim=True), pool)
    i = F.avg_pool2d(original.mean(1, keepdim=True), pool)
    horizontal = ((y[..., :, 1:] - y[..., :, :-1]) - (i[..., :, 1:] - i[..., :, :-1])).pow(2)
    vertical = ((y[..., 1:, :] - y[..., :-1, :]) - (i[..., 1:, :] - i[..., :-1, :])).pow(2)
    # each neighbouring pair counts once for each of its two regions
    return 2 * (horizontal.sum() + vertical.sum()) / y.numel()


def exposure_control(enhanced: torch.Tensor, level: float = 0.6, patch: int = 16):
    """Mean over ``patch`` x ``patch`` patches of ``(mean intensity - level)^2`` (the code's
    square; the paper writes the absolute difference)."""
    means = F.avg_pool2d(enhanced.mean(1, keepdim=True), patch)
    return (means - level).pow(2).mean()


def colour_constancy(enhanced: torch.Tensor):
    """Grey-world: with channel means R, G, B of each image,
    ``sqrt((R-G)^4 + (R-B)^4 + (G-B)^4)``, averaged over the batch (the code's form; the paper
    sums the squares). Exactly 0 (with a zero gradient) for a grey-balanced image."""
    r, g, b = enhanced.mean((2, 3)).unbind(1)
    total = (r - g).pow(4) + (r - b).pow(4) + (g - b).pow(4)
    positive = total > 0
    safe = torch.where(positive, total, torch.ones_like(total)).sqrt()
    return torch.where(positive, safe, torch.zeros_like(total)).mean()


def illumination_smoothness(curves: torch.Tensor):
    """Total variation of the curve maps: squared vertical and horizontal differences, each
    averaged over its number of pairs per channel, ``2 * (tv_h + tv_w) / B`` (the code's form;
    the paper squares the sum of absolute gradients per channel)."""
    b, _, h, w = curves.shape
    tv_h = (curves[..., 1:, :] - curves[..., :-1, :]).pow(2).sum() / ((h - 1) * w)
    tv_w = (curves[..., :, 1:] - curves[..., :, :-1]).pow(2).sum() / (h * (w - 1))
    return 2 * (tv_h + tv_w) / b
