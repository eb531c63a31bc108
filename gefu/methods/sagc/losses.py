"""Losses of Semantic-aware Gamma Correction (Pan et al., ICASSP 2023), one function per term.

Per-class statistics use the segmenter's *soft* class maps (softmax of the logits) as pixel
weights, as in the authors' code: a class's statistic is the softmax-weighted mean over the image,
so every image has a value for every class (classes it does not show get a small weight
everywhere). Shapes: images ``[B,3,H,W]``, logits ``[B,K,H,W]``, gamma maps ``[B,3,H,W]``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def class_means(values: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Softmax-weighted mean of each channel of ``values`` ``[B,C,H,W]`` per class:
    ``[B,C,K]``."""
    weights = logits.softmax(dim=1)
    weighted = torch.einsum("bchw,bkhw->bck", values, weights)
    # + 1e-8: a class whose probability underflows to 0 everywhere gets 0, not 0/0 (a class
    # present in one pixel has a weight sum near 1, so this changes nothing else)
    return weighted / (weights.sum(dim=(2, 3)).unsqueeze(1) + 1e-8)


def class_brightness(image: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Per-class mean brightness (mean of R, G, B), ``[B,K]``."""
    return class_means(image.mean(dim=1, keepdim=True), logits)[:, 0]


def class_colour_ratios(image: torch.Tensor, logits: torch.Tensor, eps: float = 1e-6):
    """Per-class channel ratios R/G, G/B, B/R of the class-mean colour, ``[B,3,K]``. ``eps``
    keeps a black class finite (the authors divide without one)."""
    rgb = class_means(image, logits)
    return (rgb + eps) / (rgb.roll(-1, dims=1) + eps)


def brightness_match_loss(enhanced, enhanced_logits, normal, normal_logits) -> torch.Tensor:
    """Mean squared difference of per-class brightness: enhanced image (its own class maps)
    vs an unpaired normal-light image (its class maps)."""
    diff = class_brightness(enhanced, enhanced_logits) - class_brightness(normal, normal_logits)
    return diff.pow(2).mean()


def colour_ratio_match_loss(enhanced, enhanced_logits, normal, normal_logits) -> torch.Tensor:
    """Mean squared difference of per-class colour ratios, as ``brightness_match_loss``."""
    diff = class_colour_ratios(enhanced, enhanced_logits) - class_colour_ratios(
        normal, normal_logits
    )
    return diff.pow(2).mean()


def edge_aware_tv(gamma_map: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Smoothness of the gamma map, relaxed across segmentation edges.

    Per neighbouring pixel pair (vertical and horizontal): the squared difference of the map
    (mean over its channels) times ``exp(-d)``, where ``d`` is the squared difference of the
    class probabilities (mean over classes). Summed over pixels, averaged over the batch."""
    probs = logits.softmax(dim=1)
    total = gamma_map.new_zeros(())
    for dim in (2, 3):
        map_step = torch.diff(gamma_map, dim=dim).pow(2).mean(dim=1)
        seg_step = torch.diff(probs, dim=dim).pow(2).mean(dim=1)
        total = total + (map_step * torch.exp(-seg_step)).sum()
    return total / gamma_map.shape[0]


def flip_consistency(gamma_map: torch.Tensor, gamma_map_of_flipped: torch.Tensor):
    """The map predicted for the horizontally flipped input, flipped back, should equal the map
    of the input: sum of squared differences (the authors' ``MSELoss(reduction='sum')``)."""
    return (gamma_map - gamma_map_of_flipped.flip(-1)).pow(2).sum()


def reconstruction_loss(normal: torch.Tensor, enhanced_normal: torch.Tensor) -> torch.Tensor:
    """A normal-light image through the network should stay itself: mean squared error."""
    return F.mse_loss(enhanced_normal, normal)


def critic_loss(scores_fake: torch.Tensor, scores_real: torch.Tensor) -> torch.Tensor:
    """WGAN critic loss (to minimise): ``E[D(fake)] - E[D(real)]``."""
    return scores_fake.mean() - scores_real.mean()


def generator_adversarial_loss(scores_fake: torch.Tensor) -> torch.Tensor:
    """WGAN generator loss (to minimise): ``-E[D(fake)]``."""
    return -scores_fake.mean()


def interpolate(real: torch.Tensor, fake: torch.Tensor, mix: torch.Tensor) -> torch.Tensor:
    """Points on the lines between real and fake samples (``mix``: ``[B]`` in [0,1]), detached
    and ready for ``gradient_penalty``."""
    mix = mix.view(-1, *([1] * (real.ndim - 1)))
    return (mix * real.detach() + (1 - mix) * fake.detach()).requires_grad_(True)


def gradient_penalty(scores: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): ``E[(||grad_x D(x)|| - 1)^2]`` at ``inputs`` (which
    produced ``scores``); differentiable (``create_graph``) so the critic learns from it."""
    (grad,) = torch.autograd.grad(scores.sum(), inputs, create_graph=True)
    norm = torch.sqrt(grad.flatten(1).pow(2).sum(dim=1) + 1e-12)
    return (norm - 1).pow(2).mean()
