"""The shared training loop with Zero-DCE: smoke run, checkpoint round trip, exact resume,
config errors of `gefu train`."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from conftest import write_photo
from gefu.train.config import validate_train_config
from gefu.train.logging import read_log
from gefu.train.loop import latest_checkpoint, train


@pytest.fixture
def photos(tmp_path) -> Path:
    root = tmp_path / "photos"
    for i in range(4):
        write_photo(root / f"p{i}.png", (40, 48), seed=i)
    return root


def tiny_config(photos: Path, method: str = "zero_dce", **extra) -> dict:
    return {
        "method": method,
        "seed": 3,
        "steps": 20,
        "batch_size": 2,
        "grad_clip": 0.1,
        "log_every": 1,
        "checkpoint_every": 3,
        "keep_checkpoints": 2,
        "device": "cpu",
        "data": {
            "dataset": {
                "name": "darkened",
                "params": {"dataset": {"name": "unpaired_folder", "root": str(photos)}},
            },
            "crop": 32,
        },
        "params": {"lr": 1e-3},
        **extra,
    }


def losses(output: Path) -> list[tuple[int, float]]:
    rows = read_log(output / "metrics.csv")
    return [(r["step"], r["value"]) for r in rows if r["split"] == "train" and r["name"] == "loss"]


def test_smoke_loss_goes_down_and_checkpoint_runs_in_the_runner(photos, tmp_path):
    from gefu.bench.config import validate_config
    from gefu.bench.runner import Runner
    from gefu.methods.zero_dce.network import ZeroDCE

    val = {
        "every": 10,
        "limit": 2,
        "metrics": ["psnr"],
        "dataset": {
            "name": "darkened",
            "params": {"dataset": {"name": "unpaired_folder", "root": str(photos)}},
        },
    }
    out = tmp_path / "run"
    result = train(
        validate_train_config(tiny_config(photos, validation=val)), output=out, quiet=True
    )
    values = [v for _, v in losses(out)]
    assert len(values) == 20
    assert sum(values[-5:]) < sum(values[:5])
    rows = read_log(out / "metrics.csv")
    assert {(r["step"], r["name"]) for r in rows if r["split"] == "val"} >= {
        (10, "psnr"),
        (20, "psnr_input"),
    }
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [
        "latest",
        "step_18",
        "step_20",
    ]
    assert latest_checkpoint(out) == out / "checkpoints" / "step_20"

    model = ZeroDCE.from_pretrained(result.model_dir)
    again = ZeroDCE.from_pretrained(out / "checkpoints" / "step_20")
    x = torch.rand(1, 3, 16, 16)
    assert torch.equal(model(x), again(x))

    config = validate_config(
        {
            "name": "trained",
            "output": str(tmp_path / "results"),
            "device": "cpu",
            "enhancers": [{"name": "zero_dce", "weights": str(result.model_dir)}],
            "datasets": [
                {
                    "name": "darkened",
                    "params": {"dataset": {"name": "unpaired_folder", "root": str(photos)}},
                }
            ],
            "evaluations": [{"name": "iqa", "params": {"metrics": ["psnr"]}}],
        }
    )
    outcome = Runner(config, quiet=True).run()
    assert not outcome.failed and outcome.computed


def test_resume_is_bit_exact(photos, tmp_path):
    from safetensors.torch import load_file

    config = validate_train_config({**tiny_config(photos, "zero_dce_pp"), "steps": 12})
    straight, split = tmp_path / "straight", tmp_path / "split"
    train(config, output=straight, quiet=True)
    train(config, output=split, steps=6, quiet=True)
    with pytest.raises(Exception, match="--resume"):
        train(config, output=split, quiet=True)  # never overwrite a run silently
    train(config, output=split, resume=True, quiet=True)
    assert losses(straight) == losses(split)
    assert [s for s, _ in losses(split)] == list(range(1, 13))
    a = load_file(str(straight / "model" / "model.safetensors"))
    b = load_file(str(split / "model" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_random_aux_refused_without_weights():
    from gefu.train.aux import build_aux

    with pytest.raises(FileNotFoundError, match=r"aux\.vgg.*vgg16.*allow_random_aux"):
        build_aux("vgg", {})
    assert build_aux("vgg", {"layer": "relu1_2"}, allow_random=True)(
        torch.rand(1, 3, 8, 8)
    ).shape == (1, 64, 8, 8)


def write_yaml(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("argv_method", "yaml_text", "message"),
    [
        ("zero_dcee", "method: zero_dce\nsteps: 1\n", "unknown method 'zero_dcee'"),
        (
            "zero_dce",
            "method: zero_dce\nsteps: 1\nbatch_sizee: 2\n",
            "batch_sizee: unknown key; valid keys here: method, seed",
        ),
        (
            "zero_dce",
            "method: zero_dce\nsteps: 1\nparams: {weight_tvv: 1}\n",
            "params.weight_tvv: unknown key; valid keys here: iterations",
        ),
        (
            "zero_dce",
            "method: zero_dce\nsteps: 1\nvalidation: {dataset: {name: demo}, limt: 2}\n",
            "validation.limt: unknown key",
        ),
        ("zero_dce_pp", "method: zero_dce\nsteps: 1\n", "trains 'zero_dce', not 'zero_dce_pp'"),
    ],
)
def test_cli_errors(tmp_path, capsys, argv_method, yaml_text, message):
    from gefu.cli.main import main

    config = write_yaml(tmp_path / "c.yaml", yaml_text)
    assert main(["train", argv_method, "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("error:") == 1


def test_cli_data_typo_names_the_key(tmp_path, capsys):
    from gefu.cli.main import main

    config = write_yaml(tmp_path / "c.yaml", "method: zero_dce\nsteps: 1\ndata: {crp: 32}\n")
    assert (
        main(["train", "zero_dce", "--config", str(config), "--output", str(tmp_path / "o")]) == 2
    )
    assert "data.crp: unknown key" in capsys.readouterr().err
