"""VainF's DeepLabV3+ MobileNetV2 (OS16, Cityscapes) as the frozen semantic prior of SAGC and
SCL-LLE: its module layout, its checkpoint format, and loading through the training suite."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gefu.train.deeplab_vainf import (
    PARAMETERS_19,
    DeepLabV3PlusMobileNet,
    load_vainf_segmenter,
    read_vainf_state,
)


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return DeepLabV3PlusMobileNet(19, 16).eval()


def test_architecture_layout_and_parameter_count(net):
    # 5,225,203: VainF's network.modeling.deeplabv3plus_mobilenet(num_classes=19,
    # output_stride=16) counted with its own code (same 356 state-dict keys and shapes)
    assert sum(p.numel() for p in net.parameters()) == PARAMETERS_19 == 5_225_203
    keys = net.state_dict().keys()
    assert len(keys) == 356
    for key in (
        "backbone.low_level_features.0.0.weight",
        "backbone.low_level_features.1.conv.0.0.weight",  # expansion 1: dw first
        "backbone.high_level_features.4.conv.3.running_var",
        "backbone.high_level_features.17.conv.2.weight",
        "classifier.project.0.weight",
        "classifier.aspp.convs.4.1.weight",
        "classifier.aspp.project.1.num_batches_tracked",
        "classifier.classifier.3.bias",
    ):
        assert key in keys, key
    assert not any(".18." in k for k in keys)  # the 320 -> 1280 conv is not part of it
    assert net.state_dict()["classifier.classifier.3.weight"].shape == (19, 256, 1, 1)
    dil = [
        m.dilation[0]
        for m in net.backbone.high_level_features.modules()
        if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)
    ]
    assert dil == [1] * 11 + [2] * 3  # OS16: the 160-channel stage's stride becomes dilation 2


def test_logits_at_the_input_size(net):
    with torch.no_grad():
        out = net(torch.rand(2, 3, 45, 61))
    assert out.shape == (2, 19, 45, 61) and torch.isfinite(out).all()


def test_released_checkpoint_layout_loads_through_the_suite(net, tmp_path):
    """A checkpoint saved the way VainF's main.py saves one (a dict with model_state and a
    numpy best_score), built from a randomly initialised network in that layout."""
    from gefu.train.aux import build_aux

    torch.manual_seed(1)
    state = {
        k: (torch.randn_like(v) * 0.05 if v.is_floating_point() else v)
        for k, v in net.state_dict().items()
    }
    state = {k: (v.abs() + 0.5 if "running_var" in k else v) for k, v in state.items()}
    file = tmp_path / "best_deeplabv3plus_mobilenet_cityscapes_os16.pth"
    torch.save(
        {
            "cur_itrs": 30000,
            "model_state": state,
            "optimizer_state": {"state": {}},
            "scheduler_state": {"last_epoch": 30000},
            "best_score": np.float64(0.721),
        },
        file,
    )
    loaded = read_vainf_state(file)
    assert loaded.keys() == state.keys()
    prior = build_aux("segmenter", {"source": "vainf", "weights": str(file)})
    assert not any(p.requires_grad for p in prior.parameters()) and not prior.training
    reference = DeepLabV3PlusMobileNet().eval()
    reference.load_state_dict(state)
    x = torch.rand(1, 3, 32, 40)
    with torch.no_grad():
        assert torch.equal(prior(x), reference(x))

    torch.save({"model_state": {"backbone.other.weight": torch.zeros(1)}}, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="missing"):
        load_vainf_segmenter(tmp_path / "bad.pth")


def test_sagc_and_scl_lle_configs_name_the_vainf_prior():
    import yaml

    from conftest import REPO

    for name in ("sagc", "sagc_cpu", "scl_lle", "scl_lle_cpu"):
        data = yaml.safe_load((REPO / "configs" / "train" / f"{name}.yaml").read_text())
        assert data["aux"]["segmenter"]["source"] == "vainf", name
