"""RetinexNet (Wei et al., BMVC 2018): trained on paired low/normal images in two phases.

Phase 1 (decomposition): DecomNet sees both images of a pair; loss = reconstruction (own
terms + 0.001 x cross terms) + 0.01 x invariable reflectance + 0.1 x illumination smoothness
of each image. Phase 2 (relight): DecomNet frozen; EnhanceNet relights the low image's
illumination; loss = |R_low * Î - S_high| + 3 x smoothness(Î, R_low). See
``gefu.methods.retinexnet.losses``.

Schedule of the release (``main.py``/``model.py``): Adam lr 1e-3, x0.1 from epoch 20 on,
100 epochs per phase, batch 16, 48x48 patches, each patch one of the 8 flips/rotations; an
epoch = floor(#pairs / batch) steps. The release trains on LOL ``our485`` plus 1,000
synthetic pairs; the shipped config uses ``our485`` only. The phases switch after
``decom_epochs x epoch_steps`` steps; the run's ``steps`` sets where phase 2 ends, so
``steps = (100 + 100) x epoch_steps`` reproduces the release. One Adam per network
(``decom``, ``relight``), each with its own lr schedule counted from its phase's start.

Data (``data:``): ``dataset``, a dataset entry as in a benchmark: a paired dataset (e.g.
``lol_v1`` split ``our485``), or ``darkened`` normal-light images (each patch darkened on the
fly with ``gefu.simulate``).
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field

from gefu.core.errors import ConfigError
from gefu.core.specs import DatasetSpec
from gefu.core.strict import StrictModel, validate
from gefu.train.method import MethodConfig, TrainMethod


class RetinexNetConfig(MethodConfig):
    channels: int = Field(64, ge=1)
    kernel_size: int = Field(3, ge=1)
    decom_layers: int = Field(5, ge=1)
    lr: float = 1e-3
    lr_drop_epoch: int = 20  # lr x lr_gamma from this epoch of each phase on
    lr_gamma: float = 0.1
    decom_epochs: int = Field(100, ge=0)
    epoch_steps: int | None = Field(None, ge=1)  # None: floor(#pairs / batch size)
    weight_cross: float = 0.001  # lambda_ij, i != j
    weight_invariable: float = 0.01  # lambda_ir
    weight_smooth_decom: float = 0.1  # lambda_is, decomposition
    weight_smooth_relight: float = 3.0  # lambda_is, relight
    lambda_g: float = 10.0  # edge sensitivity of the smoothness weight


class RetinexNetData(StrictModel):
    # a paired dataset entry (e.g. lol_v1, split our485), or `darkened` normal-light images
    # (each patch darkened on the fly into a pair)
    dataset: DatasetSpec
    crop: int = Field(48, ge=8)
    augment: bool = True  # the 8 flips/rotations of the release
    cache: bool = True  # keep decoded images in memory


def dihedral(x: torch.Tensor, mode: int) -> torch.Tensor:
    """One of the 8 rotations (by ``mode // 2`` quarter turns) with or without a flip."""
    x = torch.rot90(x, mode // 2, dims=(-2, -1))
    return (x.flip(-2) if mode % 2 else x).contiguous()


class PairedPatches(torch.utils.data.Dataset):
    """A paired dataset's (low, normal) -> the same random patch of both, then a random one
    of the 8 flips/rotations -> ``{"low", "normal"}``; or the same from ``DarkenedPatches``."""

    def __init__(self, source, crop: int, augment: bool, cache: bool):
        self.source, self.crop, self.augment, self.cache = source, crop, augment, cache
        self._cached: dict[int, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.source)

    def _pair(self, index: int) -> torch.Tensor:
        if index not in self._cached:
            sample = self.source.load(index)
            pair = torch.cat([sample.image, sample.reference])
            if not self.cache:
                return pair
            self._cached[index] = pair
        return self._cached[index]

    def __getitem__(self, item: tuple[int, int]) -> dict[str, torch.Tensor]:
        from gefu.train.data import random_patch

        index, seed = item
        gen = torch.Generator().manual_seed(int(seed))
        if not hasattr(self.source, "load"):  # DarkenedPatches: darkens its own patch
            pair = self.source[(index, seed)]
            low, normal = pair["low"], pair["normal"]
        else:
            patch = random_patch(self._pair(index), self.crop, gen, flip=False)
            low, normal = patch[:3], patch[3:]
        if self.augment:
            mode = int(torch.randint(0, 8, (1,), generator=gen))
            low, normal = dihedral(low, mode), dihedral(normal, mode)
        return {"low": low.contiguous(), "normal": normal.contiguous()}


class RetinexNetTraining(TrainMethod):
    enhancer = "retinexnet"
    Config = RetinexNetConfig

    def __init__(self, config: RetinexNetConfig, data: dict[str, Any]):
        super().__init__(config, data)
        self.data_config = validate(RetinexNetData, data, "data")
        self.epoch_steps = config.epoch_steps
        self._modules: dict[str, Any] | None = None
        self._sets: dict[str, Any] | None = None

    def modules(self) -> dict[str, Any]:
        if self._modules is None:
            from gefu.methods.retinexnet.network import RetinexNet

            c = self.config
            self._modules = {"model": RetinexNet(c.channels, c.kernel_size, c.decom_layers)}
        return self._modules

    def _lr_factor(self, phase_step: int) -> float:
        epoch = phase_step // self.epoch_steps if self.epoch_steps else 0
        return self.config.lr_gamma if epoch >= self.config.lr_drop_epoch else 1.0

    def optimizers(self, modules):
        model, lr = modules["model"], self.config.lr
        groups = {"decom": model.decom, "relight": model.enhance}
        out = {}
        for name, net in groups.items():
            opt = torch.optim.Adam(net.parameters(), lr=lr)
            out[name] = (opt, torch.optim.lr_scheduler.LambdaLR(opt, self._lr_factor))
        return out

    def datasets(self) -> dict[str, Any]:
        if self._sets is None:
            from gefu.train.data import DarkenedPatches
            from gefu.train.sources import open_source

            d = self.data_config
            source, darkening = open_source(d.dataset, "data.dataset")
            if darkening is not None:
                source = DarkenedPatches(
                    source,
                    d.crop,
                    flip=False,
                    model=darkening.model,
                    severity=darkening.severity,
                    cache=d.cache,
                )
            elif not source.paired:
                raise ConfigError(
                    f"data.dataset: {d.dataset.name!r} is not a paired dataset (wrap it in "
                    "`darkened` to darken its images on the fly)"
                )
            self._sets = {"pairs": PairedPatches(source, d.crop, d.augment, d.cache)}
        return self._sets

    def phase(self, step: int) -> str:
        return "decom" if step < self.config.decom_epochs * self.epoch_steps else "relight"

    def train_step(self, batch: dict[str, Any], ctx) -> dict[str, float]:
        from gefu.methods.retinexnet import losses as L

        c, model = self.config, self.modules()["model"]
        low, high = batch["pairs"]["low"], batch["pairs"]["normal"]
        if self.epoch_steps is None:
            self.epoch_steps = max(1, len(self.datasets()["pairs"]) // low.shape[0])
        if self.phase(ctx.step) == "decom":
            r_low, i_low = model.decom(low)
            r_high, i_high = model.decom(high)
            terms = {
                "reconstruction": L.decomposition_reconstruction(
                    r_low, i_low, r_high, i_high, low, high, c.weight_cross
                ),
                "invariable_reflectance": L.invariable_reflectance(r_low, r_high),
                "smooth_low": L.illumination_smoothness(i_low, r_low, c.lambda_g),
                "smooth_high": L.illumination_smoothness(i_high, r_high, c.lambda_g),
            }
            smooth = terms["smooth_low"] + terms["smooth_high"]
            loss = (
                terms["reconstruction"]
                + c.weight_invariable * terms["invariable_reflectance"]
                + c.weight_smooth_decom * smooth
            )
            group, phase = "decom", 0.0
        else:
            with torch.no_grad():
                r_low, i_low = model.decom(low)
            relit = model.enhance(r_low, i_low)
            terms = {
                "relight_reconstruction": L.reconstruction(r_low, relit, high),
                "smooth_relit": L.illumination_smoothness(relit, r_low, c.lambda_g),
            }
            loss = terms["relight_reconstruction"] + c.weight_smooth_relight * terms["smooth_relit"]
            group, phase = "relight", 1.0
        ctx.backward(loss, group)
        ctx.step_optimizer(group)
        values = {name: float(v.detach()) for name, v in terms.items()}
        return {**values, "loss": float(loss.detach()), "phase": phase}
