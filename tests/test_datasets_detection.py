"""Detection readers (ExDark, DARK FACE txt + VOC, COCO JSON) on fixtures written in the
published formats, with the awkward cases planted; and the class maps."""

from __future__ import annotations

import contextlib
import io
import json

import pytest
import torch

from conftest import write_photo
from gefu.cli.main import main as gefu_main
from gefu.datasets import DATASETS, create_dataset
from gefu.datasets.class_maps import (
    COCO_CATEGORY_IDS,
    COCO_CLASSES,
    EXDARK_TO_COCO,
    invert_label_map,
    label_map,
)
from gefu.datasets.coco import CocoDetection
from gefu.datasets.darkface import DarkFace, DarkFaceVOC
from gefu.datasets.exdark import ExDark

SIZE = (16, 24)  # height, width of every fixture image
HEADER = "% bbGt version=3"


def cli(*args) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = gefu_main(["datasets", "check", *map(str, args)])
    return code, out.getvalue()


def found(report, name: str, line: int | None, text: str) -> bool:
    return any(
        f.path.endswith(name) and f.line == line and text in f.message for f in report.findings
    )


def bbgt(*rows: str) -> str:
    return "\n".join([HEADER, *(f"{r} 0 0 0 0 0 0 0" for r in rows)]) + "\n"


# -- ExDark ---------------------------------------------------------------------------------
def make_exdark(root, defects: bool):
    """(image path under ExDark/, annotation text or None, imageclasslist row)."""
    files = [
        (
            "Car/2015_00001.JPG",
            bbgt("Car 2 3 10 8", "People 0 0 5 5").replace("\n", "\r\n"),
            "5 3 1 3",
            "2015_00001.jpg.txt",
        ),
        ("People/2015_00002.png", bbgt("People 1 1 4 4"), "11 10 2 3", None),
        ("Bicycle/2015_00003.jpg", bbgt("Bicycle 0 0 24 16"), "1 2 2 1", None),
        ("Dog/2015_00004.jpg", bbgt("Dog 1 1 2 2"), "9 5 2 2", None),
    ]
    if defects:
        files += [
            ("Car/2015_00005.jpg", "", "5 1 2 3", None),
            ("Cup/2015_00006.png", None, "8 1 1 3", None),
            (
                "Dog/2015_00007.png",
                bbgt("Dog 20 10 10 10", "Lion 1 1 2 2", "Dog 1 1 3 3"),
                "9 1 2 3",
                None,
            ),
            ("Cup/2015_00008.jpg", bbgt("Cup 1 2 x 4"), "8 1 1 3", None),
        ]
    rows = ["Name | Class | Light | In/Out | Train/Val/Test"]
    for i, (rel, ann, row, ann_name) in enumerate(files):
        write_photo(root / "ExDark" / rel, SIZE, seed=i)
        cls, name = rel.split("/")
        rows.append(f"{name} {row}")
        if ann is not None:
            path = root / "ExDark_Annno" / cls / (ann_name or f"{name}.txt")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(ann.encode())
    if defects:
        (root / "ExDark_Annno" / "Table").mkdir()
        (root / "ExDark_Annno" / "Table" / "2015_00009.jpg.txt").write_text(bbgt("Table 1 1 2 2"))
        rows.append("2015_00010.jpg 5 1 1 3")
    (root / "imageclasslist.txt").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture
def exdark(tmp_path):
    return make_exdark(tmp_path / "exdark", defects=True)


def test_exdark_reads_boxes_labels_and_meta(exdark):
    ds = create_dataset("exdark", root=exdark)
    assert isinstance(ds, ExDark) and ds.task == "detection" and len(ds.classes) == 12
    names = [ds.name_of(i) for i in range(len(ds))]
    assert names == [
        "2015_00001.JPG",
        "2015_00002.png",
        "2015_00005.jpg",
        "2015_00007.png",
        "2015_00008.jpg",
    ]
    s = ds.load(0)  # upper-case image extension, lower-case annotation name, CRLF
    assert s.target["boxes"].dtype == torch.float32 and s.target["labels"].dtype == torch.int64
    assert s.target["boxes"].tolist() == [[2, 3, 12, 11], [0, 0, 5, 5]]
    assert s.target["labels"].tolist() == [ds.classes.index("Car"), ds.classes.index("People")]
    assert s.image.shape == (3, *SIZE)
    assert {k: s.meta[k] for k in ("split", "image_class", "light", "light_type", "scene")} == {
        "split": "test",
        "image_class": "Car",
        "light": 3,
        "light_type": "Object",
        "scene": "indoor",
    }
    assert ds.load(1).meta["scene"] == "outdoor" and ds.load(1).meta["light_type"] == "Twilight"
    assert ds.load(2).target["boxes"].shape == (0, 4)  # empty annotation file: no objects
    assert ds.load(3).target["boxes"].tolist() == [[20, 10, 30, 20], [1, 1, 4, 4]]  # Lion dropped
    with pytest.raises(ValueError, match=r"2015_00008\.jpg\.txt:2: "):
        ds.load(4)


