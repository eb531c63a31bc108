"""RetinexNet: parameter counts, losses by hand, decomposition, two-phase training through
`gefu train`, the trained checkpoint in the runner, and ``load_decomnet`` for SCUF."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from gefu.methods.retinexnet import losses as L
from gefu.methods.retinexnet.network import DecomNet, EnhanceNet, RetinexNet, load_decomnet

REPO = Path(__file__).resolve().parents[1]


def test_parameter_counts_match_the_release():
    # TF release: 9x9 conv 4->64, five 3x3 64->64, 3x3 64->4; SCUF's notes: "about 208k"
    assert sum(p.numel() for p in DecomNet().parameters()) == 207_748
    assert sum(p.numel() for p in EnhanceNet().parameters()) == 236_865
    assert RetinexNet().num_parameters == 444_613


def test_decomposition_shapes_and_ranges():
    torch.manual_seed(0)
    model = RetinexNet(channels=8).eval()
    x = torch.rand(2, 3, 19, 26)  # odd sizes pass the three stride-2 levels
    with torch.no_grad():
        r, i = model.decompose(x)
        _, _, relit = model.relight(x)
        y = model(x)
    assert r.shape == x.shape and i.shape == (2, 1, 19, 26) and relit.shape == i.shape
    assert r.min() > 0 and r.max() < 1 and i.min() > 0 and i.max() < 1
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1


def test_reconstruction_by_hand():
    g = torch.Generator().manual_seed(0)
    r, i_low, i_high = (torch.rand(1, c, 6, 5, generator=g) for c in (3, 1, 1))
    perfect = L.decomposition_reconstruction(r, i_low, r, i_high, r * i_low, r * i_high)
    assert perfect.item() == pytest.approx(0.0, abs=1e-7)
    full = lambda v, c=3: torch.full((1, c, 2, 2), v)  # noqa: E731
    assert L.reconstruction(full(0.5), full(0.5, 1), full(0.5)).item() == pytest.approx(0.25)
    # own terms 0; mixed: |1*0.2 - 0.1| = 0.1 and |0.5*0.8 - 0.8| = 0.4, weighted 0.001
    value = L.decomposition_reconstruction(
        full(0.5), full(0.2, 1), full(1.0), full(0.8, 1), full(0.1), full(0.8)
    )
    assert value.item() == pytest.approx(0.001 * 0.5)


def test_invariable_reflectance_by_hand():
    r = torch.rand(2, 3, 4, 4)
    assert L.invariable_reflectance(r, r.clone()).item() == 0
    a, b = torch.full((1, 3, 2, 2), 0.2), torch.full((1, 3, 2, 2), 0.5)
    assert L.invariable_reflectance(a, b).item() == pytest.approx(0.3)


def test_illumination_smoothness_by_hand():
    r = torch.rand(1, 3, 4, 5)
    assert L.illumination_smoothness(torch.full((1, 1, 4, 5), 0.7), r).item() == 0
    ramp = (0.1 * torch.arange(5.0)).view(1, 1, 1, 5).expand(1, 1, 4, 5)
    flat = torch.full((1, 3, 4, 5), 0.4)
    # |dI/dx| = 0.1 in 4 of 5 columns, weight exp(0) = 1 on a flat reflectance
    assert L.illumination_smoothness(ramp, flat).item() == pytest.approx(0.08)
    # a checkerboard reflectance (grey 0/1): every 3x3 window averages |dR/dx| >= 2/3
    checker = ((torch.arange(4)[:, None] + torch.arange(5)) % 2).float().expand(1, 3, 4, 5)
    edged = L.illumination_smoothness(ramp, checker).item()
    assert 0 < edged <= 0.08 * math.exp(-10 * 2 / 3) + 1e-9


def test_dihedral_gives_eight_distinct_views():
    from gefu.methods.retinexnet.recipe import dihedral

    x = torch.arange(4.0).view(1, 2, 2)
    views = {tuple(dihedral(x, m).flatten().tolist()) for m in range(8)}
    assert len(views) == 8


def test_shipped_configs_validate():
    from gefu.methods.retinexnet.recipe import RetinexNetData
    from gefu.train.config import build_method, load_train_config

    paper = load_train_config(REPO / "configs/train/retinexnet.yaml", method="retinexnet")
    assert paper.batch_size == 16 and paper.steps == 200 * (485 // 16)
    assert RetinexNetData.model_validate(paper.data).dataset.name == "lol_v1"
    cpu = load_train_config(REPO / "configs/train/retinexnet_cpu.yaml", method="retinexnet")
    method, sets = build_method(cpu)
    pair = sets["pairs"][(0, 123)]
    assert pair["low"].shape == pair["normal"].shape == (3, 48, 48)
    assert pair["low"].mean() < pair["normal"].mean()
    assert method.config.lr == 1e-3 and method.config.weight_smooth_relight == 3.0


def _tiny_yaml(tmp_path: Path, pairs: Path) -> Path:
    text = f"""
