"""``exdark``: the Exclusively Dark dataset (Loh & Chan, CVIU 2019) in its published layout."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from gefu.datasets.base import CheckReport, Dataset, Finding, Sample, select_subset
from gefu.datasets.boxes import (
    ParsedBoxes,
    detection_target,
    fingerprint_files,
    probe_image,
    read_text_lines,
)
from gefu.io import is_image, read_image

CLASSES = (
    "Bicycle",
    "Boat",
    "Bottle",
    "Bus",
    "Car",
    "Cat",
    "Chair",
    "Cup",
    "Dog",
    "Motorbike",
    "People",
    "Table",
)
LIGHT_TYPES = (
    "Low",
    "Ambient",
    "Object",
    "Single",
    "Weak",
    "Strong",
    "Screen",
    "Window",
    "Shadow",
    "Twilight",
)  # fmt: skip  (imageclasslist.txt codes 1-10)
SPLIT_CODES = {"1": "train", "2": "val", "3": "test"}
SCENE_CODES = {"1": "indoor", "2": "outdoor"}
CLASS_LIST = "imageclasslist.txt"
SCHEMES = ("official", "maet", "list")


@dataclass(frozen=True)
class ListedImage:
    """One row of ``imageclasslist.txt``."""

    name: str
    image_class: str
    light: int
    scene: str
    split: str
    line: int


@dataclass(frozen=True)
class Item:
    path: Path
    annotation: Path
    image_class: str
    listed: ListedImage | None


def read_class_list(path: Path) -> tuple[dict[str, ListedImage], list[Finding]]:
    """``imageclasslist.txt``: ``name class light in/out split`` per line (after a header),
    keyed by lower-case name; malformed rows become findings."""
    rows, findings = {}, []
    for n, raw in enumerate(read_text_lines(path), 1):
        parts = raw.split()
        if not parts or (n == 1 and parts[0].lower() == "name"):
            continue
        try:
            name, cls, light, scene, split = parts
            row = ListedImage(
                name, CLASSES[int(cls) - 1], int(light), SCENE_CODES[scene], SPLIT_CODES[split], n
            )
            if not 1 <= int(cls) <= len(CLASSES) or not 1 <= row.light <= len(LIGHT_TYPES):
                raise ValueError
        except (ValueError, KeyError, IndexError):
            findings.append(
                Finding(str(path), f"expected 'name class(1-12) light(1-10) 1|2 1|2|3': {raw!r}", n)
            )
            continue
        if name.lower() in rows:
            findings.append(Finding(str(path), f"{name} listed twice", n))
        rows[name.lower()] = row
    return rows, findings


def parse_annotation(path: Path) -> ParsedBoxes:
    """A bbGt v3 file: ``% bbGt version=3``, then ``Class left top width height`` + 7 unused
    numbers per object. Boxes are ``left, top, left+width, top+height``."""
    parsed = ParsedBoxes()
    lines = read_text_lines(path)
    if not any(line.strip() for line in lines):
        parsed.warnings.append(Finding(str(path), "empty annotation file (no bbGt header)"))
    for n, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or (n == 1 and line.startswith("% bbGt")):
            continue
        if line.startswith("%"):
            parsed.warnings.append(Finding(str(path), f"unexpected comment line {line!r}", n))
            continue
        if n == 1:
            parsed.warnings.append(Finding(str(path), "missing '% bbGt version=3' header", 1))
        parts = line.split()
        try:
            left, top, width, height = (float(v) for v in parts[1:5])
        except ValueError:
            left = None
        if len(parts) < 5 or left is None:
            parsed.errors.append(
                Finding(str(path), f"expected 'Class left top width height ...': {line!r}", n)
            )
        elif parts[0] not in CLASSES:
            parsed.warnings.append(
                Finding(str(path), f"unknown class {parts[0]!r} (object left out)", n)
            )
        else:
            parsed.add([left, top, left + width, top + height], CLASSES.index(parts[0]), n)
    return parsed


class ExDark(Dataset):
    """``ExDark/<Class>/<image>`` with ``ExDark_Annno/<Class>/<image>.txt`` (``<image>`` keeps its
    extension, matched case-insensitively: ``a.JPG`` finds ``a.jpg.txt``).

    Splits (``split_scheme``):
    - ``"official"``: ``imageclasslist.txt`` (in ``root`` or ``root/Groundtruth``, or
      ``split_file``), ``split`` in train/val/test/all (codes 1/2/3).
    - ``"maet"``: MAET's per-image lists ``main/train.txt`` / ``main/val.txt`` from its VOC
      download (``root/main/`` or ``split_file``); ``split`` "train" or "val" ("test" reads
      val.txt, which MAET evaluates on).
    - ``"list"``: any text file of image names (``split_file``); ``split`` is only a label.
    ``meta`` has ``image_class`` (folder), ``light`` (1-10), ``light_type``, ``scene`` when the
    class list is found.

    Defects: an image without annotation file, or listed but missing, is left out (reported by
    ``check``); a line naming an unknown class drops that object; a malformed line makes
    ``load`` raise ``ValueError`` naming file and line. Boxes are kept as written (no clipping,
    no +-1 shift: bbGt stores extents ``left top width height``)."""

    requires_root = True
    task = "detection"
    classes = CLASSES

    def __init__(
        self,
        root,
        split: str = "test",
        limit=None,
        subset=None,
        split_scheme: str = "official",
        split_file: str | None = None,
        images_dir: str = "ExDark",
        annotations_dir: str = "ExDark_Annno",
    ):
        super().__init__(root, limit)
        if split_scheme not in SCHEMES:
            raise ValueError(f"exdark: split_scheme must be one of {', '.join(SCHEMES)}")
        self.split, self.split_scheme, self.split_file = split, split_scheme, split_file
        images_root = self.require_dir(
            self.root / images_dir, f"the images ({images_dir}/<Class>/<image>)"
        )
        ann_root = self.require_dir(
            self.root / annotations_dir, f"the annotations ({annotations_dir}/<Class>/<image>.txt)"
        )
        self.split_list: Path | None = None
        images = self._scan(images_root, is_image, "image")
        annotations = self._scan(ann_root, lambda p: p.name.lower().endswith(".txt"), "annotation")
        self.class_list = self._class_list_path(split_file if split_scheme == "official" else None)
        table: dict[str, ListedImage] = {}
        if self.class_list is not None:
            table, bad_rows = read_class_list(self.class_list)
            self.findings += bad_rows
        self.table_counts = {
            s: sum(r.split == s for r in table.values()) for s in ("train", "val", "test")
        }
        self._report_unmatched(images, annotations, table)
        items = []
        for name in self._selected_names(table, images):
            cls, path = images[name]
            ann = annotations.get(path.name.lower() + ".txt")
            if ann is not None and ann[0] == cls:
                items.append(Item(path, ann[1], cls, table.get(name)))
        items.sort(key=lambda item: item.path.name)
        names = [item.path.name for item in items]
        self.items = self._limited(select_subset(items, names, subset, "exdark"))

    # -- listing -------------------------------------------------------------------------------
    def _scan(self, folder: Path, keep, what: str) -> dict[str, tuple[str, Path]]:
        """lower-case file name -> (class folder, path), over every class folder."""
        found: dict[str, tuple[str, Path]] = {}
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            if not entry.is_dir():
                continue
            if entry.name not in CLASSES:
                self.findings.append(Finding(entry.path, "not an ExDark class folder"))
                continue
            for f in sorted(os.scandir(entry.path), key=lambda e: e.name):
                path = Path(f.path)
                if not f.is_file() or not keep(path):
                    continue
                if f.name.lower() in found:
                    other = found[f.name.lower()][1]
                    self.findings.append(Finding(f.path, f"{what} name also at {other}"))
                    continue
                found[f.name.lower()] = (entry.name, path)
        return found

    def _class_list_path(self, split_file: str | None) -> Path | None:
        if split_file is not None:
            path = self.root / split_file
            if not path.is_file():
                raise FileNotFoundError(f"exdark: split_file {path} does not exist")
            return path
        candidates = (self.root / CLASS_LIST, self.root / "Groundtruth" / CLASS_LIST)
        found = next((p for p in candidates if p.is_file()), None)
        if found is None and self.split_scheme == "official":
            raise FileNotFoundError(
                f"exdark: the official split needs {CLASS_LIST} (from the ExDark repository's "
                f"Groundtruth/ folder) at {candidates[0]} or {candidates[1]}, or `split_file`"
            )
        return found

    def _report_unmatched(self, images: dict, annotations: dict, table: dict) -> None:
        add = self.findings.append
        for key, (cls, path) in images.items():
            ann = annotations.get(key + ".txt")
            if ann is None:
                add(
                    Finding(str(path), f"no annotation file {cls}/{path.name}.txt (image left out)")
                )
            elif ann[0] != cls:
                add(Finding(str(ann[1]), f"annotation is in {ann[0]}/ but its image in {cls}/"))
            if table and key not in table:
                add(Finding(str(path), f"image not listed in {self.class_list}"))
            elif table and table[key].image_class != cls:
                row = table[key]
                add(
                    Finding(
                        str(self.class_list),
                        f"{row.name}: class {row.image_class} but the image is in {cls}/",
                        row.line,
                    )
                )
        for key, (_, path) in annotations.items():
            if key[:-4] not in images:
                add(Finding(str(path), "annotation without an image"))
        for key, row in table.items():
            if key not in images:
                add(Finding(str(self.class_list), f"{row.name}: listed but no image", row.line))

    def _selected_names(self, table: dict[str, ListedImage], images: dict) -> list[str]:
        """Lower-case image names of this split that exist on disk."""
        if self.split_scheme == "official":
            if self.split not in (*SPLIT_CODES.values(), "all"):
                raise ValueError("exdark: official split must be train, val, test or all")
            return [k for k, r in table.items() if k in images and self.split in (r.split, "all")]
        path = self.split_list = self._list_file(self.split_file)
        by_stem: dict[str, str] = {}
        for key in images:
            by_stem.setdefault(os.path.splitext(key)[0], key)
        names = []
        for n, raw in enumerate(read_text_lines(path), 1):
            name = raw.strip().lower()
            if not name or name.startswith("#"):
                continue
            key = name if name in images else by_stem.get(name)
            if key is None:
                self.findings.append(Finding(str(path), f"{raw.strip()}: no such image", n))
            else:
                names.append(key)
        return list(dict.fromkeys(names))

    def _list_file(self, split_file: str | None) -> Path:
        if split_file is not None:
            path = self.root / split_file
        elif self.split_scheme == "maet":
            if self.split not in ("train", "val", "test"):
                raise ValueError("exdark: the maet split is train, val or test (= val.txt)")
            path = self.root / "main" / ("train.txt" if self.split == "train" else "val.txt")
        else:
            raise ValueError("exdark: split_scheme 'list' needs `split_file` (image names)")
        if not path.is_file():
            raise FileNotFoundError(
                f"exdark: expected the {self.split_scheme} split list at {path} (one image name "
                "per line; for maet: main/train.txt or main/val.txt of MAET's VOC-format copy)"
            )
        return path

    # -- reading -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.items)

    def name_of(self, index: int) -> str:
        return self.items[index].path.name

    def load(self, index: int) -> Sample:
        item = self.items[index]
        parsed = parse_annotation(item.annotation)
        parsed.raise_errors()
        image = read_image(item.path)
        meta = {
            "path": str(item.path),
            "split": self.split,
            "split_scheme": self.split_scheme,
            "image_class": item.image_class,
            "annotation": str(item.annotation),
            "size": list(image.shape[1:]),
        }
        if item.listed is not None:
            meta["light"] = item.listed.light
            meta["light_type"] = LIGHT_TYPES[item.listed.light - 1]
            meta["scene"] = item.listed.scene
        target = detection_target(parsed.boxes, parsed.labels)
        return Sample(item.path.name, image, target=target, meta=meta)

    def fingerprint(self) -> str:
        files = [p for item in self.items for p in (item.path, item.annotation)]
        return fingerprint_files(files, self.root, [self.class_list, self.split_list])

    def check(self, read_images: bool = True) -> CheckReport:
        report = super().check(read_images=False)
        if self.class_list is not None:
            report.counts.update({f"split {s}": n for s, n in self.table_counts.items()})
        report.counts[f"selected ({self.split_scheme} {self.split})"] = len(self)
        per_class = dict.fromkeys(CLASSES, 0)
        for item in self.items:
            parsed = parse_annotation(item.annotation)
            report.findings += parsed.errors + parsed.warnings
            for label in parsed.labels:
                per_class[CLASSES[label]] += 1
            size, unreadable = probe_image(item.path, read_images)
            if unreadable:
                report.findings.append(unreadable)
            else:
                report.findings += parsed.box_findings(item.annotation, size)
        report.counts.update({f"boxes {name}": n for name, n in per_class.items()})
        return report
