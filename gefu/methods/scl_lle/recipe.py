"""SCL-LLE (Liang et al., AAAI 2022): DCE-Net (79,416 parameters, 8 curve iterations) trained
with semantic contrastive learning.

Loss (paper weights, released ``train.py``): 200 TV(curve maps A) + 8 colour constancy
+ 1 semantic brightness consistency + 1 VGG16 relu4_3 feature preservation (vs the input)
+ 10 grey-level contrastive hinge (margin 0.3) + 5 Gram/style contrastive hinge (margin 0.04)
+ 1 segmentation cross-entropy of a frozen Cityscapes segmenter on the enhanced image.
Adam lr 1e-4, weight decay 1e-4, grad clip 0.1 (the loop's ``grad_clip``), batch 2, crop 384,
50k iterations. The VGG16 sees [0,1] images without ImageNet normalisation, as released (the
weights of the feature and style terms were tuned for that scale).

Semantic brightness term (``brightness_loss``): ``released`` (default) is the released
``L_segexp`` (per class, (1/N) * sum over the class of (x - S_c/N)^2, area-weighted);
``variance`` the per-segment grey-level variance (``gefu.methods.scl_lle.losses``).

Semantic prior: the authors' frozen segmenter is VainF's DeepLabV3+ MobileNetV2 OS16 trained on
Cityscapes (``aux.segmenter.source: vainf``, ``gefu.train.deeplab_vainf``).

Segmentation gradient (``seg_grad``, default ``true``, the paper's reading): the released code
detaches the enhanced image before the segmenter, so its segmentation term is a constant that trains
nothing. The paper presents semantic guidance as a loss that regularises the enhancer, so by
default the gradient flows through the frozen segmenter (eval mode, weights fixed) into the
enhancer; ``seg_grad: false`` reproduces the released code (the term is only logged).

Data: ``scenes`` are low-light training images with Cityscapes train-id labels. The authors
train on Cityscapes ``leftImg8bit/train`` images replaced by a pre-darkened copy they
distribute (the darkening recipe is not in the code); here normal-light scenes are darkened on
the fly with ``gefu.simulate`` (a ``darkened`` entry; name the set itself if already dark). With
``pseudo_labels: true`` the labels are the frozen segmenter's prediction on the normal-light
image (for sets without masks). ``contrast`` is the unpaired set: normal-light positives and
badly exposed negatives (the paper: over/under-exposed; the released code: low-light), resized
to ``crop`` x ``crop`` as released.

Synthetic negatives (``data.negatives`` omitted): the released code draws every negative from
``Contrast/low``, i.e. low-light photos. That matters: the grey-level hinge is a per-pixel L1
between unpaired images, so a pixel of the output gets gradient only where it lies between the
negative's and the positive's pixel (darker than both, or brighter than both, cancels); an
over-exposed negative therefore switches the term off for a dark output, and a negative
lighter than the training scenes gives no push either. So by default (``synthetic_negatives:
low_light``) a negative is another positive darkened by the same simulator as the scenes;
``over_under`` gives the paper text's over/under-exposed negatives (``exposure_negative``);
with them nothing drove exposure in 150 CPU steps (measured: demo PSNR 10.52, input 10.58).
With random VGG weights see ``configs/train/scl_lle_cpu.yaml`` on ``w_feature``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F

from gefu.core.errors import ConfigError
from gefu.core.specs import DatasetSpec
from gefu.core.strict import StrictModel, validate
from gefu.train.method import MethodConfig, TrainMethod
from gefu.train.sources import Darkening

VGG_LAYERS = ("relu1_2", "relu2_2", "relu4_3")  # style: the first two; features: the last


class SCLLLEConfig(MethodConfig):
    iterations: int = 8
    lr: float = 1e-4
    weight_decay: float = 1e-4
    w_tv: float = 200.0
    w_color: float = 8.0
    w_brightness: float = 1.0
    w_feature: float = 1.0
    w_contrast: float = 10.0
    w_style: float = 5.0
    w_seg: float = 1.0
    contrast_margin: float = 0.3
    style_margin: float = 0.04
    num_classes: int = 19
    seg_grad: bool = True
    pseudo_labels: bool = False
    vgg_imagenet_norm: bool = False  # the released code feeds VGG16 raw [0,1] images
    # semantic brightness term: "released" (L_segexp) or "variance" (per-segment variance)
    brightness_loss: Literal["released", "variance"] = "released"

    release_switches: ClassVar[dict[str, Any]] = {
        "seg_grad": False,
        "brightness_loss": "released",
        "vgg_imagenet_norm": False,
    }


def vgg_taps(vgg, x: torch.Tensor, layers=VGG_LAYERS, imagenet_norm: bool = False):
    """Features at several ``layers`` from the aux VGG (``Sequential(Normalize, *features)``,
    see ``gefu.train.aux``), optionally skipping its ImageNet normalisation."""
    from gefu.train.aux import VGG_LAYERS as ENDS

    children = list(vgg)
    skip_norm = not imagenet_norm and type(children[0]).__name__ == "Normalize"
    ends = {ENDS[name] for name in layers}
    if max(ends) >= len(children):
        raise ValueError(f"scl_lle needs VGG features up to {layers[-1]}: set aux.vgg.layer")
    out = []
    for i, child in enumerate(children[: max(ends) + 1]):
        if not (i == 0 and skip_norm):
            x = child(x)
        if i in ends:
            out.append(x)
    return out


class SCLLLEData(StrictModel):
    # dataset entries as in a benchmark's `datasets:`: the training scenes (their Cityscapes
    # train-id labels where the set has them; `darkened`: normal-light scenes darkened on the
    # fly, labels passed through), normal-light positives and badly exposed negatives
    scenes: DatasetSpec
    positives: DatasetSpec
    negatives: DatasetSpec | None = None  # None: synthesised from the positives, see below
    synthetic_negatives: Literal["low_light", "over_under"] = "low_light"
    # for low_light negatives
    negative_darken: Darkening = Darkening(model="gamma_curve", severity="severe")
    crop: int = 384
    flip: bool = True


def _darken(image: torch.Tensor, spec: Darkening, gen: torch.Generator) -> torch.Tensor:
    """``image`` through the simulator ``spec``, its seed drawn from ``gen``."""
    from gefu.simulate import LowLightSimulator

    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
    return LowLightSimulator(spec.model, spec.severity, seed=seed)(image)


def exposure_negative(image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A synthetic negative: the photo over-exposed by +1.5..+3 EV or under-exposed by
    -2..-4 EV (each half the time), scaled in linear light and clipped, back to sRGB."""
    from gefu.simulate import linear_to_srgb, srgb_to_linear

    u = torch.rand(2, generator=generator)
    ev = 1.5 + 1.5 * u[1] if u[0] < 0.5 else -(2.0 + 2.0 * u[1])
    return linear_to_srgb((srgb_to_linear(image) * 2.0**ev).clamp(0, 1))


