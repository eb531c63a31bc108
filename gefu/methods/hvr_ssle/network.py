"""HVR-SSLE (Hierarchical Visual Reasoning for Self-Supervised Low-light Enhancement).

Architecture as released (dwchoo/HVR-SSLE, ``models/``; 353,763 parameters, the paper's
"0.34M" = 353,763 / 2**20):

- ``embed``: 1x1 conv 3 -> 24 of the image mapped to [-1, 1];
- L-net: a light UNet++ (two poolings, GroupNorm(2) + LeakyReLU conv pairs, 24/48/96 features)
  on ``cat(embed, zL + zH)``, added to zL: ``zL <- zL + Lnet(x, zL + zH)``;
- H-net: Swin2SR-style (SwinV2 cosine window attention, post-norm): 1x1 conv + LayerNorm,
  2 residual groups of 2 blocks (4 heads, window 8, shift 4 on odd blocks, MLP ratio 2), each
  closed by a 3x3 and a 1x1 conv, LayerNorm, 3x3 conv, plus the input:
  ``zH <- Hnet(zH + zL)``;
- head: 1x1 conv 24 -> 3 and tanh: the enhanced image in [-1, 1] (no residual on the input).

Recursion: latents zH, zL start from N(0, 1) truncated to [-1, 1]. One *segment* is T*C L-net
updates with an H-net update after every T-th. Training runs N_supervision segments per batch,
each with its own loss and optimiser step (deep supervision); inside a segment all updates but
the last L/H pair run without gradient. Inference (``sample``) runs N_supervision segments
without gradient. Inputs are reflect-padded to a multiple of 8 and outputs cropped back.

The released ``checkpoint/HVR.safetensors`` loads as it is (``from_pretrained``): its keys
(``_orig_mod.`` prefix of ``torch.compile``; ``embed_layer``, ``L_net_model``, ``H_net_model``,
``head_layer``) are renamed by ``gefu.methods.hvr_ssle.release.official_to_suite``; its buffers
(attention masks, position tables: recomputed here) are dropped.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from gefu.enhancers.base import Enhancer, crop_to, pad_to_multiple
from gefu.methods.hvr_ssle.release import official_to_suite


# -- L-net: light UNet++ -----------------------------------------------------------------------
class _ConvPair(nn.Sequential):
    def __init__(self, cin: int, cout: int, groups: int):
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            nn.GroupNorm(groups, cout),
            nn.LeakyReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False),
            nn.GroupNorm(groups, cout),
            nn.LeakyReLU(inplace=True),
        )


class LightUNetPP(nn.Module):
    """UNet++ with two levels of nesting; H and W must be multiples of 4."""

    def __init__(self, cin: int, cz: int, cout: int, features: int, groups: int):
        super().__init__()
        f = features
        self.conv0_0 = _ConvPair(cin + cz, f, groups)
        self.conv1_0 = _ConvPair(f, 2 * f, groups)
        self.conv2_0 = _ConvPair(2 * f, 4 * f, groups)
        self.conv0_1 = _ConvPair(3 * f, f, groups)
        self.conv1_1 = _ConvPair(6 * f, 2 * f, groups)
        self.conv0_2 = _ConvPair(4 * f, f, groups)
        self.out = nn.Conv2d(f, cout, 1)

    @staticmethod
    def _up(x):
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)

    def forward(self, x, z):
        x00 = self.conv0_0(torch.cat([x, z], 1))
        x10 = self.conv1_0(F.max_pool2d(x00, 2))
        x20 = self.conv2_0(F.max_pool2d(x10, 2))
        x01 = self.conv0_1(torch.cat([x00, self._up(x10)], 1))
        x11 = self.conv1_1(torch.cat([x10, self._up(x20)], 1))
        return self.out(self.conv0_2(torch.cat([x00, x01, self._up(x11)], 1)))


# -- H-net: Swin2SR-style residual groups (SwinV2 attention) ------------------------------------
def _windows(x, w):  # [B,H,W,C] -> [B*nW, w*w, C]
    b, h, wd, c = x.shape
    x = x.view(b, h // w, w, wd // w, w, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, w * w, c)


def _unwindows(x, w, b, h, wd):  # inverse of _windows
    x = x.view(b, h // w, wd // w, w, w, -1).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h, wd, -1)


class _WindowAttention(nn.Module):
    """Cosine attention with a learned temperature and a log-spaced continuous position bias."""

    def __init__(self, dim: int, heads: int, window: int):
        super().__init__()
        self.heads, self.window = heads, window
        self.logit_scale = nn.Parameter(torch.log(10 * torch.ones(heads, 1, 1)))
        self.cpb_mlp = nn.Sequential(
            nn.Linear(2, 512), nn.ReLU(inplace=True), nn.Linear(512, heads, bias=False)
        )
        r = torch.arange(-(window - 1), window, dtype=torch.float32) / (window - 1) * 8
        table = torch.stack(torch.meshgrid(r, r, indexing="ij"), -1)  # [2w-1, 2w-1, 2]
        table = torch.sign(table) * torch.log2(table.abs() + 1.0) / math.log2(8)
        self.register_buffer("coords_table", table.view(-1, 2), persistent=False)
        pos = torch.stack(
            torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")
        ).flatten(1)
        rel = (pos[:, :, None] - pos[:, None, :]) + (window - 1)
        self.register_buffer("bias_index", rel[0] * (2 * window - 1) + rel[1], persistent=False)
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(dim))
        self.v_bias = nn.Parameter(torch.zeros(dim))
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, mask=None):  # x [N, L, C]; mask [nW, L, L] of 0 / -100
        n, length, c = x.shape
        bias = torch.cat([self.q_bias, torch.zeros_like(self.v_bias), self.v_bias])
        qkv = F.linear(x, self.qkv.weight, bias).view(n, length, 3, self.heads, -1)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        scale = self.logit_scale.clamp(max=math.log(100.0)).exp()
        attn = F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-2, -1) * scale
        table = self.cpb_mlp(self.coords_table)  # [(2w-1)^2, heads]
        pos_bias = table[self.bias_index.view(-1)].view(length, length, -1).permute(2, 0, 1)
        attn = attn + 16 * torch.sigmoid(pos_bias)
        if mask is not None:
            nw = mask.shape[0]
            attn = attn.view(n // nw, nw, self.heads, length, length) + mask[None, :, None]
            attn = attn.view(n, self.heads, length, length)
        out = (attn.softmax(-1) @ v).transpose(1, 2).reshape(n, length, c)
        return self.proj(out)


def _shift_mask(h: int, w: int, window: int, shift: int, device) -> torch.Tensor:
    """-100 between tokens of a shifted window that came from different image regions."""
    region = torch.zeros(1, h, w, 1, device=device)
    cuts = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
    label = 0
    for hs in cuts:
        for ws in cuts:
            region[:, hs, ws] = label
            label += 1
    ids = _windows(region, window).squeeze(-1)  # [nW, w*w]
    diff = ids[:, None, :] - ids[:, :, None]
    return torch.zeros_like(diff).masked_fill(diff != 0, -100.0)


class _SwinBlock(nn.Module):
    """SwinV2 block with post-normalisation: ``x + norm(attn(x))``, ``x + norm(mlp(x))``."""

    def __init__(self, dim: int, heads: int, window: int, shift: int, mlp_ratio: float):
        super().__init__()
        self.window, self.shift = window, shift
        self.attn = _WindowAttention(dim, heads, window)
        self.norm1 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, x):  # [B,H,W,C]
        b, h, w, _ = x.shape
        s, win = self.shift, self.window
        shifted = torch.roll(x, (-s, -s), (1, 2)) if s else x
        mask = _shift_mask(h, w, win, s, x.device) if s else None
        out = _unwindows(self.attn(_windows(shifted, win), mask), win, b, h, w)
        out = torch.roll(out, (s, s), (1, 2)) if s else out
        x = x + self.norm1(out)
        return x + self.norm2(self.mlp(x))


class _ResidualGroup(nn.Module):
    """Swin blocks, then a 3x3 conv and a 1x1 projection, plus the group's input."""

    def __init__(self, dim, depth, heads, window, mlp_ratio):
        super().__init__()
        self.blocks = nn.ModuleList(
            _SwinBlock(dim, heads, window, 0 if i % 2 == 0 else window // 2, mlp_ratio)
            for i in range(depth)
        )
        self.conv = nn.Conv2d(dim, dim, 3, padding=1)
        self.proj = nn.Conv2d(dim, dim, 1)

    def forward(self, x):  # [B,H,W,C]
        y = x
        for block in self.blocks:
            y = block(y)
        y = self.proj(self.conv(y.permute(0, 3, 1, 2))).permute(0, 2, 3, 1)
        return y.to(x.dtype) + x


class SwinHNet(nn.Module):
    """Deep-feature body of Swin2SR on a latent map; H and W must be multiples of ``window``."""

    def __init__(self, dim, depths, heads, window, mlp_ratio):
        super().__init__()
        self.embed = nn.Conv2d(dim, dim, 1)
        self.embed_norm = nn.LayerNorm(dim)
        self.groups = nn.ModuleList(
            _ResidualGroup(dim, d, h, window, mlp_ratio) for d, h in zip(depths, heads)
        )
        self.norm = nn.LayerNorm(dim)
        self.conv_after_body = nn.Conv2d(dim, dim, 3, padding=1)
        self.apply(self._init)

    @staticmethod
    def _init(m):
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, x):  # [B,C,H,W]
        t = self.embed_norm(self.embed(x).permute(0, 2, 3, 1))
        for group in self.groups:
            t = group(t)
        return self.conv_after_body(self.norm(t).permute(0, 3, 1, 2)) + x


