"""Zero-DCE's loss terms on tiny tensors with hand-checkable values; model sizes."""

from __future__ import annotations

import math

import pytest
import torch

from gefu.train import losses as L


def test_colour_constancy_grey_is_zero_with_zero_gradient():
    grey = torch.full((2, 3, 4, 4), 0.3, requires_grad=True)
    value = L.colour_constancy(grey)
    value.backward()
    assert value.item() == 0.0
    assert torch.isfinite(grey.grad).all() and grey.grad.abs().max() == 0


def test_colour_constancy_pure_red():
    red = torch.zeros(1, 3, 2, 2)
    red[:, 0] = 1.0  # means R=1, G=B=0: sqrt(1^4 + 1^4 + 0^4)
    assert L.colour_constancy(red).item() == pytest.approx(math.sqrt(2))


def test_tv_constant_map_is_zero_and_a_ramp():
    assert L.illumination_smoothness(torch.full((1, 3, 5, 5), 0.7)).item() == 0.0
    ramp = torch.tensor([[[[0.0, 1.0], [0.0, 1.0]]]])  # 2 horizontal steps of 1, none vertical
    # tv_w = 2 / (2 * 1) = 1, tv_h = 0; 2 * (0 + 1) / batch 1
    assert L.illumination_smoothness(ramp).item() == pytest.approx(2.0)


def test_exposure_at_target_is_zero_and_off_target():
    assert L.exposure_control(torch.full((1, 3, 16, 16), 0.6), 0.6, 16).item() == pytest.approx(0)
    assert L.exposure_control(torch.full((1, 3, 16, 16), 0.5), 0.6, 16).item() == pytest.approx(
        0.01
    )


def test_spatial_consistency_identical_is_zero_and_one_edge():
    x = torch.rand(2, 3, 8, 8)
    assert L.spatial_consistency(x, x.clone()).item() == pytest.approx(0.0, abs=1e-12)
    original = torch.zeros(1, 3, 4, 8)
    enhanced = torch.zeros(1, 3, 4, 8)
    enhanced[..., :4] = 0.4  # pooled: [[0.4, 0]] vs [[0, 0]]: each region sees (0.4)^2 once
    assert L.spatial_consistency(enhanced, original).item() == pytest.approx(0.16)


def test_spatial_consistency_ignores_uniform_brightening():
    x = torch.rand(1, 3, 8, 8) * 0.5
    assert L.spatial_consistency(x + 0.3, x).item() == pytest.approx(0.0, abs=1e-10)


@pytest.mark.parametrize(("name", "count"), [("zero_dce", 79_416), ("zero_dce_pp", 10_561)])
def test_parameter_counts(name, count):
    from gefu.train import METHODS
    from gefu.train.config import TrainConfig, method_config

    cls = METHODS.get(name)
    method = cls(method_config(TrainConfig(method=name, steps=1)), {})
    assert method.modules()["model"].num_parameters == count
    assert method.enhancer == name
