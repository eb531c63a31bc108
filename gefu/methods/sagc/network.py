"""SAGC's enhancer: a gamma map predicted by Zero-DCE++'s separable DCE-Net
(``gefu.methods.zero_dce.network``)."""

from __future__ import annotations

import torch

from gefu.enhancers.base import Enhancer
from gefu.methods.zero_dce.network import CurveNet
from gefu.methods.zero_dce.release import official_to_suite


class SemanticGammaCorrection(Enhancer):
    """Semantic-aware Gamma Correction (Pan et al., ICASSP 2023): a separable DCE-Net predicts a
    gamma map A = sigmoid(net(x)); output = x ** A. At test time the input is first scaled by
    ``alpha`` (1.5 in the authors' ``test.py``) and, as there, not clipped before the network:
    only the output is clipped to [0, 1]. Loads the authors' ``weight/base.pth`` as it is."""

    trainable = True
    needs_weights = True

    def __init__(self, alpha: float = 1.5, width: int = 32):
        super().__init__()
        if alpha <= 0:
            raise ValueError(f"alpha must be positive, got {alpha}")
        self.hparams = {"alpha": alpha, "width": width}
        self.alpha = alpha
        self.net = CurveNet(3, width, separable=True)

    def gamma_map(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * self.alpha if self.alpha != 1 else x
        # as released: 0 ** A = 0 (training clamps x away from 0 for a finite gradient)
        return x.clamp_min(0).pow(self.gamma_map(x)).clamp(0, 1)

    def convert_state_dict(self, state):
        return official_to_suite(state, True, self.registry_name)
