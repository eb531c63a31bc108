"""Everything checkable is refused before work starts, every problem in one message, and no
results folder is written for a config that cannot run."""

from __future__ import annotations

import yaml

from conftest import write_photo
from gefu.cli.main import main


def _write(tmp_path, enhancers, datasets=None, evaluations=None):
    data = {
        "name": "bad",
        "output": str(tmp_path / "results"),
        "device": "cpu",
        "enhancers": enhancers,
        "datasets": datasets or [{"name": "demo"}],
        "evaluations": evaluations or [{"name": "iqa", "params": {"metrics": ["niqe"]}}],
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_types_metric_names_unknown_names_and_params_in_one_message(tmp_path, capsys):
    cfg = _write(
        tmp_path,
        [
            {"name": "gamma", "params": {"gamma": "bright"}},
            {"name": "clahe", "params": {"grid_size": 2.5, "bogus": 1}},
            {"name": "lime", "params": {"alpha": [1, 2]}},
            {"name": "lmie"},
        ],
        evaluations=[{"name": "iqa", "params": {"metrics": ["psnr", "ssmi"]}}],
    )
    assert main(["run", str(cfg)]) == 2
    err = capsys.readouterr().err
    for line in (
        "enhancers[0].params.gamma: 'bright' is not a valid float",
        "enhancers[1].params.grid_size: 2.5 is not a valid int",
        "enhancers[1].params.bogus: unknown parameter of 'clahe'",
        "enhancers[2].params.alpha: [1, 2] is not a valid float",
        "enhancers[3].name: unknown enhancer 'lmie'. Did you mean 'lime'?",
        "evaluations[0].params.metrics[1]: unknown metric 'ssmi'. Did you mean 'ssim'?",
    ):
        assert line in err, err
    assert "Traceback" not in err and not (tmp_path / "results").exists()


def test_well_typed_values_pass(tmp_path):
    from gefu.bench.config import validate_config

    data = yaml.safe_load(
        _write(
            tmp_path,
            [
                {"name": "gamma", "params": {"gamma": 1, "mode": "fixed"}},  # an int is a float
                {"name": "msrcr", "params": {"sigmas": [15, 80.0]}},  # a YAML list is a tuple
            ],
        ).read_text()
    )
    assert len(validate_config(data).enhancers) == 2


def test_a_missing_annotation_folder_is_refused_before_any_work(tmp_path, capsys):
    root = tmp_path / "exdark"
    write_photo(root / "ExDark" / "Bicycle" / "a.jpg", (16, 16))
    cfg = _write(
        tmp_path,
        [{"name": "gamma"}],
        datasets=[{"name": "exdark", "root": str(root), "params": {"split": "all"}}],
        evaluations=[{"name": "iqa", "params": {"metrics": ["niqe"]}}],
    )
    assert main(["run", str(cfg), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "datasets[0] (exdark)" in err and "ExDark_Annno" in err, err
    assert "Traceback" not in err and not (tmp_path / "results").exists()


def test_workers_alone_means_worker_processes(tmp_path, monkeypatch):
    import gefu.bench.runner as runner

    seen = {}

    class Stop(RuntimeError):
        pass

    def fake(config, **kw):
        seen.update(kw)
        raise Stop("stopped before running")

    monkeypatch.setattr(runner, "Runner", fake)
    cfg = _write(tmp_path, [{"name": "gamma"}])
    assert main(["run", str(cfg), "--workers", "2"]) == 2
    assert seen["executor"] == "processes" and seen["executor_options"]["workers"] == 2
    assert main(["run", str(cfg)]) == 2 and seen["executor"] == "local"
    assert main(["run", str(cfg), "--ray-address", "auto", "--workers", "4"]) == 2
    assert seen["executor"] == "ray"


def test_an_executor_refuses_options_it_does_not_take(tmp_path, capsys):
    cfg = _write(tmp_path, [{"name": "gamma"}])
    assert main(["run", str(cfg), "--executor", "local", "--workers", "2"]) == 2
    assert "executor 'local' takes no workers (its options: none)" in capsys.readouterr().err
    assert main(["run", str(cfg), "--executor", "processes", "--workers", "0"]) == 2
    assert "workers must be a positive whole number, not 0" in capsys.readouterr().err
    assert main(["run", str(cfg), "--devices", "cpu", "--ray-address", "auto"]) == 2
    assert "no executor takes devices, ray_address" in capsys.readouterr().err
    assert not (tmp_path / "results").exists()