def test_exdark_splits_subset_and_limit(exdark):
    train = ExDark(exdark, split="train")
    assert [train.name_of(0)] == ["2015_00003.jpg"] and len(train) == 1
    assert train.load(0).target["labels"].tolist() == [0]
    assert len(ExDark(exdark, split="all")) == 7  # 8 images, one without annotation
    assert len(ExDark(exdark, limit=2)) == 2
    sub = ExDark(exdark, subset=["2015_00007.png", "2015_00001.JPG"])
    assert [sub.name_of(i) for i in range(len(sub))] == ["2015_00001.JPG", "2015_00007.png"]
    with pytest.raises(ValueError, match="2015_99999.jpg"):
        ExDark(exdark, subset=["2015_99999.jpg"])
    with pytest.raises(ValueError, match="train, val, test or all"):
        ExDark(exdark, split="testing")


def test_exdark_maet_and_list_schemes(exdark):
    (exdark / "main").mkdir()
    (exdark / "main" / "val.txt").write_text("2015_00002.png\n2015_00001.JPG\n")
    (exdark / "main" / "train.txt").write_text("2015_00003.jpg\r\n2015_00004.jpg\r\n")
    maet = ExDark(exdark, split_scheme="maet")  # split "test" reads val.txt, as MAET evaluates
    assert [maet.name_of(i) for i in range(len(maet))] == ["2015_00001.JPG", "2015_00002.png"]
    assert maet.load(0).meta["light"] == 3  # meta still from imageclasslist.txt
    assert len(ExDark(exdark, split="train", split_scheme="maet")) == 2
    (exdark / "mine.txt").write_text("2015_00002\n2015_12345.jpg\n")  # a stem; an unknown name
    mine = ExDark(exdark, split="mine", split_scheme="list", split_file="mine.txt")
    assert [mine.name_of(0)] == ["2015_00002.png"] and len(mine) == 1
    assert found(mine.check(read_images=False), "mine.txt", 2, "no such image")
    with pytest.raises(ValueError, match="split_file"):
        ExDark(exdark, split_scheme="list")
    with pytest.raises(FileNotFoundError, match="main/val.txt"):
        ExDark(make_exdark(exdark.parent / "plain", False), split_scheme="maet")


def test_exdark_check_finds_every_planted_defect(exdark):
    report = ExDark(exdark, split="all").check()
    assert found(report, "2015_00005.jpg.txt", None, "empty annotation file")
    assert found(report, "2015_00006.png", None, "no annotation")
    assert found(report, "2015_00007.png.txt", 2, "outside the 24x16 image")
    assert found(report, "2015_00007.png.txt", 3, "unknown class 'Lion'")
    assert found(report, "2015_00008.jpg.txt", 2, "expected 'Class left top width height")
    assert found(report, "2015_00009.jpg.txt", None, "annotation without an image")
    assert found(report, "imageclasslist.txt", 10, "2015_00010.jpg: listed but no image")
    assert len(report.findings) == 7, "\n".join(map(str, report.findings))
    assert report.counts["split train"] == 1 and report.counts["split test"] == 7
    assert report.counts["boxes Dog"] == 3 and report.counts["boxes People"] == 2


def test_exdark_cli_exit_codes_and_missing_folders(tmp_path, exdark):
    clean = make_exdark(tmp_path / "clean", defects=False)
    code, out = cli("exdark", clean)
    assert code == 0 and "no problems found" in out and "split val: 1" in out
    code, out = cli("exdark", exdark, "--param", "split=all")
    assert code == 1 and "2015_00008.jpg.txt:2: expected" in out
    (tmp_path / "empty" / "ExDark").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="ExDark_Annno"):
        ExDark(tmp_path / "empty")
    (tmp_path / "empty" / "ExDark_Annno").mkdir()
    with pytest.raises(FileNotFoundError, match="imageclasslist.txt"):
        ExDark(tmp_path / "empty")


