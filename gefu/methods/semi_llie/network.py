"""Semi-LLIE's enhancer (Li et al., 2024): an illumination-guided, multi-scale Mamba network.

Architecture as released (``model_multiscale_mamba_lowlight_guidied.py``): an illumination
estimator (RGB + channel mean -> 1x1 conv -> grouped 5x5 conv = illumination features ->
1x1 conv = 3-channel illumination map); a 3x3 conv of [image, map] to ``embed_dim`` channels;
``len(depths)`` residual groups of visual state-space blocks, each block fusing the
illumination features into its input (gated fusion), then a 2D selective scan in four
directions whose input passes a 3x3 and a 5x5 depthwise conv (the multi-scale part), then a
channel-attention conv block; a residual image is added to the (mean-shifted) input.
Defaults: embed 64, depths (2, 2), d_state 16, expand 2: 802,530 parameters here (the released
model counts 18 more: its two fixed 3x3 gradient kernels are parameters there).
The scan runs through ``gefu.methods.semi_llie.mamba_scan`` (mamba_ssm's kernel on CUDA, else
PyTorch).

No weights are released. The official trainer's checkpoints (``model_e<N>.pth``: a dict whose
``state_dict`` is ``MambaLowlightguided``'s under ``DataParallel``) load as they are: keys are
renamed by ``gefu.methods.semi_llie.release.official_to_suite`` and the two fixed
gradient kernels (``get_gradient.weight_h/_v``) are dropped.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
import torch.utils.checkpoint
from torch import nn

from gefu.enhancers.base import Enhancer, crop_to, pad_to_multiple
from gefu.methods.semi_llie.mamba_scan import selective_scan
from gefu.methods.semi_llie.release import official_to_suite

RGB_MEAN = (0.4488, 0.4371, 0.4040)


class DropPath(nn.Module):
    def __init__(self, rate: float):
        super().__init__()
        self.rate = rate

    def forward(self, x):
        if not self.training or self.rate == 0:
            return x
        keep = torch.rand(x.shape[0], *([1] * (x.ndim - 1)), device=x.device) >= self.rate
        return x * keep / (1 - self.rate)


class ChannelAttentionBlock(nn.Module):
    """conv 3x3 (C -> C/3), GELU, conv 3x3 back, squeeze-excitation (C -> C/30 -> C)."""

    def __init__(self, dim: int, compress: int = 3, squeeze: int = 30):
        super().__init__()
        hidden = dim // compress
        self.body = nn.Sequential(
            nn.Conv2d(dim, hidden, 3, 1, 1), nn.GELU(), nn.Conv2d(hidden, dim, 3, 1, 1)
        )
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(dim, dim // squeeze, 1),
            nn.ReLU(),
            nn.Conv2d(dim // squeeze, dim, 1),
            nn.Sigmoid(),
        )

    def forward(self, x):
        x = self.body(x)
        return x * self.gate(x)


class GatedFusion(nn.Module):
    """Fuses features with the illumination features: pointwise + depthwise convs, GELU gate."""

    def __init__(self, dim: int):
        super().__init__()
        self.pw = nn.Conv2d(2 * dim, 4 * dim, 1)
        self.dw = nn.Conv2d(4 * dim, 4 * dim, 3, 1, 1, groups=4 * dim, padding_mode="reflect")
        self.out = nn.Conv2d(2 * dim, dim, 1)
        self.mix = nn.Conv2d(dim, dim, 1)

    def forward(self, x, guide):
        a, b = self.dw(self.pw(torch.cat([x, guide], 1))).chunk(2, 1)
        return self.mix(self.out(F.gelu(a) * b) + x)


class SS2D(nn.Module):
    """2D selective scan over four directions (rows, columns, and both reversed)."""

    def __init__(self, dim: int, d_state: int = 16, expand: float = 2.0):
        super().__init__()
        inner, self.d_state = int(expand * dim), d_state
        self.rank = math.ceil(dim / 16)
        self.in_proj = nn.Linear(dim, 2 * inner, bias=False)
        self.conv3 = nn.Conv2d(inner, inner, 3, 1, 1, groups=inner)
        self.conv5 = nn.Conv2d(inner, inner, 5, 1, 2, groups=inner)
        self.merge = nn.Conv2d(2 * inner, inner, 1)
        k = 4
        bound = 1 / math.sqrt(inner)
        self.x_proj = nn.Parameter(
            torch.empty(k, self.rank + 2 * d_state, inner).uniform_(-bound, bound)
        )
        std = self.rank**-0.5
        self.dt_proj = nn.Parameter(torch.empty(k, inner, self.rank).uniform_(-std, std))
        dt = torch.exp(torch.rand(k, inner) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))
        dt = dt.clamp(min=1e-4)
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))  # softplus^-1
        a = torch.arange(1, d_state + 1, dtype=torch.float32).repeat(k * inner, 1)
        self.A_log = nn.Parameter(torch.log(a))
        self.D = nn.Parameter(torch.ones(k * inner))
        self.out_norm = nn.LayerNorm(inner)
        self.out_proj = nn.Linear(inner, dim, bias=False)

    def scan(self, x):
        b, c, h, w = x.shape
        rows = x.flatten(2)
        cols = x.transpose(2, 3).flatten(2)
        xs = torch.stack([rows, cols], 1)
        xs = torch.cat([xs, xs.flip(-1)], 1)  # [B, 4, C, L]
        proj = torch.einsum("bkcl,kmc->bkml", xs, self.x_proj)
        dts, bs, cs = proj.split([self.rank, self.d_state, self.d_state], 2)
        dts = torch.einsum("bkrl,kcr->bkcl", dts, self.dt_proj)
        y = selective_scan(
            xs.reshape(b, -1, h * w),
            dts.reshape(b, -1, h * w),
            -torch.exp(self.A_log.float()),
            bs,
            cs,
            self.D.float(),
            delta_bias=self.dt_bias.flatten().float(),
            delta_softplus=True,
        )
        y = y.view(b, 4, c, h * w)
        back = y[:, 2:].flip(-1)
        by_cols = torch.stack([y[:, 1], back[:, 1]], 1).view(b, 2, c, w, h)
        by_cols = by_cols.transpose(3, 4).reshape(b, 2, c, h * w)
        return y[:, 0] + back[:, 0] + by_cols[:, 0] + by_cols[:, 1]  # [B, C, L]

    def forward(self, x):  # [B, H, W, C]
        b, h, w, _ = x.shape
        x, z = self.in_proj(x).chunk(2, -1)
        x = self.conv3(x.permute(0, 3, 1, 2))
        x = self.merge(torch.cat([F.silu(x), F.silu(self.conv5(x))], 1))
        y = self.scan(x).transpose(1, 2).reshape(b, h, w, -1)
        return self.out_proj(self.out_norm(y) * F.silu(z))


class VSSBlock(nn.Module):
    def __init__(self, dim: int, d_state: int, expand: float, drop_path: float):
        super().__init__()
        self.fuse = GatedFusion(dim)
        self.norm1 = nn.LayerNorm(dim)
        self.ssm = SS2D(dim, d_state, expand)
        self.drop_path = DropPath(drop_path)
        self.skip1 = nn.Parameter(torch.ones(dim))
        self.norm2 = nn.LayerNorm(dim)
        self.cab = ChannelAttentionBlock(dim)
        self.skip2 = nn.Parameter(torch.ones(dim))

    def forward(self, x, guide):  # x [B, H, W, C], guide [B, C, H, W]
        fused = self.fuse(x.permute(0, 3, 1, 2), guide).permute(0, 2, 3, 1)
        x = x * self.skip1 + self.drop_path(self.ssm(self.norm1(fused)))
        local = self.cab(self.norm2(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        return x * self.skip2 + local


class ResidualGroup(nn.Module):
    def __init__(self, dim, depth, d_state, expand, drop_paths):
        super().__init__()
        self.blocks = nn.ModuleList(VSSBlock(dim, d_state, expand, r) for r in drop_paths)
        self.conv = nn.Conv2d(dim, dim, 3, 1, 1)
        self.checkpoint = False  # training only: recompute each block in backward

    def forward(self, x, guide):  # x [B, H, W, C]
        y = x
        for block in self.blocks:
            if self.checkpoint and torch.is_grad_enabled():  # the RNG (DropPath) is replayed
                y = torch.utils.checkpoint.checkpoint(block, y, guide, use_reentrant=False)
            else:
                y = block(y, guide)
        return self.conv(y.permute(0, 3, 1, 2)).permute(0, 2, 3, 1) + x


def image_gradient(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Per-channel gradient magnitude ``sqrt(dx^2 + dy^2 + eps)`` from central differences,
    borders replicated (the released operator zero-pads: a constant image then has edges)."""
    p = F.pad(x, (1, 1, 1, 1), mode="replicate")
    dx = p[..., 1:-1, 2:] - p[..., 1:-1, :-2]
    dy = p[..., 2:, 1:-1] - p[..., :-2, 1:-1]
    return torch.sqrt(dx**2 + dy**2 + eps)


