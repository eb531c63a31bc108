"""SCL-LLE: each loss term on hand-checkable tensors, the weighted total, data, a train step."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gefu.methods.scl_lle import losses as L


def const(value, h=4, w=4, b=1):
    return torch.full((b, 3, h, w), float(value))


# -- loss terms ------------------------------------------------------------------------------
def test_brightness_consistency_by_hand():
    labels = torch.tensor([[[0, 0, 1, 1]]])  # [1,1,4]
    assert L.semantic_brightness_consistency(const(0.3, 1, 4), labels).item() == 0
    img = torch.tensor([0.2, 0.4, 0.5, 0.5]).view(1, 1, 1, 4).expand(1, 3, 1, 4)
    # segment 0: values 0.2, 0.4 -> mean 0.3, variance 0.01; segment 1 constant -> 0
    assert L.semantic_brightness_consistency(img, labels).item() == pytest.approx(0.01)
    ignored = torch.tensor([[[0, 0, 255, 255]]])
    img2 = torch.tensor([0.2, 0.4, 0.0, 1.0]).view(1, 1, 1, 4).expand(1, 3, 1, 4)
    assert L.semantic_brightness_consistency(img2, ignored).item() == pytest.approx(0.01)
    # per image: two images with different constants in the same class cost 0
    two = torch.cat([const(0.1, 1, 4), const(0.9, 1, 4)])
    assert L.semantic_brightness_consistency(two, torch.zeros(2, 1, 4)).item() == 0


def test_grey_contrastive_by_hand():
    e, p = const(0.5), const(0.6)
    # d(E,P)=0.1, d(E,N)=0.4: 0.1 - 0.4 + 0.3 = 0 -> hinge 0
    assert L.grey_contrastive(e, p, const(0.1)).item() == pytest.approx(0, abs=1e-6)
    # d(E,N)=0.2: 0.1 - 0.2 + 0.3 = 0.2
    assert L.grey_contrastive(e, p, const(0.3)).item() == pytest.approx(0.2)
    # grey = channel mean: a coloured positive with the same mean is at distance 0
    coloured = torch.cat([const(0.2)[:, :1], const(0.5)[:, :1], const(0.8)[:, :1]], 1)
    assert L.grey_distance(const(0.5), coloured).item() == pytest.approx(0)


def test_gram_and_style_contrastive():
    f = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)  # C=2, H*W=2
    expected = torch.tensor([[5.0, 11.0], [11.0, 25.0]]) / 4
    assert torch.allclose(L.gram(f)[0], expected)
    feats = [torch.rand(2, 4, 3, 3), torch.rand(2, 5, 2, 2)]
    # identical images: both distances are 0 -> the margin itself
    assert L.style_contrastive(feats, feats, feats).item() == pytest.approx(0.04)
    g = [2 * x for x in feats]
    assert L.style_distance(feats, g).item() == pytest.approx(
        sum(((L.gram(a) * 3) ** 2).sum().item() for a in feats), rel=1e-5
    )


def test_feature_segmentation_tv_colour():
    from gefu.train.losses import colour_constancy, illumination_smoothness

    a = torch.rand(1, 8, 3, 3)
    assert L.feature_preservation(a, a).item() == 0
    assert L.feature_preservation(a, a + 0.5).item() == pytest.approx(0.25)
    logits = torch.zeros(1, 19, 2, 2)
    logits[:, 3] = 100.0
    labels = torch.tensor([[[3, 3], [255, 3]]])
    assert L.segmentation_guidance(logits, labels).item() == pytest.approx(0, abs=1e-6)
    uniform = L.segmentation_guidance(torch.zeros(1, 19, 1, 1), torch.tensor([[[3, 0], [1, 2]]]))
    assert uniform.item() == pytest.approx(torch.log(torch.tensor(19.0)).item(), rel=1e-5)
    none = L.segmentation_guidance(logits, torch.full((1, 2, 2), 255))
    assert none.item() == 0
    assert illumination_smoothness(torch.full((2, 24, 5, 5), 0.7)).item() == 0
    ramp = torch.arange(3.0).view(1, 1, 1, 3).expand(1, 1, 3, 3)  # horizontal steps of 1
    assert illumination_smoothness(ramp).item() == pytest.approx(2.0)
    assert colour_constancy(const(0.4)).item() == pytest.approx(0, abs=1e-5)
    rgb = torch.cat([const(0.6)[:, :1], const(0.4)[:, :1], const(0.4)[:, :1]], 1)
    # (0.2^2)^2 twice -> sqrt(2 * 0.0016)
    assert colour_constancy(rgb).item() == pytest.approx((2 * 0.0016) ** 0.5, rel=1e-4)


# -- the method: data, total with the paper weights, a train step -----------------------------
class Normalize(nn.Module):  # named like gefu.train.aux's first VGG stage
    def forward(self, x):
        return (x - 0.45) / 0.225


def fake_vgg():
    """The aux VGG's layout (Normalize + features up to relu4_3) with three small convs."""
    torch.manual_seed(0)
    stages = [nn.Identity() for _ in range(23)]
    stages[0], stages[4], stages[9] = (
        nn.Conv2d(3, 4, 3, padding=1),
        nn.Conv2d(4, 4, 3, 2, 1),
        nn.Conv2d(4, 6, 3, 2, 1),
    )
    stages[1], stages[5], stages[10] = nn.ReLU(), nn.ReLU(), nn.ReLU()
    return nn.Sequential(Normalize(), *stages).requires_grad_(False)


