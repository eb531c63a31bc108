import pytest
import torch

from gefu.sensor_noise import CAMERAS, raw_capture, tukey_lambda
from gefu.simulate import (
    ELD_PRESETS,
    GAMMA_PRESETS,
    PHYSICAL_PRESETS,
    SEVERITIES,
    LowLightSimulator,
    darken,
    eld,
    gamma_curve,
    image_seed,
    linear_to_srgb,
    make_generator,
    physical,
    poisson_gaussian_noise,
    sample_gamma_curve_params,
    srgb_to_linear,
)


def photo_like(seed: int = 1, size: int = 64) -> torch.Tensor:
    """A smooth colourful image with mean around 0.45, like a typical photo."""
    g = make_generator(seed)
    coarse = torch.rand(1, 3, 8, 8, generator=g)
    return torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear")[0] * 0.9


@pytest.mark.parametrize("model", ["physical", "gamma_curve"])
def test_same_seed_same_output_and_global_rng_untouched(model):
    image = photo_like()
    state = torch.get_rng_state()
    a = darken(image, model=model, severity="moderate", seed=3)
    b = darken(image, model=model, severity="moderate", seed=3)
    assert torch.equal(a, b)
    assert torch.equal(state, torch.get_rng_state())


def test_different_seeds_differ():
    image = photo_like()
    assert not torch.equal(darken(image, seed=0), darken(image, seed=1))


@pytest.mark.parametrize("model", ["physical", "gamma_curve"])
@pytest.mark.parametrize("severity", ["mild", "moderate", "severe"])
def test_range_shape_and_8bit_steps(model, severity):
    batch = torch.stack([photo_like(1), photo_like(2)])
    out = darken(batch, model=model, severity=severity)
    assert out.shape == batch.shape and out.dtype == torch.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    levels = out * 255.0
    assert torch.allclose(levels, levels.round(), atol=1e-4)


@pytest.mark.parametrize("model", ["physical", "gamma_curve"])
def test_more_severe_is_darker(model):
    image = photo_like()
    means = [darken(image, model=model, severity=s).mean().item() for s in SEVERITIES]
    assert image.mean() > means[0] > means[1] > means[2] > 0.0


def test_gamma_curve_hand_checked_values():
    x = torch.tensor([0.0, 0.1, 0.2, 0.6, 1.0]).expand(3, 1, 5)
    assert torch.allclose(gamma_curve(x, alpha=0.0, k=0.0, l=0.0), x)
    assert torch.allclose(gamma_curve(x, alpha=0.0, k=0.0, l=0.5), 0.5 * x)
    # alpha = 0.5^5 gives alpha^0.2 = 0.5, so e = 2; C = 0.9 / 0.8^2 = 1.40625.
    y = gamma_curve(x, alpha=0.5**5, k=0.2, l=0.1)[0, 0]
    assert torch.allclose(y, torch.tensor([0.0, 0.0, 0.0, 1.40625 * 0.16, 0.9]), atol=1e-6)
    with pytest.raises(ValueError, match="alpha"):
        gamma_curve(x, alpha=1.0, k=0.0, l=0.0)


def test_gamma_presets_within_published_ranges():
    for p in GAMMA_PRESETS.values():
        assert 0 <= p.alpha <= 0.3 and 0 <= p.k <= 0.4 and 0 <= p.l <= 0.95


def test_gamma_sampler_distribution():
    g = make_generator(0)
    draws = [sample_gamma_curve_params(g) for _ in range(3000)]
    alphas, ks, ls = (torch.tensor([getattr(d, f) for d in draws]) for f in ("alpha", "k", "l"))
    assert alphas.min() >= 0 and alphas.max() <= 0.3
    assert ks.min() >= 0 and ks.max() <= 0.4 and ls.min() >= 0 and ls.max() <= 0.95
    assert abs(alphas.mean() - 0.15) < 0.01
    # Half-normals: mean sigma * sqrt(2/pi) with sigma = 0.1 (k) and 0.2375 (l).
    assert abs(ks.mean() - 0.0798) < 0.005 and abs(ls.mean() - 0.1895) < 0.01
    again = sample_gamma_curve_params(make_generator(0))
    assert again == draws[0]


