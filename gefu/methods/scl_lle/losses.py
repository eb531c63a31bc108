"""SCL-LLE's loss terms (Liang et al., AAAI 2022), one function each, on ``[B,C,H,W]`` tensors;
TV of the curve maps and colour constancy are Zero-DCE's (``gefu.train.losses``).

Definitions follow the released training code (``LingLIx/SCL-LLE``: ``train.py``, ``Myloss.py``)
except where it has bugs, which are fixed and named here:

- semantic brightness consistency, two forms (``SCLLLEConfig.brightness_loss``):
  ``released`` (default): the released ``L_segexp`` per image: for each class c with sum S_c of
  grey levels, (1/N) * sum over c's pixels of (x - S_c/N)^2, N = all pixels of the image (so
  S_c/N is not the class mean and the term is weighted by the class's area), summed over the
  classes, batch mean. Pixels of grey level exactly 0 count as outside the class, as the
  release's ``where(a2 == 0, ...)`` makes them. Not reproduced: the release broadcasts
  ``[B,1,H,W]`` against ``[B,H,W]``, pairing every image with every image's labels at batch
  size > 1 (a bug; at batch 1 the two agree). ``variance``: the per-segment variance of the grey
  level, summed over the classes present, batch mean (a constant segment costs exactly 0).
- the contrastive distance is the pixel-wise L1 between grey (channel-mean) images, as released;
  positives/negatives are unpaired, so it mostly compares brightness distributions.
- the style distance is the summed squared difference of VGG16 Gram matrices (relu1_2, relu2_2;
  Gram normalised by C*H*W), as released.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE_INDEX = 255


def grey(x: torch.Tensor) -> torch.Tensor:
    """Channel mean, ``[B,1,H,W]`` (the code's grey level, not BT.601 luma)."""
    return x.mean(1, keepdim=True)


def semantic_brightness_consistency(
    enhanced: torch.Tensor, labels: torch.Tensor, num_classes: int = 19
) -> torch.Tensor:
    """Sum over classes of the grey-level variance inside each segment, batch mean.
    ``labels``: int64 ``[B,H,W]``, ``IGNORE_INDEX`` (or any id >= num_classes) ignored."""
    y = grey(enhanced).flatten(1)  # [B,N]
    lab = labels.flatten(1).long()
    valid = (lab >= 0) & (lab < num_classes)
    lab = torch.where(valid, lab, torch.full_like(lab, num_classes))  # spare bin for ignored
    bins = num_classes + 1
    count = torch.zeros(y.shape[0], bins, device=y.device, dtype=y.dtype)
    count.scatter_add_(1, lab, torch.ones_like(y))
    total = torch.zeros_like(count).scatter_add_(1, lab, y)
    mean = total / count.clamp_min(1)
    sq_dev = (y - mean.gather(1, lab)) ** 2
    var = torch.zeros_like(count).scatter_add_(1, lab, sq_dev) / count.clamp_min(1)
    return var[:, :num_classes].sum(1).mean()


def semantic_brightness_released(
    enhanced: torch.Tensor, labels: torch.Tensor, num_classes: int = 19
) -> torch.Tensor:
    """The released ``L_segexp`` per image (see the module docstring), batch mean."""
    y = grey(enhanced).flatten(1)  # [B,N]
    n = y.shape[1]
    lab = labels.flatten(1).long()
    valid = (lab >= 0) & (lab < num_classes)
    lab = torch.where(valid, lab, torch.full_like(lab, num_classes))  # spare bin for ignored
    total = torch.zeros(y.shape[0], num_classes + 1, device=y.device, dtype=y.dtype)
    total.scatter_add_(1, lab, y)
    inside = valid & (y != 0)
    sq = torch.where(inside, (y - total.gather(1, lab) / n) ** 2, torch.zeros_like(y))
    return (sq.sum(1) / n).mean()


def feature_preservation(enhanced_features: torch.Tensor, input_features: torch.Tensor):
    """MSE between VGG16 relu4_3 features of the enhanced image and of its input."""
    return F.mse_loss(enhanced_features, input_features)


def grey_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of the grey images (same shapes; unpaired scenes allowed)."""
    return (grey(a) - grey(b)).abs().mean()


def grey_contrastive(
    enhanced: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor, margin: float = 0.3
) -> torch.Tensor:
    """Triplet hinge: the enhanced image should be nearer the normal-light positives than the
    over/under-exposed negatives by ``margin``: max(d(E,P) - d(E,N) + margin, 0)."""
    gap = grey_distance(enhanced, positives) - grey_distance(enhanced, negatives)
    return (gap + margin).clamp_min(0)


def gram(features: torch.Tensor) -> torch.Tensor:
    """``[B,C,C]`` Gram matrix normalised by C*H*W."""
    b, c, h, w = features.shape
    f = features.reshape(b, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


def style_distance(features_a: list[torch.Tensor], features_b: list[torch.Tensor]):
    """Sum over layers of the summed squared difference of Gram matrices."""
    return sum(((gram(fa) - gram(fb)) ** 2).sum() for fa, fb in zip(features_a, features_b))


def style_contrastive(
    enhanced_features: list[torch.Tensor],
    positive_features: list[torch.Tensor],
    negative_features: list[torch.Tensor],
    margin: float = 0.04,
) -> torch.Tensor:
    """Triplet hinge on the style (Gram) distance, margin 0.04."""
    gap = style_distance(enhanced_features, positive_features) - style_distance(
        enhanced_features, negative_features
    )
    return (gap + margin).clamp_min(0)


def segmentation_guidance(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the frozen segmenter's logits on the enhanced image (upsampled to the
    label size if needed) against the labels, ignoring ``IGNORE_INDEX``."""
    if not (labels != IGNORE_INDEX).any():  # nothing labelled: no signal (CE would be NaN)
        return logits.sum() * 0
    if logits.shape[-2:] != labels.shape[-2:]:
        logits = F.interpolate(logits, size=labels.shape[-2:], mode="bilinear", align_corners=False)
    return F.cross_entropy(logits, labels.long(), ignore_index=IGNORE_INDEX)
