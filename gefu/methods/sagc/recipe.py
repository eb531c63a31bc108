"""Semantic-aware Gamma Correction (Pan et al., ICASSP 2023): a separable DCE-Net (10,561
parameters) predicts a gamma map A = sigmoid(net(x)); the output is x ** A.

Trained unpaired (low-light and normal-light images) with a frozen Cityscapes segmenter: the
authors' VainF DeepLabV3+ MobileNetV2 OS16 (``aux.segmenter.source: vainf``,
``gefu.train.deeplab_vainf``; MMSegmentation and torchvision segmenters can stand in). Per
step, as in the authors' ``train.py``:

1. critic (``disc`` group, ``SegLogitCritic`` on 19-channel logits): WGAN-GP,
   ``D(seg(enhanced)) - D(seg(normal)) + 10 GP``, every step (one update per step);
2. enhancer (``model`` group): ``20 brightness + 10 colour + 3 smooth + 0.5 flip + 1 recon``
   (``gefu.methods.sagc.losses``), and ``+ 1 x (-D(seg(enhanced)))`` every 10th step.
Adam lr 1e-4, weight decay 1e-4 for both; batch 32, 256 x 256 (whole images resized), 200 epochs.
At test time the enhancer multiplies its input by alpha = 1.5 (``SemanticGammaCorrection``).

Adversarial gradient (``adversarial_grad``, default ``true``): the released code adds the
critic's score to the generator loss *detached*, so the "semantics-oriented adversarial
learning" the paper presents never reaches the enhancer (the critic is trained but unused).
By default the term passes gradient through the critic and the frozen segmenter into the
enhancer, as the paper describes; ``adversarial_grad: false`` reproduces the released code.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from pydantic import Field

from gefu.core.specs import DatasetSpec
from gefu.core.strict import StrictModel, validate
from gefu.train.method import MethodConfig, TrainMethod


class SAGCConfig(MethodConfig):
    alpha: float = 1.5  # test-time input scaling, saved with the enhancer
    lr: float = 1e-4
    weight_decay: float = 1e-4
    disc_lr: float = 1e-4
    disc_weight_decay: float = 1e-4
    disc_dim: int = 16
    num_classes: int = 19
    w_brightness: float = 20.0
    w_colour: float = 10.0
    w_smooth: float = 3.0
    w_flip: float = 0.5
    w_recon: float = 1.0
    w_adversarial: float = 1.0
    gp_weight: float = 10.0
    adversarial_every: int = 10  # the authors' critic_iterations
    adversarial_grad: bool = True

    release_switches: ClassVar[dict[str, Any]] = {"adversarial_grad": False}


class SAGCData(StrictModel):
    # dataset entries as in a benchmark: the low-light side reads each item's image, the
    # normal-light side its reference where the set is paired (else its image); `darkened`
    # darkens each crop on the fly with gefu.simulate's presets
    low: DatasetSpec
    normal: DatasetSpec
    size: int = Field(256, ge=16, multiple_of=16)  # the critic needs a multiple of 16
    resize: bool = True  # True: whole image resized to size x size (as released); False: crop
    shorter: int | None = Field(None, ge=16, description="crop mode: shorter side first")


class UnpairedImages(torch.utils.data.Dataset):
    """``size`` x ``size`` images of one source; ``__getitem__((index, seed))`` is a pure
    function of its argument (crop position and darkening noise come from ``seed``)."""

    def __init__(
        self,
        source: DatasetSpec,
        where: str,
        size: int,
        resize: bool,
        shorter: int | None = None,
        reference: bool = False,
    ):
        from gefu.train.sources import open_source

        self.size, self.resize, self.shorter = size, resize, shorter
        self.reader, self.darken = open_source(source, where)
        if self.darken is not None:
            self.darken.check_presets(where)
        # the normal-light side of a paired set is its reference
        self.field = "reference" if reference and self.reader.paired else "image"

    def __len__(self) -> int:
        return len(self.reader)

    def __getitem__(self, pair: tuple[int, int]) -> torch.Tensor:
        index, seed = pair
        gen = torch.Generator().manual_seed(int(seed))
        image, s = getattr(self.reader.load(index), self.field), self.size
        if self.resize:
            image = F.interpolate(image[None], (s, s), mode="bilinear", antialias=True)[0]
        else:
            from gefu.train.data import random_patch

            if self.shorter is not None:
                scale = self.shorter / min(image.shape[-2:])
                hw = [max(1, round(n * scale)) for n in image.shape[-2:]]
                image = F.interpolate(image[None], hw, mode="bilinear", antialias=scale < 1)[0]
            image = random_patch(image, s, gen, flip=False)
        image = image.clamp(0, 1)
        if self.darken is not None:
            from gefu.simulate import LowLightSimulator

            spec = self.darken
            sim_seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
            image = LowLightSimulator(spec.model, spec.severity, seed=sim_seed)(image)
        return image.contiguous()


class SAGCTraining(TrainMethod):
    __doc__ = __doc__
    enhancer = "sagc"
    Config = SAGCConfig
    Data = SAGCData
    aux_networks = ("segmenter",)

    def __init__(self, config: SAGCConfig, data: dict[str, Any]):
        super().__init__(config, data)
        self._modules: dict[str, Any] | None = None

    @cached_property
    def data_config(self) -> SAGCData:
        """The ``data:`` section, validated on first use (inside the loop's error handling)."""
        return validate(SAGCData, self.data, "data")

    def modules(self) -> dict[str, Any]:
        if self._modules is None:
            from gefu.methods.sagc.critic import SegLogitCritic
            from gefu.methods.sagc.network import SemanticGammaCorrection

            c = self.config
            self._modules = {
                "model": SemanticGammaCorrection(alpha=c.alpha),
                "disc": SegLogitCritic(c.num_classes, self.data_config.size, c.disc_dim),
            }
        return self._modules

    def optimizers(self, modules):
        c = self.config
        model = torch.optim.Adam(
            modules["model"].parameters(), lr=c.lr, weight_decay=c.weight_decay
        )
        disc = torch.optim.Adam(
            modules["disc"].parameters(), lr=c.disc_lr, weight_decay=c.disc_weight_decay
        )
        return {"model": (model, None), "disc": (disc, None)}

    def datasets(self) -> dict[str, Any]:
        d = self.data_config
        return {
            "low": UnpairedImages(d.low, "data.low", d.size, d.resize, d.shorter),
            "normal": UnpairedImages(
                d.normal, "data.normal", d.size, d.resize, d.shorter, reference=True
            ),
        }

    @staticmethod
    def _segment(segmenter, images: torch.Tensor) -> torch.Tensor:
        logits = segmenter(images)
        if logits.shape[-2:] != images.shape[-2:]:
            logits = F.interpolate(logits, images.shape[-2:], mode="bilinear", align_corners=False)
        return logits

    def generator_terms(self, model, segmenter, low, normal) -> dict[str, torch.Tensor]:
        """The enhancer's non-adversarial terms, unweighted, plus ``_fake_logits`` and
        ``_real_logits`` (the segmenter's logits of the enhanced and normal images)."""
        from gefu.methods.sagc import losses as L

        n = low.shape[0]
        # one pass of the network over low, normal and flipped low images
        maps = model.gamma_map(torch.cat([low, normal, low.flip(-1)]))
        gamma, gamma_normal, gamma_flipped = maps[:n], maps[n : 2 * n], maps[2 * n :]
        enhanced = low.clamp_min(1e-6).pow(gamma)
        enhanced_normal = normal.clamp_min(1e-6).pow(gamma_normal)
        fake_logits = self._segment(segmenter, enhanced)
        with torch.no_grad():
            real_logits = self._segment(segmenter, normal)
        return {
            "brightness": L.brightness_match_loss(enhanced, fake_logits, normal, real_logits),
            "colour": L.colour_ratio_match_loss(enhanced, fake_logits, normal, real_logits),
            "smooth": L.edge_aware_tv(gamma, fake_logits),
            "flip": L.flip_consistency(gamma, gamma_flipped),
            "recon": L.reconstruction_loss(normal, enhanced_normal),
            "_fake_logits": fake_logits,
            "_real_logits": real_logits,
        }

    def train_step(self, batch: dict[str, Any], ctx) -> dict[str, float]:
        from gefu.methods.sagc import losses as L

        c = self.config
        model, critic = self.modules()["model"], self.modules()["disc"]
        low, normal = batch["low"], batch["normal"]
        n = low.shape[0]
        terms = self.generator_terms(model, ctx.aux("segmenter"), low, normal)
        fake_logits, real_logits = terms.pop("_fake_logits"), terms.pop("_real_logits")

        # 1. critic: WGAN-GP on segmentation logits (one forward over real, fake, interpolated)
        critic.zero_grad(set_to_none=True)  # drop what the last generator update left there
        mix = torch.rand(n, device=low.device)
        mixed = L.interpolate(real_logits, fake_logits, mix)
        scores = critic(torch.cat([real_logits, fake_logits.detach(), mixed]))
        critic_term = L.critic_loss(scores[n : 2 * n], scores[:n])
        penalty = L.gradient_penalty(scores[2 * n :], mixed)
        d_total = critic_term + c.gp_weight * penalty
        ctx.backward(d_total, "disc")
        ctx.step_optimizer("disc")

        # 2. enhancer
        g_total = sum(getattr(c, f"w_{name}") * value for name, value in terms.items())
        if (ctx.step + 1) % c.adversarial_every == 0:
            fake_input = fake_logits if c.adversarial_grad else fake_logits.detach()
            adversarial = L.generator_adversarial_loss(critic(fake_input))
            g_total = g_total + c.w_adversarial * adversarial
        else:  # logged only: the critic's score of this batch before its update
            adversarial = L.generator_adversarial_loss(scores[n : 2 * n])
        ctx.backward(g_total, "model")
        ctx.step_optimizer("model")

        logs = {name: float(v.detach()) for name, v in terms.items()}
        logs.update(
            adversarial=float(adversarial.detach()),
            g_total=float(g_total.detach()),
            critic=float(critic_term.detach()),
            gp=float(penalty.detach()),
            d_total=float(d_total.detach()),
        )
        return logs