def test_poisson_gaussian_noise_statistics():
    level, full_well, read_noise = 0.1, 1000.0, 3.0
    flat = torch.full((3, 256, 256), level)
    noisy = poisson_gaussian_noise(flat, full_well, read_noise, make_generator(0))
    expected_var = level / full_well + (read_noise / full_well) ** 2
    assert abs(noisy.mean().item() - level) < 1e-3
    assert noisy.var().item() == pytest.approx(expected_var, rel=0.03)


def test_physical_noise_on_constant_image_matches_model():
    """Through the sRGB curve the variance follows the delta method: (d sRGB / d lin)^2 var."""
    srgb, exposure, full_well, read_noise = 0.6, 0.2, 20000.0, 2.0
    flat = torch.full((3, 256, 256), srgb)
    out = physical(flat, exposure, full_well, read_noise, make_generator(0), quantize=False)
    lin = srgb_to_linear(torch.tensor(srgb)) * exposure
    slope = 1.055 / 2.4 * lin ** (1 / 2.4 - 1)
    expected_var = slope**2 * (lin / full_well + (read_noise / full_well) ** 2)
    assert out.mean().item() == pytest.approx(linear_to_srgb(lin).item(), abs=2e-3)
    assert out.var().item() == pytest.approx(expected_var.item(), rel=0.1)


def test_physical_without_darkening_or_noise_is_identity_up_to_8bit():
    image = photo_like()
    out = physical(image, exposure=1.0, full_well=1e9, read_noise=0.0)
    assert (out - image).abs().max() <= 0.5 / 255 + 1e-3


def test_noise_is_visible_but_not_absurd():
    """Moderate preset on a photo-like image: noise std a few 8-bit levels."""
    image = photo_like()
    p = PHYSICAL_PRESETS["moderate"]
    clean = physical(image, p.exposure, 1e12, 0.0, quantize=False)
    noise = (darken(image, severity="moderate") - clean).std().item()
    assert 1 / 255 < noise < 8 / 255


def test_image_seed_is_stable_and_name_dependent():
    assert image_seed(0, "astronaut") == image_seed(0, "astronaut") == 3182611174135261014
    assert image_seed(0, "astronaut") != image_seed(1, "astronaut")
    assert image_seed(0, "astronaut") != image_seed(0, "chelsea")


def test_simulator_seeds_per_name_and_takes_explicit_params():
    image = photo_like()
    sim = LowLightSimulator("physical", "severe", seed=5)
    assert torch.equal(sim(image, name="a"), sim(image, name="a"))
    assert not torch.equal(sim(image, name="a"), sim(image, name="b"))
    explicit = LowLightSimulator(
        "physical", params={"exposure": 1.0, "full_well": 1e9, "read_noise": 0.0}
    )
    assert explicit.severity is None and explicit.config()["params"]["exposure"] == 1.0
    assert (explicit(image) - image).abs().max() < 1 / 255


def test_gamma_random_severity_samples_per_name():
    image = photo_like()
    sim = LowLightSimulator("gamma_curve", "random", seed=0)
    assert torch.equal(sim(image, name="x"), sim(image, name="x"))
    assert not torch.equal(sim(image, name="x"), sim(image, name="y"))


def test_bad_arguments_are_clear():
    with pytest.raises(ValueError, match="physical, gamma_curve, eld"):
        LowLightSimulator("film")
    with pytest.raises(ValueError, match="mild, moderate, severe"):
        LowLightSimulator("physical", "apocalyptic")
    with pytest.raises(ValueError, match=r"\[3,H,W\]"):
        darken(torch.zeros(4, 8, 8))
    with pytest.raises(ValueError, match="float"):
        darken(torch.zeros(3, 8, 8, dtype=torch.uint8))


