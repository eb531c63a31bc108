"""The training data vocabulary: sources are the dataset entries benchmarks use; an older
spelling or a typo is a ``key.path: message`` error."""

from __future__ import annotations

import pytest
import torch

from conftest import write_photo
from gefu.core.errors import ConfigError
from gefu.train.config import build_method, validate_train_config


@pytest.fixture
def photos(tmp_path):
    for i in range(3):
        write_photo(tmp_path / "photos" / f"p{i}.png", (40, 60), seed=i)
    return tmp_path / "photos"


def _config(method: str, data: dict) -> dict:
    params = {"pseudo_labels": True} if method == "scl_lle" else {}
    return {
        "method": method,
        "steps": 1,
        "batch_size": 1,
        "device": "cpu",
        "data": data,
        "params": params,
    }


def _items(datasets) -> list[torch.Tensor]:
    out = []
    for ds in datasets.values():
        for i in range(len(ds)):
            item = ds[(i, 7 + i)]
            out += list(item.values()) if isinstance(item, dict) else [item]
    return out


def _darkened(root, **params) -> dict:
    inner = {"name": "unpaired_folder", "root": str(root)}
    return {"name": "darkened", "params": {"dataset": inner, **params}}


@pytest.mark.parametrize(
    "method, data, message",
    [
        (
            "zero_dce",
            {"images": "bundled"},
            r"^data\.images: unknown key; valid keys here: dataset,",
        ),
        ("hvr_ssle", {"images": ["x"]}, r"^data\.images: unknown key; valid keys here: dataset,"),
        ("retinexnet", {"synthetic": ["x"]}, r"data\.synthetic: unknown key; .*: dataset, crop"),
        ("scl_lle", {"photos": ["x"]}, r"data\.photos: unknown key; valid keys here: scenes,"),
        ("semi_llie", {"root": "x"}, r"data\.root: unknown key; valid keys here: labeled,"),
        ("scuf", {"root": "x"}, r"data\.root: unknown key; valid keys here: low, normal,"),
        ("sagc", {"low": "x", "normal": "x"}, r"data\.low: Input should be a valid dictionary"),
    ],
)
def test_an_older_spelling_is_an_unknown_key_naming_the_valid_ones(method, data, message):
    with pytest.raises(ConfigError, match=message):
        build_method(validate_train_config(_config(method, data)))


def test_bundled_is_the_bundled_photos_as_stored():
    from gefu.datasets import create_dataset
    from gefu.datasets.bundled import bundled_photos
    from gefu.io import read_image

    ds = create_dataset("bundled_photos", max_side=None)
    assert torch.equal(ds.load(0).image, read_image(bundled_photos()[0]))
    assert max(create_dataset("bundled_photos").load(0).image.shape[1:]) == 256  # the default


@pytest.mark.parametrize(
    "data, message",
    [
        (
            {"dataset": {"name": "unpaired_foldr", "root": "{photos}"}},
            r"data\.dataset\.name: unknown dataset 'unpaired_foldr'\. Did you mean "
            r"'unpaired_folder'.*Valid choices: .*bundled_photos",
        ),
        (
            {"dataset": {"name": "unpaired_folder", "roots": "{photos}"}},
            r"data\.dataset\.roots: unknown key; valid keys here: name, id, params, root, limit",
        ),
        (
            {"dataset": {"name": "unpaired_folder", "root": "{photos}", "params": {"x": 1}}},
            r"data\.dataset\.params\.x: unknown parameter of 'unpaired_folder'; valid: \(none\)",
        ),
        (
            {
                "dataset": {
                    "name": "darkened",
                    "params": {"dataset": {"name": "bundled_photos"}, "severty": "mild"},
                }
            },
            r"data\.dataset\.params\.severty: not a parameter of `darkened` in training.*"
            r"valid: dataset, model, severity",
        ),
        (
            {
                "dataset": {
                    "name": "darkened",
                    "params": {"dataset": {"name": "bundled_photos"}, "model": "gamma"},
                }
            },
            r"data\.dataset\.params\.model: Input should be 'physical' or 'gamma_curve'",
        ),
        (
            {"dataset": {"name": "darkened", "params": {"dataset": {"nam": "bundled_photos"}}}},
            r"data\.dataset\.params\.dataset\.nam: unknown key; valid keys here: name",
        ),
        ({"crp": 16}, r"data\.crp: unknown key; valid keys here: dataset, resize, crop"),
    ],
)
def test_a_typo_in_a_data_entry_names_its_key_path_and_the_valid_choices(photos, data, message):
    data = {k: v for k, v in data.items()}
    if "dataset" in data and "root" in data["dataset"]:
        data["dataset"]["root"] = str(photos)
    config = validate_train_config(_config("zero_dce", data))
    with pytest.raises(ConfigError, match=message):
        build_method(config)


def test_a_method_that_degrades_by_itself_refuses_darkened():
    config = validate_train_config(
        _config(
            "hvr_ssle",
            {"dataset": {"name": "darkened", "params": {"dataset": {"name": "bundled_photos"}}}},
        )
    )
    with pytest.raises(ConfigError, match="data.dataset: name the normal-light images"):
        build_method(config)


def test_semi_llie_paper_layout_and_one_entry_split_in_halves(tmp_path, photos):
    root = tmp_path / "semi"
    for i in range(2):
        write_photo(root / "labeled" / "input" / f"{i}.png", (40, 60), seed=i, scale=0.2)
        write_photo(root / "labeled" / "GT" / f"{i}.png", (40, 60), seed=i)
        write_photo(root / "unlabeled" / "input" / f"u{i}.png", (40, 60), seed=5 + i, scale=0.2)
    labeled = {
        "name": "paired_folder",
        "root": str(root / "labeled"),
        "params": {"low_dir": "input", "high_dir": "GT"},
    }
    unlabeled = {"name": "unpaired_folder", "root": str(root / "unlabeled" / "input")}
    layout = {"labeled": labeled, "unlabeled": unlabeled, "crop": 16, "resize": 20}
    _, sets = build_method(validate_train_config(_config("semi_llie", layout)))
    assert [len(s) for s in sets.values()] == [2, 2]
    darkened = _darkened(photos, model="gamma_curve", severity="random")
    both = {"labeled": darkened, "unlabeled": darkened, "crop": 16}
    _, sets = build_method(validate_train_config(_config("semi_llie", both)))
    assert [len(s) for s in sets.values()] == [2, 1]  # one entry for both: split in halves
    assert all(torch.isfinite(t).all() for t in _items(sets))


def test_scuf_captions_folder_names_its_images(tmp_path):
    root = tmp_path / "unpaired"
    for domain in ("trainA", "trainB"):
        for i in range(2):
            write_photo(root / domain / f"{domain}{i}.png", (40, 60), seed=i)
    (root / "enlight_low.csv").write_text("filepath\ttitle\ntrainA/trainA1.png\ta dark street\n")
    data = {
        "low": {"name": "unpaired_folder", "root": str(root / "trainA")},
        "normal": {"name": "unpaired_folder", "root": str(root / "trainB")},
        "captions": str(root),
        "resize": 24,
        "crop": 16,
    }
    _, sets = build_method(validate_train_config(_config("scuf", data)))
    assert sets["low"][(1, 3)]["caption"] == "a dark street"
    assert sets["low"][(0, 3)]["caption"] == sets["normal"][(0, 3)]["caption"] == "a photo."
