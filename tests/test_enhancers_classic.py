"""The classic (non-learned) enhancers: contract, behaviour, and the numerics underneath."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gefu.enhancers import ENHANCERS, create_enhancer
from gefu.enhancers.base import luminance

CASES = [
    ("identity", {}),
    ("gamma", {}),
    ("gamma", {"mode": "adaptive"}),
    ("he", {}),
    ("clahe", {}),
    ("msrcr", {}),
    ("lime", {}),
    ("lime", {"strategy": 2}),
]
IDS = [name + "-" + "-".join(map(str, p.values())) if p else name for name, p in CASES]
SIZES = [(2, 32, 48), (2, 5, 7), (1, 1, 1), (2, 1, 9), (1, 17, 2)]


def build(name, params):
    return create_enhancer(name, **params)


def run(model, x):
    with torch.no_grad():
        return model(x)


@pytest.fixture(scope="module")
def dark_photo():
    """skimage's astronaut at 128x128, darkened to 15%, and the original."""
    from skimage.data import astronaut

    img = torch.from_numpy(astronaut()).permute(2, 0, 1)[None].float() / 255
    img = F.interpolate(img, size=(128, 128), mode="area")
    return img * 0.15, img


def corr(a, b):
    return float(np.corrcoef(a.flatten().numpy(), b.flatten().numpy())[0, 1])


# -- the contract, for every classic enhancer ------------------------------------------------
@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
@pytest.mark.parametrize(("b", "h", "w"), SIZES)
def test_shape_range_finite(name, params, b, h, w):
    torch.manual_seed(h * 100 + w)
    x = torch.rand(b, 3, h, w)
    y = run(build(name, params), x)
    assert y.shape == x.shape and y.dtype == torch.float32
    assert torch.isfinite(y).all()
    assert y.min() >= 0 and y.max() <= 1


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
def test_batch_independent_and_deterministic(name, params):
    torch.manual_seed(0)
    a = torch.rand(1, 3, 24, 31) * 0.3
    b = torch.rand(1, 3, 24, 31) ** 3  # very different statistics
    model = build(name, params)
    both = run(model, torch.cat([a, b]))
    torch.testing.assert_close(both[:1], run(model, a), atol=1e-5, rtol=0)
    torch.testing.assert_close(both[1:], run(model, b), atol=1e-5, rtol=0)
    assert torch.equal(both, run(model, torch.cat([a, b])))


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
def test_registered_and_rebuildable_from_hparams(name, params):
    model = build(name, params)
    assert model.registry_name == name and not model.trainable
    rebuilt = type(model)(**model.hparams)
    assert rebuilt.hparams == model.hparams


# -- behaviour -------------------------------------------------------------------------------
def test_identity_returns_input_exactly():
    x = torch.rand(2, 3, 9, 11)
    y = run(build("identity", {}), x)
    assert torch.equal(y, x) and y is not x


def test_gamma_fixed_on_constant_image():
    x = torch.full((1, 3, 4, 5), 0.25)
    assert torch.allclose(run(build("gamma", {"gamma": 0.5}), x), torch.full_like(x, 0.5))
    # default 1/2.2: 0.25 ** 0.4545... = exp(-1.386294 * 0.454545) = 0.532521
    assert torch.allclose(run(build("gamma", {}), x), torch.full_like(x, 0.532521), atol=1e-5)


@pytest.mark.parametrize(("level", "target"), [(0.1, 0.5), (0.05, 0.4), (0.7, 0.5)])
def test_adaptive_gamma_maps_mean_to_target(level, target):
    x = torch.full((1, 3, 6, 7), level)
    y = run(build("gamma", {"mode": "adaptive", "target_mean": target}), x)
    assert torch.allclose(y, torch.full_like(x, target), atol=1e-4)


def test_adaptive_gamma_is_clamped_on_black():
    model = build("gamma", {"mode": "adaptive", "min_gamma": 0.2})
    x = torch.zeros(1, 3, 4, 4)
    assert model.exponent(x).item() == pytest.approx(0.2)
    assert torch.equal(run(model, x), x)


def coarse_histogram(y, bins=8):
    return torch.histc(y, bins=bins, min=0, max=1) / y.numel() * bins  # 1 = uniform


def test_he_flattens_the_luminance_histogram():
    torch.manual_seed(1)
    grey = F.avg_pool2d(torch.rand(1, 1, 130, 130), 3, stride=1) ** 2  # skewed towards dark
    x = grey.repeat(1, 3, 1, 1)
    before = coarse_histogram(luminance(x))
    after = coarse_histogram(luminance(run(build("he", {}), x)))
    assert before.max() > 2  # far from uniform to start with
    assert after.min() > 0.7 and after.max() < 1.3


def test_he_keeps_chroma_and_survives_a_constant_image():
    torch.manual_seed(2)
    x = 0.2 + 0.1 * torch.rand(1, 3, 20, 20)
    y = run(build("he", {}), x)
    shift = y - x  # keeping Cb and Cr means the same shift in R, G and B ...
    inside = ((y > 0) & (y < 1)).all(1)  # ... where no channel was clamped
    assert inside.float().mean() > 0.5
    for c in (1, 2):
        assert torch.allclose(shift[:, 0][inside], shift[:, c][inside], atol=1e-6)
    flat = torch.full((1, 3, 8, 8), 0.3)
    assert torch.equal(run(build("he", {}), flat), flat)


