"""CODaN and ImageFolder-style classification readers on generated fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import write_photo
from gefu.cli.main import main as gefu_main
from gefu.datasets import create_dataset

CODAN = ("Bicycle", "Car", "Motorbike", "Bus", "Boat", "Cat", "Dog", "Bottle", "Cup", "Chair")


def write_codan(root: Path, split: str = "test_night") -> Path:
    """One image per class (two for Car, one with an upper-case extension)."""
    for i, cls in enumerate(CODAN):
        write_photo(root / split / cls / f"{cls.lower()}_{i:04d}.jpg", (8, 8), seed=i)
    write_photo(root / split / "Car" / "car_9999.PNG", (8, 8))
    return root


def test_codan_reads_labels_in_the_official_order(tmp_path):
    ds = create_dataset("codan", root=str(write_codan(tmp_path / "codan")))
    assert ds.classes == CODAN and ds.split == "test_night" and ds.task == "classification"
    names = [ds.name_of(i) for i in range(len(ds))]
    assert names[:4] == [
        "Bicycle/bicycle_0000.jpg",
        "Car/car_0001.jpg",
        "Car/car_9999.PNG",
        "Motorbike/motorbike_0002.jpg",
    ]
    labels = [ds.load(i).target for i in range(len(ds))]
    assert labels == [0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    sample = ds.load(10)
    assert sample.meta["class"] == "Chair" and sample.meta["split"] == "test_night"
    assert sample.image.shape == (3, 8, 8) and sample.meta["path"].endswith("chair_0009.jpg")
    report = ds.check()
    assert report.ok, [str(f) for f in report.findings]
    assert report.counts["class Car"] == 2 and report.counts["split test_night"] == 11


def test_codan_finds_each_planted_defect(tmp_path, capsys):
    root = write_codan(tmp_path / "codan")
    split = root / "test_night"
    write_photo(split / "Truck" / "truck_0000.jpg", (8, 8))  # not a CODaN class
    write_photo(split / "stray.jpg", (8, 8))  # outside any class folder
    (split / "Dog" / "notes.txt").write_text("hello")
    for p in (split / "Chair").iterdir():
        p.unlink()  # an empty class folder
    (split / "Bottle" / "bottle_0007.jpg").write_bytes(b"not a jpeg")  # unreadable
    report = create_dataset("codan", root=str(root)).check()
    found = {Path(f.path).name: f.message for f in report.findings}
    assert "not one of the 10 classes" in found["Truck"]
    assert "outside any class folder" in found["stray.jpg"]
    assert "not an image file" in found["notes.txt"]
    assert "no images" in found["Chair"]
    assert "bottle_0007.jpg" in found  # the decode failure, by item name
    assert len(report.findings) == 5, [str(f) for f in report.findings]
    assert gefu_main(["datasets", "check", "codan", str(root)]) == 1
    out = capsys.readouterr().out
    assert "Truck" in out and "notes.txt" in out and "5 problem(s)" in out


def test_codan_split_folders_and_errors(tmp_path, capsys):
    repo = tmp_path / "CODaN"
    write_codan(repo / "data", split="test_day")  # the official repository's data/ folder
    day = create_dataset("codan", root=str(repo), split="test_day")
    assert len(day) == 11 and day.load(0).meta["split"] == "test_day"
    assert gefu_main(["datasets", "check", "codan", str(repo), "--param", "split=test_day"]) == 0
    assert "no problems found" in capsys.readouterr().out
    with pytest.raises(FileNotFoundError, match=r"test_night/<Class>"):
        create_dataset("codan", root=str(repo))
    with pytest.raises(ValueError, match="test_day, test_night"):
        create_dataset("codan", root=str(repo), split="night")
    missing = tmp_path / "partial"
    write_photo(missing / "val" / "Car" / "c.jpg", (8, 8))
    found = {
        Path(f.path).name
        for f in create_dataset("codan", root=str(missing), split="val")
        .check(read_images=False)
        .findings
    }
    assert found == set(CODAN) - {"Car"}  # nine class folders missing


def test_codan_subset_and_limit(tmp_path):
    root = write_codan(tmp_path / "codan")
    ds = create_dataset("codan", root=str(root), subset=["car_9999", "Dog/dog_0006.jpg"])
    assert [(ds.name_of(i), ds.load(i).target) for i in range(len(ds))] == [
        ("Car/car_9999.PNG", 1),
        ("Dog/dog_0006.jpg", 6),
    ]
    assert len(create_dataset("codan", root=str(root), limit=3)) == 3
    with pytest.raises(ValueError, match="zebra"):
        create_dataset("codan", root=str(root), subset=["zebra"])


def test_image_folder_sorts_classes_like_torchvision(tmp_path):
    root = tmp_path / "mine"
    for cls in ("zebra", "Apple", "cat"):
        write_photo(root / cls / "x.png", (8, 8))
    write_photo(root / "cat" / "nested" / "y.png", (8, 8))
    ds = create_dataset("image_folder", root=str(root))
    assert ds.classes == ("Apple", "cat", "zebra")  # sorted(): upper case first
    assert [(ds.name_of(i), ds.load(i).target) for i in range(len(ds))] == [
        ("Apple/x.png", 0),
        ("cat/nested/y.png", 1),
        ("cat/x.png", 1),
        ("zebra/x.png", 2),
    ]
    assert ds.check().ok


def test_image_folder_with_given_classes_and_split(tmp_path):
    root = tmp_path / "mine"
    for cls in ("dog", "cat", "bird"):
        write_photo(root / "test" / cls / "x.png", (8, 8))
    ds = create_dataset("image_folder", root=str(root), split="test", classes=["dog", "cat"])
    assert ds.classes == ("dog", "cat")
    assert [ds.load(i).target for i in range(len(ds))] == [0, 1]
    assert [Path(f.path).name for f in ds.check().findings] == ["bird"]
    with pytest.raises(FileNotFoundError, match="one sub-folder per class"):
        create_dataset("image_folder", root=str(root), split="val")
