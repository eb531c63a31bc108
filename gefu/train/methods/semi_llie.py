"""Semi-LLIE (Li et al., 2024): mean teacher with a Mamba enhancer (``gefu.enhancers.semi_llie``).

Per step (released ``trainer_with_grad.py``): the teacher (EMA of the student, keep rate 0.996)
enhances the weakly augmented unlabelled crop; the student enhances the labelled crop and the
strongly augmented unlabelled crop. Supervised: 0.8 L1 + 0.2 L2 + 0.3 VGG perceptual (mean MSE
on relu1_2, relu2_2, relu3_3) + 0.1 gradient L1. Unsupervised: L1(student, teacher) + the
semantic-aware contrastive ratio on a frozen encoder's features (anchor = student output,
positive = teacher output, negative = the strongly augmented input), weighted by
0.2 x sigmoid ramp-up over 100 epochs. Optimiser AdamP lr 2e-4, wd 1e-4, x0.1 at epochs 100, 150.

Deviations (each documented): AdamW instead of AdamP (AdamP's decoupled weight decay matches;
its projection step is omitted: not a dependency here). The encoder is pluggable (RAM Swin-L
weights are not available): by default the frozen ``vgg`` aux network's relu1_2..relu3_3
features. The released RAM embeddings are computed under ``no_grad`` (the contrastive term
trains nothing there); here gradients reach the student, as the paper describes. The released
gradient term adds the same L1 twice (weight 0.2 in effect); the paper's 0.1 is used. The
reliable bank (MUSIQ-scored teacher outputs) is not used by the released trainer's loss and is
not implemented. An epoch = ceil(#unlabelled / batch) steps (the released loop walks the
unlabelled loader); the ramp-up uses the fractional epoch ``step / epoch_steps``.

Data (``data:``): ``root`` in the paper's layout, ``labeled/{input,GT}`` (same file names) and
``unlabeled/input``; or ``synthetic`` photos (``"bundled"`` or paths), split in a paired half
(darkened + original) and an unpaired half (darkened only), darkened with ``gefu.simulate``.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, model_validator

from gefu.train import register_method
from gefu.train.method import MethodConfig, TrainMethod

PERCEPTUAL_LAYERS = ("relu1_2", "relu2_2", "relu3_3")


class SemiLLIEConfig(MethodConfig):
    embed_dim: int = 64
    depths: list[int] = [2, 2]
    d_state: int = 16
    lr: float = 2e-4
    weight_decay: float = 1e-4
    milestones: list[int] = [100, 150]  # epochs
    lr_gamma: float = 0.1
    ema_keep_rate: float = 0.996
    w_l1: float = 0.8
    w_l2: float = 0.2
    w_perceptual: float = 0.3
    w_gradient: float = 0.1
    consistency: float = 0.2
    rampup_epochs: float = 100.0
    epoch_steps: int | None = None  # None: ceil(#unlabelled / batch size)


class SemiLLIEData(BaseModel):
    model_config = ConfigDict(extra="forbid")
    root: str | None = None  # labeled/{input,GT}, unlabeled/input
    synthetic: list[str] | Literal["bundled"] | None = None
    model: Literal["physical", "gamma_curve"] = "physical"  # synthetic darkening
    crop: int = 256
    flip: bool = True

    @model_validator(mode="after")
    def _one_source(self):
        if (self.root is None) == (self.synthetic is None):
            raise ValueError("give exactly one of data.root (paper layout) or data.synthetic")
        return self


def strong_augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Colour jitter (brightness, contrast, saturation x U[0.5,1.5]), grey 20% of the time,
    Gaussian blur (sigma U[0.1,2]) half the time."""
    u = torch.rand(6, generator=gen)
    x = x * (0.5 + u[0])
    mean = x.mean()
    x = (x - mean) * (0.5 + u[1]) + mean
    grey = x.mean(0, keepdim=True)
    x = (x - grey) * (0.5 + u[2]) + grey
    if u[3] < 0.2:
        x = x.mean(0, keepdim=True).expand_as(x)
    if u[4] < 0.5:
        sigma = 0.1 + 1.9 * float(u[5])
        r = torch.arange(-3, 4, dtype=x.dtype)
        k = torch.exp(-(r**2) / (2 * sigma**2))
        k = k / k.sum()
        x = F.pad(x[None], (3, 3, 3, 3), mode="reflect")
        x = F.conv2d(x, k.view(1, 1, 1, 7).expand(3, 1, 1, 7), groups=3)
        x = F.conv2d(x, k.view(1, 1, 7, 1).expand(3, 1, 7, 1), groups=3)[0]
    return x.clamp(0, 1).contiguous()


