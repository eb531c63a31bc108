import pytest

from gefu.bench.config import ConfigError, load_config, validate_config


def base(**over):
    data = {
        "name": "t",
        "enhancers": [{"name": "identity"}],
        "datasets": [{"name": "demo"}],
        "evaluations": [{"name": "iqa", "params": {"metrics": ["psnr"]}}],
    }
    data.update(over)
    return data


def test_embedded_default_is_valid():
    config = load_config(None)
    assert config.name == "demo" and len(config.enhancers) >= 6
    assert str(config.output_dir) == "results/demo"


def test_misspelled_key_names_the_path_and_valid_keys():
    with pytest.raises(ConfigError) as err:
        validate_config(base(enhancers=[{"name": "gamma", "parms": {}}]))
    msg = str(err.value)
    assert "enhancers[0].parms: unknown key" in msg and "params" in msg


def test_unknown_enhancer_lists_choices():
    with pytest.raises(ConfigError) as err:
        validate_config(base(enhancers=[{"name": "gama"}]))
    assert "enhancers[0].name" in str(err.value) and "Did you mean 'gamma'" in str(err.value)


def test_unknown_param_lists_valid_params():
    with pytest.raises(ConfigError) as err:
        validate_config(base(enhancers=[{"name": "gamma", "params": {"gama": 2}}]))
    assert "enhancers[0].params.gama: unknown parameter of 'gamma'; valid:" in str(err.value)


def test_wrong_type_and_missing_folder(tmp_path):
    with pytest.raises(ConfigError, match=r"batch_size: .*got 'four'"):
        validate_config(base(batch_size="four"))
    missing = tmp_path / "nope"
    with pytest.raises(ConfigError, match=r"datasets\[0\].root: folder .*nope does not exist"):
        validate_config(base(datasets=[{"name": "paired_folder", "root": str(missing)}]))


def test_duplicate_ids_and_yaml_keys(tmp_path):
    with pytest.raises(ConfigError, match="duplicate id 'gamma'"):
        validate_config(base(enhancers=[{"name": "gamma"}, {"name": "gamma"}]))
    f = tmp_path / "c.yaml"
    f.write_text("name: a\nname: b\n")
    with pytest.raises(ConfigError, match="line 2: duplicate key 'name'"):
        load_config(f)


def test_bad_config_fails_with_one_line_in_a_fresh_process(tmp_path):
    """One clear message; how fast: benchmarks/cli_startup.py."""
    import subprocess
    import sys

    f = tmp_path / "c.yaml"
    f.write_text(
        "name: t\nenhancers: [{name: identity}]\ndatasets: [{name: demo}]\n"
        "evaluations: [{name: iqa}]\nbatchsize: 2\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "gefu.cli.main", "run", str(f)], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "batchsize: unknown key" in proc.stderr


def test_learned_enhancer_without_weights_is_refused():
    with pytest.raises(ConfigError, match=r"enhancers\[0\].weights: 'zero_dce' is a learned"):
        validate_config(base(enhancers=[{"name": "zero_dce"}]))


def test_optional_enhancers_join_once_their_weights_exist(tmp_path, monkeypatch):
    from gefu.methods.zero_dce.network import ZeroDCE

    monkeypatch.chdir(tmp_path)
    config = load_config(None)  # the demo: no runs/ here, so no learned enhancer
    names = {s.name for s in config.enhancers}
    assert "zero_dce" not in names and "semi_llie" not in names
    assert config.left_out["zero_dce"] == "runs/zero_dce_cpu/model"
    ZeroDCE().save_pretrained(tmp_path / "runs" / "zero_dce_cpu" / "model")
    config = load_config(None)
    assert "zero_dce" in {s.name for s in config.enhancers}
    assert "zero_dce" not in config.left_out
    only_optional = [{"name": "zero_dce", "weights": "missing", "optional": True}]
    with pytest.raises(ConfigError, match="every enhancer is optional"):
        validate_config(base(enhancers=only_optional))
    with pytest.raises(ConfigError, match=r"enhancers\[0\].weights: missing does not exist"):
        validate_config(base(enhancers=[{"name": "zero_dce", "weights": "missing"}]))
