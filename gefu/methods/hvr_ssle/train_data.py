"""HVR-SSLE's on-the-fly degradation of normal-light photos, as released
(dwchoo/HVR-SSLE ``dataset/preprocessing.py`` with ``checkpoint/config.json``), in order:

1. gamma curve ``y = C max(x - k, 0)^e`` with (alpha, k, l) from the training distribution
   (``gefu.simulate.sample_gamma_curve_params``), floored to 8 bits;
2. blur with p = 0.1: defocus (disk radius 1-3, Gaussian anti-aliasing sigma 0.1-0.3) or a
   x2 bicubic down/up-sampling, each half the time;
3. masks with p = 0.1: Gaussian noise (std U[0.05, 0.4], half the time), then squares of side
   1-2 covering ~10% of the image, filled with uniform noise (black with p = 0.3);
4. fill noise with p = 0.1: ``0.9 x + 0.1 U[0, 1]``;
5. floor to 8 bits.
Every draw comes from the given ``torch.Generator``: a pure function of the sample's seed.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from pydantic import Field

from gefu.core.errors import ConfigError
from gefu.core.specs import DatasetSpec
from gefu.core.strict import StrictModel
from gefu.train.sources import BUNDLED


class HVRDegradation(StrictModel):
    blur_p: float = Field(0.1, ge=0, le=1)
    mask_p: float = Field(0.1, ge=0, le=1)
    mask_percentage: float = Field(10.0, ge=0, le=100)
    mask_sizes: tuple[int, int] = (1, 2)
    mask_noise_p: float = Field(0.5, ge=0, le=1)
    mask_noise_std: tuple[float, float] = (0.05, 0.4)
    mask_black_p: float = Field(0.3, ge=0, le=1)
    fill_noise_p: float = Field(0.1, ge=0, le=1)
    fill_noise_rate: float = Field(0.1, ge=0, le=1)


class HVRData(StrictModel):
    """The ``data:`` section of ``hvr_ssle`` training."""

    # the normal-light images, a dataset entry as in a benchmark (not ``darkened``: the
    # degradation below is HVR-SSLE's own)
    dataset: DatasetSpec = Field(default_factory=lambda: DatasetSpec(**BUNDLED))
    resize: int | None = Field(None, ge=1, description="shorter side before cropping")
    crop: int = Field(224, ge=8)
    cache: bool = True
    degradation: HVRDegradation = HVRDegradation()


def floor_8bit(x: torch.Tensor) -> torch.Tensor:
    return torch.floor((x * 255).clamp(0, 255)) / 255


def _uniform(gen, low=0.0, high=1.0) -> float:
    return low + (high - low) * float(torch.rand((), generator=gen, dtype=torch.float64))


def defocus(image: torch.Tensor, radius: int, alias_sigma: float) -> torch.Tensor:
    """Disk kernel of ``radius`` (support +-max(8, radius)) softened by a 3x3 Gaussian."""
    half = max(8, radius)
    r = torch.arange(-half, half + 1, dtype=torch.float32)
    disk = ((r[:, None] ** 2 + r[None, :] ** 2) <= radius**2).float()
    disk = disk / disk.sum()
    g = torch.exp(-(torch.arange(-1, 2, dtype=torch.float32) ** 2) / (2 * alias_sigma**2))
    g = g / g.sum()
    disk = F.conv2d(disk[None, None], (g[:, None] * g[None, :])[None, None], padding=1)[0, 0]
    kernel = (disk / disk.sum()).expand(3, 1, -1, -1)
    pad = min(half, image.shape[-1] - 1, image.shape[-2] - 1)
    x = F.pad(image[None], (pad,) * 4, mode="reflect") if pad > 0 else image[None]
    out = F.conv2d(x, kernel, groups=3, padding=half - pad)
    return out[0].clamp(0, 1)


def down_up(image: torch.Tensor, scale: int = 2) -> torch.Tensor:
    h, w = image.shape[-2:]
    small = F.interpolate(image[None], (max(1, h // scale), max(1, w // scale)), mode="bicubic")
    return F.interpolate(small, (h, w), mode="bicubic")[0].clamp(0, 1)


def random_squares(image: torch.Tensor, gen: torch.Generator, cfg: HVRDegradation):
    """Squares of side ``mask_sizes`` covering ~``mask_percentage``% (overlaps allowed; the
    last square drawn wins), each filled with uniform noise or, with ``mask_black_p``, black."""
    _, h, w = image.shape
    lo, hi = cfg.mask_sizes
    count = int(h * w * cfg.mask_percentage / 100 / ((lo + hi) / 2) ** 2)
    if count == 0:
        return image
    sizes = torch.randint(lo, hi + 1, (count,), generator=gen)
    ys = (torch.rand(count, generator=gen, dtype=torch.float64) * (h - sizes + 1)).long()
    xs = (torch.rand(count, generator=gen, dtype=torch.float64) * (w - sizes + 1)).long()
    black = torch.rand(count, generator=gen) < cfg.mask_black_p
    noise = torch.rand(3, h, w, generator=gen)
    owner = torch.full((h * w,), -1, dtype=torch.long)
    for dy in range(hi):
        for dx in range(hi):
            inside = (dy < sizes) & (dx < sizes)
            flat = ((ys + dy) * w + xs + dx)[inside]
            owner.scatter_reduce_(0, flat, torch.arange(count)[inside], "amax")
    owner = owner.view(h, w)
    covered = owner >= 0
    fill = torch.where(black[owner.clamp_min(0)], torch.zeros_like(noise), noise)
    return torch.where(covered, fill, image)


def degrade(image: torch.Tensor, gen: torch.Generator, cfg: HVRDegradation | None = None):
    """A ``[3,H,W]`` normal-light image in [0,1] -> its synthetic low-light version."""
    from gefu.simulate import gamma_curve, sample_gamma_curve_params

    cfg = cfg or HVRDegradation()
    p = sample_gamma_curve_params(gen)
    x = floor_8bit(gamma_curve(image, p.alpha, p.k, p.l))
    if _uniform(gen) < cfg.blur_p:
        if _uniform(gen) < 0.5:
            radius = int(torch.randint(1, 4, (1,), generator=gen))
            x = defocus(x, radius, _uniform(gen, 0.1, 0.3))
        else:
            x = down_up(x)
    if _uniform(gen) < cfg.mask_p:
        if _uniform(gen) < cfg.mask_noise_p:
            std = _uniform(gen, *cfg.mask_noise_std)
            x = (x + std * torch.randn(x.shape, generator=gen)).clamp(0, 1)
        x = random_squares(x, gen, cfg)
    if _uniform(gen) < cfg.fill_noise_p:
        r = cfg.fill_noise_rate
        x = (1 - r) * x + r * torch.rand(x.shape, generator=gen)
    return floor_8bit(x)


def random_resized_crop(image: torch.Tensor, size: int, gen: torch.Generator) -> torch.Tensor:
    """The released crop: area fraction in ``[s/1.5, 1.5 s]`` (``s`` = size / longer side,
    clipped to [0.1, 1]), aspect ratio log-uniform in [3/4, 4/3], resized to ``size``; then a
    horizontal flip with p = 0.2 (the released ±45° rotation alternative is not reproduced)."""
    h, w = image.shape[-2:]
    s = size / max(h, w)
    lo, hi = sorted(min(max(v, 0.1), 1.0) for v in (s / 1.5, s * 1.5))
    for _ in range(10):
        area = h * w * _uniform(gen, lo, hi)
        ratio = math.exp(_uniform(gen, math.log(0.75), math.log(1.33)))
        cw, ch = round((area * ratio) ** 0.5), round((area / ratio) ** 0.5)
        if 0 < cw <= w and 0 < ch <= h:
            break
    else:
        ch = cw = min(h, w)
    top = int(torch.randint(0, h - ch + 1, (1,), generator=gen))
    left = int(torch.randint(0, w - cw + 1, (1,), generator=gen))
    patch = image[None, :, top : top + ch, left : left + cw]
    patch = F.interpolate(patch, (size, size), mode="bicubic", antialias=True)[0].clamp(0, 1)
    return patch.flip(-1) if _uniform(gen) < 0.2 else patch


class HVRDegradedPhotos(torch.utils.data.Dataset):
    """Normal-light photos -> ``{"low", "normal"}`` crops; ``__getitem__((index, seed))``."""

    def __init__(self, data: HVRData):
        from gefu.train.data import _Photos
        from gefu.train.sources import open_source

        self.data = data
        images, darkening = open_source(data.dataset, "data.dataset")
        if darkening is not None:
            raise ConfigError(
                "data.dataset: name the normal-light images, not `darkened` (HVR-SSLE degrades "
                "them itself: data.degradation)"
            )
        self.photos = _Photos(images, data.resize, data.cache)

    def __len__(self) -> int:
        return len(self.photos)

    def __getitem__(self, item: tuple[int, int]) -> dict[str, torch.Tensor]:
        index, rng_seed = item
        gen = torch.Generator().manual_seed(int(rng_seed))
        normal = floor_8bit(random_resized_crop(self.photos.image(index), self.data.crop, gen))
        return {"low": degrade(normal, gen, self.data.degradation), "normal": normal}
