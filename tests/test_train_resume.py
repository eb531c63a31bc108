"""Every method's shipped CPU config, shrunk to a few tiny steps, resumes exactly: the losses
after a resume equal those of an uninterrupted run, and so do the final weights; and a
`gefu train` process killed with SIGKILL resumes from its last checkpoint."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from gefu.train.config import validate_train_config
from gefu.train.logging import read_log
from gefu.train.loop import latest_checkpoint, train

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "train"
PATCH = {"scl_lle": 32, "sagc": 32, "hvr_ssle": 16, "semi_llie": 16, "zero_dce": 32}


def shrunk(method: str, steps: int = 4) -> dict:
    """The shipped CPU config (or the paper config where it runs on CPU), tiny and fast."""
    path = CONFIGS / f"{method}_cpu.yaml"
    data = yaml.safe_load((path if path.is_file() else CONFIGS / f"{method}.yaml").read_text())
    data.update(steps=steps, batch_size=1, log_every=1, checkpoint_every=2, device="cpu")
    data["validation"] = None
    key = "size" if "size" in data["data"] else "crop"
    data["data"][key] = PATCH[method]
    if "schedule_steps" in data.get("params", {}):
        data["params"]["schedule_steps"] = steps
    if method == "semi_llie":
        data["params"].update(embed_dim=32, depths=[1])
    if method == "hvr_ssle":
        data["data"]["resize"] = 32
    return data


def train_log(output: Path) -> list[tuple[int, str, float]]:
    rows = read_log(output / "metrics.csv")
    return [(r["step"], r["name"], r["value"]) for r in rows if r["split"] == "train"]


def weights(output: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(output / "model" / "model.safetensors"))


@pytest.mark.parametrize("method", ["scl_lle", "sagc", "hvr_ssle", "semi_llie"])
def test_shipped_cpu_config_resumes_exactly(method, tmp_path):
    config = validate_train_config(shrunk(method))
    straight, split = tmp_path / "straight", tmp_path / "split"
    train(config, output=straight, quiet=True)
    train(config, output=split, steps=2, quiet=True)
    train(config, output=split, resume=True, quiet=True)
    assert train_log(straight) == train_log(split)
    assert {step for step, _, _ in train_log(split)} == {1, 2, 3, 4}
    a, b = weights(straight), weights(split)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_killed_gefu_train_resumes_to_the_same_losses(tmp_path):
    data = shrunk("zero_dce", steps=40)
    data["checkpoint_every"] = 5
    config_file = tmp_path / "zero_dce.yaml"
    config_file.write_text(yaml.safe_dump(data))
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    train(validate_train_config(data), output=straight, quiet=True)

    cmd = [
        sys.executable,
        "-m",
        "gefu.cli.main",
        "train",
        "zero_dce",
        "--config",
        str(config_file),
        "--output",
        str(killed),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while latest_checkpoint(killed) is None and proc.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint within 120 s"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if proc.returncode == 0:
        pytest.skip("the run finished before it could be killed")
    assert not (killed / "model").exists()
    subprocess.run(cmd + ["--resume"], env=env, check=True, capture_output=True)
    assert train_log(killed) == train_log(straight)
    a, b = weights(straight), weights(killed)
    assert all(torch.equal(a[k], b[k]) for k in a)