# -- the calibrated camera (ELD noise model) ----------------------------------------------------
def test_eld_presets_deterministic_darker_in_order_and_rng_untouched():
    image = photo_like()
    state = torch.get_rng_state()
    outs = {s: LowLightSimulator("eld", s, seed=3)(image, name="a") for s in ELD_PRESETS}
    assert torch.equal(outs["x100"], LowLightSimulator("eld", "x100", seed=3)(image, name="a"))
    assert not torch.equal(outs["x100"], LowLightSimulator("eld", "x100", seed=4)(image, name="a"))
    assert torch.equal(state, torch.get_rng_state())
    means = [outs[s].mean().item() for s in ("x100", "x300", "extreme")]
    assert image.mean() > means[0] > means[1] > means[2] > 0.0
    levels = outs["extreme"] * 255.0
    assert torch.allclose(levels, levels.round(), atol=1e-4)


def test_eld_mean_follows_iso_gain_over_ratio():
    """Linear-light mean of the capture = reference * iso_gain / ratio (unbiased noise)."""
    flat = torch.full((3, 128, 128), 0.8)
    out = eld(flat, ratio=100.0, iso_gain=16.0, generator=make_generator(0), quantize=False)
    expected = srgb_to_linear(torch.tensor(0.8)) * 16 / 100
    assert srgb_to_linear(out).mean().item() == pytest.approx(expected.item(), rel=0.01)


def test_raw_capture_variance_is_elds_sum_of_terms():
    """Var(DN) = K^2 * electrons + sigma_TL^2 Var(TL) + sigma_row^2 + 1/12 (rounding)."""
    from scipy.stats import tukeylambda

    cam = CAMERAS["SonyA7S2"]
    level, ratio, gain = 0.3, 300.0, 8.0
    flat = torch.full((3, 512, 512), level, dtype=torch.float64)
    dn = raw_capture(flat, ratio, gain, "SonyA7S2", make_generator(0)) * cam.span
    k = cam.k_base * gain
    electrons = level * cam.span / cam.k_base / ratio
    sigma_tl, sigma_row = cam.scales(k)
    expected = k**2 * electrons + sigma_tl**2 * tukeylambda.var(cam.tl_shape) + sigma_row**2
    expected += 1 / 12
    assert dn.mean().item() == pytest.approx(k * electrons, rel=0.01)
    assert dn.var().item() == pytest.approx(expected, rel=0.05)
    # the row term is shared along a row: it survives averaging a row (3 x 512 values)
    row_means = dn.mean(dim=(0, 2))
    pixel_only = (expected - sigma_row**2) / (3 * 512)
    assert row_means.var().item() == pytest.approx(sigma_row**2 + pixel_only, rel=0.2)
    assert row_means.var().item() > 3 * pixel_only


def test_published_calibration_numbers():
    cam = CAMERAS["SonyA7S2"]
    assert (cam.black, cam.white) == (512.0, 16383.0)
    assert cam.k_max / cam.k_base == pytest.approx(64.0, rel=0.001)  # 6 stops of ISO
    assert cam.scales(1.0)[0] == pytest.approx(1.7607, rel=1e-3)  # exp(bias of G_scale)


def test_tukey_lambda_draws_follow_scipy():
    from scipy.stats import kstest, tukeylambda

    draws = tukey_lambda(-0.0857, (20000,), make_generator(0)).numpy()
    assert kstest(draws, tukeylambda(-0.0857).cdf).pvalue > 0.01


def test_eld_bad_parameters_are_clear():
    with pytest.raises(ValueError, match="iso_gain"):
        eld(photo_like(), ratio=100.0, iso_gain=100.0)
    with pytest.raises(ValueError, match="unknown camera"):
        eld(photo_like(), ratio=100.0, iso_gain=2.0, camera="Nokia3310")
    with pytest.raises(ValueError, match="x100, x300, extreme"):
        LowLightSimulator("eld", "severe")