def _random_crop(tensors: list[torch.Tensor], size: int, gen: torch.Generator, flip: bool):
    """Same crop (and flip) of images ``[C,H,W]`` and masks ``[H,W]``; upscales small ones."""
    h, w = tensors[0].shape[-2:]
    if min(h, w) < size:
        scale = size / min(h, w)
        hw = (max(size, round(h * scale)), max(size, round(w * scale)))
        tensors = [
            F.interpolate(t[None].float(), hw, mode="bilinear", align_corners=False)[0]
            if t.ndim == 3
            else F.interpolate(t[None, None].float(), hw, mode="nearest")[0, 0].long()
            for t in tensors
        ]
        h, w = hw
    top = int(torch.randint(0, h - size + 1, (1,), generator=gen))
    left = int(torch.randint(0, w - size + 1, (1,), generator=gen))
    out = [t[..., top : top + size, left : left + size] for t in tensors]
    if flip and torch.rand(1, generator=gen) < 0.5:
        out = [t.flip(-1) for t in out]
    return out


class SceneSet(torch.utils.data.Dataset):
    """Crops of training scenes: ``image`` (dark), ``clean`` (before darkening) and ``labels``
    (255 where unlabelled; all 255 for sets without labels)."""

    def __init__(self, data: SCLLLEData):
        from gefu.train.sources import open_source

        self.data = data
        self.reader, self.darken = open_source(data.scenes, "data.scenes")
        if self.darken is not None:
            self.darken.check_presets("data.scenes")

    def __len__(self) -> int:
        return len(self.reader)

    def __getitem__(self, pair: tuple[int, int]) -> dict[str, torch.Tensor]:
        index, seed = pair
        gen = torch.Generator().manual_seed(int(seed))
        sample = self.reader.load(index)
        image, labels = sample.image, sample.target
        if labels is None:
            labels = torch.full(image.shape[-2:], 255, dtype=torch.long)
        clean, labels = _random_crop([image, labels], self.data.crop, gen, self.data.flip)
        dark = clean if self.darken is None else _darken(clean, self.darken, gen)
        return {"image": dark.contiguous(), "clean": clean.contiguous(), "labels": labels}