def test_vgg_taps_skip_the_normalisation_by_default():
    from gefu.methods.scl_lle.recipe import vgg_taps

    vgg, x = fake_vgg(), torch.rand(1, 3, 8, 8)
    taps = vgg_taps(vgg, x)
    assert [t.shape[1] for t in taps] == [4, 4, 6]
    assert torch.equal(taps[-1], vgg[1:](x)) and torch.equal(
        vgg_taps(vgg, x, imagenet_norm=True)[-1], vgg(x)
    )
    with pytest.raises(ValueError, match="aux.vgg.layer"):
        vgg_taps(vgg[:10], x)


class FakeCtx:
    def __init__(self, method):
        torch.manual_seed(1)
        seg = nn.Conv2d(3, 19, 1).requires_grad_(False)
        self.nets = {"segmenter": seg, "vgg": fake_vgg()}
        self.optim = method.optimizers(method.modules())["model"][0]
        self.step = 0

    def aux(self, name):
        return self.nets[name]

    def backward(self, loss, optimizer):
        loss.backward()

    def step_optimizer(self, optimizer):
        torch.nn.utils.clip_grad_norm_(self.optim.param_groups[0]["params"], 0.1)
        self.optim.step()
        self.optim.zero_grad()


def make_photos(tmp_path, n=3):
    from gefu.io import write_image

    folder = tmp_path / "photos"
    folder.mkdir(parents=True)
    g = torch.Generator().manual_seed(0)
    for i in range(n):
        base = torch.rand(3, 1, 1, generator=g) * 0.6 + 0.2
        img = (base + 0.15 * torch.rand(3, 40, 48, generator=g)).clamp(0, 1)
        write_image(folder / f"p{i}.png", img)
    return str(folder)


def make_method(tmp_path, **params):
    from gefu.methods.scl_lle.recipe import SCLLLETraining

    photos = make_photos(tmp_path)
    folder = {"name": "unpaired_folder", "root": photos}
    scenes = {
        "name": "darkened",
        "params": {"dataset": folder, "model": "gamma_curve", "severity": "random"},
    }
    data = {"scenes": scenes, "positives": folder, "crop": 32}
    config = SCLLLETraining.Config(pseudo_labels=True, **params)
    return SCLLLETraining(config, data)


def batch_of(method, step):
    sets = method.datasets()
    return {
        name: torch.utils.data.default_collate([ds[(i % len(ds), 1000 * step + i)] for i in (0, 1)])
        for name, ds in sets.items()
    }