def test_exdark_fingerprint_follows_annotations(exdark):
    before = ExDark(exdark).fingerprint()
    assert ExDark(exdark).fingerprint() == before
    (exdark / "ExDark_Annno" / "People" / "2015_00002.png.txt").write_text(bbgt("People 1 1 5 5"))
    assert ExDark(exdark).fingerprint() != before


# -- DARK FACE -------------------------------------------------------------------------------
@pytest.fixture
def darkface(tmp_path):
    root = tmp_path / "darkface"
    labels = {
        "1.png": "2\n1 2 5 6\n10 3 14 9\n",
        "2.PNG": "1\r\n0 0 3 3\r\n",
        "10.png": "3\n1 1 4 4\n",  # count disagrees
        "3.png": None,  # no label
        "5.png": "1\n1 2 three 4\n",  # malformed line 2
        "6.png": "",  # empty label file
        "7.png": "1\n20 10 30 12\n",  # outside the 24-wide image
    }
    for i, (name, text) in enumerate(labels.items()):
        write_photo(root / "image" / name, SIZE, seed=i)
        if text is not None:
            (root / "label").mkdir(exist_ok=True)
            (root / "label" / f"{name.split('.')[0]}.txt").write_bytes(text.encode())
    (root / "label" / "4.txt").write_text("0\n")  # no image
    return root


def test_darkface_reads_boxes_in_numeric_order(darkface):
    ds = create_dataset("darkface", root=darkface)
    assert isinstance(ds, DarkFace) and ds.classes == ("face",)
    names = [ds.name_of(i) for i in range(len(ds))]
    assert names == ["1.png", "2.PNG", "5.png", "6.png", "7.png", "10.png"]
    first = ds.load(0)
    assert first.target["boxes"].tolist() == [[1, 2, 5, 6], [10, 3, 14, 9]]
    assert first.target["labels"].tolist() == [0, 0] and first.meta["split"] == "train"
    assert ds.load(1).target["boxes"].tolist() == [[0, 0, 3, 3]]
    assert ds.load(3).target["boxes"].shape == (0, 4)
    assert ds.load(5).target["boxes"].tolist() == [[1, 1, 4, 4]]  # count mismatch keeps boxes
    with pytest.raises(ValueError, match=r"5\.txt:2: "):
        ds.load(2)


def test_darkface_check_and_cli(darkface, tmp_path):
    report = DarkFace(darkface).check()
    assert found(report, "3.png", None, "no label file")
    assert found(report, "4.txt", None, "label without an image")
    assert found(report, "5.txt", 2, "expected 'xmin ymin xmax ymax'")
    assert found(report, "6.txt", None, "empty label file")
    assert found(report, "7.txt", 2, "outside the 24x16 image")
    assert found(report, "10.txt", 1, "face count 3 but 1 boxes follow")
    assert len(report.findings) == 6, "\n".join(map(str, report.findings))
    assert cli("darkface", darkface)[0] == 1
    clean = tmp_path / "clean"
    write_photo(clean / "image" / "1.png", SIZE)
    (clean / "label").mkdir()
    (clean / "label" / "1.txt").write_text("1\n1 1 3 3\n")
    assert cli("darkface", clean)[0] == 0


def voc(*objects: tuple[str, tuple, int], size=(24, 16)) -> str:
    objs = "".join(
        f"  <object>\n    <name>{name}</name>\n    <difficult>{difficult}</difficult>\n"
        f"    <bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin><xmax>{b[2]}</xmax>"
        f"<ymax>{b[3]}</ymax></bndbox>\n  </object>\n"
        for name, b, difficult in objects
    )
    return (
        f"<annotation>\n  <size><width>{size[0]}</width><height>{size[1]}</height>"
        f"<depth>3</depth></size>\n{objs}</annotation>\n"
    )


