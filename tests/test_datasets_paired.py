"""LOL v1 / v2 / LSRW pairing and the unpaired sets, on fixtures in the published layouts."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gefu.cli.main import main as gefu_main
from gefu.datasets import DATASETS, create_dataset
from gefu.datasets.paired_sets import LOLv1, LOLv2Real, UnpairedSet
from gefu.io import ImageReadError


def img(path: Path, value: int, size=(16, 24)) -> None:
    """A flat image whose pixel value identifies it (so pairs can be checked by content)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((*size, 3), value, np.uint8)).save(path, format="PNG")


def value_of(tensor) -> int:
    return round(float(tensor[0, 0, 0]) * 255)


def lol_v1(root: Path, clean: bool = False) -> Path:
    for split, n in (("our485", 3), ("eval15", 3)):
        for i in range(1, n + 1):
            img(root / split / "low" / f"{i}.png", i)
            img(root / split / "high" / f"{i}.png", 100 + i)
    img(root / "eval15" / "low" / "10.PNG", 10)  # upper-case suffix, sorts between 1 and 2
    img(root / "eval15" / "high" / "10.PNG", 110)
    if not clean:
        img(root / "eval15" / "low" / "7.png", 7)  # no reference
        img(root / "eval15" / "high" / "8.png", 108)  # no input
        img(root / "eval15" / "high" / "3.png", 103, size=(16, 20))  # size mismatch
        (root / "eval15" / "low" / "2.png").write_bytes(b"not a png")  # unreadable
    return root


def lol_v2(root: Path) -> Path:
    for split in ("Train", "Test"):
        for i in (1, 690, 42):
            img(root / "Real_captured" / split / "Low" / f"low{i:05d}.png", i % 100)
            img(root / "Real_captured" / split / "Normal" / f"normal{i:05d}.png", 100 + i % 100)
            img(root / "Synthetic" / split / "Low" / f"r{i:03d}x.png", i % 100)
            img(root / "Synthetic" / split / "Normal" / f"r{i:03d}x.png", 100 + i % 100)
    img(root / "Real_captured" / "Test" / "Normal" / "00005.png", 5)  # missing "normal" prefix
    return root


def test_all_names_registered():
    for name in (
        "lol_v1",
        "lol_v2_real",
        "lol_v2_synthetic",
        "lsrw",
        "lime_set",
        "dicm",
        "mef",
        "npe",
        "vv",
    ):
        assert DATASETS.get(name).registry_name == name


def test_lol_v1_pairs_by_name_in_sorted_order(tmp_path):
    ds = create_dataset("lol_v1", root=lol_v1(tmp_path / "LOL", clean=True))
    assert isinstance(ds, LOLv1) and ds.paired and ds.split == "eval15"
    assert [ds.name_of(i) for i in range(len(ds))] == ["1.png", "10.PNG", "2.png", "3.png"]
    for i in range(len(ds)):
        s = ds.load(i)
        assert value_of(s.reference) == 100 + value_of(s.image)
        assert s.meta["split"] == "eval15" and s.meta["size"] == [16, 24]
        assert Path(s.meta["path"]).parent.name == "low"
    train = LOLv1(tmp_path / "LOL", split="our485")
    assert len(train) == 3 and train.meta_of(0)["reference_path"].endswith("our485/high/1.png")
    assert ds.fingerprint() != train.fingerprint()


def test_lol_v1_defects_are_skipped_or_raised_and_all_found_by_check(tmp_path):
    ds = LOLv1(lol_v1(tmp_path / "LOL"))
    names = [ds.name_of(i) for i in range(len(ds))]
    assert names == ["1.png", "10.PNG", "2.png", "3.png"]  # 7 and 8 have no partner
    found = [str(f) for f in ds.findings]
    assert any("7.png" in f for f in found) and any("8.png" in f for f in found)
    ds.load(0)
    with pytest.raises(ImageReadError, match="2.png"):
        ds.load(2)
    with pytest.raises(ImageReadError, match="differs"):
        ds.load(3)
    report = ds.check(read_images=False)
    found = {
        (Path(f.path).relative_to(tmp_path / "LOL").as_posix(), f.message.split(":")[0])
        for f in report.findings
    }
    assert found == {
        ("eval15/low/7.png", "no matching file in high/"),
        ("eval15/high/8.png", "no matching file in low/"),
        ("eval15/high/3.png", "size 20x16 differs from 3.png (24x16)"),
        ("eval15/low/2.png", "unreadable"),
    }
    assert report.counts["split eval15"] == 4


def test_lol_v2_real_maps_low_to_normal_names(tmp_path):
    ds = create_dataset("lol_v2_real", root=lol_v2(tmp_path / "LOL-v2"))
    assert isinstance(ds, LOLv2Real) and ds.split == "test"
    assert [ds.name_of(i) for i in range(len(ds))] == [
        "low00001.png",
        "low00042.png",
        "low00690.png",
    ]
    assert [value_of(ds.load(i).reference) for i in range(3)] == [101, 142, 190]
    assert [Path(f.path).name for f in ds.findings] == ["00005.png"]
    assert len(create_dataset("lol_v2_real", root=tmp_path / "LOL-v2", split="train")) == 3


