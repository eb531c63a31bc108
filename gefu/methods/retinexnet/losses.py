"""RetinexNet's losses (Wei et al., BMVC 2018), one function per term, means over pixels.

Decomposition: sum_ij lambda_ij |R_i * I_j - S_j| (lambda_ii = 1, lambda_ij = 0.001 for i != j)
+ 0.01 |R_low - R_high| + 0.1 sum_i smoothness(I_i, R_i).
Relight: |R_low * Î - S_high| + 3 smoothness(Î, R_low).

Smoothness is structure-aware: |∇I| * exp(-lambda_g * avgpool3(|∇ gray(R)|)), lambda_g = 10,
for x and y, as the release computes it (the 3x3 average of the reflectance gradient). The
gradients here are plain forward differences, zero at the last row/column; the release's
2x2 kernel with zero padding also counts a jump to zero at the image border, so a constant
illumination there is not perfectly smooth; the paper's ∇ has no such border term.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gefu.enhancers.base import luminance


def reconstruction(reflectance: torch.Tensor, illumination: torch.Tensor, image: torch.Tensor):
    """Mean |R * I - S| (the illumination broadcast over the colour channels)."""
    return (reflectance * illumination - image).abs().mean()


def decomposition_reconstruction(r_low, i_low, r_high, i_high, low, high, cross: float = 0.001):
    """The paper's sum over i, j of lambda_ij |R_i * I_j - S_j|: both own reconstructions
    plus ``cross`` times the two mixed ones (the other image's reflectance)."""
    own = reconstruction(r_low, i_low, low) + reconstruction(r_high, i_high, high)
    mixed = reconstruction(r_high, i_low, low) + reconstruction(r_low, i_high, high)
    return own + cross * mixed


def invariable_reflectance(r_low: torch.Tensor, r_high: torch.Tensor) -> torch.Tensor:
    """Mean |R_low - R_high|: the reflectance of a scene does not depend on its lighting."""
    return (r_low - r_high).abs().mean()


def gradients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """|forward differences| along x and y, same shape as ``x`` (zero at the far border)."""
    gx = F.pad(x[..., :, 1:] - x[..., :, :-1], (0, 1, 0, 0))
    gy = F.pad(x[..., 1:, :] - x[..., :-1, :], (0, 0, 0, 1))
    return gx.abs(), gy.abs()


def illumination_smoothness(
    illumination: torch.Tensor, reflectance: torch.Tensor, lambda_g: float = 10.0
) -> torch.Tensor:
    """Mean over pixels of |∇I| exp(-lambda_g * avgpool3(|∇ gray(R)|)), x plus y: smooth
    illumination except where the reflectance has edges."""
    ix, iy = gradients(illumination)
    rx, ry = gradients(luminance(reflectance))
    pool = lambda g: F.avg_pool2d(g, 3, 1, 1, count_include_pad=False)  # noqa: E731
    return (ix * torch.exp(-lambda_g * pool(rx)) + iy * torch.exp(-lambda_g * pool(ry))).mean()
