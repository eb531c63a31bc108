"""Every config shipped in configs/ is valid: known names, known parameters, right types.
Dataset roots and checkpoints are the user's, so their existence is not checked here."""

from __future__ import annotations

import pytest

from conftest import REPO
from gefu.bench.config import load_config

BENCHMARKS = sorted(p for p in (REPO / "configs").rglob("*.yaml") if "train" not in p.parts)
TRAINING = sorted((REPO / "configs" / "train").glob("*.yaml"))


@pytest.mark.parametrize("path", BENCHMARKS, ids=lambda p: p.name)
def test_benchmark_config_is_valid(path):
    config = load_config(path, check_paths=False)
    assert config.enhancers and config.datasets and config.evaluations


@pytest.mark.parametrize("path", TRAINING, ids=lambda p: p.name)
def test_training_config_is_valid(path):
    from gefu.train.config import load_train_config

    config = load_train_config(path)
    assert config.steps > 0


def test_every_published_protocol_config_names_the_protocol_of_each_evaluation():
    from gefu.core.strict import read_yaml_mapping

    for path in sorted((REPO / "configs" / "gefu").glob("*.yaml")):
        raw = read_yaml_mapping(path.read_text(), str(path))
        for evaluation in raw["evaluations"]:
            assert evaluation.get("protocol"), (path.name, evaluation.get("id"))
    config = load_config(REPO / "configs" / "gefu" / "seed_methods.yaml", check_paths=False)
    protocols = {e.label: e.protocol for e in config.evaluations}
    assert protocols["refinenet-r101"] == "GEFU ICCV 2025 frozen"
    assert protocols["deeplabv3plus-r50 (extra)"] == "gefu: own"


def test_protocol_defaults_to_the_suites_own_and_cannot_be_empty():
    from gefu.bench.config import validate_config
    from gefu.core.errors import ConfigError

    base = {"name": "x", "enhancers": [{"name": "identity"}], "datasets": [{"name": "demo"}]}
    config = validate_config({**base, "evaluations": [{"name": "iqa"}]}, check_paths=False)
    assert config.evaluations[0].protocol == "gefu: own"
    with pytest.raises(ConfigError, match="protocol"):
        validate_config({**base, "evaluations": [{"name": "iqa", "protocol": ""}]})


def test_doctor_lists_the_checkpoints_of_nested_model_specs():
    from gefu.cli.doctor import configured_checkpoints

    found = {(p.split("/")[-1], ref) for p, ref in configured_checkpoints(str(REPO / "configs"))}
    assert ("darkface_detection.yaml", "checkpoints/yolov3_darkface.pth") in found  # model:
    assert ("seed_methods.yaml", "checkpoints/refinenet_cityscapes.pth.tar") in found
    assert any(name == "exdark_finetune_yolov3.yaml" for name, _ in found)  # finetune: flat