def test_lol_v2_synthetic_same_names(tmp_path):
    ds = create_dataset("lol_v2_synthetic", root=lol_v2(tmp_path / "LOL-v2"), split="train")
    s = ds.load(2)
    assert s.name == "r690x.png" and value_of(s.image) == 90
    assert value_of(s.reference) == 190 and s.meta["split"] == "train"


def test_lsrw_cameras_and_splits(tmp_path):
    root = tmp_path / "LSRW"
    for split in ("Training data", "Eval"):
        for camera, n in (("Huawei", 2), ("Nikon", 3)):
            for i in range(n):
                img(root / split / camera / "low" / f"{i}.jpg", i)
                img(root / split / camera / "high" / f"{i}.jpg", 50 + i)
    both = create_dataset("lsrw", root=root)
    assert [both.name_of(i) for i in range(len(both))] == [
        "Huawei/0.jpg",
        "Huawei/1.jpg",
        "Nikon/0.jpg",
        "Nikon/1.jpg",
        "Nikon/2.jpg",
    ]
    assert both.load(3).meta["camera"] == "Nikon" and both.check().counts["camera Nikon"] == 3
    nikon = create_dataset("lsrw", root=root, split="train", camera="nikon", limit=2)
    assert len(nikon) == 2 and nikon.meta_of(0)["path"].endswith("Training data/Nikon/low/0.jpg")
    with pytest.raises(ValueError, match="unknown camera"):
        create_dataset("lsrw", root=root, camera="canon")


def test_missing_root_or_split_folder_says_what_was_expected(tmp_path):
    root = lol_v1(tmp_path / "LOL", clean=True)
    expected = r"top folder \(holding our485/ and eval15/\) at .*nowhere"
    with pytest.raises(FileNotFoundError, match=expected):
        LOLv1(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="looks like a split folder"):
        LOLv1(root / "eval15")
    with pytest.raises(ValueError, match="unknown split 'test'; choose one of eval15, our485"):
        LOLv1(root, split="test")
    with pytest.raises(FileNotFoundError, match="Real_captured/Test"):
        create_dataset("lol_v2_real", root=root)


def test_subset_from_list_or_crlf_file_then_limit(tmp_path):
    root = lol_v1(tmp_path / "LOL", clean=True)
    assert [LOLv1(root, subset=["3.png", "1.png"]).name_of(i) for i in range(2)] == [
        "1.png",
        "3.png",
    ]
    listing = tmp_path / "subset.txt"
    listing.write_bytes(b"# chosen\r\n3.png\r\n\r\n10.PNG\r\n2.png\r\n")
    ds = LOLv1(root, subset=str(listing), limit=2)
    assert [ds.name_of(i) for i in range(len(ds))] == ["10.PNG", "2.png"]
    with pytest.raises(ValueError, match="not in the dataset: 99.png"):
        LOLv1(root, subset=["1.png", "99.png"])


def test_unpaired_sets_read_a_flat_folder(tmp_path):
    root = tmp_path / "DICM"
    for i, name in enumerate(["b.jpg", "a.BMP", "c.png"]):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((12, 10, 3), 10 * i, np.uint8)).save(
            path, format={"jpg": "JPEG", "BMP": "BMP", "png": "PNG"}[name.split(".")[1]]
        )
    (root / "notes.txt").write_text("not an image")
    for name in ("lime_set", "dicm", "mef", "npe", "vv"):
        ds = create_dataset(name, root=root)
        assert isinstance(ds, UnpairedSet) and not ds.paired
        assert [ds.name_of(i) for i in range(len(ds))] == ["a.BMP", "b.jpg", "c.png"]
    s = ds.load(0)
    assert s.reference is None and s.meta["split"] == "test" and s.meta["size"] == [12, 10]
    assert torch.all(s.image == 10 / 255)
    assert ds.check().ok and len(create_dataset("dicm", root=root, subset=["c.png"])) == 1
    (root / "d.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    report = create_dataset("dicm", root=root).check()
    assert [Path(f.path).name for f in report.findings] == ["d.png"]


def run_cli(*args) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = gefu_main(["datasets", "check", *args])
    return code, out.getvalue()


def test_cli_check_exit_codes(tmp_path):
    code, text = run_cli("lol_v1", str(lol_v1(tmp_path / "clean", clean=True)))
    assert code == 0 and "no problems found" in text
    code, text = run_cli("lol_v1", str(lol_v1(tmp_path / "bad")))
    assert code == 1 and "4 problem(s)" in text and "eval15/high/8.png" in text
    code, text = run_cli("lol_v1", str(tmp_path / "bad"), "--param", "split=our485")
    assert code == 0, text