class LabeledPairs(torch.utils.data.Dataset):
    """``labeled/input`` + ``labeled/GT`` -> the same random crop/flip of both."""

    def __init__(self, root: Path, crop: int, flip: bool):
        from gefu.io import list_images

        self.inputs = list_images(root / "labeled" / "input")
        gt = {p.stem: p for p in list_images(root / "labeled" / "GT")}
        missing = [p.name for p in self.inputs if p.stem not in gt]
        if missing or not self.inputs:
            raise FileNotFoundError(f"{root}/labeled: no GT for {missing[:3]} (or no inputs)")
        self.targets = [gt[p.stem] for p in self.inputs]
        self.crop, self.flip = crop, flip

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, item):
        from gefu.train.data import _read, random_patch

        index, seed = item
        gen = torch.Generator().manual_seed(int(seed))
        pair = torch.cat([_read(self.inputs[index]), _read(self.targets[index])])
        patch = random_patch(pair, self.crop, gen, self.flip)
        return {"low": patch[:3].contiguous(), "normal": patch[3:].contiguous()}


class Unlabeled(torch.utils.data.Dataset):
    """Low-light crops -> ``{"weak": crop+flip, "strong": strong_augment(weak)}``; the low
    images come from files or from a ``DarkenedPatches`` source."""

    def __init__(self, source, crop: int = 256, flip: bool = True):
        self.source, self.crop, self.flip = source, crop, flip

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, item):
        from gefu.train.data import _read, random_patch

        index, seed = item
        gen = torch.Generator().manual_seed(int(seed))
        if isinstance(self.source, list):
            weak = random_patch(_read(self.source[index]), self.crop, gen, self.flip)
        else:
            weak = self.source[(index, seed)]["low"]
        return {"weak": weak, "strong": strong_augment(weak, gen)}