@pytest.fixture
def darkface_voc(tmp_path):
    root = tmp_path / "DARK_FACE"
    (root / "xml").mkdir(parents=True)
    (root / "main").mkdir()
    xmls = {
        "1": voc(("Face", (1, 2, 5, 6), 0), ("Person", (1, 1, 2, 2), 0), ("Face", (3, 3, 8, 9), 1)),
        "2": "<annotation><object><name>Face</name>\n</annotation>",  # not well-formed
        "4": voc(("Face", (20, 10, 31, 12), 0)),  # outside after the -1 shift too
    }
    for i, (stem, text) in enumerate(xmls.items()):
        write_photo(root / "images" / f"{stem}.png", SIZE, seed=i)
        (root / "xml" / f"{stem}.xml").write_text(text)
    (root / "main" / "val.txt").write_text("1\n2\n3\n4\n")
    (root / "main" / "train.txt").write_text("4\n")
    return root


def test_darkface_voc_reads_faces_difficult_and_offsets(darkface_voc):
    ds = create_dataset("darkface_voc", root=darkface_voc)
    assert isinstance(ds, DarkFaceVOC)
    assert [ds.name_of(i) for i in range(len(ds))] == ["1.png", "2.png", "4.png"]
    t = ds.load(0).target
    assert t["boxes"].tolist() == [[0, 1, 4, 5], [2, 2, 7, 8]]  # VOC 1-based -> 0-based
    assert t["ignore"].tolist() == [False, True] and t["labels"].tolist() == [0, 0]
    raw = DarkFaceVOC(darkface_voc, one_based=False).load(0).target["boxes"]
    assert raw.tolist() == [[1, 2, 5, 6], [3, 3, 8, 9]]
    with pytest.raises(ValueError, match=r"2\.xml:2: not well-formed"):
        ds.load(1)
    assert [DarkFaceVOC(darkface_voc, split="train").name_of(0)] == ["4.png"]
    (darkface_voc / "images").rename(darkface_voc / "val")  # GEFU's release folder name
    assert DarkFaceVOC(darkface_voc).load(0).meta["path"].endswith("val/1.png")


def test_darkface_voc_check(darkface_voc):
    report = DarkFaceVOC(darkface_voc).check()
    assert found(report, "1.xml", 8, "object 2: unknown class 'Person'")
    assert found(report, "2.xml", 2, "not well-formed XML")
    assert found(report, "val.txt", 3, "3: no image and no xml")
    assert found(report, "4.xml", 3, "outside the 24x16 image")
    assert len(report.findings) == 4, "\n".join(map(str, report.findings))
    assert report.counts["ignored (difficult)"] == 1
    assert cli("darkface_voc", darkface_voc)[0] == 1
    with pytest.raises(FileNotFoundError, match="images, imgs, val"):
        (darkface_voc / "images").rename(darkface_voc / "pictures")
        DarkFaceVOC(darkface_voc)