class ContrastSet(torch.utils.data.Dataset):
    """Unpaired ``positive`` (normal-light) and ``negative`` (badly exposed) images, resized to
    ``crop`` x ``crop``; the negative is drawn at random (or synthesised)."""

    def __init__(self, data: SCLLLEData):
        from gefu.train.sources import open_source

        self.data, self.size = data, data.crop
        self.positives = self._plain(open_source(data.positives, "data.positives"), "positives")
        self.negatives = None
        if data.negatives is not None:
            found = open_source(data.negatives, "data.negatives")
            self.negatives = self._plain(found, "negatives")

    @staticmethod
    def _plain(found, key: str):
        reader, darkening = found
        if darkening is not None:
            raise ConfigError(f"data.{key}: name real images here, not `darkened`")
        return reader

    def __len__(self) -> int:
        return len(self.positives)

    def _load(self, reader, index: int) -> torch.Tensor:
        img = reader.load(index).image[None]
        return F.interpolate(img, (self.size,) * 2, mode="bilinear", antialias=True)[0]

    def __getitem__(self, pair: tuple[int, int]) -> dict[str, torch.Tensor]:
        index, seed = pair
        gen = torch.Generator().manual_seed(int(seed))
        positive = self._load(self.positives, index)
        if self.negatives is None:
            other = int(torch.randint(len(self), (1,), generator=gen))
            negative = self._synthesise(self._load(self.positives, other), gen)
        else:
            pick = int(torch.randint(len(self.negatives), (1,), generator=gen))
            negative = self._load(self.negatives, pick)
        return {"positive": positive.clamp(0, 1), "negative": negative.clamp(0, 1)}

    def _synthesise(self, image: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        if self.data.synthetic_negatives == "over_under":
            return exposure_negative(image, gen)
        return _darken(image, self.data.negative_darken, gen)


class SCLLLETraining(TrainMethod):
    """SCL-LLE's losses and data (see the module docstring, incl. the ``seg_grad`` choice)."""

    enhancer = "scl_lle"
    Config = SCLLLEConfig
    Data = SCLLLEData
    aux_networks = ("segmenter", "vgg")

    def __init__(self, config: SCLLLEConfig, data: dict[str, Any]):
        super().__init__(config, data)
        from gefu.datasets import DATASETS

        self.data_config = validate(SCLLLEData, data, "data")
        scenes = self.data_config.scenes
        name = scenes.params.get("dataset", {}).get("name") if scenes.name == "darkened" else None
        name = name or scenes.name
        if (
            not config.pseudo_labels
            and name in DATASETS
            and DATASETS.get(name).task != ("segmentation")
        ):
            raise ValueError(
                f"scl_lle: data.scenes ({name}) carry no labels; set params.pseudo_labels: true "
                "(labels from the frozen segmenter on the normal-light image) or name a "
                "segmentation set (e.g. mask_folder)"
            )
        if scenes.name != "darkened" and config.pseudo_labels:
            raise ValueError(
                "scl_lle: pseudo_labels need normal-light scenes (data.scenes: darkened)"
            )
        self._modules: dict[str, Any] | None = None

    def modules(self) -> dict[str, Any]:
        if self._modules is None:
            from gefu.methods.scl_lle.network import SCLLLE

            model = SCLLLE(iterations=self.config.iterations)
            for m in model.modules():  # the released weights_init: conv weights ~ N(0, 0.02)
                if isinstance(m, torch.nn.Conv2d):
                    torch.nn.init.normal_(m.weight, 0.0, 0.02)
            self._modules = {"model": model}
        return self._modules

    def optimizers(self, modules):
        c = self.config
        params = modules["model"].parameters()
        return {"model": (torch.optim.Adam(params, lr=c.lr, weight_decay=c.weight_decay), None)}

    def datasets(self) -> dict[str, Any]:
        return {"scenes": SceneSet(self.data_config), "contrast": ContrastSet(self.data_config)}

    def losses(self, batch: dict[str, Any], ctx) -> dict[str, torch.Tensor]:
        """Every term, unweighted, plus ``total`` (weighted)."""
        from gefu.methods.scl_lle import losses as L
        from gefu.methods.zero_dce.network import apply_curves
        from gefu.train.losses import colour_constancy, illumination_smoothness

        c = self.config
        model = self.modules()["model"]
        low, labels = batch["scenes"]["image"], batch["scenes"]["labels"]
        positive, negative = batch["contrast"]["positive"], batch["contrast"]["negative"]
        segmenter, vgg = ctx.aux("segmenter"), ctx.aux("vgg")
        if c.pseudo_labels:
            with torch.no_grad():
                labels = segmenter(batch["scenes"]["clean"]).argmax(1)
        curves = model.curves(low)
        enhanced = apply_curves(low, curves, model.iterations)
        f_low, f_enh, f_pos, f_neg = (
            vgg_taps(vgg, x, VGG_LAYERS, c.vgg_imagenet_norm)
            for x in (low, enhanced, positive, negative)
        )
        seg_input = enhanced if c.seg_grad else enhanced.detach()
        brightness = (
            L.semantic_brightness_released
            if c.brightness_loss == "released"
            else L.semantic_brightness_consistency
        )
        terms = {
            "tv": illumination_smoothness(curves),
            "color": colour_constancy(enhanced),
            "brightness": brightness(enhanced, labels, c.num_classes),
            "feature": L.feature_preservation(f_enh[-1], f_low[-1]),
            "contrast": L.grey_contrastive(enhanced, positive, negative, c.contrast_margin),
            "style": L.style_contrastive(f_enh[:2], f_pos[:2], f_neg[:2], c.style_margin),
            "seg": L.segmentation_guidance(segmenter(seg_input), labels),
        }
        weights = {n: getattr(c, f"w_{n}") for n in terms}
        terms["total"] = sum(weights[n] * v for n, v in terms.items())
        return terms

    def train_step(self, batch: dict[str, Any], ctx) -> dict[str, float]:
        terms = self.losses(batch, ctx)
        ctx.backward(terms["total"], "model")
        ctx.step_optimizer("model")
        return {name: float(v.detach()) for name, v in terms.items()}