class SemiLLIE(Enhancer):
    """Semi-LLIE's Mamba enhancer (needs weights: ``gefu train semi_llie``).

    ``fit`` (test-time size handling): ``"resize"`` (default, as released in ``test.py``):
    bilinear resize up to the next multiple of ``multiple`` (16; a full ``multiple`` more when
    the side already is one, as released), enhance, resize back, clamp; ``"pad"``: reflect-pad
    to the multiple and crop back; ``"none"``: the image as it is."""

    trainable = True
    needs_weights = True

    def __init__(
        self,
        embed_dim: int = 64,
        depths: tuple[int, ...] = (2, 2),
        d_state: int = 16,
        expand: float = 2.0,
        drop_path_rate: float = 0.1,
        fit: str = "resize",
        multiple: int = 16,
    ):
        super().__init__()
        if fit not in ("resize", "pad", "none"):
            raise ValueError(f"fit must be 'resize' (as released), 'pad' or 'none', got {fit!r}")
        depths = tuple(depths)
        self.hparams = dict(
            embed_dim=embed_dim,
            depths=list(depths),
            d_state=d_state,
            expand=expand,
            drop_path_rate=drop_path_rate,
            fit=fit,
            multiple=multiple,
        )
        self.register_buffer("mean", torch.tensor(RGB_MEAN).view(1, 3, 1, 1), persistent=False)
        self.illu_in = nn.Conv2d(4, embed_dim, 1)
        self.illu_feat = nn.Conv2d(embed_dim, embed_dim, 5, 1, 2, groups=4)
        self.illu_map = nn.Conv2d(embed_dim, 3, 1)
        self.conv_first = nn.Conv2d(6, embed_dim, 3, 1, 1)
        self.embed_norm = nn.LayerNorm(embed_dim)
        rates = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        starts = [sum(depths[:i]) for i in range(len(depths))]
        self.groups = nn.ModuleList(
            ResidualGroup(embed_dim, d, d_state, expand, rates[s : s + d])
            for d, s in zip(depths, starts)
        )
        self.norm = nn.LayerNorm(embed_dim)
        self.conv_after_body = nn.Conv2d(embed_dim, embed_dim, 3, 1, 1)
        self.conv_last = nn.Conv2d(embed_dim, 3, 3, 1, 1)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def checkpoint_blocks(self, enabled: bool = True) -> None:
        """Keep only each VSS block's input for backward and recompute the block there: the
        four directions' tensors of every block are no longer all alive at once (a training
        switch; it changes no result)."""
        for group in self.groups:
            group.checkpoint = enabled

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """The unclamped output (what the training losses see)."""
        x = x - self.mean
        guide = self.illu_feat(self.illu_in(torch.cat([x, x.mean(1, keepdim=True)], 1)))
        first = self.conv_first(torch.cat([x, self.illu_map(guide)], 1))
        feats = self.embed_norm(first.permute(0, 2, 3, 1))
        for group in self.groups:
            feats = group(feats, guide)
        feats = self.norm(feats).permute(0, 3, 1, 2)
        res = self.conv_after_body(feats) + first
        return x + self.conv_last(res) + self.mean

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fit, m = self.hparams["fit"], self.hparams["multiple"]
        h, w = x.shape[-2:]
        if fit == "resize":
            size = (h + m - h % m, w + m - w % m)
            y = self.predict(F.interpolate(x, size, mode="bilinear", align_corners=False))
            y = F.interpolate(y, (h, w), mode="bilinear", align_corners=False)
        elif fit == "pad":
            padded, size = pad_to_multiple(x, m)
            y = crop_to(self.predict(padded), size)
        else:
            y = self.predict(x)
        return y.clamp(0, 1)

    def convert_state_dict(self, state):
        return official_to_suite(state)
