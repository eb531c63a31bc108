"""Semi-LLIE: the selective scan, the enhancer, the mean-teacher schedule, losses, training."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from gefu.methods.semi_llie import losses as L
from gefu.methods.semi_llie.mamba_scan import (
    LinearRecurrence,
    _cuda_kernel,
    naive_scan,
    selective_scan,
    torch_scan,
)

# the bundled photos darkened on the fly (the training default of most methods)
BUNDLED = {"name": "bundled_photos", "params": {"max_side": None}}
DARK_BUNDLED = {
    "name": "darkened",
    "params": {"dataset": BUNDLED, "model": "physical", "severity": "random"},
}
SEMI_DATA = {"labeled": DARK_BUNDLED, "unlabeled": DARK_BUNDLED}


def scan_inputs(b=2, d=6, n=4, length=37, groups=2, device="cpu"):
    g = torch.Generator().manual_seed(0)
    r = lambda *s: torch.randn(*s, generator=g).to(device)  # noqa: E731
    a = -torch.rand(d, n, generator=g).to(device) * 3
    return (
        r(b, d, length),
        r(b, d, length),
        a,
        r(b, groups, n, length),
        r(b, groups, n, length),
        r(d),
        r(d),
    )


@pytest.mark.parametrize("chunk", [1, 5, 8, 64])
def test_torch_scan_matches_naive_loop(chunk):
    u, delta, a, bm, cm, dv, bias = scan_inputs()
    expected = naive_scan(u, delta, a, bm, cm, dv, bias, True)
    got = torch_scan(u, delta, a, bm, cm, dv, bias, True, chunk=chunk)
    assert torch.allclose(got, expected, atol=1e-5, rtol=1e-5)
    # no softplus, no D, B/C shared by all channels ([B, N, L])
    got = torch_scan(u, delta.abs(), a, bm[:, 0], cm[:, 0], chunk=chunk)
    assert torch.allclose(got, naive_scan(u, delta.abs(), a, bm[:, 0], cm[:, 0]), atol=1e-5)


def test_linear_recurrence_backward_is_the_true_gradient():
    g = torch.Generator().manual_seed(1)
    a = torch.rand(6, 2, 3, generator=g, dtype=torch.float64).requires_grad_()
    b = torch.randn(6, 2, 3, generator=g, dtype=torch.float64).requires_grad_()
    h0 = torch.randn(2, 3, generator=g, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(LinearRecurrence.apply, (a, b, h0))
    states = LinearRecurrence.apply(a, b, h0)  # by hand: h_1 = a_1 (a_0 h0 + b_0) + b_1
    assert torch.allclose(states[1], a[1] * (a[0] * h0 + b[0]) + b[1])


def test_torch_scan_gradients_match_naive_loop():
    inputs = [t.clone().requires_grad_() for t in scan_inputs(length=21)]
    naive = [t.clone().detach().requires_grad_() for t in inputs]
    torch_scan(*inputs[:6], inputs[6], True, chunk=8).square().sum().backward()
    naive_scan(*naive[:6], naive[6], True).square().sum().backward()
    for got, expected in zip(inputs, naive):
        assert torch.allclose(got.grad, expected.grad, atol=1e-4, rtol=1e-4)


def test_recomputing_scan_matches_naive_loop_in_values_and_gradients():
    inputs = [t.clone().requires_grad_() for t in scan_inputs(length=45)]
    naive = [t.clone().detach().requires_grad_() for t in inputs]
    got = torch_scan(*inputs[:6], inputs[6], True, chunk=8, recompute=True)
    expected = naive_scan(*naive[:6], naive[6], True)
    assert torch.allclose(got, expected, atol=1e-5, rtol=1e-5)
    weights = torch.randn(got.shape, generator=torch.Generator().manual_seed(3))
    (got * weights).sum().backward()
    (expected * weights).sum().backward()
    for mine, reference in zip(inputs, naive):
        assert torch.allclose(mine.grad, reference.grad, atol=1e-5, rtol=1e-5)


def test_recomputing_scan_keeps_a_fraction_of_the_memory():
    from gefu.train.memory import peak_memory

    x = [t.requires_grad_() for t in scan_inputs(b=1, d=64, n=16, length=512)]

    def step(fn):
        return peak_memory(lambda: fn(*x[:6], x[6], True).square().mean().backward())

    recomputing = step(lambda *a: torch_scan(*a, recompute=True))
    saving = step(lambda *a: torch_scan(*a, recompute=False))
    naive = step(naive_scan)
    # saved for backward per element of u: about 4 floats (+ d_state / chunk) against 2 d_state
    assert 0 < recomputing < 0.3 * saving < 0.3 * naive


def test_peak_memory_counts_what_is_alive_at_once():
    from gefu.train.memory import peak_memory

    def allocate():
        a = torch.empty(1000, 1000)  # 4 MB
        b = torch.empty(1000, 1000)
        del a
        c = torch.empty(500, 1000)  # 2 MB: 6 MB alive, less than the 8 MB before
        return b, c

    assert peak_memory(allocate) == 8_000_000


def test_scan_one_step_by_hand():
    # h1 = dt*B*u = 0.5*2*3 = 3; y1 = C*h1 + D*u = 4*3 + 1*3 = 15
    # h2 = exp(dt*A)*h1 + 0 = exp(-0.5)*3; y2 = 4*h2
    u = torch.tensor([[[3.0, 0.0]]])
    y = selective_scan(
        u,
        torch.full((1, 1, 2), 0.5),
        torch.tensor([[-1.0]]),
        torch.full((1, 1, 2), 2.0),
        torch.full((1, 1, 2), 4.0),
        torch.ones(1),
    )
    assert y[0, 0].tolist() == pytest.approx([15.0, 12 * math.exp(-0.5)], rel=1e-6)


def test_cuda_kernel_matches_torch_scan():
    if not torch.cuda.is_available() or _cuda_kernel() is None:
        pytest.skip("needs CUDA and mamba_ssm's selective scan kernel")
    args = scan_inputs(b=2, d=64, n=16, length=1000, groups=1, device="cuda")
    cuda = selective_scan(*args[:6], delta_bias=args[6], delta_softplus=True, backend="cuda")
    ref = selective_scan(*args[:6], delta_bias=args[6], delta_softplus=True, backend="torch")
    assert torch.allclose(cuda, ref, atol=1e-3, rtol=1e-3)


def test_enhancer_parameter_count_and_io():
    from gefu.enhancers import create_enhancer
    from gefu.methods.semi_llie.network import SemiLLIE

    model = SemiLLIE()
    assert model.num_parameters == 802_530  # released model: 802,548 (+18 fixed kernel values)
    small = create_enhancer("semi_llie", embed_dim=32, depths=[1])
    x = torch.rand(1, 3, 12, 10)
    with torch.no_grad():
        y = small(x)
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1


def test_ema_update_by_hand():
    student, teacher = nn.Linear(1, 1, bias=False), nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        student.weight.fill_(2.0)
        teacher.weight.fill_(10.0)
    assert L.ema_update(teacher, student, step=0) == 0.0  # first update copies the student
    assert teacher.weight.item() == 2.0
    with torch.no_grad():
        student.weight.fill_(4.0)
    assert L.ema_update(teacher, student, step=1) == 0.5  # min(1 - 1/2, 0.996)
    assert teacher.weight.item() == pytest.approx(3.0)
    alpha = L.ema_update(teacher, student, step=10_000)
    assert alpha == 0.996 and teacher.weight.item() == pytest.approx(0.996 * 3 + 0.004 * 4)


def test_sigmoid_rampup_values():
    assert L.sigmoid_rampup(0, 100) == pytest.approx(math.exp(-5))
    assert L.sigmoid_rampup(50, 100) == pytest.approx(math.exp(-1.25))
    assert L.sigmoid_rampup(100, 100) == 1.0 and L.sigmoid_rampup(250, 100) == 1.0
    assert L.sigmoid_rampup(-3, 100) == pytest.approx(math.exp(-5))
    assert L.sigmoid_rampup(7, 0) == 1.0


def test_loss_terms_by_hand():
    a, b = torch.full((1, 3, 4, 4), 0.2), torch.full((1, 3, 4, 4), 0.5)
    assert L.l1(a, b).item() == pytest.approx(0.3)
    assert L.l2(a, b).item() == pytest.approx(0.09)
    assert L.gradient_l1(a, b).item() == 0  # constant images have no edges
    ramp = torch.arange(4.0).view(1, 1, 1, 4).expand(1, 1, 4, 4).contiguous()
    # interior columns: central difference 2; borders (replicated): 1 -> mean |2-0|,|1-0| terms
    expected = (2 * 2 + 2 * 1) / 4  # per row: 1, 2, 2, 1 minus the flat image's ~0
    assert L.gradient_l1(ramp, torch.zeros_like(ramp)).item() == pytest.approx(
        expected - 0.0, abs=2e-3
    )
    feats = [torch.ones(1, 2, 2, 2), torch.zeros(1, 3, 1, 1)]
    assert L.perceptual(feats, [f + 0.5 for f in feats]).item() == pytest.approx(0.25)
    # ratio: L1(a,p)=0.1, L1(a,n)=0.4 -> 0.25, summed over two outputs
    anchor = [torch.zeros(2, 3), torch.zeros(4)]
    ratio = L.contrastive_ratio(anchor, [x + 0.1 for x in anchor], [x + 0.4 for x in anchor])
    assert ratio.item() == pytest.approx(0.5, rel=1e-5)


def test_strong_augment_deterministic_and_in_range():
    from gefu.methods.semi_llie.recipe import strong_augment

    x = torch.rand(3, 16, 16)
    one = strong_augment(x, torch.Generator().manual_seed(3))
    two = strong_augment(x, torch.Generator().manual_seed(3))
    assert torch.equal(one, two) and one.min() >= 0 and one.max() <= 1 and one.shape == x.shape


def test_cpu_training_smoke(tmp_path):
    pytest.importorskip("accelerate")
    from gefu.bench.runner import Runner  # noqa: F401  (the suite's evaluator imports)
    from gefu.methods.semi_llie.network import SemiLLIE
    from gefu.train.config import TrainConfig
    from gefu.train.loop import train

    cfg = TrainConfig.model_validate(
        {
            "method": "semi_llie",
            "steps": 8,
            "batch_size": 2,
            "device": "cpu",
            "log_every": 1,
            "checkpoint_every": 8,
            "allow_random_aux": True,
            "aux": {"vgg": {"layer": "relu3_3"}},
            "data": {**SEMI_DATA, "crop": 16},
            "params": {
                "embed_dim": 32,
                "depths": [1],
                "epoch_steps": 2,
                "rampup_epochs": 2,
                "contrastive_features": "vgg",
            },
        }
    )
    train(cfg, output=tmp_path / "run", quiet=True)
    import csv

    with open(tmp_path / "run" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    sup = [float(r["value"]) for r in rows if r["name"] == "supervised" and r["split"] == "train"]
    assert len(sup) == 8 and sum(sup[-2:]) < sum(sup[:2])
    model = SemiLLIE.from_pretrained(tmp_path / "run" / "model")
    assert model.num_parameters < 100_000
    with torch.no_grad():
        assert model(torch.rand(1, 3, 20, 20)).shape == (1, 3, 20, 20)
    assert (tmp_path / "run" / "checkpoints" / "step_8" / "teacher.safetensors").is_file()


# -- the released recipe -------------------------------------------------------------------
def test_blur_kernel_sizes_are_the_released_draw():
    from gefu.methods.semi_llie.recipe import blur_kernel_size

    # int(u * 4.95) = 0, 1 -> 1; 2, 3 -> 3; 4 -> 5
    assert [blur_kernel_size(u) for u in (0.0, 0.2, 0.41, 0.5, 0.7, 0.81, 0.99)] == [
        1,
        1,
        3,
        3,
        3,
        5,
        5,
    ]


def test_rot8_variants_by_hand():
    from gefu.methods.semi_llie.recipe import rot8

    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])[None]
    # PIL's rotate(90) turns anticlockwise: the top-right pixel goes to the top-left
    assert rot8(x, 1)[0].tolist() == [[2.0, 4.0], [1.0, 3.0]]
    assert rot8(x, 2)[0].tolist() == [[4.0, 3.0], [2.0, 1.0]]
    assert rot8(x, 4)[0].tolist() == [[3.0, 4.0], [1.0, 2.0]]  # flipped top to bottom
    assert rot8(x, 5)[0].tolist() == [[1.0, 3.0], [2.0, 4.0]]
    assert len({tuple(rot8(x, i).flatten().tolist()) for i in range(8)}) == 8


def test_strong_augment_gate_hue_and_greyscale():
    import torchvision.transforms.v2.functional as TF

    from gefu.methods.semi_llie.recipe import strong_augment

    x = torch.rand(3, 16, 16)
    outs = [strong_augment(x, torch.Generator().manual_seed(s)) for s in range(200)]
    unchanged = sum(torch.equal(o, x) for o in outs)  # no jitter (0.2), grey (0.8), blur (~0.71)
    assert 10 <= unchanged <= 50  # expected 200 * 0.2 * 0.8 * (0.5 + 0.5 * 2 / 4.95) = 22.5
    # the hue jitter: a pure hue rotation keeps the per-pixel max-min range and shifts colours
    red = torch.zeros(3, 4, 4)
    red[0] = 0.8
    assert torch.allclose(TF.adjust_hue(red, 1 / 3)[1], torch.full((4, 4), 0.8), atol=1e-5)


def test_labelled_geometry_resizes_crops_and_rotates_both_images_alike():
    from gefu.methods.semi_llie.recipe import SemiLLIEData, paired_geometry

    d = SemiLLIEData(**SEMI_DATA, resize=12, crop=8)
    ramp = torch.linspace(0, 1, 30 * 40).view(1, 30, 40).expand(3, 30, 40).contiguous()
    a, b = paired_geometry([ramp, 1 - ramp], d, torch.Generator().manual_seed(0))
    assert a.shape == b.shape == (3, 8, 8)
    assert torch.allclose(a + b, torch.ones_like(a), atol=1e-6)  # same crop and variant


def test_unlabelled_images_are_resized_whole(tmp_path):
    from conftest import write_photo
    from gefu.io import read_image
    from gefu.methods.semi_llie.recipe import SemiLLIEData, Unlabeled

    write_photo(tmp_path / "u.png", (30, 50), seed=1)
    d = SemiLLIEData(**SEMI_DATA, crop=16)
    sample = Unlabeled([tmp_path / "u.png"], d)[(0, 5)]
    whole = torch.nn.functional.interpolate(
        read_image(tmp_path / "u.png")[None], (16, 16), mode="bilinear", antialias=True
    )[0]
    assert torch.allclose(sample["weak"], whole.clamp(0, 1))
    assert sample["strong"].shape == (3, 16, 16)


def test_perceptual_features_take_raw_input_and_contrastive_trains_nothing_by_default():
    from gefu.methods.semi_llie.recipe import SemiLLIEConfig, SemiLLIEData, SemiLLIETraining
    from gefu.train.aux import build_aux

    torch.manual_seed(0)
    vgg = build_aux("vgg", {"layer": "relu3_3"}, allow_random=True)
    config = SemiLLIEConfig(embed_dim=32, depths=[1], contrastive_features="vgg")
    method = SemiLLIETraining(config, SEMI_DATA)
    x = torch.rand(1, 3, 16, 16)
    raw = method.vgg_features(vgg, x)
    assert len(raw) == 3 and torch.equal(raw[0], vgg[1:5](x))  # features[:4], no normalisation
    assert not SemiLLIEConfig().vgg_imagenet_norm and not SemiLLIEConfig().contrastive_grad
    assert SemiLLIEData(**SEMI_DATA).resize == 280

    class Ctx:
        step = 0

        def aux(self, name):
            return vgg

    method.epoch_steps = 10
    batch = {
        "labeled": {"low": x * 0.2, "normal": x},
        "unlabeled": {"weak": x * 0.2, "strong": x * 0.3},
    }
    for grad in (False, True):
        method.config = SemiLLIEConfig(
            embed_dim=32, depths=[1], contrastive_grad=grad, contrastive_features="vgg"
        )
        terms = method.losses(batch, Ctx())
        assert terms["contrastive"].requires_grad is grad
        assert terms["total"].requires_grad


def test_inference_resizes_to_a_multiple_of_16_as_released():
    from gefu.methods.semi_llie.network import SemiLLIE

    torch.manual_seed(0)
    model = SemiLLIE(embed_dim=32, depths=[1]).eval()
    seen = []
    original = model.predict
    model.predict = lambda t: (seen.append(tuple(t.shape[-2:])), original(t))[1]
    with torch.no_grad():
        for size in ((12, 20), (16, 32)):
            assert model(torch.rand(1, 3, *size)).shape[-2:] == size
    assert seen == [(16, 32), (32, 48)]  # a full 16 more when already a multiple, as released
    with pytest.raises(ValueError, match="fit"):
        SemiLLIE(fit="crop")


def test_checkpointed_blocks_give_the_same_output_and_gradients():
    from gefu.methods.semi_llie.network import SemiLLIE

    torch.manual_seed(0)
    model = SemiLLIE(embed_dim=60, depths=(1, 1), d_state=4, drop_path_rate=0.5).train()
    x = torch.rand(2, 3, 8, 8)
    results = []
    for blocks in (False, True):
        model.checkpoint_blocks(blocks)
        model.zero_grad()
        torch.manual_seed(1)  # the same DropPath draws, replayed by the checkpoint
        y = model.predict(x)
        y.square().mean().backward()
        results.append((y.detach(), [p.grad.clone() for p in model.parameters()]))
    assert torch.allclose(results[0][0], results[1][0], atol=1e-6)
    for a, b in zip(results[0][1], results[1][1]):
        assert torch.allclose(a, b, atol=1e-6)
