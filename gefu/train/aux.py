"""Frozen auxiliary networks a method's losses use: a semantic segmenter, VGG16 features and
RAM's image encoder.

Both take a ``[B,3,H,W]`` RGB batch in [0,1] and do their own normalisation. Weights come from
the user (nothing is downloaded here); without them training refuses, naming the file it needs,
unless the config says ``allow_random_aux: true`` (tests only).

``aux:`` entries in the training YAML:

    segmenter: {source: vainf, weights: best_deeplabv3plus_mobilenet_cityscapes_os16.pth}
    segmenter: {source: torchvision, arch: deeplabv3_mobilenet_v3_large, weights: PATH}
    segmenter: {source: mmseg, config: CONFIG_PY_OR_SHIPPED_NAME, checkpoint: PATH}
    vgg: {weights: PATH, layer: relu4_3}
    ram: {weights: ram_swin_large_14m.pth, tag_logits: true}  # RAM (gefu.train.ram_encoder)
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from gefu.core.checkpoint import load_state_dict
from gefu.core.strict import StrictModel

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
VGG_LAYERS = {"relu1_2": 4, "relu2_2": 9, "relu3_3": 16, "relu4_3": 23, "relu5_3": 30}


class SegmenterSpec(StrictModel):
    """19 Cityscapes classes by default (logits ``[B,num_classes,H,W]`` at the input size)."""

    # vainf: VainF/DeepLabV3Plus-Pytorch's DeepLabV3+ MobileNetV2 (the prior SAGC and SCL-LLE
    # were trained with; gefu.train.deeplab_vainf), weights = its released checkpoint
    source: Literal["vainf", "torchvision", "mmseg"] = "vainf"
    arch: str = "deeplabv3_mobilenet_v3_large"  # a torchvision.models.segmentation builder
    weights: str | None = None  # torchvision: a state dict (.pth / .safetensors)
    config: str | None = None  # mmseg: config file, or a name shipped inside mmseg
    checkpoint: str | None = None  # mmseg
    num_classes: int = 19


class VGGSpec(StrictModel):
    weights: str | None = None  # torchvision's vgg16 state dict, e.g. vgg16-397923af.pth
    layer: Literal["relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3"] = "relu4_3"


class RAMArch(StrictModel):
    """Overrides of RAM's architecture (default: Swin-L 384 and its tagging head, see
    ``gefu.train.ram_encoder``): smaller networks of the same layout, for tests."""

    image_size: int | None = None
    embed_dim: int | None = None
    depths: list[int] | None = None
    num_heads: list[int] | None = None
    window_size: int | None = None
    proj_dim: int | None = None
    num_tags: int | None = None
    tag_hidden: int | None = None
    tag_heads: int | None = None
    tag_layers: int | None = None
    tag_intermediate: int | None = None


class RAMSpec(StrictModel):
    weights: str | None = None  # ram_swin_large_14m.pth ({"model": state dict})
    imagenet_norm: bool = False  # Semi-LLIE's release feeds raw [0,1] RGB
    tag_logits: bool = True  # released: image embedding and tag logits; false: embedding only
    arch: RAMArch = RAMArch()


SPECS: dict[str, type[BaseModel]] = {"segmenter": SegmenterSpec, "vgg": VGGSpec, "ram": RAMSpec}
HOW_TO_GET = {
    "vgg": "torchvision's ImageNet VGG16 (https://download.pytorch.org/models/vgg16-397923af.pth)",
    "segmenter": "VainF/DeepLabV3Plus-Pytorch's best_deeplabv3plus_mobilenet_cityscapes_os16.pth "
    "(source: vainf), a Cityscapes-trained (19 classes) DeepLabV3 state dict for the torchvision "
    "arch, or an MMSegmentation Cityscapes config + checkpoint (source: mmseg)",
    "ram": "Recognize Anything's ram_swin_large_14m.pth "
    "(https://huggingface.co/spaces/xinyu1205/Recognize_Anything-Tag2Text/blob/main/"
    "ram_swin_large_14m.pth)",
}


def validate_aux(name: str, spec: dict | None) -> BaseModel:
    from gefu.core.errors import ConfigError
    from gefu.core.strict import validate

    if name not in SPECS:
        raise ConfigError(f"aux.{name}: unknown auxiliary network; valid: {', '.join(SPECS)}")
    spec_model = validate(SPECS[name], spec or {}, prefix=f"aux.{name}")
    if (
        isinstance(spec_model, SegmenterSpec)
        and spec_model.source == "mmseg"
        and not (spec_model.config)
    ):
        raise ConfigError(f"aux.{name}.config: required for source: mmseg")
    return spec_model


def build_aux(name: str, spec: dict | None, allow_random: bool = False, device="cpu"):
    """The frozen network (eval mode, no gradients to its weights) on ``device``."""
    cfg = validate_aux(name, spec)
    weights = cfg.checkpoint if getattr(cfg, "source", "") == "mmseg" else cfg.weights
    if weights is None or not Path(weights).expanduser().is_file():
        if not allow_random:
            what = "no weights given" if weights is None else f"{weights} does not exist"
            key = "checkpoint" if getattr(cfg, "source", "") == "mmseg" else "weights"
            raise FileNotFoundError(
                f"aux.{name}: {what}. Set aux.{name}.{key} to {HOW_TO_GET[name]}; "
                "random weights only with allow_random_aux: true (tests)"
            )
        weights = None
    if name == "ram":
        from gefu.train.ram_encoder import load_ram_encoder

        arch = cfg.arch.model_dump(exclude_none=True)
        net = load_ram_encoder(
            weights, imagenet_norm=cfg.imagenet_norm, tag_logits=cfg.tag_logits, **arch
        )
    elif name == "vgg":
        net = _build_vgg(cfg, weights)
    else:
        net = _build_segmenter(cfg, weights, device)
    net = net.to(device).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def _normalizer(mean, std):
    import torch
    from torch import nn

    class Normalize(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))

        def forward(self, x):
            return (x - self.mean) / self.std

    return Normalize()


def _build_vgg(cfg: VGGSpec, weights: str | None):
    import torch
    from torchvision.models import vgg16

    model = vgg16(weights=None)
    if weights is not None:
        model.load_state_dict(load_state_dict(weights))
    return torch.nn.Sequential(
        _normalizer(IMAGENET_MEAN, IMAGENET_STD), *model.features[: VGG_LAYERS[cfg.layer]]
    )


def _build_segmenter(cfg: SegmenterSpec, weights: str | None, device):
    import torch
    from torch import nn

    if cfg.source == "mmseg":
        return _MMSegLogits(cfg, weights, device)
    if cfg.source == "vainf":
        from gefu.train.deeplab_vainf import load_vainf_segmenter

        return load_vainf_segmenter(weights, cfg.num_classes)
    from torchvision.models import segmentation

    builder = getattr(segmentation, cfg.arch, None)
    if builder is None or cfg.arch.startswith("_"):
        raise ValueError(
            f"aux.segmenter.arch: {cfg.arch!r} is not a torchvision segmentation model"
        )
    model = builder(
        weights=None, weights_backbone=None, num_classes=cfg.num_classes, aux_loss=False
    )
    if weights is not None:
        state = {k: v for k, v in load_state_dict(weights).items() if not k.startswith("aux_")}
        model.load_state_dict(state)
    norm = _normalizer(IMAGENET_MEAN, IMAGENET_STD)

    class TorchvisionLogits(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm, self.model = norm, model

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.model(self.norm(x))["out"]

    return TorchvisionLogits()


class _MMSegLogits:
    """Differentiable logits from an MMSegmentation model (its data preprocessor's mean/std on
    0-255 RGB); built lazily so that mmseg is imported only when used."""

    def __new__(cls, cfg: SegmenterSpec, weights: str | None, device):
        import torch
        from torch import nn

        from gefu.tasks.frozen import packages_unavailable
        from gefu.tasks.mmseg_model import MMSegModel
        from gefu.tasks.openmmlab import resolve_config

        missing = packages_unavailable(MMSegModel.packages, MMSegModel.install_hint)
        if missing:
            raise RuntimeError(f"aux.segmenter (source: mmseg): {missing}")
        from mmseg.apis import init_model

        model = init_model(str(resolve_config("mmseg", cfg.config)), weights, device=str(device))
        pre = model.data_preprocessor
        mean, std = pre.mean.view(1, 3, 1, 1) / 255, pre.std.view(1, 3, 1, 1) / 255

        class MMSegLogits(nn.Module):
            def __init__(self):
                super().__init__()
                self.model = model
                self.register_buffer("mean", mean.clone())
                self.register_buffer("std", std.clone())

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                h, w = x.shape[-2:]
                meta = [{"img_shape": (h, w), "ori_shape": (h, w), "pad_shape": (h, w)}] * len(x)
                logits = self.model.encode_decode((x - self.mean) / self.std, meta)
                if logits.shape[-2:] != (h, w):
                    logits = nn.functional.interpolate(logits, (h, w), mode="bilinear")
                return logits

        return MMSegLogits()
