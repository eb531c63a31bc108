"""Histogram equalization baselines, applied to the luminance only.

Both work in full-range BT.601 YCbCr and keep Cb and Cr: since R, G and B are each
``Y + (a linear function of Cb, Cr)``, replacing Y by Y' is exactly ``rgb + (Y' - Y)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gefu.enhancers.base import Enhancer, luminance

BINS = 256


def replace_luminance(x: torch.Tensor, y_old: torch.Tensor, y_new: torch.Tensor) -> torch.Tensor:
    """Swap the Y of ``x`` (chroma kept) and clamp back into [0,1]."""
    return (x + (y_new - y_old)).clamp(0, 1)


def equalize_luminance(y: torch.Tensor) -> torch.Tensor:
    """Global 256-bin histogram equalization of ``[B,1,H,W]`` values in [0,1], per image.

    Level ``k`` maps to ``(cdf[k] - cdf_min) / (N - cdf_min)``, the classic formula; an image
    whose pixels all share one level is returned unchanged (as OpenCV's ``equalizeHist`` does).
    """
    b = y.shape[0]
    levels = (y.clamp(0, 1) * (BINS - 1)).round().long().flatten(1)  # [B, N]
    offsets = torch.arange(b, device=y.device).unsqueeze(1) * BINS
    hist = torch.bincount((levels + offsets).flatten(), minlength=b * BINS).view(b, BINS)
    cdf = hist.cumsum(1).to(y.dtype)
    n = cdf[:, -1:]
    cdf_min = cdf.gather(1, levels.min(1, keepdim=True).values)  # count at the lowest level used
    denom = n - cdf_min
    lut = (cdf - cdf_min) / denom.clamp(min=1)
    out = lut.gather(1, levels).view_as(y).clamp(0, 1)
    flat = (denom == 0).view(b, 1, 1, 1)
    return torch.where(flat, y, out)


class HistogramEqualization(Enhancer):
    """Global histogram equalization of the BT.601 luminance (256 bins), chroma kept."""

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = luminance(x)
        return replace_luminance(x, y, equalize_luminance(y))


class CLAHE(Enhancer):
    """Contrast-limited adaptive histogram equalization of the luminance, chroma kept.

    Uses ``kornia.enhance.equalize_clahe``. ``clip_limit`` follows OpenCV's meaning (a multiple
    of the mean bin count; 0 disables clipping); the default 2.0 is the value most low-light
    papers use with OpenCV (kornia's own default, 40, barely limits contrast). Images too small
    for the grid get a coarser one: each axis needs more pixels than tiles.
    """

    def __init__(self, clip_limit: float = 2.0, grid_size: int = 8):
        super().__init__()
        if not clip_limit >= 0:
            raise ValueError(f"clahe: clip_limit must be >= 0, got {clip_limit!r}")
        if isinstance(grid_size, bool) or not isinstance(grid_size, int) or grid_size < 1:
            raise ValueError(f"clahe: grid_size must be a positive integer, got {grid_size!r}")
        self.clip_limit, self.grid_size = float(clip_limit), grid_size
        self.hparams = {"clip_limit": self.clip_limit, "grid_size": grid_size}

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from kornia.enhance import equalize_clahe

        y = luminance(x).clamp(0, 1)
        h, w = y.shape[-2:]
        # kornia needs each axis longer than its tile count: pad 1-pixel axes, shrink the grid.
        padded = F.pad(y, (0, max(0, 2 - w), 0, max(0, 2 - h)), mode="replicate")
        ph, pw = padded.shape[-2:]
        grid = (min(self.grid_size, ph - 1), min(self.grid_size, pw - 1))
        y_new = equalize_clahe(padded, clip_limit=self.clip_limit, grid_size=grid)[..., :h, :w]
        return replace_luminance(x, y, y_new)
