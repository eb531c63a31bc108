"""Segmentation readers on fixtures written in each set's published layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import write_photo
from gefu.cli.main import main as gefu_main
from gefu.datasets import DATASETS, create_dataset
from gefu.datasets.cityscapes_ids import LABEL_TO_TRAIN, LABELS, TRAIN_CLASSES, apply_lookup
from gefu.io import ImageReadError

H, W = 16, 24


def mask(values, shape=(H, W)) -> np.ndarray:
    """A mask whose rows cycle through ``values`` (every value present)."""
    rows = np.resize(np.asarray(values, dtype=np.uint8), shape[0])
    return np.repeat(rows[:, None], shape[1], axis=1)


def write_mask(path: Path, arr: np.ndarray) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr.astype(np.uint8), mode="L").save(path)
    return arr


def findings(report) -> dict[str, str]:
    return {Path(f.path).name: f.message for f in report.findings}


# -- the Cityscapes table ----------------------------------------------------------------
def test_cityscapes_table_known_entries():
    assert (
        len(TRAIN_CLASSES) == 19 and TRAIN_CLASSES[0] == "road" and TRAIN_CLASSES[18] == "bicycle"
    )
    assert TRAIN_CLASSES[13] == "car" and TRAIN_CLASSES[6] == "traffic light"
    assert (LABEL_TO_TRAIN[7], LABEL_TO_TRAIN[8], LABEL_TO_TRAIN[26], LABEL_TO_TRAIN[33]) == (
        0,
        1,
        13,
        18,
    )
    for ignored in (0, 1, 2, 3, 4, 5, 6, 9, 10, 14, 15, 16, 18, 29, 30):
        assert LABEL_TO_TRAIN[ignored] == 255, ignored
    assert sorted(LABEL_TO_TRAIN) == list(range(34)) and LABELS[-1] == ("license plate", -1)
    # every train id 0..18 comes from exactly one label id, named like the train class
    trained = {t: LABELS[i][0] for i, t in LABEL_TO_TRAIN.items() if t != 255}
    assert [trained[t] for t in range(19)] == list(TRAIN_CLASSES)


def test_cityscapes_table_matches_torchvision():
    cityscapes = pytest.importorskip("torchvision.datasets").Cityscapes
    theirs = {c.id: (c.name, c.train_id) for c in cityscapes.classes}
    assert theirs == LABELS


def test_apply_lookup_sends_ids_beyond_the_table_to_ignore():
    lut = np.full(256, 255, dtype=np.int64)
    lut[7] = 0
    raw = np.array([[7, 300], [-2, 7]])
    assert apply_lookup(raw, lut).tolist() == [[0, 255], [255, 0]]


# -- ACDC night --------------------------------------------------------------------------
@pytest.fixture
def acdc(tmp_path) -> Path:
    root = tmp_path / "acdc"
    img, gt = root / "rgb_anon/night/val", root / "gt/night/val"
    write_photo(img / "GOPR0351/GOPR0351_frame_000001_rgb_anon.png", (H, W), seed=1)
    write_photo(img / "GOPR0351/GOPR0351_frame_000002_rgb_anon.PNG", (H, W), seed=2)
    write_photo(img / "GOPR0356/GOPR0356_frame_000003_rgb_anon.png", (H, W), seed=3)  # no mask
    write_mask(gt / "GOPR0351/GOPR0351_frame_000001_gt_labelTrainIds.png", mask([0, 13, 255]))
    write_mask(gt / "GOPR0351/GOPR0351_frame_000002_gt_labelTrainIds.png", mask([18, 40]))
    write_mask(gt / "GOPR0351/GOPR0351_frame_000001_gt_labelIds.png", mask([7, 26]))  # ignored
    write_mask(gt / "GOPR0356/GOPR0356_frame_000009_gt_labelTrainIds.png", mask([1]))  # no image
    write_photo(root / "rgb_anon/night/test/GOPR0364/GOPR0364_frame_000001_rgb_anon.png", (H, W))
    return root


def test_acdc_reads_pairs_and_exact_masks(acdc):
    ds = create_dataset("acdc_night", root=str(acdc))
    assert ds.split == "val" and ds.task == "segmentation" and ds.classes == TRAIN_CLASSES
    assert [ds.name_of(i) for i in range(len(ds))] == [
        "GOPR0351/GOPR0351_frame_000001_rgb_anon.png",
        "GOPR0351/GOPR0351_frame_000002_rgb_anon.PNG",
    ]
    s0, s1 = ds.load(0), ds.load(1)
    assert s0.image.shape == (3, H, W) and s0.target.dtype.is_floating_point is False
    assert str(s0.target.dtype) == "torch.int64"
    assert np.array_equal(s0.target.numpy(), mask([0, 13, 255]))
    assert np.array_equal(s1.target.numpy(), mask([18, 255]))  # 40 -> ignore in load
    assert s0.meta["sequence"] == "GOPR0351" and s0.meta["split"] == "val"
    assert s0.meta["mask_path"].endswith("GOPR0351_frame_000001_gt_labelTrainIds.png")
    assert s0.meta["size"] == (H, W) and s0.reference is None


def test_acdc_check_finds_each_planted_defect_by_file(acdc):
    report = create_dataset("acdc_night", root=str(acdc)).check()
    found = findings(report)
    assert "image without a mask" in found["GOPR0356_frame_000003_rgb_anon.png"]
    assert "mask without an image" in found["GOPR0356_frame_000009_gt_labelTrainIds.png"]
    assert "[40]" in found["GOPR0351_frame_000002_gt_labelTrainIds.png"]
    assert len(report.findings) == 3, [str(f) for f in report.findings]
    assert report.counts["split val"] == 2
    assert report.counts["class car (images)"] == 1 and report.counts["class bicycle (images)"] == 1
    assert report.counts["class road (images)"] == 1 and report.counts["class sky (images)"] == 0
    # without decoding, the mask id scan is skipped; pairing defects are still listed
    assert len(create_dataset("acdc_night", root=str(acdc)).check(read_images=False).findings) == 2


def test_acdc_test_split_has_no_labels(acdc):
    ds = create_dataset("acdc_night", root=str(acdc), split="test")
    assert len(ds) == 1 and ds.load(0).target is None
    report = ds.check()
    assert report.ok and report.counts["unlabelled images (this split has no masks)"] == 1


def test_missing_folders_and_unknown_split_are_clear_errors(tmp_path, acdc):
    with pytest.raises(FileNotFoundError, match=r"rgb_anon/night/val/GOPR\*/\*_rgb_anon.png"):
        create_dataset("acdc_night", root=str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match=r"gt/night/train"):
        (acdc / "rgb_anon/night/train").mkdir()
        create_dataset("acdc_night", root=str(acdc), split="train")
    with pytest.raises(ValueError, match="valid: train, val, test"):
        create_dataset("acdc_night", root=str(acdc), split="day")


def test_acdc_clusters_are_recordings(tmp_path):
    img = tmp_path / "acdc/rgb_anon/night/test"
    for seq, frame in (("GOPR0364", 1), ("GOPR0364", 7), ("GOPR0400", 2)):
        write_photo(img / f"{seq}/{seq}_frame_{frame:06d}_rgb_anon.png", (H, W))
    ds = create_dataset("acdc_night", root=str(tmp_path / "acdc"), split="test")
    assert ds.clusters() == ["GOPR0364", "GOPR0364", "GOPR0400"]  # from names: nothing decoded
    assert ds.strata() == [None] * 3
    s = ds.load(2)
    assert (s.cluster, s.stratum) == ("GOPR0400", None)


# -- Dark Zurich and Nighttime Driving ---------------------------------------------------
def test_dark_zurich_val_and_unlabelled_test(tmp_path):
    root = tmp_path / "dz"
    write_photo(root / "rgb_anon/val/night/GOPR0356/GOPR0356_frame_000321_rgb_anon.png", (H, W))
    write_mask(
        root / "gt/val/night/GOPR0356/GOPR0356_frame_000321_gt_labelTrainIds.png", mask([10, 2])
    )
    write_photo(root / "gt/val/night/GOPR0356/GOPR0356_frame_000321_gt_labelColor.png", (H, W))
    write_photo(root / "rgb_anon/test/night/GOPR0360/GOPR0360_frame_000001_rgb_anon.png", (H, W))
    val = create_dataset("dark_zurich", root=str(root))
    assert len(val) == 1 and np.array_equal(val.load(0).target.numpy(), mask([10, 2]))
    assert val.check().ok
    test = create_dataset("dark_zurich", root=str(root), split="test")
    assert len(test) == 1 and test.load(0).target is None
    assert val.clusters() == ["GOPR0356"] and test.load(0).cluster == "GOPR0360"


def test_dark_zurich_flat_folder_takes_the_recording_from_the_file_name(tmp_path):
    night = tmp_path / "dz/rgb_anon/test/night"
    write_photo(night / "GOPR0360_frame_000001_rgb_anon.png", (H, W))
    write_photo(night / "GOPR0361_frame_000002_rgb_anon.png", (H, W))
    ds = create_dataset("dark_zurich", root=str(tmp_path / "dz"), split="test")
    assert ds.clusters() == ["GOPR0360", "GOPR0361"]


def test_nighttime_driving_layout(tmp_path):
    root = tmp_path / "NighttimeDrivingTest"
    img, gt = root / "leftImg8bit/test/night", root / "gtCoarse_daytime_trainvaltest/test/night"
    for i, ids in enumerate(([0, 11], [5, 255])):
        write_photo(img / f"{i}_frame_{i:04d}_leftImg8bit.png", (H, W), seed=i)
        write_mask(gt / f"{i}_frame_{i:04d}_gtCoarse_labelTrainIds.png", mask(ids))
        write_mask(gt / f"{i}_frame_{i:04d}_gtCoarse_labelIds.png", mask([24, 7]))
    ds = create_dataset("nighttime_driving", root=str(root))
    assert [ds.name_of(i) for i in range(2)] == [
        "0_frame_0000_leftImg8bit.png",
        "1_frame_0001_leftImg8bit.png",
    ]
    assert np.array_equal(ds.load(1).target.numpy(), mask([5, 255]))
    assert ds.check().ok


# -- NightCity: label ids -> train ids ---------------------------------------------------
@pytest.fixture
def nightcity(tmp_path) -> Path:
    root = tmp_path / "nightcity"
    write_photo(root / "images/val/Chicago_0001.png", (H, W), seed=1)
    write_mask(root / "label/val/Chicago_0001_labelIds.png", mask([0, 7, 8, 26, 33, 9, 255, 29]))
    write_photo(root / "images/val/Tokyo_0002.png", (H, W), seed=2)
    write_mask(root / "label/val/Tokyo_0002_labelIds.png", mask([24], shape=(H, W + 2)))
    write_photo(root / "images/val/Tokyo_0003.png", (H, W), seed=3)
    write_mask(root / "label/val/Tokyo_0003_labelIds.png", mask([11, 40]))
    return root


def test_nightcity_maps_label_ids_to_train_ids(nightcity):
    ds = create_dataset("nightcity", root=str(nightcity))
    assert [ds.name_of(i) for i in range(len(ds))] == [
        "Chicago_0001.png",
        "Tokyo_0002.png",
        "Tokyo_0003.png",
    ]
    target = ds.load(0).target.numpy()
    assert np.array_equal(target, mask([255, 0, 1, 13, 18, 255, 255, 255]))
    assert ds.clusters() == [None] * 3 and ds.load(0).cluster is None  # no scene id published
    assert np.array_equal(ds.load(2).target.numpy(), mask([2, 255]))


def test_nightcity_size_mismatch_names_both_files(nightcity):
    ds = create_dataset("nightcity", root=str(nightcity))
    with pytest.raises(ImageReadError) as err:
        ds.load(1)
    assert "Tokyo_0002_labelIds.png" in str(err.value) and "Tokyo_0002.png" in str(err.value)
    assert "26x16" in str(err.value) and "24x16" in str(err.value)


def test_nightcity_check_and_cli(nightcity, tmp_path, capsys):
    report = create_dataset("nightcity", root=str(nightcity)).check()
    found = {f.path: f.message for f in report.findings}
    assert (
        "26x16" in found["Tokyo_0002.png"] and "Tokyo_0002_labelIds.png" in found["Tokyo_0002.png"]
    )
    assert "[40]" in found[str(nightcity / "label/val/Tokyo_0003_labelIds.png")]
    assert len(report.findings) == 2, [str(f) for f in report.findings]  # 255 and 29 are valid
    assert gefu_main(["datasets", "check", "nightcity", str(nightcity)]) == 1
    out = capsys.readouterr().out
    assert "Tokyo_0003_labelIds.png" in out and "[40]" in out and "Tokyo_0002" in out
    # a clean copy: only Chicago_0001
    clean = tmp_path / "clean"
    write_photo(clean / "images/train/a.png", (H, W))
    write_mask(clean / "label/train/a_labelIds.png", mask([7, 0]))
    assert gefu_main(["datasets", "check", "nightcity", str(clean), "--param", "split=train"]) == 0
    assert "no problems found" in capsys.readouterr().out


def test_rgb_mask_is_a_clear_error(tmp_path):
    root = tmp_path / "nc"
    write_photo(root / "images/val/a.png", (H, W))
    write_photo(root / "label/val/a_labelIds.png", (H, W))  # a colour image, not ids
    with pytest.raises(ImageReadError, match="mode RGB"):
        create_dataset("nightcity", root=str(root)).load(0)


# -- BDD100K-night -----------------------------------------------------------------------
@pytest.mark.parametrize("suffix", ["_train_id.png", ".png"])
def test_bdd100k_night_mask_naming_and_subset(tmp_path, suffix):
    root = tmp_path / "bdd100k-night"
    names = ["0a0a0b1a-7c39d841", "1b2c3d4e-00000000", "9f8e7d6c-11111111"]
    for i, name in enumerate(names):
        write_photo(root / f"images/test/{name}.jpg", (H, W), seed=i)
        write_mask(root / f"labels/test/{name}{suffix}", mask([i, 255]))
    ds = create_dataset("bdd100k_night", root=str(root))
    assert ds.mask_suffix == suffix and len(ds) == 3
    assert np.array_equal(ds.load(2).target.numpy(), mask([2, 255]))
    night = tmp_path / "night.txt"
    night.write_bytes(f"{names[2]}.jpg\r\n\r\n{names[0]}\r\n".encode())  # CRLF, a stem
    sub = create_dataset("bdd100k_night", root=str(root), subset=str(night))
    assert [sub.name_of(i) for i in range(len(sub))] == [f"{names[0]}.jpg", f"{names[2]}.jpg"]
    assert sub.check().ok
    with pytest.raises(ValueError, match="not-there"):
        create_dataset("bdd100k_night", root=str(root), subset=["not-there"])
    assert len(create_dataset("bdd100k_night", root=str(root), limit=2)) == 2


# -- the generic mask folder -------------------------------------------------------------
def test_mask_folder_label_map_and_classes(tmp_path):
    root = tmp_path / "mine"
    write_photo(root / "images/a.JPG", (H, W))
    write_mask(root / "masks/a.png", mask([0, 1, 2, 5]))
    ds = create_dataset(
        "mask_folder",
        root=str(root),
        label_map={"1": 0, "2": 1, "0": 255},
        classes=["lane", "car"],
    )
    assert ds.classes == ("lane", "car")
    assert np.array_equal(ds.load(0).target.numpy(), mask([255, 0, 1, 255]))
    found = findings(ds.check())
    assert "[5]" in found["a.png"] and len(found) == 1
    with pytest.raises(ValueError, match="bad entries"):
        create_dataset("mask_folder", root=str(root), label_map={1: 7}, classes=["lane", "car"])


def test_mask_folder_cityscapes_layout(tmp_path):
    root = tmp_path / "cityscapes"
    write_photo(root / "leftImg8bit/val/lindau/lindau_000000_000019_leftImg8bit.png", (H, W))
    write_mask(root / "gtFine/val/lindau/lindau_000000_000019_gtFine_labelIds.png", mask([7, 26]))
    ds = create_dataset(
        "mask_folder",
        root=str(root),
        images_dir="leftImg8bit/val",
        masks_dir="gtFine/val",
        image_suffix="_leftImg8bit.png",
        mask_suffix="_gtFine_labelIds.png",
        label_map="cityscapes",
        recursive=True,
    )
    assert ds.name_of(0) == "lindau/lindau_000000_000019_leftImg8bit.png"
    assert np.array_equal(ds.load(0).target.numpy(), mask([0, 13]))
    assert ds.check().ok


def test_fingerprint_follows_the_masks(nightcity):
    before = create_dataset("nightcity", root=str(nightcity)).fingerprint()
    write_mask(nightcity / "label/val/Chicago_0001_labelIds.png", mask([7, 7, 8, 9, 10, 11, 12]))
    assert create_dataset("nightcity", root=str(nightcity)).fingerprint() != before


def test_every_segmentation_reader_is_registered():
    for name in ("acdc_night", "dark_zurich", "nighttime_driving", "nightcity", "bdd100k_night"):
        cls = DATASETS.get(name)
        assert cls.task == "segmentation" and cls.classes == TRAIN_CLASSES
    assert DATASETS.get("mask_folder").__module__ == "gefu.datasets.segmentation"
