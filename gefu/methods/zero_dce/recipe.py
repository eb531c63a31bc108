"""Zero-DCE (Guo et al., CVPR 2020) and Zero-DCE++ (Li et al., TPAMI 2021): curve estimation
trained with four zero-reference losses on low-light images alone (no normal-light target).

Loss = w_spa * spatial consistency + w_exp * exposure control (16x16 patches, E = 0.6)
     + w_col * colour constancy + w_tv * illumination smoothness (TV of the curve maps).
Weights and optimisation are those of the authors' released training scripts: Zero-DCE
1 / 10 / 5 / 200, Zero-DCE++ 1 / 10 / 5 / 1600; Adam lr 1e-4, weight decay 1e-4, gradient
norm clipped at 0.1 (the config's ``grad_clip``), batch 8. The Zero-DCE paper writes
L_spa + L_exp + 0.5 L_col + 20 L_tvA for loss forms that differ slightly from the code's
(see ``gefu.train.losses``); the code's weights go with the code's forms. Zero-DCE initialises
convolution weights from N(0, 0.02) (``init_std``); Zero-DCE++'s script leaves that commented
out (PyTorch's default init). Zero-DCE++ trains at ``scale_factor`` 1, as its script does, and
saves the test-time ``scale_factor`` 12 of the release's test script with the model.

Data (``gefu.train.data.PatchConfig``): the released recipe trains on SICE's real
multi-exposure images as they are (an ``unpaired_folder`` entry), each whole image resized to a
square (``fit: square``; Zero-DCE 256², Zero-DCE++ 512²) without flips:
``configs/train/zero_dce.yaml`` and ``zero_dce_pp.yaml``. The CPU smoke configs (``*_cpu.yaml``)
darken bundled photos with ``gefu.simulate`` instead (a ``darkened`` entry, random crops).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from gefu.train.method import MethodConfig, TrainMethod
from gefu.train.sources import PatchConfig


class ZeroDCEConfig(MethodConfig):
    iterations: int = Field(8, ge=1)
    lr: float = 1e-4
    weight_decay: float = 1e-4
    init_std: float | None = 0.02  # conv weights ~ N(0, init_std); None: PyTorch's default
    exposure_level: float = 0.6
    exposure_patch: int = 16
    spatial_pool: int = 4
    weight_spatial: float = 1.0
    weight_exposure: float = 10.0
    weight_colour: float = 5.0
    weight_tv: float = 200.0


class ZeroDCEPPConfig(ZeroDCEConfig):
    init_std: float | None = None
    weight_tv: float = 1600.0


class ZeroDCETraining(TrainMethod):
    enhancer = "zero_dce"
    Config = ZeroDCEConfig
    Data = PatchConfig

    def build_model(self):
        from gefu.methods.zero_dce.network import ZeroDCE

        return ZeroDCE(iterations=self.config.iterations)

    def modules(self) -> dict[str, Any]:
        from torch import nn

        self.model = self.build_model()
        if self.config.init_std is not None:
            for m in self.model.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.normal_(m.weight, 0.0, self.config.init_std)
        return {"model": self.model}

    def optimizers(self, modules):
        import torch

        cfg = self.config
        params = modules["model"].parameters()
        return {"model": (torch.optim.Adam(params, cfg.lr, weight_decay=cfg.weight_decay), None)}

    def datasets(self) -> dict[str, Any]:
        from gefu.train.data import DarkenedPatches

        return {"train": DarkenedPatches.from_config(self.data)}

    def losses(self, low, curves, enhanced) -> dict[str, Any]:
        """Every term, unweighted, and the weighted ``loss``."""
        from gefu.train import losses as L

        cfg = self.config
        terms = {
            "spatial": L.spatial_consistency(enhanced, low, cfg.spatial_pool),
            "exposure": L.exposure_control(enhanced, cfg.exposure_level, cfg.exposure_patch),
            "colour": L.colour_constancy(enhanced),
            "tv": L.illumination_smoothness(curves),
        }
        terms["loss"] = (
            cfg.weight_spatial * terms["spatial"]
            + cfg.weight_exposure * terms["exposure"]
            + cfg.weight_colour * terms["colour"]
            + cfg.weight_tv * terms["tv"]
        )
        return terms

    def train_step(self, batch, ctx) -> dict[str, float]:
        from gefu.methods.zero_dce.network import apply_curves

        low = batch["train"]["low"]
        curves = self.curves(low)
        # the curves keep [0, 1] in [0, 1]; like the released code, no clamp while training
        terms = self.losses(low, curves, apply_curves(low, curves, self.model.iterations))
        ctx.backward(terms["loss"], "model")
        ctx.step_optimizer("model")
        return {k: float(v.detach()) for k, v in terms.items()}

    def curves(self, low):
        return self.model.curves(low)


class ZeroDCEPPTraining(ZeroDCETraining):
    enhancer = "zero_dce_pp"
    Config = ZeroDCEPPConfig

    def build_model(self):
        from gefu.methods.zero_dce.network import ZeroDCEPP

        return ZeroDCEPP(iterations=self.config.iterations)  # test-time scale 12 is saved

    def curves(self, low):
        return self.model.curves(low, scale_factor=1)  # the release trains at full size
