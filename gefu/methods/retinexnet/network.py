"""RetinexNet (Wei et al., BMVC 2018): a Retinex decomposition network and a relight network.

Architecture as in the authors' TensorFlow release (``weichen582/RetinexNet``, ``model.py``):
- ``DecomNet``: the input concatenated with its channel maximum (4 channels) -> a 9x9 conv to 64
  channels (no activation) -> 5 x (3x3 conv, ReLU) -> a 3x3 conv to 4 channels -> sigmoid:
  reflectance R (channels 0-2) and illumination I (channel 3). 207,748 parameters, the
  "about 208k" of the DecomNet that SCUF uses as its frozen reflectance teacher.
- ``EnhanceNet`` (the release's RelightNet): [R, I] -> 3x3 conv -> three stride-2 3x3 convs
  (ReLU) -> three nearest-upsample + 3x3 conv (ReLU) + skip additions -> the three decoder
  scales resized to full size and concatenated -> 1x1 conv -> 3x3 conv to the new
  illumination Î (no activation, as released). 236,865 parameters.
- The enhancer ``retinexnet``: decompose, relight, output R * Î clipped to [0, 1] (as the
  release's test; the paper's BM3D denoising of R is not part of it and is not done here).

Padding: replicate, as in the PyTorch DecomNet that SCUF loads (the TensorFlow release pads
with zeros); the parameter count does not depend on it. ``load_decomnet`` reads either a
trained ``retinexnet`` checkpoint of this suite or that PyTorch state dict (``decomp.pth``).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from gefu.enhancers.base import Enhancer
from gefu.methods.retinexnet.release import RELEASES, rename_foreign


def _conv(cin: int, cout: int, kernel: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel, stride, kernel // 2, padding_mode="replicate")


class DecomNet(nn.Module):
    """Image ``[B,3,H,W]`` in [0,1] -> (reflectance ``[B,3,H,W]``, illumination ``[B,1,H,W]``),
    both in (0, 1)."""

    def __init__(self, channels: int = 64, kernel_size: int = 3, layers: int = 5):
        super().__init__()
        self.shallow = _conv(4, channels, kernel_size * 3)
        body: list[nn.Module] = []
        for _ in range(layers):
            body += [_conv(channels, channels, kernel_size), nn.ReLU()]
        self.body = nn.Sequential(*body)
        self.recon = _conv(channels, 4, kernel_size)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([x.amax(1, keepdim=True), x], 1)
        out = torch.sigmoid(self.recon(self.body(self.shallow(x))))
        return out[:, :3], out[:, 3:]


class EnhanceNet(nn.Module):
    """(R ``[B,3,H,W]``, I ``[B,1,H,W]``) -> the relit illumination Î ``[B,1,H,W]``."""

    def __init__(self, channels: int = 64, kernel_size: int = 3):
        super().__init__()
        c, k = channels, kernel_size
        self.inp = _conv(4, c, k)
        self.down = nn.ModuleList(_conv(c, c, k, stride=2) for _ in range(3))
        self.up = nn.ModuleList(_conv(c, c, k) for _ in range(3))
        self.fusion = nn.Conv2d(3 * c, c, 1)
        self.out = _conv(c, 1, 3)

    def forward(self, reflectance: torch.Tensor, illumination: torch.Tensor) -> torch.Tensor:
        x = self.inp(torch.cat([reflectance, illumination], 1))
        skips = [x]
        for conv in self.down:
            skips.append(F.relu(conv(skips[-1])))
        x, decoded = skips.pop(), []
        for conv in self.up:
            skip = skips.pop()
            x = F.relu(conv(F.interpolate(x, size=skip.shape[-2:], mode="nearest"))) + skip
            decoded.append(x)
        size = decoded[-1].shape[-2:]
        gathered = [F.interpolate(d, size=size, mode="nearest") for d in decoded[:-1]]
        return self.out(self.fusion(torch.cat([*gathered, decoded[-1]], 1)))


class RetinexNet(Enhancer):
    """Decompose (``decom``), relight the illumination (``enhance``), recombine R * Î."""

    trainable = True
    needs_weights = True

    def __init__(self, channels: int = 64, kernel_size: int = 3, decom_layers: int = 5):
        super().__init__()
        self.hparams = {
            "channels": channels,
            "kernel_size": kernel_size,
            "decom_layers": decom_layers,
        }
        self.decom = DecomNet(channels, kernel_size, decom_layers)
        self.enhance = EnhanceNet(channels, kernel_size)

    def decompose(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.decom(x)

    def relight(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(R, I, Î) of a low-light batch."""
        reflectance, illumination = self.decom(x)
        return reflectance, illumination, self.enhance(reflectance, illumination)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        reflectance, _, relit = self.relight(x)
        return (reflectance * relit).clamp(0, 1)

    def convert_state_dict(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {rename_foreign(k, prefix="decom."): v for k, v in state.items()}


def load_decomnet(path: str | Path, device: str | torch.device = "cpu") -> DecomNet:
    """The frozen DecomNet (eval mode, no gradients) of a trained RetinexNet.

    ``path``: a ``retinexnet`` checkpoint folder of this suite (``<run>/model`` or
    ``<run>/checkpoints/step_<N>``), or the PyTorch DecomNet state dict SCUF ships
    (``decomp.pth``, keys ``DecomNet.net1_*``; read with ``weights_only=True``), or a folder
    holding that file."""
    from gefu.core.checkpoint import load_state_dict
    from gefu.enhancers.base import CONFIG_NAME

    path = Path(path).expanduser()
    if path.is_dir() and not (path / CONFIG_NAME).is_file() and (path / "decomp.pth").is_file():
        path = path / "decomp.pth"
    if path.is_dir():
        model = RetinexNet.from_pretrained(path)
        decom = model.decom
    else:
        if not path.is_file():
            raise FileNotFoundError(f"RetinexNet DecomNet weights not found at {path}")
        if path.name == "decomp.pth":
            from gefu.enhancers.released import check_file

            check_file(RELEASES[0], path)
        state = {rename_foreign(k): v for k, v in load_state_dict(path).items()}
        state = {
            k.removeprefix("decom."): v for k, v in state.items() if not k.startswith("enhance.")
        }
        decom = DecomNet()
        try:
            decom.load_state_dict(state)
        except RuntimeError as exc:
            raise ValueError(f"{path}: not a RetinexNet DecomNet state dict: {exc}") from None
    return decom.to(device).eval().requires_grad_(False)