@register_method("semi_llie")
class SemiLLIETraining(TrainMethod):
    enhancer = "semi_llie"
    Config = SemiLLIEConfig
    aux_networks = ("vgg",)

    def __init__(self, config: SemiLLIEConfig, data: dict[str, Any]):
        super().__init__(config, data)
        self.data_config = SemiLLIEData.model_validate(data)
        self._modules: dict[str, Any] | None = None
        self._sets: dict[str, Any] | None = None
        self.epoch_steps = config.epoch_steps

    def modules(self) -> dict[str, Any]:
        if self._modules is None:
            from gefu.enhancers.semi_llie import SemiLLIE

            c = self.config
            model = SemiLLIE(embed_dim=c.embed_dim, depths=tuple(c.depths), d_state=c.d_state)
            teacher = copy.deepcopy(model).requires_grad_(False)
            self._modules = {"model": model, "teacher": teacher}
        return self._modules

    def _lr_factor(self, step: int) -> float:
        epoch = step // self.epoch_steps if self.epoch_steps else 0
        return self.config.lr_gamma ** sum(epoch >= m for m in self.config.milestones)

    def optimizers(self, modules):
        c = self.config
        opt = torch.optim.AdamW(modules["model"].parameters(), lr=c.lr, betas=(0.9, 0.999),
                                weight_decay=c.weight_decay)  # fmt: skip
        return {"model": (opt, torch.optim.lr_scheduler.LambdaLR(opt, self._lr_factor))}

    def datasets(self) -> dict[str, Any]:
        if self._sets is None:
            from gefu.train.data import DarkenedPatches, expand_images

            d = self.data_config
            if d.root is not None:
                from gefu.io import list_images

                root = Path(d.root).expanduser()
                labeled = LabeledPairs(root, d.crop, d.flip)
                unlabeled = Unlabeled(list_images(root / "unlabeled" / "input"), d.crop, d.flip)
            else:
                photos = expand_images(d.synthetic)
                if len(photos) < 2:
                    raise FileNotFoundError("semi_llie: data.synthetic needs at least 2 photos")
                half = (len(photos) + 1) // 2
                labeled = DarkenedPatches(photos[:half], d.crop, flip=d.flip, model=d.model)
                dark = DarkenedPatches(photos[half:], d.crop, flip=d.flip, model=d.model)
                unlabeled = Unlabeled(dark)
            self._sets = {"labeled": labeled, "unlabeled": unlabeled}
        return self._sets

    def losses(self, batch: dict[str, Any], ctx) -> dict[str, torch.Tensor]:
        from gefu.train import losses_semi as L

        c = self.config
        nets = self.modules()
        student, teacher = nets["model"], nets["teacher"]
        low, normal = batch["labeled"]["low"], batch["labeled"]["normal"]
        weak, strong = batch["unlabeled"]["weak"], batch["unlabeled"]["strong"]
        if self.epoch_steps is None:
            self.epoch_steps = math.ceil(len(self.datasets()["unlabeled"]) / weak.shape[0])
        with torch.no_grad():
            target_u = teacher.predict(weak)
        out_l, out_u = student.predict(low), student.predict(strong)
        vgg = ctx.aux("vgg")
        f_out, f_gt = _vgg_features(vgg, out_l), _vgg_features(vgg, normal)
        encoder = self.encoder(ctx)
        terms = {
            "l1": L.l1(out_l, normal),
            "l2": L.l2(out_l, normal),
            "perceptual": L.perceptual(f_out, f_gt),
            "gradient": L.gradient_l1(out_l, normal),
            "consistency": L.l1(out_u, target_u),
            "contrastive": L.contrastive_ratio(encoder(out_u), encoder(target_u), encoder(strong)),
        }
        sup = sum(getattr(c, f"w_{n}") * terms[n] for n in ("l1", "l2", "perceptual", "gradient"))
        weight = c.consistency * L.sigmoid_rampup(ctx.step / self.epoch_steps, c.rampup_epochs)
        terms["supervised"] = sup
        terms["unsupervised"] = terms["consistency"] + terms["contrastive"]
        terms["total"] = sup + weight * terms["unsupervised"]
        return terms

    def encoder(self, ctx):
        """The frozen semantic encoder of the contrastive loss: a list of feature tensors."""
        vgg = ctx.aux("vgg")
        return lambda x: _vgg_features(vgg, x)

    def train_step(self, batch: dict[str, Any], ctx) -> dict[str, float]:
        from gefu.train.losses_semi import ema_update

        terms = self.losses(batch, ctx)
        ctx.backward(terms["total"], "model")
        ctx.step_optimizer("model")
        nets = self.modules()
        ema_update(nets["teacher"], _unwrap(nets["model"]), ctx.step, self.config.ema_keep_rate)
        return {name: float(v.detach()) for name, v in terms.items()}


def _unwrap(module):
    return getattr(module, "module", module)


def _vgg_features(vgg, x: torch.Tensor, layers=PERCEPTUAL_LAYERS) -> list[torch.Tensor]:
    """Outputs of the aux ``vgg`` (normaliser + VGG16 features, up to relu3_3 or deeper) at
    ``layers``."""
    from gefu.train.aux import VGG_LAYERS

    taps = {VGG_LAYERS[name] for name in layers}
    out = []
    for i, module in enumerate(vgg):
        x = module(x)
        if i in taps:
            out.append(x)
            if len(out) == len(taps):
                break
    return out
