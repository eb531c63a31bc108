"""Semi-LLIE (Li et al., 2024): mean teacher with a Mamba enhancer
(``gefu.methods.semi_llie.network``).

Per step (released ``trainer_with_grad.py``): the teacher (EMA of the student, keep rate 0.996)
enhances the weakly augmented unlabelled crop; the student enhances the labelled crop and the
strongly augmented unlabelled crop. Supervised: 0.8 L1 + 0.2 L2 + 0.3 VGG perceptual (mean MSE
on relu1_2, relu2_2, relu3_3) + 0.1 gradient L1. Unsupervised: L1(student, teacher) + the
semantic-aware contrastive ratio on a frozen encoder's features (anchor = student output,
positive = teacher output, negative = the strongly augmented input), weighted by
0.2 x sigmoid ramp-up over 100 epochs. Optimiser AdamP lr 2e-4, wd 1e-4, x0.1 at epochs 100, 150.

Data pipeline as released (``dataset_all.py``): a labelled pair is resized to 280 x 280
(``resize``), randomly cropped to 256 (``crop``) and turned into one of its 8 rotation/flip
variants (``augment: rot8``; ``hflip`` is a horizontal flip half the time); an unlabelled image
is resized whole to ``crop`` x ``crop`` (``unlabeled_fit: resize``; ``crop`` takes a random
crop instead). The strong augmentation (``strong_augment``): colour jitter (brightness,
contrast, saturation 0.5, hue 0.25, in random order) with probability 0.8, greyscale with
probability 0.2, Gaussian blur (sigma U[0.1, 2], kernel 1, 3 or 5 as the release draws it)
with probability 0.5. Resizes are bilinear with antialiasing (the release: PIL's Lanczos).

Perceptual loss: VGG16 ``features[:16]`` on raw [0, 1] images, as released (its 0.3 weight is
calibrated for that scale); ``vgg_imagenet_norm: true`` feeds ImageNet-normalised input.

Contrastive features (``contrastive_features``): ``ram`` (default, as released) is RAM
(Recognize Anything; the ``ram`` aux network, ``gefu.train.ram_encoder``): its image embedding
(Swin-L 384 + ``image_proj``, ``[B, 145, 512]``) and its tag logits (``[B, 4585]``), one ratio
on each, summed, of the batch resized to 384, raw [0, 1] input as the release feeds it
(``aux.ram.tag_logits: false``: the embedding's ratio alone); ``vgg`` is the documented fallback
without RAM's checkpoint: the frozen ``vgg`` aux network's relu1_2..relu3_3, one ratio each.
``contrastive_grad`` (default ``false``, as released): the release computes the
features of all three images under ``no_grad``, so the term is logged but trains nothing;
``true`` lets its gradient reach the student through the anchor, as the paper describes.

Other deviations: AdamW instead of AdamP (AdamP's decoupled weight decay matches; its
projection step is omitted: not a dependency here). The released gradient term adds a second
L1 on the model's auxiliary gradient output, which this enhancer does not have; the paper's
0.1 is used. The reliable bank (MUSIQ-scored teacher outputs) is not used by the released
trainer's loss and is not implemented. An epoch = ceil(#unlabelled / batch) steps (the released
loop walks the unlabelled loader); the ramp-up uses the fractional epoch ``step / epoch_steps``.

Data (``data:``): dataset entries as in a benchmark: ``labeled``, a paired set (the paper's
``labeled/{input,GT}`` as a ``paired_folder``), and ``unlabeled``, low-light images
(``unlabeled/input``); or one ``darkened`` entry for both, split in a paired half (darkened +
original) and an unpaired half (darkened only), darkened with ``gefu.simulate``, through the
same geometry.
"""

from __future__ import annotations

import copy
import math
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from gefu.core.errors import ConfigError
from gefu.core.specs import DatasetSpec
from gefu.core.strict import StrictModel, validate
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
    vgg_imagenet_norm: bool = False  # released: raw [0,1] input to VGG16
    contrastive_grad: bool = False  # released: features under no_grad (the term trains nothing)
    contrastive_features: Literal["ram", "vgg"] = "ram"  # released: RAM's image embedding
    # recompute each VSS block in backward: same results, ~40% of the enhancer's training
    # memory with the scan's chunk recomputation alone (benchmarks/selective_scan.py --model);
    # for the paper batch on one GPU without mamba_ssm
    checkpoint_blocks: bool = False

    release_switches: ClassVar[dict[str, Any]] = {
        "contrastive_grad": False,
        "contrastive_features": "ram",
        "vgg_imagenet_norm": False,
    }