# -- COCO JSON -------------------------------------------------------------------------------
def make_coco(root, defects: bool):
    for i, name in enumerate(["a.jpg", "b.PNG", "sub/c.png", "d.png", "f.png"]):
        write_photo(root / "images" / name, SIZE, seed=i)
    images = [
        {"id": i + 1, "file_name": n, "width": 24, "height": 16}
        for i, n in enumerate(["a.jpg", "b.PNG", "sub/c.png", "d.png"])
    ]
    anns = [
        {"id": 1, "image_id": 1, "category_id": 3, "bbox": [2, 3, 10, 8], "iscrowd": 0},
        {"id": 2, "image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5], "iscrowd": 1},
        {"id": 3, "image_id": 3, "category_id": 1, "bbox": [1.5, 1, 2, 2], "iscrowd": 0},
    ]
    if defects:
        images += [
            {"id": 5, "file_name": "e.png", "width": 24, "height": 16},
            {"id": 6, "file_name": "f.png", "width": 24, "height": 16},
        ]
        anns += [
            {"id": 4, "image_id": 99, "category_id": 1, "bbox": [0, 0, 1, 1]},
            {"id": 5, "image_id": 2, "category_id": 7, "bbox": [0, 0, 1, 1]},
            {"id": 6, "image_id": 2, "category_id": 3, "bbox": [20, 10, 10, 10]},
            {"id": 7, "image_id": 6, "category_id": 3, "bbox": [1, 2, 3]},
        ]
    cats = [{"id": 3, "name": "car"}, {"id": 1, "name": "person"}]
    data = {"images": images, "annotations": anns, "categories": cats}
    (root / "annotations.json").write_text(json.dumps(data))
    return root


def test_coco_reads_boxes_crowd_and_ids(tmp_path):
    root = make_coco(tmp_path / "coco", defects=True)
    ds = create_dataset("coco_detection", root=root)
    assert isinstance(ds, CocoDetection) and ds.classes == ("person", "car")
    assert ds.category_ids == (1, 3)
    names = [ds.name_of(i) for i in range(len(ds))]
    assert names == ["a.jpg", "b.PNG", "d.png", "f.png", "sub/c.png"]  # e.png is missing
    a = ds.load(0)
    assert a.target["boxes"].tolist() == [[2, 3, 12, 11], [0, 0, 5, 5]]
    assert a.target["labels"].tolist() == [1, 0] and a.target["ignore"].tolist() == [False, True]
    assert a.meta["image_id"] == 1 and a.meta["annotations"].endswith("annotations.json")
    assert ds.load(1).target["boxes"].tolist() == [[20, 10, 30, 20]]  # category 7 left out
    assert ds.load(2).target["boxes"].shape == (0, 4) and ds.load(2).target["ignore"].numel() == 0
    assert ds.load(4).target["boxes"].tolist() == [[1.5, 1, 3.5, 3]]
    with pytest.raises(ValueError, match="annotation 7: bbox"):
        ds.load(3)


def test_coco_check_cli_and_absolute_paths(tmp_path):
    root = make_coco(tmp_path / "coco", defects=True)
    report = CocoDetection(root).check(read_images=False)
    assert found(report, "annotations.json", None, "annotation 4: unknown image id 99")
    assert found(report, "annotations.json", None, "annotation 5: unknown category id 7")
    assert found(report, "e.png", None, "image id 5 is listed but missing")
    assert found(report, "(b.PNG)", None, "outside the 24x16 image")
    assert found(report, "annotations.json", None, "annotation 7: bbox [1, 2, 3]")
    assert len(report.findings) == 5, "\n".join(map(str, report.findings))
    assert report.counts["boxes person"] == 2 and report.counts["boxes car"] == 2
    assert cli("coco_detection", root)[0] == 1
    clean = make_coco(tmp_path / "clean", defects=False)
    moved = tmp_path / "elsewhere.json"
    (clean / "annotations.json").rename(moved)
    images = str(clean / "images")
    ds = CocoDetection(tmp_path / "unused", images_dir=images, annotations=str(moved))
    assert len(ds) == 4 and ds.check().ok
    code, out = cli("coco_detection", clean, "--param", f"annotations={moved}")
    assert code == 0, out
    with pytest.raises(FileNotFoundError, match="COCO JSON"):
        CocoDetection(clean)


# -- registry and class maps -----------------------------------------------------------------
def test_registered_names():
    for name, cls in [
        ("exdark", ExDark),
        ("darkface", DarkFace),
        ("darkface_voc", DarkFaceVOC),
        ("coco_detection", CocoDetection),
    ]:
        assert DATASETS.get(name) is cls and cls.task == "detection"


def test_coco_classes_match_torchvision_categories():
    from torchvision.models.detection import FasterRCNN_ResNet50_FPN_Weights

    cats = FasterRCNN_ResNet50_FPN_Weights.DEFAULT.meta["categories"]  # index = COCO id
    named = [(i, c) for i, c in enumerate(cats) if c not in ("N/A", "__background__")]
    assert tuple(c for _, c in named) == COCO_CLASSES and len(set(COCO_CLASSES)) == 80
    assert tuple(i for i, _ in named) == COCO_CATEGORY_IDS


def test_exdark_to_coco_label_map():
    to_coco = label_map(ExDark.classes, COCO_CLASSES, EXDARK_TO_COCO)
    assert [COCO_CLASSES[j] for j in to_coco] == [EXDARK_TO_COCO[c] for c in ExDark.classes]
    assert to_coco[ExDark.classes.index("People")] == 0
    assert to_coco[ExDark.classes.index("Table")] == COCO_CLASSES.index("dining table")
    with_background = ("__background__", "person", "N/A", "car", "N/A")
    assert label_map(["Car", "People"], with_background, EXDARK_TO_COCO) == (3, 1)
    assert invert_label_map(to_coco)[COCO_CLASSES.index("motorcycle")] == 9
    assert label_map(("Person",), ("person",)) == (0,)  # same name, any case
    with pytest.raises(KeyError, match="face"):
        label_map(DarkFace.classes, COCO_CLASSES)
    with pytest.raises(ValueError, match="both map"):
        invert_label_map((0, 0))
