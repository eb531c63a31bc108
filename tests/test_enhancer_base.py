"""The checkpoint format: config.json + model.safetensors, legacy .pth read safely."""

from __future__ import annotations

import json
import pickle

import pytest
import torch
from torch import nn

from gefu.enhancers import ENHANCERS, create_enhancer
from gefu.enhancers.base import Enhancer, pad_to_multiple


@ENHANCERS.register("tiny_curve_test")
class TinyCurve(Enhancer):
    trainable = True

    def __init__(self, channels: int = 4):
        super().__init__()
        self.hparams = {"channels": channels}
        self.net = nn.Sequential(nn.Conv2d(3, channels, 3, padding=1), nn.Conv2d(channels, 3, 1))

    def forward(self, x):
        a = torch.tanh(self.net(x))
        return (x + a * x * (1 - x)).clamp(0, 1)


def test_save_and_from_pretrained_round_trip(tmp_path):
    model = TinyCurve(channels=5)
    assert model.num_parameters == 3 * 5 * 9 + 5 + 5 * 3 + 3
    path = model.save_pretrained(tmp_path / "ckpt")
    config = json.loads((path / "config.json").read_text())
    assert config == {"enhancer": "tiny_curve_test", "params": {"channels": 5}}
    loaded = create_enhancer("tiny_curve_test", weights=str(path))
    assert not loaded.training
    x = torch.rand(1, 3, 9, 11)
    assert torch.equal(model.eval()(x), loaded(x))


def test_wrong_checkpoint_kind_is_refused(tmp_path):
    TinyCurve().save_pretrained(tmp_path / "ckpt")
    config = tmp_path / "ckpt" / "config.json"
    config.write_text(json.dumps({"enhancer": "other", "params": {}}))
    with pytest.raises(ValueError, match="holds a 'other' checkpoint"):
        TinyCurve.from_pretrained(tmp_path / "ckpt")


def test_legacy_pth_is_read_with_weights_only(tmp_path):
    model = TinyCurve()
    torch.save({"state_dict": model.state_dict()}, tmp_path / "legacy.pth")
    loaded = TinyCurve.from_pretrained(tmp_path / "legacy.pth")
    x = torch.rand(1, 3, 4, 4)
    assert torch.equal(model.eval()(x), loaded(x))

    class Evil:  # a pickle that would run code on load
        def __reduce__(self):
            return (print, ("pwned",))

    (tmp_path / "evil.pth").write_bytes(pickle.dumps({"state_dict": Evil()}))
    with pytest.raises(ValueError, match="cannot be read safely"):
        TinyCurve.from_pretrained(tmp_path / "evil.pth")


def test_pad_to_multiple():
    x = torch.rand(2, 3, 13, 17)
    padded, size = pad_to_multiple(x, 8)
    assert padded.shape[-2:] == (16, 24) and size == (13, 17)
    assert torch.equal(padded[..., :13, :17], x)
