"""The one checkpoint reader: plain data and safetensors load; numpy values only when allowed;
a pickle that would run code is refused, naming the file, and never runs."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from gefu.core.checkpoint import key_mismatch, load_checkpoint


class _Touch:  # unpickling it would create a file
    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_plain_data_and_safetensors_load(tmp_path):
    state = {"w": torch.arange(3.0), "meta": {"epoch": 2, "name": "x"}}
    torch.save(state, tmp_path / "a.pth")
    loaded = load_checkpoint(tmp_path / "a.pth")
    assert torch.equal(loaded["w"], state["w"]) and loaded["meta"] == state["meta"]
    save_file({"w": torch.ones(2)}, tmp_path / "b.safetensors")
    assert torch.equal(load_checkpoint(tmp_path / "b.safetensors")["w"], torch.ones(2))


def test_numpy_values_only_when_allowed(tmp_path):
    torch.save({"best": np.float64(0.5), "w": torch.zeros(1)}, tmp_path / "n.pth")
    with pytest.raises(ValueError, match=r"n\.pth: cannot be read safely"):
        load_checkpoint(tmp_path / "n.pth")
    assert load_checkpoint(tmp_path / "n.pth", allow_numpy=True)["best"] == 0.5


def test_code_in_a_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "ran"
    (tmp_path / "evil.pth").write_bytes(pickle.dumps({"state_dict": _Touch(marker)}))
    for allow in (False, True):
        with pytest.raises(ValueError, match=r"evil\.pth: cannot be read safely .*weights_only"):
            load_checkpoint(tmp_path / "evil.pth", allow_numpy=allow)
    assert not marker.exists()
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        load_checkpoint(tmp_path / "missing.pth")


def test_key_mismatch_names_missing_and_unexpected_keys():
    assert key_mismatch({"a": 0, "b": 0}, ["b", "a"]) == ""
    got = key_mismatch({"a": 0, "x": 0}, {"a", "b", "c", "d", "e", "f"}, shown=2)
    assert got == "5 missing (b, c, ...); 1 unexpected (x)"
