"""Semantic-aware Gamma Correction training: loss terms on hand-checkable tensors, the critic,
the data, one training step's update rules, and an end-to-end CPU run through the shared loop."""

from __future__ import annotations

import math

import pytest
import torch

from gefu.methods.sagc import losses as L
from gefu.methods.sagc.critic import SegLogitCritic

K = 19


def split_logits(h=4, w=4, margin=20.0):
    """Class 0 on the left half, class 1 on the right half (near one-hot), others at 0."""
    logits = torch.zeros(1, K, h, w)
    logits[:, 0, :, : w // 2] = margin
    logits[:, 1, :, w // 2 :] = margin
    return logits


def split_image(left, right, h=4, w=4):
    image = torch.empty(1, 3, h, w)
    image[..., : w // 2] = torch.tensor(left).view(1, 3, 1, 1)
    image[..., w // 2 :] = torch.tensor(right).view(1, 3, 1, 1)
    return image


# -- semantic statistics ----------------------------------------------------------------------
def test_class_brightness_is_the_mean_grey_of_each_class_region():
    image = split_image([0.1, 0.2, 0.3], [0.5, 0.6, 0.7])  # grey 0.2 left, 0.6 right
    b = L.class_brightness(image, split_logits(margin=12.0))  # off-class weight e^-12
    assert b.shape == (1, K)
    assert b[0, 0].item() == pytest.approx(0.2, abs=1e-4)
    assert b[0, 1].item() == pytest.approx(0.6, abs=1e-4)
    assert b[0, 2].item() == pytest.approx(0.4, abs=1e-4)  # uniform class: whole-image mean


def test_brightness_match_zero_for_identical_statistics_and_squared_offset_otherwise():
    image, logits = torch.rand(2, 3, 8, 8) * 0.8, torch.randn(2, K, 8, 8)
    assert L.brightness_match_loss(image, logits, image, logits).item() == pytest.approx(
        0, abs=1e-12
    )
    brighter = image + 0.1  # every class mean moves by 0.1
    assert L.brightness_match_loss(image, logits, brighter, logits).item() == pytest.approx(0.01)


def test_colour_ratios_of_a_constant_colour_and_their_match():
    logits = torch.randn(1, K, 4, 4)
    colour = split_image([0.2, 0.4, 0.8], [0.2, 0.4, 0.8])
    ratios = L.class_colour_ratios(colour, logits)  # R/G, G/B, B/R for every class
    expected = torch.tensor([0.5, 0.5, 4.0]).view(1, 3, 1).expand(1, 3, K)
    assert torch.allclose(ratios, expected, atol=1e-4)
    twice = colour * 2  # same ratios: no colour difference
    assert L.colour_ratio_match_loss(colour, logits, twice, logits).item() < 1e-8
    grey = split_image([0.4] * 3, [0.4] * 3)  # ratios 1: ((0.5-1)^2 * 2 + (4-1)^2) / 3
    loss = L.colour_ratio_match_loss(colour, logits, grey, logits).item()
    assert loss == pytest.approx(9.5 / 3, rel=1e-4)


# -- smoothness, flip, reconstruction ---------------------------------------------------------
def test_edge_aware_tv_of_a_constant_map_is_zero():
    assert L.edge_aware_tv(torch.full((2, 3, 5, 5), 0.7), torch.randn(2, K, 5, 5)).item() == 0


def test_edge_aware_tv_relaxes_across_segmentation_edges():
    step = torch.zeros(1, 3, 2, 2)
    step[..., 1] = 1.0  # one horizontal jump of 1 in each of 2 rows, no vertical change
    flat = torch.zeros(1, K, 2, 2)
    assert L.edge_aware_tv(step, flat).item() == pytest.approx(2.0)
    edge = split_logits(2, 2, margin=30.0)  # probabilities jump by 1 in 2 of 19 classes
    assert L.edge_aware_tv(step, edge).item() == pytest.approx(2 * math.exp(-2 / K), rel=1e-5)


def test_flip_consistency_of_a_flip_equivariant_network_is_zero():
    conv = torch.nn.Conv2d(3, 3, 3, padding=1)
    with torch.no_grad():  # a left-right symmetric kernel commutes with horizontal flips
        conv.weight.copy_((conv.weight + conv.weight.flip(-1)) / 2)
    x = torch.rand(2, 3, 6, 6)
    gamma, gamma_flipped = torch.sigmoid(conv(x)), torch.sigmoid(conv(x.flip(-1)))
    assert L.flip_consistency(gamma, gamma_flipped).item() < 1e-10
    unflipped = torch.tensor([[[[0.0, 1.0]]]])  # a map that did not follow the flip: 1 + 1
    assert L.flip_consistency(unflipped, unflipped).item() == pytest.approx(2.0)


def test_reconstruction_of_the_identity_is_zero():
    normal = torch.rand(2, 3, 4, 4) * 0.8
    assert L.reconstruction_loss(normal, normal).item() == 0
    assert L.reconstruction_loss(normal, normal + 0.1).item() == pytest.approx(0.01)


# -- adversarial ------------------------------------------------------------------------------
@pytest.mark.parametrize("norm,penalty", [(1.0, 0.0), (2.0, 1.0), (3.0, 4.0)])
def test_gradient_penalty_of_a_linear_critic(norm, penalty):
    w = torch.randn(2 * 3 * 3)
    w = (w / w.norm() * norm).requires_grad_(True)
    x = L.interpolate(torch.randn(4, 2, 3, 3), torch.randn(4, 2, 3, 3), torch.rand(4))
    gp = L.gradient_penalty(x.flatten(1) @ w, x)  # grad wrt x is w for every sample
    assert gp.item() == pytest.approx(penalty, abs=1e-5)
    (grad,) = torch.autograd.grad(gp, w)  # d/dw (|w| - 1)^2 = 2 (|w| - 1) w / |w|
    assert grad.norm().item() == pytest.approx(2 * (norm - 1), abs=1e-5)


def test_wgan_terms_and_interpolation():
    fake, real = torch.tensor([1.0, 3.0]), torch.tensor([0.0, 2.0])
    assert L.critic_loss(fake, real).item() == 1.0
    assert L.generator_adversarial_loss(fake).item() == -2.0
    a, b = torch.zeros(2, 1, 2, 2), torch.ones(2, 1, 2, 2)
    mixed = L.interpolate(a, b, torch.tensor([1.0, 0.25]))
    assert mixed.requires_grad and mixed[0].max() == 0 and torch.allclose(mixed[1], b * 0.75)


def test_critic_parameter_count_and_shape():
    convs = [(19, 16), (16, 32), (32, 64), (64, 128)]
    expected = sum(i * o * 16 + o for i, o in convs) + 128 * 16 * 16 + 1  # 4x4 kernels; linear
    assert expected == 209_905
    critic = SegLogitCritic(19, 256, 16)
    assert sum(p.numel() for p in critic.parameters()) == expected
    small = SegLogitCritic(19, 32, 16)
    scores = small(torch.randn(3, 19, 32, 32))
    assert scores.shape == (3,) and ((scores > 0) & (scores < 1)).all()
    with pytest.raises(ValueError, match="built for 32x32"):
        small(torch.randn(1, 19, 64, 64))
    with pytest.raises(ValueError, match="multiple of 16"):
        SegLogitCritic(19, 40)


# -- data -------------------------------------------------------------------------------------
def make_method(tmp_path=None, **params):
    from gefu.methods.sagc.recipe import SAGCConfig, SAGCTraining

    bundled = {"name": "bundled_photos", "params": {"max_side": None}}
    data = {
        "low": {"name": "darkened", "params": {"dataset": bundled, "severity": "moderate"}},
        "normal": bundled,
        "size": 32,
        "resize": False,
        "shorter": 64,
    }
    return SAGCTraining(SAGCConfig(**params), data)


def test_unpaired_data_is_seeded_darkened_and_not_pixel_paired():
    sets = make_method().datasets()
    low, normal = sets["low"], sets["normal"]
    assert len(low) == len(normal) >= 6
    a, b = low[(0, 123)], low[(0, 123)]
    assert a.shape == (3, 32, 32) and torch.equal(a, b)  # a pure function of (index, seed)
    assert not torch.equal(normal[(0, 1)], normal[(0, 2)])  # another seed, another crop
    assert low[(0, 5)].mean() < 0.5 * normal[(0, 5)].mean()  # darkened
    with pytest.raises(Exception, match="multiple of 16"):
        make_method_with(size=40).datasets()


def make_method_with(**data_overrides):
    from gefu.methods.sagc.recipe import SAGCConfig, SAGCTraining

    nowhere = {"name": "unpaired_folder", "root": "nowhere"}
    data = {"low": nowhere, "normal": nowhere, **data_overrides}
    return SAGCTraining(SAGCConfig(), data)


# -- one step: what each optimizer group learns from ------------------------------------------
class FakeCtx:
    """The loop's StepContext, minus accelerate: plain backward / Adam step."""

    def __init__(self, method, seed=0):
        torch.manual_seed(seed)
        self.modules = method.modules()
        self.opts = {g: o for g, (o, _) in method.optimizers(self.modules).items()}
        self.segmenter = torch.nn.Conv2d(3, K, 3, padding=1).requires_grad_(False)
        self.device, self.step = torch.device("cpu"), 0

    def backward(self, loss, optimizer):
        loss.backward()

    def step_optimizer(self, optimizer):
        self.opts[optimizer].step()
        self.opts[optimizer].zero_grad(set_to_none=True)

    def aux(self, name):
        assert name == "segmenter"
        return self.segmenter


def one_update(step, seed=0, **params):
    method = make_method(**params)
    sets = method.datasets()
    batch = {n: torch.stack([ds[(i, 7 + i)] for i in range(2)]) for n, ds in sets.items()}
    ctx = FakeCtx(method, seed)
    ctx.step = step
    before = [p.detach().clone() for p in method.modules()["model"].parameters()]
    logs = method.train_step(batch, ctx)
    after = list(method.modules()["model"].parameters())
    return logs, torch.cat([(a - b).flatten() for a, b in zip(after, before)])


def test_adversarial_term_reaches_the_enhancer_every_tenth_step_unless_detached():
    # step index 9 is the 10th step: the adversarial term is in the generator loss
    with_adv, delta_with = one_update(9, w_adversarial=100.0)
    without, delta_without = one_update(9, w_adversarial=0.0)
    detached, delta_detached = one_update(9, w_adversarial=100.0, adversarial_grad=False)
    assert not torch.allclose(delta_with, delta_without)  # it trains the enhancer
    assert torch.allclose(delta_detached, delta_without)  # released code: it trains nothing
    assert with_adv["g_total"] == pytest.approx(
        without["g_total"] + 100.0 * with_adv["adversarial"], rel=1e-5
    )
    # any other step: the term is only logged
    _, delta_other = one_update(3, w_adversarial=100.0)
    _, delta_other_zero = one_update(3, w_adversarial=0.0)
    assert torch.allclose(delta_other, delta_other_zero)
    keys = {"brightness", "colour", "smooth", "flip", "recon", "adversarial"}
    assert keys | {"g_total", "critic", "gp", "d_total"} == set(with_adv)
    assert with_adv["d_total"] == pytest.approx(with_adv["critic"] + 10 * with_adv["gp"], rel=1e-5)


# -- end to end through the shared loop and CLI -----------------------------------------------
TINY = """
method: sagc
seed: 0
output: {out}
steps: 30
batch_size: 4
log_every: 1
checkpoint_every: 15
allow_random_aux: true
aux: {{segmenter: {{source: torchvision, arch: lraspp_mobilenet_v3_large}}}}
data:
  low:
    name: darkened
    params:
      dataset: {{name: bundled_photos, params: {{max_side: null}}}}
      model: physical
      severity: moderate
  normal: {{name: bundled_photos, params: {{max_side: null}}}}
  size: 32
  resize: false
  shorter: 48
params: {{lr: 0.001}}
"""


def test_cli_training_lowers_the_generator_loss_and_loads_as_the_enhancer(tmp_path, monkeypatch):
    from gefu.cli.main import main
    from gefu.train import aux

    # the config names a real torchvision segmenter (validated, built with random weights by
    # the aux module's own tests); here a one-layer stand-in keeps 40 steps to seconds
    tiny = torch.nn.Conv2d(3, K, 3, padding=1)
    monkeypatch.setattr(aux, "_build_segmenter", lambda cfg, weights, device: tiny)
    from gefu.enhancers import create_enhancer
    from gefu.methods.sagc.network import SemanticGammaCorrection
    from gefu.train.logging import read_log

    out = tmp_path / "run"
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(TINY.format(out=out))
    assert main(["train", "sagc", "--config", str(cfg), "--quiet"]) == 0
    rows = [r for r in read_log(out / "metrics.csv") if r["split"] == "train"]
    assert len({r["step"] for r in rows}) == 30
    model = SemanticGammaCorrection.from_pretrained(out / "model")
    # unpaired batches make the logged loss noisy: compare the untrained and the trained
    # network on one fixed batch. The per-class brightness match (weight 20, the largest term)
    # and flip consistency must fall; in 30 tiny steps the colour-ratio term may not.
    method = make_method()
    low, normal = (
        torch.stack([ds[(i % len(ds), 100 + i)] for i in range(8)])
        for ds in method.datasets().values()
    )

    def terms_of(net):
        with torch.no_grad():
            return method.generator_terms(net, tiny, low, normal)

    torch.manual_seed(0)
    before, after = terms_of(SemanticGammaCorrection()), terms_of(model)
    assert after["brightness"] < 0.9 * before["brightness"]
    assert after["flip"] < before["flip"]
    assert {r["name"] for r in rows} >= {"critic", "gp", "d_total", "adversarial"}
    assert model.num_parameters == 10_561 and model.alpha == 1.5
    assert (out / "checkpoints" / "step_30" / "disc.safetensors").is_file()
    x = torch.rand(1, 3, 24, 24) * 0.3
    y = model(x)
    assert y.shape == x.shape and y.mean() > x.mean()  # x ** A with A < 1 brightens
    assert isinstance(create_enhancer("sagc"), SemanticGammaCorrection)