def test_config_defaults_are_the_paper_weights(tmp_path):
    from gefu.methods.scl_lle.recipe import SCLLLETraining

    c = SCLLLETraining.Config()
    weights = (c.w_tv, c.w_color, c.w_brightness, c.w_feature, c.w_contrast, c.w_style, c.w_seg)
    assert weights == (200, 8, 1, 1, 10, 5, 1)
    assert (c.contrast_margin, c.style_margin, c.lr, c.weight_decay) == (0.3, 0.04, 1e-4, 1e-4)
    assert c.seg_grad is True
    assert make_method(tmp_path).modules()["model"].num_parameters == 79416
    with pytest.raises(ValueError, match="pseudo_labels"):
        SCLLLETraining(
            c,
            {
                "scenes": {
                    "name": "darkened",
                    "params": {"dataset": {"name": "unpaired_folder", "root": "x"}},
                },
                "positives": {"name": "unpaired_folder", "root": "x"},
            },
        )
    with pytest.raises(ValueError, match=r"data\.oops: unknown key; valid keys here: scenes"):
        SCLLLETraining(
            c, {"scenes": {"name": "mask_folder"}, "positives": {"name": "x"}, "oops": 1}
        )


def test_data_is_a_pure_function_of_the_seed(tmp_path):
    method = make_method(tmp_path)
    scenes, contrast = method.datasets().values()
    a, b = scenes[(1, 7)], scenes[(1, 7)]
    assert a["image"].shape == (3, 32, 32) and a["labels"].shape == (32, 32)
    assert torch.equal(a["image"], b["image"]) and not torch.equal(
        a["image"], scenes[(1, 8)]["image"]
    )
    assert a["image"].mean() < a["clean"].mean()  # darkened
    c = contrast[(0, 3)]
    assert c["positive"].shape == c["negative"].shape == (3, 32, 32)
    assert torch.equal(c["negative"], contrast[(0, 3)]["negative"])


def test_exposure_negatives_are_badly_exposed():
    from gefu.methods.scl_lle.recipe import exposure_negative

    img = torch.full((3, 8, 8), 0.4)
    means = [exposure_negative(img, torch.Generator().manual_seed(s)).mean() for s in range(20)]
    assert all(m > 0.6 or m < 0.2 for m in means)
    assert any(m > 0.6 for m in means) and any(m < 0.2 for m in means)


def test_synthetic_negatives_are_low_light_by_default(tmp_path):
    method = make_method(tmp_path)
    contrast = method.datasets()["contrast"]
    pairs = [contrast[(0, s)] for s in range(6)]
    assert all(c["negative"].mean() < 0.5 * c["positive"].mean() for c in pairs)
    over_under = make_method(tmp_path / "b")
    over_under.data_config.synthetic_negatives = "over_under"
    negatives = [over_under.datasets()["contrast"][(0, s)]["negative"].mean() for s in range(8)]
    assert max(negatives) > 0.6


def test_an_over_exposed_negative_gives_a_dark_output_no_gradient():
    """Why the synthetic negatives are low-light (see the module docstring): per pixel,
    d(E,P) - d(E,N) has zero slope unless E lies between N and P."""
    from gefu.methods.scl_lle import losses as L

    p, over, under = (torch.full((1, 3, 4, 4), v) for v in (0.5, 0.95, 0.02))
    for negative, slope in ((over, 0.0), (under, -2.0)):
        e = torch.full((1, 3, 4, 4), 0.1, requires_grad=True)
        L.grey_contrastive(e, p, negative).backward()
        assert e.grad.sum().item() == pytest.approx(slope, abs=1e-6)


def test_total_uses_the_paper_weights_and_seg_grad_switch(tmp_path):
    method = make_method(tmp_path)
    ctx = FakeCtx(method)
    terms = method.losses(batch_of(method, 0), ctx)
    w = {"tv": 200, "color": 8, "brightness": 1, "feature": 1, "contrast": 10, "style": 5}
    expected = sum(w[n] * terms[n] for n in w) + terms["seg"]
    assert terms["total"].item() == pytest.approx(expected.item(), rel=1e-6)
    for seg_grad in (True, False):
        method = make_method(tmp_path / str(seg_grad), seg_grad=seg_grad)
        seg = method.losses(batch_of(method, 0), FakeCtx(method))["seg"]
        assert seg.requires_grad == seg_grad
        if seg_grad:
            seg.backward()
            grads = [p.grad for p in method.modules()["model"].parameters()]
            assert all(g is not None for g in grads) and sum(g.abs().sum() for g in grads) > 0


