"""Curve-estimation enhancers Zero-DCE and Zero-DCE++, and the DCE-Net and curve that SCL-LLE
(``gefu.methods.scl_lle``: Zero-DCE's network) and SAGC (``gefu.methods.sagc``: Zero-DCE++'s
separable network, mapped to a gamma map ``x ** A``) build on.

Networks (Guo et al., CVPR 2020; Li et al., TPAMI 2021):
- ``DCENet``: 7 conv3x3 layers of 32 channels with symmetric skip concatenations
  (x5 = f(x3, x4), x6 = f(x2, x5), out = f(x1, x6)); 79,416 parameters with a 24-channel output
  (8 iterations x 3 channels of curve parameters).
- ``DCENetLite``: the same topology with depthwise-separable convolutions; 10,561 parameters
  with a 3-channel output (Zero-DCE++ reuses one curve map for every iteration; SAGC maps it
  through a sigmoid to a gamma map A).
Light-enhancement curve, written as in the authors' code: LE(x) = x + r * (x^2 - x), applied
``iterations`` times (the paper's x + r * x * (1 - x) with r negated; the two readings are the
same family, so training from scratch is unaffected, but released weights only reproduce the
official output with the code's sign).

Released checkpoints load as they are (``from_pretrained(<official .pth>)``): their keys are
renamed to this module's by ``gefu.methods.zero_dce.release.official_to_suite``. Checkpoint
folders written before format 2 used the paper's sign; their last layer is negated on load (same
output), with a warning.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import nn

from gefu.enhancers.base import Enhancer
from gefu.methods.zero_dce.release import official_to_suite


class _SeparableConv(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, 3, padding=1, groups=cin)
        self.pointwise = nn.Conv2d(cin, cout, 1)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


class CurveNet(nn.Module):
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
        x = x + ri * (x * x - x)
    return x


def negate_last_layer(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """Negate the curve-map layer: turns x + r(x - x^2) weights into x + r(x^2 - x) ones."""
    state = dict(state)
    for key in [k for k in state if k.startswith(prefix)]:
        state[key] = -state[key]
    return state


class _CurveEnhancer(Enhancer):
    """Shared checkpoint handling of the tanh-curve enhancers (format 2: the code's sign)."""

    trainable = True
    needs_weights = True
    format_version = 2
    separable = False

    def convert_state_dict(self, state):
        return official_to_suite(state, self.separable, self.registry_name)

    def upgrade_state_dict(self, state, version):
        if version < 2:
            warnings.warn(
                f"{self.registry_name}: checkpoint written before format 2 (curve sign "
                "x + r(x - x^2)); its last layer is negated on load, giving the same output. "
                "Save it again with save_pretrained to drop this step.",
                stacklevel=3,
            )
            last = "net.e_conv7.pointwise." if self.separable else "net.e_conv7."
            state = negate_last_layer(state, last)
        return state


class ZeroDCE(_CurveEnhancer):
    """Zero-DCE: DCE-Net predicts 8 pixel-wise curve maps (tanh) applied iteratively."""

    def __init__(self, iterations: int = 8, width: int = 32):
        super().__init__()
        self.hparams = {"iterations": iterations, "width": width}
        self.iterations = iterations
        self.net = CurveNet(3 * iterations, width)

    def curves(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return apply_curves(x, self.curves(x), self.iterations).clamp(0, 1)


class ZeroDCEPP(_CurveEnhancer):
    """Zero-DCE++: separable DCE-Net on a ``scale_factor``-times downsampled input (bilinear,
    align_corners=False); one curve map (tanh), upsampled bilinearly with align_corners=True
    (the release's ``UpsamplingBilinear2d``) and applied ``iterations`` times.

    ``scale_factor`` 12 is the release's test setting (its training script uses 1: see
    ``gefu.methods.zero_dce.recipe``). As the release's test script does, the network sees the
    image cropped at the top left to a multiple of ``scale_factor``; unlike it, the output
    keeps the input's size: the curve map is extended over the cut-off right and bottom strips
    (fewer than ``scale_factor`` pixels) by repeating its edge, and the whole image is enhanced.
    On sizes that are multiples of ``scale_factor`` the output is the release's exactly.
    """

    separable = True

    def __init__(self, iterations: int = 8, scale_factor: int = 12, width: int = 32):
        super().__init__()
        if scale_factor < 1:
            raise ValueError(f"scale_factor must be a positive integer, got {scale_factor}")
        self.hparams = {"iterations": iterations, "scale_factor": scale_factor, "width": width}
        self.iterations, self.scale_factor = iterations, scale_factor
        self.net = CurveNet(3, width, separable=True)

    def curves(self, x: torch.Tensor, scale_factor: int | None = None) -> torch.Tensor:
        """The curve map at full size; ``scale_factor`` overrides the model's (training: 1)."""
        s = self.scale_factor if scale_factor is None else scale_factor
        if s == 1:
            return torch.tanh(self.net(x))
        h, w = x.shape[-2:]
        hc, wc = h - h % s, w - w % s
        if hc == 0 or wc == 0:
            raise ValueError(
                f"zero_dce_pp: a {h}x{w} image is smaller than scale_factor {s} "
                "(use a smaller scale_factor)"
            )
        small = F.interpolate(
            x[..., :hc, :wc], scale_factor=1 / s, mode="bilinear", align_corners=False
        )
        r = torch.tanh(self.net(small))
        r = F.interpolate(r, size=(hc, wc), mode="bilinear", align_corners=True)
        if (hc, wc) != (h, w):
            r = F.pad(r, (0, w - wc, 0, h - hc), mode="replicate")
        return r

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return apply_curves(x, self.curves(x), self.iterations).clamp(0, 1)
