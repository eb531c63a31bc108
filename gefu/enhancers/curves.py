"""Curve-estimation enhancers: Zero-DCE, Zero-DCE++, SCL-LLE (Zero-DCE's DCE-Net trained with
semantic contrastive losses) and Semantic-aware Gamma Correction (a gamma map ``x ** A``).

Networks (Guo et al., CVPR 2020; Li et al., TPAMI 2021):
- ``DCENet``: 7 conv3x3 layers of 32 channels with symmetric skip concatenations
  (x5 = f(x3, x4), x6 = f(x2, x5), out = f(x1, x6)); 79,416 parameters with a 24-channel output
  (8 iterations x 3 channels of curve parameters).
- ``DCENetLite``: the same topology with depthwise-separable convolutions; 10,561 parameters
  with a 3-channel output (Zero-DCE++ reuses one curve map for every iteration; SAGC maps it
  through a sigmoid to a gamma map A).
Light-enhancement curve: LE(x) = x + r * x * (1 - x), applied ``iterations`` times.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gefu.enhancers import register_enhancer
from gefu.enhancers.base import Enhancer


class _SeparableConv(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, 3, padding=1, groups=cin)
        self.pointwise = nn.Conv2d(cin, cout, 1)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


class _CurveNet(nn.Module):
    """The 7-layer DCE-Net topology; ``conv`` makes each layer (full or separable)."""

    def __init__(self, out_channels: int, width: int = 32, separable: bool = False):
        super().__init__()
        conv = _SeparableConv if separable else (lambda i, o: nn.Conv2d(i, o, 3, padding=1))
        self.e_conv1 = conv(3, width)
        self.e_conv2 = conv(width, width)
        self.e_conv3 = conv(width, width)
        self.e_conv4 = conv(width, width)
        self.e_conv5 = conv(2 * width, width)
        self.e_conv6 = conv(2 * width, width)
        self.e_conv7 = conv(2 * width, out_channels)

    def forward(self, x):
        x1 = F.relu(self.e_conv1(x))
        x2 = F.relu(self.e_conv2(x1))
        x3 = F.relu(self.e_conv3(x2))
        x4 = F.relu(self.e_conv4(x3))
        x5 = F.relu(self.e_conv5(torch.cat([x3, x4], 1)))
        x6 = F.relu(self.e_conv6(torch.cat([x2, x5], 1)))
        return self.e_conv7(torch.cat([x1, x6], 1))  # raw: the enhancer applies tanh/sigmoid


def apply_curves(x: torch.Tensor, r: torch.Tensor, iterations: int) -> torch.Tensor:
    """LE iterated; ``r`` has 3 channels (shared by every iteration) or 3 x iterations."""
    shared = r.shape[1] == 3
    for i in range(iterations):
        ri = r if shared else r[:, 3 * i : 3 * i + 3]
        x = x + ri * (x - x * x)
    return x


@register_enhancer("zero_dce")
class ZeroDCE(Enhancer):
    """Zero-DCE: DCE-Net predicts 8 pixel-wise curve maps (tanh) applied iteratively."""

    trainable = True
    needs_weights = True

    def __init__(self, iterations: int = 8, width: int = 32):
        super().__init__()
        self.hparams = {"iterations": iterations, "width": width}
        self.iterations = iterations
        self.net = _CurveNet(3 * iterations, width)

    def curves(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return apply_curves(x, self.curves(x), self.iterations).clamp(0, 1)


@register_enhancer("scl_lle")
class SCLLLE(ZeroDCE):
    """SCL-LLE (Liang et al., AAAI 2022): Zero-DCE's DCE-Net, trained with semantic contrastive
    learning (see ``gefu.train.methods.scl_lle``)."""


@register_enhancer("zero_dce_pp")
class ZeroDCEPP(Enhancer):
    """Zero-DCE++: separable DCE-Net on a ``scale_factor``-times downsampled input; one curve
    map (tanh), upsampled to full size and applied ``iterations`` times."""

    trainable = True
    needs_weights = True

    def __init__(self, iterations: int = 8, scale_factor: int = 1, width: int = 32):
        super().__init__()
        self.hparams = {"iterations": iterations, "scale_factor": scale_factor, "width": width}
        self.iterations, self.scale_factor = iterations, scale_factor
        self.net = _CurveNet(3, width, separable=True)

    def curves(self, x: torch.Tensor) -> torch.Tensor:
        small = x if self.scale_factor == 1 else F.interpolate(
            x, scale_factor=1 / self.scale_factor, mode="bilinear", align_corners=False
        )  # fmt: skip
        r = torch.tanh(self.net(small))
        if self.scale_factor != 1:
            r = F.interpolate(r, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return r

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return apply_curves(x, self.curves(x), self.iterations).clamp(0, 1)


@register_enhancer("sagc")
class SemanticGammaCorrection(Enhancer):
    """Semantic-aware Gamma Correction (Pan et al., ICASSP 2023): a separable DCE-Net predicts a
    gamma map A = sigmoid(net(x)); output = x ** A. At test time the input is first scaled by
    ``alpha`` (1.5 in the authors' ``test.py``) and, as there, not clipped before the network:
    only the output is clipped to [0, 1]."""

    trainable = True
    needs_weights = True

    def __init__(self, alpha: float = 1.5, width: int = 32):
        super().__init__()
        if alpha <= 0:
            raise ValueError(f"alpha must be positive, got {alpha}")
        self.hparams = {"alpha": alpha, "width": width}
        self.alpha = alpha
        self.net = _CurveNet(3, width, separable=True)

    def gamma_map(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * self.alpha if self.alpha != 1 else x
        return x.clamp_min(1e-6).pow(self.gamma_map(x)).clamp(0, 1)
