"""``darkened``: the simulator as a transform over any registered dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from conftest import write_photo
from gefu.bench.config import ConfigError, validate_config
from gefu.bench.runner import Runner
from gefu.bench.store import Store
from gefu.core.registry import RegistryError
from gefu.datasets import DATASETS, create_dataset
from gefu.datasets.base import Dataset, Finding, Sample
from gefu.datasets.darkened import Darkened
from gefu.simulate import LowLightSimulator


@pytest.fixture
def photos(tmp_path) -> Path:
    root = tmp_path / "photos"
    for i, name in enumerate(["c.png", "a.png", "b.png"]):
        write_photo(root / name, (20, 28), seed=i)
    return root


def darkened(folder, **kw) -> Darkened:
    spec = {"name": "unpaired_folder", "root": str(folder)}
    return create_dataset("darkened", dataset=spec, **kw)


def test_image_is_darkened_reference_is_the_clean_image(photos):
    inner = create_dataset("unpaired_folder", root=photos)
    ds = darkened(photos)
    assert ds.paired and ds.task is None and len(ds) == 3
    assert [ds.name_of(i) for i in range(3)] == ["a.png", "b.png", "c.png"]
    for i in range(3):
        clean, s = inner.load(i), ds.load(i)
        assert s.name == clean.name and torch.equal(s.reference, clean.image)
        expected = LowLightSimulator("physical", "moderate", seed=0)(clean.image, name=s.name)
        assert torch.equal(s.image, expected)
        assert s.image.mean() < 0.5 * s.reference.mean()
        assert s.meta["path"] == clean.meta["path"]
        assert s.meta["simulator"]["severity"] == "moderate" and s.meta["simulator"]["seed"] == 0


def test_deterministic_per_name_not_per_order_or_instance(photos):
    a = darkened(photos, seed=3)
    later_first = [darkened(photos, seed=3).load(i).image for i in (2, 1, 0)][::-1]
    assert all(torch.equal(a.load(i).image, later_first[i]) for i in range(3))
    subset = create_dataset(
        "darkened", dataset={"name": "unpaired_folder", "root": str(photos), "limit": 1}, seed=3
    )
    assert len(subset) == 1 and torch.equal(subset.load(0).image, a.load(0).image)
    assert not torch.equal(darkened(photos, seed=4).load(0).image, a.load(0).image)
    gamma = darkened(photos, model="gamma_curve", severity="random")
    assert not torch.equal(gamma.load(0).image, gamma.load(1).image[:, :20, :28])


def test_root_and_limit_of_the_wrapper(photos):
    ds = create_dataset("darkened", root=photos, limit=2, dataset={"name": "unpaired_folder"})
    assert len(ds) == 2 and ds.root == photos
    with pytest.raises(IndexError):
        ds.load(2)
    assert len(darkened(photos, root=str(photos))) == 3  # the same root twice is fine
    with pytest.raises(ValueError, match="two roots"):
        darkened(photos, root=photos.parent)


@pytest.mark.parametrize(
    ("spec", "error", "match"),
    [
        ({"name": "unpaired_folder", "path": "x"}, ValueError, "dataset.path: unknown key"),
        ({"root": "x"}, ValueError, "dataset.name: required"),
        ({"name": "unpaired_foldr"}, RegistryError, "Did you mean 'unpaired_folder'"),
        (
            {"name": "paired_folder", "params": {"low": "x"}},
            ValueError,
            "params.low: unknown parameter of 'paired_folder'; valid: high_dir, low_dir",
        ),
        ({"name": "unpaired_folder", "params": {"root": "x"}}, ValueError, "beside `params`"),
        ({"name": "unpaired_folder", "limit": 0}, ValueError, "positive integer"),
        ("unpaired_folder", ValueError, "must be a mapping"),
    ],
)
def test_inner_spec_is_validated(photos, spec, error, match):
    with pytest.raises(error, match=match):
        create_dataset("darkened", root=photos, dataset=spec)


def test_simulator_options_are_validated(photos):
    with pytest.raises(ValueError, match="unknown severity 'random' for physical"):
        darkened(photos, severity="random")
    with pytest.raises(ValueError, match="unknown low-light model"):
        darkened(photos, model="night")


def test_several_severities_make_strata_of_each_source_image(photos):
    ds = darkened(photos, severities=["mild", "severe"], seed=2)
    assert ds.severities == ("mild", "severe") and len(ds) == 6
    assert [ds.name_of(i) for i in range(2)] == ["a.png@mild", "a.png@severe"]
    assert ds.clusters() == ["a.png", "a.png", "b.png", "b.png", "c.png", "c.png"]
    assert ds.strata() == ["mild", "severe"] * 3
    inner = create_dataset("unpaired_folder", root=photos).load(1)
    s = ds.load(3)  # b.png at severe
    assert (s.name, s.cluster, s.stratum) == ("b.png@severe", "b.png", "severe")
    expected = LowLightSimulator("physical", "severe", seed=2)(inner.image, name="b.png@severe")
    assert torch.equal(s.image, expected) and torch.equal(s.reference, inner.image)
    assert s.meta["simulator"]["severity"] == "severe"
    assert ds.load(2).image.mean() > s.image.mean()  # mild is brighter than severe
    assert len(darkened(photos, severities=["mild", "severe"], limit=3)) == 3
    # one severity: names as before, no strata, the image is its own unit
    one = darkened(photos)
    assert one.clusters() == [None] * 3 and one.strata() == [None] * 3
    assert one.load(0).cluster is None and one.load(0).stratum is None
    with pytest.raises(ValueError, match="not both"):
        darkened(photos, severity="mild", severities=["severe"])
    with pytest.raises(ValueError, match="distinct severities"):
        darkened(photos, severities=["mild", "mild"])


def test_darkened_keeps_the_wrapped_sets_clusters(monkeypatch):
    class Sequences(Labelled):
        def cluster_of(self, i):
            return "seq0"

    monkeypatch.setitem(DATASETS._loaded, "sequences_test", Sequences)
    ds = create_dataset(
        "darkened", dataset={"name": "sequences_test"}, severities=["mild", "severe"]
    )
    assert ds.clusters() == ["seq0"] * 4 and ds.load(1).cluster == "seq0"
    single = create_dataset("darkened", dataset={"name": "sequences_test"})
    assert single.clusters() == ["seq0"] * 2 and single.strata() == [None] * 2


def test_fingerprint_follows_simulator_and_inner_files(photos):
    base = darkened(photos).fingerprint()
    assert darkened(photos).fingerprint() == base
    assert darkened(photos, seed=1).fingerprint() != base
    assert darkened(photos, severity="severe").fingerprint() != base
    assert darkened(photos, limit=2).fingerprint() != base
    several = darkened(photos, severities=["moderate", "severe"]).fingerprint()
    assert several != base == darkened(photos, severities=["moderate"]).fingerprint()
    assert several != darkened(photos, severities=["moderate", "mild"]).fingerprint()
    write_photo(photos / "d.png", (20, 28), seed=9)
    assert darkened(photos).fingerprint() != base


class Labelled(Dataset):
    """A tiny detection set with a class map, to check what passes through."""

    task, classes = "detection", ("cat", "dog")
    coco_names = {"cat": "cat", "dog": "dog"}

    def __init__(self, root=None, limit=None):
        super().__init__(root, limit)
        self.findings.append(Finding("here", "one planted finding"))

    def __len__(self):
        return 2

    def name_of(self, i):
        return f"item{i}"

    def load(self, i):
        target = {"boxes": torch.tensor([[1.0, 2.0, 5.0, 6.0]]), "labels": torch.tensor([i])}
        return Sample(f"item{i}", torch.full((3, 8, 8), 0.5), None, target, {"split": "val"})

    def fingerprint(self):
        return "labelled"


def test_task_classes_targets_and_extras_pass_through(monkeypatch):
    monkeypatch.setitem(DATASETS._loaded, "labelled_test", Labelled)
    ds = create_dataset("darkened", dataset={"name": "labelled_test"})
    assert ds.task == "detection" and ds.classes == ("cat", "dog") and ds.paired
    assert ds.coco_names == Labelled.coco_names
    assert ds.findings == [Finding("here", "one planted finding")]
    s = ds.load(1)
    assert s.target["labels"].tolist() == [1] and s.meta["split"] == "val"
    assert torch.equal(s.target["boxes"], Labelled().load(1).target["boxes"])
    assert not ds.check(read_images=True).ok  # the inner set's problem is reported
    with pytest.raises(AttributeError):
        ds.no_such_attribute  # noqa: B018


def run_config(tmp_path, dataset_spec) -> tuple:
    data = {
        "name": "dark",
        "output": str(tmp_path / "results"),
        "device": "cpu",
        "enhancers": [{"name": "identity"}, {"name": "gamma"}],
        "datasets": [{"name": "darkened", "params": {"dataset": dataset_spec, "seed": 7}}],
        "evaluations": [{"name": "iqa", "params": {"metrics": ["psnr", "ssim"]}}],
    }
    outcome = Runner(validate_config(data), quiet=True).run()
    with Store(tmp_path / "results") as store:
        metrics = {
            c.enhancer: {r["metric"]: r["value"] for r in store.cell_metrics(c.key)}
            for c in outcome.computed
        }
    return outcome, metrics


def test_config_validation_checks_darkened_params(photos):
    data = {
        "name": "t",
        "enhancers": [{"name": "identity"}],
        "datasets": [
            {
                "name": "darkened",
                "params": {"dataset": {"name": "unpaired_folder"}, "severty": "mild"},
            }
        ],
        "evaluations": [{"name": "iqa"}],
    }
    with pytest.raises(ConfigError, match="severty: unknown parameter of 'darkened'"):
        validate_config(data)


def test_runner_scores_a_darkened_unpaired_folder(tmp_path, photos):
    outcome, metrics = run_config(tmp_path, {"name": "unpaired_folder", "root": str(photos)})
    assert not outcome.failed and set(metrics) == {"identity", "gamma", "reference"}
    assert 5 < metrics["identity"]["psnr"] < 30 and 0 < metrics["identity"]["ssim"] < 1
    assert metrics["gamma"]["psnr"] > metrics["identity"]["psnr"]  # brightening helps


def write_coco(root: Path) -> Path:
    """Three images in ``root/images`` and their COCO instances JSON."""
    images, annotations = [], []
    for i, (h, w) in enumerate([(24, 32), (24, 32), (20, 28)], start=1):
        write_photo(root / "images" / f"{i:03d}.jpg", (h, w), seed=i)
        images.append({"id": i, "file_name": f"{i:03d}.jpg", "height": h, "width": w})
        box = [2.0, 3.0, 10.0 + i, 8.0]
        annotations.append(
            {"id": 10 + i, "image_id": i, "category_id": 1 + i % 2, "bbox": box, "iscrowd": 0}
        )
    categories = [{"id": 1, "name": "person"}, {"id": 2, "name": "car"}]
    path = root / "annotations.json"
    path.write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories})
    )
    return path


def test_runner_scores_darkened_coco_detection_with_targets_untouched(tmp_path):
    write_coco(tmp_path / "coco")
    spec = {"name": "coco_detection", "root": str(tmp_path / "coco")}
    outcome, metrics = run_config(tmp_path, spec)
    assert not outcome.failed and set(metrics) == {"identity", "gamma", "reference"}
    assert all(0 < metrics[e]["psnr"] < 60 for e in ("identity", "gamma"))

    inner, ds = create_dataset(**spec), create_dataset("darkened", dataset=spec, seed=7)
    assert ds.task == "detection" and ds.classes == inner.classes and len(ds) == 3
    assert ds.category_ids == inner.category_ids  # reader extras pass through
    for i in range(3):
        clean, dark = inner.load(i), ds.load(i)
        assert torch.equal(dark.target["boxes"], clean.target["boxes"])
        assert torch.equal(dark.target["labels"], clean.target["labels"])
        assert torch.equal(dark.reference, clean.image) and dark.image.mean() < clean.image.mean()
