"""DeepLabV3+ with a MobileNetV2 backbone, output stride 16, in the module layout of
VainF/DeepLabV3Plus-Pytorch (``network/modeling.py`` ``deeplabv3plus_mobilenet``), so that its
released Cityscapes checkpoint (``best_deeplabv3plus_mobilenet_cityscapes_os16.pth``, mIoU
0.721) loads as it is: the frozen semantic prior of SAGC and SCL-LLE (both authors use it).

The checkpoint is a dict ``{"model_state", "optimizer_state", "scheduler_state", "cur_itrs",
"best_score"}``; ``model_state`` holds (5,225,203 parameters for 19 classes):

    backbone.low_level_features.{0..3}.*    MobileNetV2 features[0:4] (stride 4, 24 channels)
    backbone.high_level_features.{4..17}.*  features[4:17] (stride 16, 320 channels; the
                                            1x1 conv to 1280 channels is dropped)
    classifier.project.{0,1}.*              1x1 conv 24 -> 48 + BN on the low-level features
    classifier.aspp.convs.{0..4}.*          ASPP: 1x1, three 3x3 at rates 6/12/18, image pool
    classifier.aspp.project.{0,1}.*         1x1 conv 1280 -> 256 + BN
    classifier.classifier.{0,1,3}.*         3x3 conv 304 -> 256 + BN, 1x1 conv -> classes

Facts of that code kept here: every MobileNetV2 convolution has no padding of its own; an
inverted-residual block pads its *input* by the 3x3 (dilated) kernel's half-width before the
whole block, expansion conv included; the stem conv (3x3, stride 2) is not padded at all.
Input: RGB in [0,1], ImageNet mean/std (done here); output: logits at the input size.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from gefu.core.checkpoint import key_mismatch, load_checkpoint

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
# t (expansion), c (channels), n (blocks), s (stride) of MobileNetV2
MOBILENET_V2 = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
PARAMETERS_19 = 5_225_203  # deeplabv3plus_mobilenet(num_classes=19, output_stride=16)


def conv_bn_relu6(
    cin: int, cout: int, k: int = 3, stride: int = 1, dilation: int = 1, groups: int = 1
) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, 0, dilation=dilation, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU6(inplace=True),
    )


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, dilation: int, expand: int):
        super().__init__()
        hidden = int(round(cin * expand))
        layers = [conv_bn_relu6(cin, hidden, 1)] if expand != 1 else []
        layers += [
            conv_bn_relu6(hidden, hidden, 3, stride, dilation, groups=hidden),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout
        total = 2 * dilation  # a dilated 3x3 kernel spans 2 * dilation + 1 pixels
        self.pad = (total // 2, total - total // 2) * 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(F.pad(x, self.pad))
        return x + y if self.residual else y


def mobilenet_v2_features(output_stride: int = 16) -> list[nn.Module]:
    """features[0..17] of MobileNetV2 (the last 1x1 conv to 1280 channels left out), strides
    beyond ``output_stride`` turned into dilation."""
    layers: list[nn.Module] = [conv_bn_relu6(3, 32, 3, stride=2)]
    cin, stride_now, dilation = 32, 2, 1
    for t, c, n, s in MOBILENET_V2:
        first_dilation = dilation
        if stride_now == output_stride:
            stride, dilation = 1, dilation * s
        else:
            stride, stride_now = s, stride_now * s
        for i in range(n):
            layers.append(
                InvertedResidual(
                    cin, c, stride if i == 0 else 1, first_dilation if i == 0 else dilation, t
                )
            )
            cin = c
    return layers


def _indexed(layers: list[nn.Module], start: int) -> nn.Sequential:
    """A Sequential whose children keep their MobileNetV2 indices as names (``start``...)."""
    seq = nn.Sequential()
    for i, layer in enumerate(layers):
        seq.add_module(str(start + i), layer)
    return seq


class ASPPPooling(nn.Sequential):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(super().forward(x), x.shape[-2:], mode="bilinear", align_corners=False)


class ASPP(nn.Module):
    def __init__(self, cin: int, rates: tuple[int, int, int], cout: int = 256):
        super().__init__()

        def branch(k: int, rate: int = 1) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(cin, cout, k, padding=rate if k == 3 else 0, dilation=rate, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
            )

        pool = ASPPPooling(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(cin, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )
        self.convs = nn.ModuleList([branch(1), *(branch(3, r) for r in rates), pool])
        self.project = nn.Sequential(
            nn.Conv2d(5 * cout, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.Dropout(0.1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(torch.cat([conv(x) for conv in self.convs], 1))


class HeadV3Plus(nn.Module):
    def __init__(self, cin: int, low_channels: int, num_classes: int, rates):
        super().__init__()
        self.project = nn.Sequential(
            nn.Conv2d(low_channels, 48, 1, bias=False), nn.BatchNorm2d(48), nn.ReLU(inplace=True)
        )
        self.aspp = ASPP(cin, rates)
        self.classifier = nn.Sequential(
            nn.Conv2d(304, 256, 3, padding=1, bias=False),
            nn.BatchNorm2d(256),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, num_classes, 1),
        )

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        low = self.project(low)
        high = F.interpolate(self.aspp(high), low.shape[-2:], mode="bilinear", align_corners=False)
        return self.classifier(torch.cat([low, high], 1))


class DeepLabV3PlusMobileNet(nn.Module):
    """[B,3,H,W] RGB in [0,1] -> [B,num_classes,H,W] logits (ImageNet normalisation inside)."""

    def __init__(self, num_classes: int = 19, output_stride: int = 16):
        super().__init__()
        if output_stride not in (8, 16):
            raise ValueError(f"output_stride must be 8 or 16, got {output_stride}")
        features = mobilenet_v2_features(output_stride)
        self.backbone = nn.Module()
        self.backbone.low_level_features = _indexed(features[:4], 0)
        self.backbone.high_level_features = _indexed(features[4:], 4)
        rates = (12, 24, 36) if output_stride == 8 else (6, 12, 18)
        self.classifier = HeadV3Plus(320, 24, num_classes, rates)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        low = self.backbone.low_level_features((x - self.mean) / self.std)
        logits = self.classifier(low, self.backbone.high_level_features(low))
        return F.interpolate(logits, size, mode="bilinear", align_corners=False)


def read_vainf_state(path: str | Path) -> dict[str, torch.Tensor]:
    """The ``model_state`` of a VainF checkpoint (or a bare state dict), read with
    ``weights_only=True`` (its ``best_score`` is a numpy scalar: allowed, nothing else is)."""
    path = Path(path).expanduser()
    ckpt = load_checkpoint(path, allow_numpy=True)
    if isinstance(ckpt, dict) and "model_state" in ckpt:
        ckpt = ckpt["model_state"]
    if not isinstance(ckpt, dict):
        raise ValueError(f"{path}: not a state dict nor a VainF checkpoint (no 'model_state')")
    return {k.removeprefix("module."): v for k, v in ckpt.items()}


def load_vainf_segmenter(
    path: str | Path | None, num_classes: int = 19, output_stride: int = 16
) -> DeepLabV3PlusMobileNet:
    """The architecture with the checkpoint's weights (random weights when ``path`` is None);
    a mismatching file is an error naming the missing / unexpected keys."""
    model = DeepLabV3PlusMobileNet(num_classes, output_stride)
    if path is not None:
        state = read_vainf_state(path)
        mismatch = key_mismatch(state, model.state_dict())
        if mismatch:
            raise ValueError(f"{path}: not a VainF deeplabv3plus_mobilenet state: {mismatch}")
        model.load_state_dict(state)
    return model.eval()
