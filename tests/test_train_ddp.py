"""Two CPU processes (torchrun + accelerate, gloo): gradients are synchronised (both ranks end
with the same weights, which differ from a one-process run on half the data) and resuming a
two-process run reproduces the uninterrupted one."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import yaml

from conftest import REPO, env_with

CONFIG = {
    "method": "zero_dce",
    "seed": 0,
    "steps": 4,
    "batch_size": 2,
    "device": "cpu",
    "log_every": 1,
    "checkpoint_every": 2,
    "data": {"resize": 48, "crop": 32},  # the default: the bundled photos, darkened
    "params": {},
}


def launch(config, out, steps, *flags, processes=2):
    """torchrun (what ``accelerate launch --multi_gpu`` runs) with gloo on the CPU."""
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={processes}",
        str(REPO / "tests" / "ddp_train_worker.py"),
        str(config),
        str(out),
        str(steps),
        *flags,
    ]
    env = env_with() | {"OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(processes)]


@pytest.mark.slow
def test_two_processes_synchronise_gradients_and_resume(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    full = launch(config, tmp_path / "full", 4)
    assert [r["world"] for r in full] == [2, 2]
    for name, value in full[0]["weights"].items():
        assert torch.equal(value, full[1]["weights"][name]), name  # ranks agree
    alone = launch(config, tmp_path / "alone", 4, processes=1)[0]["weights"]
    assert any(not torch.equal(alone[k], v) for k, v in full[0]["weights"].items())

    launch(config, tmp_path / "resumed", 2)
    resumed = launch(config, tmp_path / "resumed", 4, "--resume")
    for name, value in full[0]["weights"].items():
        assert torch.allclose(value, resumed[0]["weights"][name], atol=1e-6), name
        assert torch.equal(resumed[0]["weights"][name], resumed[1]["weights"][name]), name