class SemiLLIEData(StrictModel):
    # dataset entries as in a benchmark: labelled pairs (a paired set, or `darkened`
    # normal-light photos) and unlabelled low-light images (or `darkened` photos); the same
    # entry for both splits its items: the first half labelled, the rest unlabelled
    labeled: DatasetSpec
    unlabeled: DatasetSpec
    resize: int | None = Field(280, ge=1)  # labelled pairs: square resize; None: native size
    crop: int = Field(256, ge=8)
    augment: Literal["rot8", "hflip", "none"] = "rot8"  # labelled pairs
    unlabeled_fit: Literal["resize", "crop"] = "resize"  # whole image to crop x crop, or a crop


def blur_kernel_size(u: float) -> int:
    """The release's draw: ``int(u * 4.95)``, made odd by adding 1 to even values, so 1 (no
    blur), 3 or 5 with probabilities 2/4.95, 2/4.95 and 0.95/4.95."""
    k = int(u * 4.95)
    return k + 1 if k % 2 == 0 else k


def strong_augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """The release's ``data_aug`` on a ``[3,H,W]`` image in [0,1]: with probability 0.8 a
    colour jitter (brightness, contrast, saturation x U[0.5, 1.5], hue + U[-0.25, 0.25], in a
    random order), then greyscale with probability 0.2, then with probability 0.5 a Gaussian blur
    (sigma U[0.1, 2], kernel size from ``blur_kernel_size``)."""
    import torchvision.transforms.v2.functional as TF

    u = torch.rand(10, generator=gen).tolist()
    if u[0] < 0.8:
        ops = {
            0: lambda t: TF.adjust_brightness(t, 0.5 + u[1]),
            1: lambda t: TF.adjust_contrast(t, 0.5 + u[2]),
            2: lambda t: TF.adjust_saturation(t, 0.5 + u[3]),
            3: lambda t: TF.adjust_hue(t, -0.25 + 0.5 * u[4]),
        }
        for i in torch.randperm(4, generator=gen).tolist():
            x = ops[i](x)
    if u[5] < 0.2:
        x = TF.rgb_to_grayscale(x, num_output_channels=3)
    if u[6] < 0.5:
        k = blur_kernel_size(u[7])
        if k > 1:
            x = TF.gaussian_blur(x, [k, k], [0.1 + 1.9 * u[8]] * 2)
    return x.clamp(0, 1).contiguous()


def rot8(x: torch.Tensor, index: int) -> torch.Tensor:
    """Variant ``index`` (0-7) of the release's ``rotate``: 0, 90, 180, 270 degrees
    anticlockwise, then (for 4-7) flipped top to bottom."""
    x = torch.rot90(x, index % 4, dims=(-2, -1))
    return x.flip(-2) if index >= 4 else x


def _square(image: torch.Tensor, size: int) -> torch.Tensor:
    return F.interpolate(
        image[None], (size, size), mode="bilinear", antialias=True, align_corners=False
    )[0].clamp(0, 1)


def paired_geometry(images: list[torch.Tensor], d: SemiLLIEData, gen: torch.Generator):
    """The same resize (``d.resize`` square), random ``d.crop`` crop and augmentation of
    every image in ``images`` (``[C,H,W]`` each)."""
    if d.resize is not None:
        images = [_square(im, d.resize) for im in images]
    h, w = images[0].shape[-2:]
    if min(h, w) < d.crop:
        from gefu.train.data import _resize

        images = [_resize(im, shorter=d.crop) for im in images]
        h, w = images[0].shape[-2:]
    top = int(torch.randint(0, h - d.crop + 1, (1,), generator=gen))
    left = int(torch.randint(0, w - d.crop + 1, (1,), generator=gen))
    images = [im[:, top : top + d.crop, left : left + d.crop] for im in images]
    if d.augment == "rot8":
        index = int(torch.randint(0, 8, (1,), generator=gen))
        images = [rot8(im, index) for im in images]
    elif d.augment == "hflip" and float(torch.rand((), generator=gen)) < 0.5:
        images = [im.flip(-1) for im in images]
    return [im.contiguous() for im in images]