# -- the enhancer -------------------------------------------------------------------------------
class HVRSSLE(Enhancer):
    """HVR-SSLE: recursive L/H latent refinement; ``T``, ``C``, ``n_supervision`` set the number
    of steps at inference.

    ``z_seed``: ``None`` (default, as released) draws fresh initial latents from the global
    torch RNG on every call, as the released ``sample`` does; an int seeds them, so the same
    input always gives the same output (deterministic benchmarks)."""

    trainable = True
    needs_weights = True

    def __init__(
        self,
        T: int = 2,
        C: int = 2,
        n_supervision: int = 2,
        dim: int = 24,
        features: int = 24,
        groups: int = 2,
        depths=(2, 2),
        heads=(4, 4),
        window: int = 8,
        mlp_ratio: float = 2.0,
        z_seed: int | None = None,
    ):
        super().__init__()
        depths, heads = list(depths), list(heads)
        self.hparams = dict(
            T=T,
            C=C,
            n_supervision=n_supervision,
            dim=dim,
            features=features,
            groups=groups,
            depths=depths,
            heads=heads,
            window=window,
            mlp_ratio=mlp_ratio,
            z_seed=z_seed,
        )
        self.T, self.C, self.n_supervision, self.z_seed = T, C, n_supervision, z_seed
        self.dim = dim
        self.multiple = math.lcm(4, window)  # UNet++ pools twice; windows tile the map
        self.embed = nn.Conv2d(3, dim, 1)
        self.l_net = LightUNetPP(dim, dim, dim, features, groups)
        self.h_net = SwinHNet(dim, depths, heads, window, mlp_ratio)
        self.head = nn.Conv2d(dim, 3, 1)

    # -- pieces ----------------------------------------------------------------------------
    def init_latents(self, x: torch.Tensor, generator: torch.Generator | None = None):
        """zH, zL ~ N(0, 1) truncated to [-1, 1], of the (unpadded) size of ``x``."""
        b, _, h, w = x.shape
        z = torch.empty(2, b, self.dim, h, w)
        nn.init.trunc_normal_(z, 0.0, 1.0, -1.0, 1.0, generator=generator)
        z = z.to(device=x.device, dtype=x.dtype)
        return z[0], z[1]

    def _pad(self, t):
        return pad_to_multiple(t, self.multiple)[0]

    def _refine(self, x_embed, zh, zl, T: int, C: int):
        """One segment: T*C L-net updates, an H-net update after every T-th."""
        for i in range(T * C):
            zl = zl + self.l_net(x_embed, zl + zh)
            if (i + 1) % T == 0:
                zh = self.h_net(zh + zl)
        return zh, zl

    def segment(self, x, z=None, generator=None):
        """One training segment on ``x`` in [-1, 1]: T*C-1 updates without gradient, the last
        L/H pair with it. Returns ``((zH, zL), image in [-1, 1])``, cropped to ``x``'s size."""
        h, w = x.shape[-2:]
        zh, zl = self.init_latents(x, generator) if z is None else z
        xp, zh, zl = self._pad(x), self._pad(zh), self._pad(zl)
        with torch.no_grad():
            x_embed = self.embed(xp)
            for i in range(self.T * self.C - 1):
                zl = zl + self.l_net(x_embed, zl + zh)
                if (i + 1) % self.T == 0:
                    zh = self.h_net(zh + zl)
        zh, zl = zh.detach(), zl.detach()
        x_embed = self.embed(xp)
        zl = zl + self.l_net(x_embed, zl + zh)
        zh = self.h_net(zh + zl)
        out = torch.tanh(self.head(zh))
        return (crop_to(zh, (h, w)), crop_to(zl, (h, w))), crop_to(out, (h, w))

    @torch.no_grad()
    def sample(self, x, T=None, C=None, n_supervision=None, z=None, generator=None):
        """Inference on ``x`` in [-1, 1]; the released ``sample`` including its special cases
        (n_supervision 0: T = 0 -> one L then C H updates; C = 0 -> T L then one H)."""
        T = self.T if T is None else T
        C = self.C if C is None else C
        n = self.n_supervision if n_supervision is None else n_supervision
        h, w = x.shape[-2:]
        zh, zl = self.init_latents(x, generator) if z is None else z
        x_embed, zh, zl = self.embed(self._pad(x)), self._pad(zh), self._pad(zl)
        if n > 0 and T > 0 and C > 0:
            for _ in range(n):
                zh, zl = self._refine(x_embed, zh, zl, T, C)
        elif n == 0 and T > 0 and C > 0:
            zh, zl = self._refine(x_embed, zh, zl, T, C)
        elif n == 0 and (T == 0 or C == 0):
            for _ in range(max(T, 1)):
                zl = zl + self.l_net(x_embed, zl + zh)
            for _ in range(max(C, 1)):
                zh = self.h_net(zh + zl)
        else:
            zl = zl + self.l_net(x_embed, zl + zh)
            zh = self.h_net(zh + zl)
        out = torch.tanh(self.head(zh))
        return (crop_to(zh, (h, w)), crop_to(zl, (h, w))), crop_to(out, (h, w))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gen = None if self.z_seed is None else torch.Generator().manual_seed(self.z_seed)
        _, out = self.sample(x * 2 - 1, generator=gen)
        return ((out.float() + 1) / 2).clamp(0, 1)

    def convert_state_dict(self, state):
        return official_to_suite(state)
