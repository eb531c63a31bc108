"""The simplest baselines: the untouched input and gamma correction."""

from __future__ import annotations

import math

import torch

from gefu.enhancers.base import Enhancer, luminance

GAMMA_MODES = ("fixed", "adaptive")


class Identity(Enhancer):
    """Returns the input unchanged (a copy): the "no enhancement" row of every leaderboard."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clone()


class Gamma(Enhancer):
    """Per-channel power law ``out = x ** g``.

    ``mode="fixed"``: ``g = gamma`` for every image; the default 1/2.2 is the sRGB-style display
    encoding, the usual gamma baseline in low-light papers.
    ``mode="adaptive"``: per image, ``g = log(target_mean) / log(m)`` with ``m`` the mean BT.601
    luminance, so that ``m ** g = target_mean`` (exact for a flat image, approximate otherwise
    since the mean of a power is not the power of the mean); ``g`` is clamped to
    ``[min_gamma, max_gamma]`` so that near-black or near-white images stay sane.
    """

    def __init__(
        self,
        gamma: float = 1 / 2.2,
        mode: str = "fixed",
        target_mean: float = 0.5,
        min_gamma: float = 0.1,
        max_gamma: float = 3.0,
    ):
        super().__init__()
        if mode not in GAMMA_MODES:
            raise ValueError(f"gamma: mode must be one of {GAMMA_MODES}, got {mode!r}")
        if not gamma > 0 or not math.isfinite(gamma):
            raise ValueError(f"gamma: gamma must be a positive number, got {gamma!r}")
        if not 0 < target_mean < 1:
            raise ValueError(f"gamma: target_mean must lie in (0, 1), got {target_mean!r}")
        if not 0 < min_gamma <= max_gamma or not math.isfinite(max_gamma):
            raise ValueError(
                f"gamma: need 0 < min_gamma <= max_gamma < inf, got min_gamma={min_gamma!r}, "
                f"max_gamma={max_gamma!r}"
            )
        self.gamma, self.mode, self.target_mean = float(gamma), mode, float(target_mean)
        self.min_gamma, self.max_gamma = float(min_gamma), float(max_gamma)
        self.hparams = {
            "gamma": self.gamma,
            "mode": mode,
            "target_mean": self.target_mean,
            "min_gamma": self.min_gamma,
            "max_gamma": self.max_gamma,
        }

    def exponent(self, x: torch.Tensor) -> torch.Tensor:
        """The exponent applied to each image, ``[B,1,1,1]``."""
        if self.mode == "fixed":
            return x.new_full((x.shape[0], 1, 1, 1), self.gamma)
        mean = luminance(x).mean(dim=(1, 2, 3), keepdim=True).clamp(1e-4, 1 - 1e-4)
        g = math.log(self.target_mean) / torch.log(mean)
        return g.clamp(self.min_gamma, self.max_gamma)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.clamp(0, 1)
        return x.pow(self.exponent(x)).clamp(0, 1)
