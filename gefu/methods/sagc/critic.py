"""Discriminators (critics) used by adversarially trained enhancers."""

from __future__ import annotations

import torch
from torch import nn


class SegLogitCritic(nn.Module):
    """SAGC's critic on segmentation logits ``[B,K,S,S]`` (Pan et al., ICASSP 2023).

    Four 4x4 stride-2 convolutions (``dim``, 2, 4, 8 x ``dim`` channels; LeakyReLU 0.2 between
    them, a sigmoid after the last), then a linear layer on the flattened ``8*dim x S/16 x S/16``
    features and a sigmoid: one score per image. The sigmoids are those of the authors' code
    (unusual for a WGAN critic, whose scores are normally unbounded). ``size`` must be a
    multiple of 16 and is fixed: the linear layer depends on it (256 in the paper).
    """

    def __init__(self, in_channels: int = 19, size: int = 256, dim: int = 16):
        super().__init__()
        if size % 16:
            raise ValueError(f"the critic's input size must be a multiple of 16, got {size}")
        self.size = size
        layers: list[nn.Module] = []
        channels = [in_channels, dim, 2 * dim, 4 * dim, 8 * dim]
        for i in range(4):
            layers.append(nn.Conv2d(channels[i], channels[i + 1], 4, stride=2, padding=1))
            layers.append(nn.LeakyReLU(0.2) if i < 3 else nn.Sigmoid())
        self.features = nn.Sequential(*layers)
        self.score = nn.Sequential(nn.Linear(8 * dim * (size // 16) ** 2, 1), nn.Sigmoid())

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        if logits.shape[-2:] != (self.size, self.size):
            raise ValueError(
                f"the critic was built for {self.size}x{self.size} inputs, got "
                f"{tuple(logits.shape[-2:])}"
            )
        return self.score(self.features(logits).flatten(1)).squeeze(1)