def _image(source, index: int, field: str = "image") -> torch.Tensor:
    """Item ``index`` of a dataset (its ``field``), or of a list of image files."""
    if isinstance(source, list):
        from gefu.train.data import _read

        return _read(source[index])
    return getattr(source.load(index), field)


class LabeledPairs(torch.utils.data.Dataset):
    """A paired dataset's items (``indices`` of it), or normal-light photos darkened by
    ``darkener`` (a ``DarkenedPatches``) -> ``{"low", "normal"}`` through ``paired_geometry``."""

    def __init__(self, source, indices: list[int], d: SemiLLIEData, darkener=None):
        self.source, self.indices, self.d, self.darkener = source, indices, d, darkener

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item):
        index, seed = item
        index = self.indices[index]
        gen = torch.Generator().manual_seed(int(seed))
        if self.darkener is not None:
            (normal,) = paired_geometry([_image(self.source, index)], self.d, gen)
            return {"low": self.darkener.darken(normal, gen), "normal": normal}
        sample = self.source.load(index)
        low, normal = paired_geometry([sample.image, sample.reference], self.d, gen)
        return {"low": low, "normal": normal}


class Unlabeled(torch.utils.data.Dataset):
    """Low-light images (a dataset's ``indices``, or image files; or normal-light photos
    darkened by ``darkener``) -> ``{"weak": the whole image resized to crop x crop (or a
    random crop), "strong": strong_augment(weak)}``."""

    def __init__(self, source, d: SemiLLIEData, darkener=None, indices: list[int] | None = None):
        self.source, self.d, self.darkener = source, d, darkener
        self.indices = list(range(len(source))) if indices is None else indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item):
        from gefu.train.data import random_patch

        index, seed = item
        gen = torch.Generator().manual_seed(int(seed))
        image = _image(self.source, self.indices[index])
        if self.d.unlabeled_fit == "resize":
            weak = _square(image, self.d.crop)
        else:
            weak = random_patch(image, self.d.crop, gen, flip=False)
        if self.darkener is not None:
            weak = self.darkener.darken(weak, gen)
        return {"weak": weak.contiguous(), "strong": strong_augment(weak, gen)}