def test_training_lowers_the_loss_and_round_trips(tmp_path):
    from gefu.methods.scl_lle.network import SCLLLE

    torch.manual_seed(0)
    method = make_method(tmp_path)
    ctx = FakeCtx(method)
    batch = batch_of(method, 0)
    first = [method.train_step(batch, ctx)["total"] for _ in range(40)]
    assert first[-1] < first[0]
    model = method.modules()["model"]
    model.save_pretrained(tmp_path / "ckpt")
    loaded = SCLLLE.from_pretrained(tmp_path / "ckpt")
    assert loaded.num_parameters == 79416
    x = batch["scenes"]["image"]
    assert torch.allclose(loaded(x), model.eval()(x))


def test_released_segexp_by_hand():
    # grey levels [[0.2, 0.4], [0.6, 0.8]], labels [[0, 0], [1, ignored]], N = 4:
    # class 0: S/N = 0.6/4 = 0.15 -> ((0.2-0.15)^2 + (0.4-0.15)^2) / 4 = 0.065 / 4 = 0.01625
    # class 1: S/N = 0.6/4 = 0.15 -> (0.6-0.15)^2 / 4 = 0.2025 / 4 = 0.050625
    img = torch.tensor([[0.2, 0.4], [0.6, 0.8]]).expand(1, 3, 2, 2)
    labels = torch.tensor([[[0, 0], [1, 255]]])
    value = L.semantic_brightness_released(img, labels).item()
    assert value == pytest.approx(0.01625 + 0.050625)
    # a constant segment still costs: S/N is not the class mean (0.3 vs 0.3 * 2/4)
    half = torch.tensor([[0.3, 0.3], [0.0, 0.0]]).expand(1, 3, 2, 2)
    lab = torch.tensor([[[0, 0], [255, 255]]])
    assert L.semantic_brightness_released(half, lab).item() == pytest.approx(2 * 0.15**2 / 4)
    # pixels of grey level exactly 0 count as outside their class (the release's where(a2 == 0))
    zero = torch.tensor([[0.3, 0.0], [0.5, 0.5]]).expand(1, 3, 2, 2)
    assert L.semantic_brightness_released(zero, torch.zeros(1, 2, 2, dtype=torch.long)).item() == (
        pytest.approx(((0.3 - 0.325) ** 2 + 2 * (0.5 - 0.325) ** 2) / 4)
    )
    # per image, averaged over the batch
    both = torch.cat([img, torch.full((1, 3, 2, 2), 0.5)])
    assert L.semantic_brightness_released(both, torch.cat([labels, labels])).item() == (
        pytest.approx((value + L.semantic_brightness_released(both[1:], labels).item()) / 2)
    )


def test_brightness_switch_defaults_to_the_release(tmp_path):
    from gefu.methods.scl_lle.recipe import SCLLLEConfig

    assert SCLLLEConfig().brightness_loss == "released"
    assert SCLLLEConfig.release_switches["seg_grad"] is False
    values = {}
    for form in ("released", "variance"):
        method = make_method(tmp_path / form, brightness_loss=form)
        batch = batch_of(method, 0)
        values[form] = method.losses(batch, FakeCtx(method))["brightness"].item()
        fn = (
            L.semantic_brightness_released
            if form == "released"
            else (L.semantic_brightness_consistency)
        )
        enhanced = method.modules()["model"](batch["scenes"]["image"])
        labels = FakeCtx(method).aux("segmenter")(batch["scenes"]["clean"]).argmax(1)
        assert values[form] == pytest.approx(fn(enhanced, labels).item(), rel=1e-5)
    assert values["released"] != values["variance"]