method: retinexnet
seed: 1
steps: 30
batch_size: 2
device: cpu
log_every: 1
checkpoint_every: 15
data:
  dataset: {{name: paired_folder, root: {pairs}}}
  crop: 16
params: {{channels: 8, epoch_steps: 5, decom_epochs: 3, lr_drop_epoch: 2}}
"""
    path = tmp_path / "tiny.yaml"
    path.write_text(text)
    return path


def test_two_phase_training_checkpoint_runner_and_load_decomnet(paired_dir, tmp_path):
    pytest.importorskip("accelerate")
    from gefu.bench.config import validate_config
    from gefu.bench.runner import Runner
    from gefu.cli.main import main
    from gefu.train.logging import read_log

    out = tmp_path / "run"
    argv = ["train", "retinexnet", "--config", str(_tiny_yaml(tmp_path, paired_dir))]
    assert main([*argv, "--output", str(out), "--quiet"]) == 0
    rows = [r for r in read_log(out / "metrics.csv") if r["split"] == "train"]
    loss = [r["value"] for r in rows if r["name"] == "loss"]
    phase = [r["value"] for r in rows if r["name"] == "phase"]
    assert phase == [0.0] * 15 + [1.0] * 15  # 3 epochs of 5 steps, then relight
    assert sum(loss[10:15]) < sum(loss[:5])  # decomposition
    assert sum(loss[25:]) < sum(loss[15:20])  # relight

    model = RetinexNet.from_pretrained(out / "model")
    x = torch.rand(1, 3, 20, 24)
    decom = load_decomnet(out / "checkpoints" / "step_30")
    assert not any(p.requires_grad for p in decom.parameters()) and not decom.training
    assert all(torch.equal(a, b) for a, b in zip(decom(x), model.decompose(x), strict=True))

    config = validate_config(
        {
            "name": "trained",
            "output": str(tmp_path / "results"),
            "device": "cpu",
            "enhancers": [{"name": "retinexnet", "weights": str(out / "model")}],
            "datasets": [{"name": "paired_folder", "root": str(paired_dir)}],
            "evaluations": [{"name": "iqa", "params": {"metrics": ["psnr"]}}],
        }
    )
    outcome = Runner(config, quiet=True).run()
    assert not outcome.failed and outcome.computed


def test_load_decomnet_reads_the_pytorch_layout_scuf_ships(tmp_path):
    torch.manual_seed(0)
    decom = DecomNet()
    foreign = {}
    for key, value in decom.state_dict().items():  # shallow.* -> DecomNet.net1_conv0.* ...
        head, _, rest = key.partition(".")
        name = {"shallow": "net1_conv0", "body": "net1_convs", "recon": "net1_recon"}[head]
        foreign[f"DecomNet.{name}.{rest}"] = value
    folder = tmp_path / "retinexnet"
    folder.mkdir()
    torch.save(foreign, folder / "decomp.pth")
    x = torch.rand(1, 3, 12, 12)
    for path in (folder, folder / "decomp.pth"):
        with pytest.warns(UserWarning, match="SHA-256 differs from the released"):
            loaded = load_decomnet(path)  # named like the release, other weights
        assert all(torch.equal(a, b) for a, b in zip(loaded(x), decom(x), strict=True))
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="not a RetinexNet DecomNet"):
        load_decomnet(tmp_path / "other.pth")
    with pytest.raises(FileNotFoundError):
        load_decomnet(tmp_path / "missing.pth")


def test_resume_across_the_phase_switch_is_exact(paired_dir, tmp_path):
    pytest.importorskip("accelerate")
    from gefu.train.config import load_train_config
    from gefu.train.logging import read_log
    from gefu.train.loop import train

    config = load_train_config(_tiny_yaml(tmp_path, paired_dir))
    config = config.model_copy(update={"steps": 10, "params": {**config.params, "decom_epochs": 1}})
    straight, split = tmp_path / "straight", tmp_path / "split"
    train(config, output=straight, quiet=True)
    train(config, output=split, steps=4, quiet=True)
    train(config, output=split, resume=True, quiet=True)
    logged = lambda out: [(r["step"], r["name"], r["value"]) for r in read_log(out / "metrics.csv")]  # noqa: E731
    assert logged(straight) == logged(split)
    assert {v for _, n, v in logged(split) if n == "phase"} == {0.0, 1.0}
