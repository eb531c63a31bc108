"""Training recipes that follow the authors' releases: data options, the recorded recipe, and
the naming of the shipped configs (paper-scale or CPU smoke)."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from conftest import REPO, write_photo
from gefu.train.config import validate_train_config
from gefu.train.data import DarkenedPatches
from gefu.train.loop import train

CONFIGS = REPO / "configs" / "train"


@pytest.fixture
def photos(tmp_path):
    for i in range(3):
        write_photo(tmp_path / "photos" / f"p{i}.png", (40, 60), seed=i)
    return tmp_path / "photos"


def test_real_exposures_are_used_as_they_are_and_resized_whole(photos):
    from gefu.io import list_images, read_image

    ds = DarkenedPatches(list_images(photos), crop=16, flip=False, fit="square", darken=False)
    sample = ds[(1, 123)]
    assert set(sample) == {"low"} and sample["low"].shape == (3, 16, 16)
    whole = read_image(list_images(photos)[1])[None]
    expected = torch.nn.functional.interpolate(whole, (16, 16), mode="bilinear", antialias=True)
    assert torch.allclose(sample["low"], expected[0].clamp(0, 1))  # not darkened, not cropped
    dark = DarkenedPatches(list_images(photos), crop=16, flip=False, fit="square")[(1, 123)]
    assert dark["low"].mean() < dark["normal"].mean()  # the default still darkens


def test_trained_model_records_its_recipe_and_switches(photos, tmp_path):
    cfg = {
        "method": "zero_dce",
        "steps": 2,
        "batch_size": 1,
        "device": "cpu",
        "checkpoint_every": 1,
        "data": {
            "dataset": {"name": "unpaired_folder", "root": str(photos)},
            "crop": 16,
            "fit": "square",
        },
    }
    result = train(validate_train_config(cfg), output=tmp_path / "run", quiet=True)
    saved = json.loads((result.model_dir / "config.json").read_text())
    recipe = saved["training"]
    assert recipe["method"] == "zero_dce" and recipe["steps"] == 2
    assert recipe["params"]["weight_tv"] == 200.0 and recipe["data"]["flip"] is True
    assert recipe["data"]["dataset"]["name"] == "unpaired_folder"  # resolved, defaults included
    assert recipe["global_batch"] == 1 and recipe["switches"] == {}
    ckpt = json.loads((tmp_path / "run" / "checkpoints" / "step_2" / "config.json").read_text())
    assert ckpt["training"] == recipe
    assert json.loads((tmp_path / "run" / "recipe.json").read_text()) == recipe
    from gefu.methods.zero_dce.network import ZeroDCE

    ZeroDCE.from_pretrained(result.model_dir)  # the extra key does not disturb loading


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_each_shipped_config_says_what_it_is(path):
    head = path.read_text().split("\nmethod:")[0].lower()
    smoke = path.stem.endswith(("_cpu", "_tiny"))
    if smoke:
        assert "smoke" in head or "cpu" in head
        assert "paper-scale" not in head
    else:
        assert "paper" in head or "as published" in head or "released" in head


@pytest.mark.parametrize(
    "method,size,steps", [("zero_dce", 256, 60_600), ("zero_dce_pp", 512, 30_300)]
)
def test_zero_dce_paper_configs_follow_the_release(method, size, steps):
    data = yaml.safe_load((CONFIGS / f"{method}.yaml").read_text())
    assert data["batch_size"] == 8 and data["grad_clip"] == 0.1 and data["steps"] == steps
    assert data["data"]["dataset"]["name"] == "unpaired_folder"  # used as they are
    assert data["data"]["fit"] == "square"
    assert data["data"]["crop"] == size and data["data"]["flip"] is False
    config = validate_train_config(data)
    assert config.output_dir.name == method


def test_recipe_names_each_switch_with_the_released_value():
    from gefu.methods.scl_lle.recipe import SCLLLEConfig, SCLLLETraining

    method = SCLLLETraining(
        SCLLLEConfig(pseudo_labels=True, brightness_loss="variance"),
        {
            "scenes": {
                "name": "darkened",
                "params": {"dataset": {"name": "unpaired_folder", "root": "x"}},
            },
            "positives": {"name": "unpaired_folder", "root": "x"},
        },
    )
    recipe = method.recipe()
    assert recipe["method"] == "scl_lle" and recipe["params"]["brightness_loss"] == "variance"
    assert recipe["switches"]["seg_grad"] == {"value": True, "release": False, "as_released": False}
    assert recipe["switches"]["brightness_loss"]["as_released"] is False
    assert recipe["data"]["crop"] == 384  # the resolved data section, defaults included


@pytest.mark.parametrize("method", ["scl_lle", "sagc", "semi_llie", "scuf"])
def test_each_switch_is_named_in_the_paper_config(method):
    from gefu.train import METHODS

    text = (CONFIGS / f"{method}.yaml").read_text()
    for switch in METHODS.get(method).Config.release_switches:
        assert f"{switch}:" in text.split("\nmethod:")[0], switch  # explained in the header
        assert f"  {switch}:" in text, switch  # and set in params