def test_clahe_brightens_dark_low_contrast_image():
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 256), torch.linspace(0, 1, 256), indexing="ij")
    pattern = 0.08 + 0.04 * torch.sin(20 * xx) * torch.cos(15 * yy)
    x = pattern.expand(1, 3, 256, 256).clone()
    y = run(build("clahe", {}), x)  # clip_limit 2: a measured gain, 0.08 -> 0.14
    assert y.mean() > 1.5 * x.mean()
    assert y.std() > 2 * x.std()
    stronger = run(build("clahe", {"clip_limit": 4.0}), x)
    assert stronger.mean() > y.mean() + 0.03


@pytest.mark.parametrize("name", ["msrcr", "lime"])
def test_brightens_darkened_photo_keeping_structure(name, dark_photo):
    dark, original = dark_photo
    y = run(build(name, {}), dark)
    assert y.mean() > 3 * dark.mean() and y.mean() > 0.25
    assert corr(luminance(y), luminance(original)) > 0.8


# -- numerics: the blur and the LIME solver ---------------------------------------------------
@pytest.mark.parametrize("sigma", [3.0, 15.0, 80.0])
def test_mirror_gaussian_blur_matches_scipy(sigma):
    from scipy.ndimage import gaussian_filter

    from gefu.enhancers.retinex import gaussian_blur_mirror

    x = torch.rand(1, 2, 37, 50, dtype=torch.float64)
    (y,) = gaussian_blur_mirror(x, (sigma,))
    ref = np.stack([gaussian_filter(c, sigma, mode="reflect", truncate=12) for c in x[0].numpy()])
    assert np.abs(y[0].numpy() - ref).max() < 1e-10


def sparse_system(wx, wy, alpha):
    """The LIME matrix built edge by edge with scipy, independently of the torch operator."""
    import scipy.sparse as sp

    wx, wy = wx[0, 0].numpy(), wy[0, 0].numpy()
    h, w = wy.shape[0] + 1, wx.shape[1] + 1
    idx = np.arange(h * w).reshape(h, w)
    rows, cols, vals = [], [], []
    for weights, a, b in ((wx, idx[:, :-1], idx[:, 1:]), (wy, idx[:-1, :], idx[1:, :])):
        for wt, i, j in zip(weights.ravel(), a.ravel(), b.ravel()):
            rows += [i, j, i, j]
            cols += [i, j, j, i]
            vals += [wt, wt, -wt, -wt]
    laplacian = sp.csr_matrix((vals, (rows, cols)), shape=(h * w, h * w))
    return (sp.eye(h * w) + alpha * laplacian).tocsc()


@pytest.mark.parametrize(("h", "w", "solver"), [(9, 13, "cg"), (40, 35, "cascade")])
def test_lime_solver_satisfies_the_linear_system(h, w, solver):
    from scipy.sparse.linalg import spsolve

    from gefu.enhancers.lime import LIME, apply_system, cascadic_solve, conjugate_gradient

    torch.manual_seed(3)
    t_hat = F.avg_pool2d(torch.rand(1, 1, h + 2, w + 2, dtype=torch.float64), 3, stride=1)
    model = LIME()
    wx, wy = model.weights(t_hat)
    solve = conjugate_gradient if solver == "cg" else cascadic_solve
    t, res = solve(t_hat, wx, wy, model.alpha, max_iter=5000, tol=1e-9)
    assert res.item() < 1e-9
    rel = (apply_system(t, wx, wy, model.alpha) - t_hat).norm() / t_hat.norm()
    assert rel < 1e-8
    exact = spsolve(sparse_system(wx, wy, model.alpha), t_hat.flatten().numpy())
    assert np.abs(t.flatten().numpy() - exact).max() < 1e-6
    assert np.abs(exact - t_hat.flatten().numpy()).max() > 1e-3  # the system is not trivial


def test_lime_default_solver_is_close_to_the_exact_solution(dark_photo):
    from scipy.sparse.linalg import spsolve

    from gefu.enhancers.lime import LIME

    x = dark_photo[0][..., :64, :64]
    model = LIME()
    t, _ = model.illumination(x)
    wx, wy = model.weights(x.amax(1, keepdim=True).double())
    exact = spsolve(sparse_system(wx, wy, model.alpha), x.amax(1).double().flatten().numpy())
    assert np.abs(t.flatten().numpy() - exact).max() < 2e-3


# -- bad parameters --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "params", "param"),
    [
        ("gamma", {"gamma": 0}, "gamma"),
        ("gamma", {"gamma": -1.0}, "gamma"),
        ("gamma", {"mode": "auto"}, "mode"),
        ("gamma", {"mode": "adaptive", "target_mean": 1.5}, "target_mean"),
        ("gamma", {"min_gamma": 2.0, "max_gamma": 1.0}, "min_gamma"),
        ("clahe", {"clip_limit": -1}, "clip_limit"),
        ("clahe", {"grid_size": 0}, "grid_size"),
        ("clahe", {"grid_size": 2.5}, "grid_size"),
        ("msrcr", {"sigmas": (15, -1)}, "sigmas"),
        ("msrcr", {"sigmas": ()}, "sigmas"),
        ("msrcr", {"alpha": 0}, "alpha"),
        ("msrcr", {"gain": 0}, "gain"),
        ("msrcr", {"low_clip": 60}, "low_clip"),
        ("msrcr", {"high_clip": -1}, "high_clip"),
        ("lime", {"alpha": 0}, "alpha"),
        ("lime", {"gamma": math.inf}, "gamma"),
        ("lime", {"strategy": 1}, "strategy"),
        ("lime", {"sigma": 0}, "sigma"),
        ("lime", {"eps": 0}, "eps"),
        ("lime", {"max_iter": 0}, "max_iter"),
        ("lime", {"tol": 2}, "tol"),
    ],
)
def test_bad_params_raise_value_error_naming_the_param(name, params, param):
    with pytest.raises(ValueError, match=param):
        ENHANCERS.get(name)(**params)
