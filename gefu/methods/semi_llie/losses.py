"""Semi-LLIE's loss terms and mean-teacher schedule (released ``trainer_with_grad.py``,
``loss/losses.py``, ``loss/ram_contrast.py``). Each loss returns a scalar."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def l1(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (output - target).abs().mean()


def l2(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (output - target).pow(2).mean()


def perceptual(output_features: list, target_features: list) -> torch.Tensor:
    """Mean over layers of the feature MSE (VGG16 relu1_2, relu2_2, relu3_3 as released)."""
    terms = [F.mse_loss(a, b) for a, b in zip(output_features, target_features)]
    return sum(terms) / len(terms)


def gradient_l1(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 between gradient-magnitude maps (``gefu.methods.semi_llie.network.image_gradient``)."""
    from gefu.methods.semi_llie.network import image_gradient

    return l1(image_gradient(output), image_gradient(target))


def contrastive_ratio(anchor: list, positive: list, negative: list, eps: float = 1e-7):
    """Semantic-aware contrastive loss: for each feature output of the frozen encoder,
    ``L1(anchor, positive) / (L1(anchor, negative) + eps)``, summed (the released loss sums
    the ratio on RAM's image embedding and on its tag logits). Positive and negative are
    detached: only the anchor (the student's output) is pulled."""
    total = 0.0
    for a, p, n in zip(anchor, positive, negative):
        total = total + l1(a, p.detach()) / (l1(a, n.detach()) + eps)
    return total


def sigmoid_rampup(current: float, length: float) -> float:
    """``exp(-5 (1 - t/length)^2)`` with t clipped to [0, length]; 1 when length is 0."""
    if length == 0:
        return 1.0
    t = min(max(current, 0.0), length)
    return math.exp(-5.0 * (1.0 - t / length) ** 2)


@torch.no_grad()
def ema_update(
    teacher: torch.nn.Module, student: torch.nn.Module, step: int, keep_rate: float = 0.996
) -> float:
    """Mean-teacher update after optimisation step ``step`` (0-based):
    ``alpha = min(1 - 1/(step+1), keep_rate)``, teacher = alpha teacher + (1-alpha) student
    (so the first update copies the student). Returns alpha."""
    alpha = min(1.0 - 1.0 / (step + 1), keep_rate)
    for t, s in zip(teacher.parameters(), student.parameters()):
        t.mul_(alpha).add_(s.detach(), alpha=1.0 - alpha)
    return alpha