class SemiLLIETraining(TrainMethod):
    enhancer = "semi_llie"
    Config = SemiLLIEConfig
    Data = SemiLLIEData
    aux_networks = ("vgg",)

    def __init__(self, config: SemiLLIEConfig, data: dict[str, Any]):
        super().__init__(config, data)
        self.data_config = validate(SemiLLIEData, data, "data")
        self._modules: dict[str, Any] | None = None
        self._sets: dict[str, Any] | None = None
        self.epoch_steps = config.epoch_steps
        # the ram aux network only when its features are used (it needs RAM's checkpoint)
        self.aux_networks = ("vgg", "ram") if config.contrastive_features == "ram" else ("vgg",)

    def modules(self) -> dict[str, Any]:
        if self._modules is None:
            from gefu.methods.semi_llie.network import SemiLLIE

            c = self.config
            model = SemiLLIE(embed_dim=c.embed_dim, depths=tuple(c.depths), d_state=c.d_state)
            model.checkpoint_blocks(c.checkpoint_blocks)
            teacher = copy.deepcopy(model).requires_grad_(False)
            self._modules = {"model": model, "teacher": teacher}
        return self._modules

    def _lr_factor(self, step: int) -> float:
        epoch = step // self.epoch_steps if self.epoch_steps else 0
        return self.config.lr_gamma ** sum(epoch >= m for m in self.config.milestones)

    def optimizers(self, modules):
        c = self.config
        opt = torch.optim.AdamW(
            modules["model"].parameters(), lr=c.lr, betas=(0.9, 0.999), weight_decay=c.weight_decay
        )
        return {"model": (opt, torch.optim.lr_scheduler.LambdaLR(opt, self._lr_factor))}

    def datasets(self) -> dict[str, Any]:
        if self._sets is None:
            d = self.data_config
            split = d.labeled == d.unlabeled  # one entry: first half labelled, rest unlabelled
            reader, darkener = self._open(d.labeled, "data.labeled")
            if darkener is None and not reader.paired:
                raise ConfigError(
                    f"data.labeled: {d.labeled.name!r} is not a paired dataset (or wrap "
                    "normal-light images in `darkened`)"
                )
            if darkener is None and reader.findings:
                raise FileNotFoundError(f"data.labeled: {'; '.join(map(str, reader.findings))}")
            if split:
                if len(reader) < 2:
                    raise FileNotFoundError("semi_llie: data.labeled needs at least 2 images")
                half = (len(reader) + 1) // 2
                labeled = LabeledPairs(reader, list(range(half)), d, darkener)
                unlabeled = Unlabeled(reader, d, darkener, list(range(half, len(reader))))
            else:
                labeled = LabeledPairs(reader, list(range(len(reader))), d, darkener)
                source, darkener = self._open(d.unlabeled, "data.unlabeled")
                unlabeled = Unlabeled(source, d, darkener)
            self._sets = {"labeled": labeled, "unlabeled": unlabeled}
        return self._sets

    def _open(self, spec: DatasetSpec, where: str):
        """The dataset and, for a ``darkened`` entry, a ``DarkenedPatches`` that darkens."""
        from gefu.train.data import DarkenedPatches
        from gefu.train.sources import open_source

        reader, darkening = open_source(spec, where)
        if darkening is None:
            return reader, None
        darkener = DarkenedPatches(
            reader, self.data_config.crop, model=darkening.model, severity=darkening.severity
        )
        return reader, darkener

    def losses(self, batch: dict[str, Any], ctx) -> dict[str, torch.Tensor]:
        from gefu.methods.semi_llie import losses as L

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
        f_out, f_gt = (self.vgg_features(vgg, x) for x in (out_l, normal))
        encoder = self.encoder(ctx)
        with torch.set_grad_enabled(c.contrastive_grad and torch.is_grad_enabled()):
            contrastive = L.contrastive_ratio(encoder(out_u), encoder(target_u), encoder(strong))
        terms = {
            "l1": L.l1(out_l, normal),
            "l2": L.l2(out_l, normal),
            "perceptual": L.perceptual(f_out, f_gt),
            "gradient": L.gradient_l1(out_l, normal),
            "consistency": L.l1(out_u, target_u),
            "contrastive": contrastive,
        }
        sup = sum(getattr(c, f"w_{n}") * terms[n] for n in ("l1", "l2", "perceptual", "gradient"))
        weight = c.consistency * L.sigmoid_rampup(ctx.step / self.epoch_steps, c.rampup_epochs)
        terms["supervised"] = sup
        terms["unsupervised"] = terms["consistency"] + terms["contrastive"]
        terms["total"] = sup + weight * terms["unsupervised"]
        return terms

    def vgg_features(self, vgg, x: torch.Tensor) -> list[torch.Tensor]:
        """VGG16 relu1_2, relu2_2, relu3_3 (``features[:16]``) on raw [0,1] input, as released,
        or ImageNet-normalised (``vgg_imagenet_norm``)."""
        from gefu.methods.scl_lle.recipe import vgg_taps

        return vgg_taps(vgg, x, PERCEPTUAL_LAYERS, self.config.vgg_imagenet_norm)

    def encoder(self, ctx):
        """The frozen semantic encoder of the contrastive loss: a list of feature tensors (RAM's
        image embedding, or the VGG fallback; see the module docstring)."""
        if self.config.contrastive_features == "ram":
            ram = ctx.aux("ram")
            return lambda x: list(ram(x))
        vgg = ctx.aux("vgg")
        return lambda x: self.vgg_features(vgg, x)

    def train_step(self, batch: dict[str, Any], ctx) -> dict[str, float]:
        from gefu.methods.semi_llie.losses import ema_update

        terms = self.losses(batch, ctx)
        ctx.backward(terms["total"], "model")
        ctx.step_optimizer("model")
        nets = self.modules()
        ema_update(nets["teacher"], _unwrap(nets["model"]), ctx.step, self.config.ema_keep_rate)
        return {name: float(v.detach()) for name, v in terms.items()}


def _unwrap(module):
    return getattr(module, "module", module)
