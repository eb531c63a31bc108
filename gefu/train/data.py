"""Training data: a seeded stream that resumes exactly, and patches of dataset images.

Every random draw is a pure function of (seed, stream name, position): ``StepBatches`` yields,
for each step, a batch of ``(index, rng_seed)`` pairs; a dataset's ``__getitem__`` receives one
pair and draws its crop, flip and darkening from ``torch.Generator().manual_seed(rng_seed)``.
Resuming at step N therefore needs no sampler state: it restarts the stream at N.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import torch
import torch.nn.functional as F

from gefu.core.strict import validate
from gefu.datasets.base import Dataset
from gefu.io import resize as _resize
from gefu.train.sources import Darkening, PatchConfig, open_source


def stream_seed(*parts) -> int:
    """A 63-bit seed from any parts, stable across processes and platforms."""
    digest = hashlib.sha256("\0".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


class StepBatches(torch.utils.data.Sampler):
    """Batches of ``(index, rng_seed)`` for steps ``start .. total-1`` of one named stream.

    Position ``p = (step * world + rank) * batch_size + k`` walks through epochs of a seeded
    permutation of the dataset; each process of a DDP run reads its own positions."""

    def __init__(
        self,
        size: int,
        batch_size: int,
        seed: int,
        name: str,
        start: int,
        total: int,
        rank: int = 0,
        world: int = 1,
    ):
        if size < 1:
            raise ValueError(f"training stream {name!r} has no samples")
        self.size, self.batch_size, self.seed, self.name = size, batch_size, seed, name
        self.start, self.total, self.rank, self.world = start, total, rank, world
        self._epoch, self._perm = -1, None

    def batch(self, step: int) -> list[tuple[int, int]]:
        out = []
        for k in range(self.batch_size):
            position = (step * self.world + self.rank) * self.batch_size + k
            epoch, offset = divmod(position, self.size)
            if epoch != self._epoch:
                gen = torch.Generator().manual_seed(stream_seed(self.seed, self.name, epoch))
                self._epoch, self._perm = epoch, torch.randperm(self.size, generator=gen)
            out.append((int(self._perm[offset]), stream_seed(self.seed, self.name, "p", position)))
        return out

    def __iter__(self):
        for step in range(self.start, self.total):
            yield self.batch(step)

    def __len__(self) -> int:
        return max(0, self.total - self.start)


# -- patches ---------------------------------------------------------------------------------
def _read(path: Path) -> torch.Tensor:
    from gefu.io import read_image

    return read_image(path)


def random_patch(image: torch.Tensor, crop: int, gen: torch.Generator, flip: bool):
    """A ``crop`` x ``crop`` patch (upscaling images smaller than that), flipped half the time."""
    if min(image.shape[-2:]) < crop:
        image = _resize(image, shorter=crop)
    h, w = image.shape[-2:]
    top = int(torch.randint(0, h - crop + 1, (1,), generator=gen))
    left = int(torch.randint(0, w - crop + 1, (1,), generator=gen))
    patch = image[:, top : top + crop, left : left + crop]
    if flip and float(torch.rand((), generator=gen)) < 0.5:
        patch = patch.flip(-1)
    return patch.contiguous()


class _Photos(torch.utils.data.Dataset):
    """Decoded images of a registered dataset (each item's ``image``) or of image files."""

    def __init__(
        self,
        source: Dataset | list[Path],
        resize: int | None,
        cache: bool,
        square: int | None = None,
    ):
        self.source = source if isinstance(source, Dataset) else list(source)
        self.resize, self.cache, self.square = resize, cache, square
        self._cached: dict[int, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.source)

    def read(self, index: int) -> torch.Tensor:
        if isinstance(self.source, Dataset):
            return self.source.load(index).image
        return _read(self.source[index])

    def image(self, index: int) -> torch.Tensor:
        """The decoded photo: its shorter side resized to ``resize``, or the whole photo
        resized to ``square`` x ``square``."""
        if index in self._cached:
            return self._cached[index]
        image = self.read(index)
        if self.square is not None:
            image = F.interpolate(
                image[None],
                (self.square,) * 2,
                mode="bilinear",
                antialias=True,
                align_corners=False,
            )[0].clamp(0, 1)
        else:
            image = _resize(image, shorter=self.resize)
        if self.cache:
            self._cached[index] = image
        return image


class DarkenedPatches(_Photos):
    """Normal-light photos -> random patch (after optional resize; or the whole photo resized
    to a square, ``fit="square"``), flip, darkened with ``gefu.simulate`` -> ``{"low",
    "normal"}``; with ``darken=False`` the images are taken as the low-light input
    (``{"low"}``). Severity ``"random"`` draws one darkening per
    patch: gamma_curve from the HVR-SSLE distribution, physical with an exposure log-uniform
    between the severe and mild presets (about -5.5 to -1.8 EV)."""

    def __init__(
        self,
        source,
        crop=256,
        resize=None,
        flip=True,
        model="physical",
        severity="random",
        cache=True,
        fit="crop",
        darken=True,
    ):
        from gefu.simulate import resolve_params

        super().__init__(source, resize, cache, square=crop if fit == "square" else None)
        self.crop, self.flip, self.model, self.severity = crop, flip, model, severity
        self.fit, self.darken_input = fit, darken
        self.params = None if severity == "random" else resolve_params(model, severity)

    @classmethod
    def from_config(cls, data: dict | PatchConfig) -> DarkenedPatches:
        cfg = validate(PatchConfig, data, "data") if isinstance(data, dict) else data
        images, darkening = open_source(cfg.dataset, "data.dataset")
        d = darkening or Darkening()
        return cls(
            images,
            cfg.crop,
            cfg.resize,
            cfg.flip,
            d.model,
            d.severity,
            cfg.cache,
            cfg.fit,
            darken=darkening is not None,
        )

    def darken(self, image: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        from gefu import simulate as S

        if self.model == "physical":
            p = self.params
            if p is None:
                low, high = (S.PHYSICAL_PRESETS[s].exposure for s in ("severe", "mild"))
                u = float(torch.rand((), generator=gen, dtype=torch.float64))
                p = S.PhysicalParams(
                    math.exp(math.log(low) + u * math.log(high / low)), 4000.0, 2.0
                )
            return S.physical(image, p.exposure, p.full_well, p.read_noise, gen)
        p = self.params if self.params is not None else S.sample_gamma_curve_params(gen)
        return S.quantize_8bit(S.gamma_curve(image, p.alpha, p.k, p.l))

    def __getitem__(self, item: tuple[int, int]) -> dict[str, torch.Tensor]:
        index, rng_seed = item
        gen = torch.Generator().manual_seed(int(rng_seed))
        if self.fit == "square":
            normal = self.image(index)
            if self.flip and float(torch.rand((), generator=gen)) < 0.5:
                normal = normal.flip(-1)
        else:
            normal = random_patch(self.image(index), self.crop, gen, self.flip)
        if not self.darken_input:  # real low-light / multi-exposure images: no target
            return {"low": normal.contiguous()}
        return {"low": self.darken(normal, gen), "normal": normal}
