"""DARK FACE (UG2+ challenge; Yang et al., TIP 2020): the released ``image/`` + ``label/`` text
layout (``darkface``) and the VOC-XML copy that MAET and GEFU evaluate on (``darkface_voc``)."""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
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

CLASSES = ("face",)
VOC_IMAGE_DIRS = ("images", "imgs", "val")  # MAET's code, MAET's README, GEFU's release


def parse_label(path: Path) -> ParsedBoxes:
    """``N`` on the first line, then ``xmin ymin xmax ymax`` per face (kept as written)."""
    parsed = ParsedBoxes()
    rows = [(n, line.strip()) for n, line in enumerate(read_text_lines(path), 1) if line.strip()]
    if not rows:
        parsed.warnings.append(Finding(str(path), "empty label file (no face-count line)"))
        return parsed
    count_line, first = rows[0]
    if not first.isdigit():
        parsed.errors.append(Finding(str(path), f"expected the face count, got {first!r}", 1))
    for n, line in rows[1:]:
        try:
            box = [float(v) for v in line.split()]
        except ValueError:
            box = []
        if len(box) != 4:
            message = f"expected 'xmin ymin xmax ymax', got {line!r}"
            parsed.errors.append(Finding(str(path), message, n))
        else:
            parsed.add(box, 0, n)
    if first.isdigit() and not parsed.errors and int(first) != len(parsed.boxes):
        message = f"face count {first} but {len(parsed.boxes)} boxes follow"
        parsed.warnings.append(Finding(str(path), message, count_line))
    return parsed


def parse_voc(path: Path, one_based: bool = True) -> tuple[ParsedBoxes, tuple[int, int] | None]:
    """A VOC XML file -> (faces, ``(width, height)`` from ``<size>`` or None). ``difficult``
    objects are kept with ``ignore=True``; ``one_based`` subtracts 1 from every coordinate."""
    parsed = ParsedBoxes()
    text = path.read_bytes()
    try:  # expat: no external entities fetched, entity expansion bounded (expat >= 2.4)
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        parsed.errors.append(Finding(str(path), f"not well-formed XML ({exc})", exc.position[0]))
        return parsed, None
    object_lines = [text.count(b"\n", 0, m.start()) + 1 for m in re.finditer(rb"<object\b", text)]
    for k, obj in enumerate(root.iter("object")):
        line = object_lines[k] if k < len(object_lines) else None
        name = (obj.findtext("name") or "").strip()
        if name.lower() != "face":
            message = f"object {k + 1}: unknown class {name!r} (left out)"
            parsed.warnings.append(Finding(str(path), message, line))
            continue
        try:
            box = [float(obj.find("bndbox").findtext(t)) for t in ("xmin", "ymin", "xmax", "ymax")]
        except (AttributeError, TypeError, ValueError):
            message = f"object {k + 1}: <bndbox> needs numeric xmin, ymin, xmax, ymax"
            parsed.errors.append(Finding(str(path), message, line))
            continue
        difficult = (obj.findtext("difficult") or "0").strip() in ("1", "true")
        parsed.add([v - 1 for v in box] if one_based else box, 0, line, difficult)
    try:
        size = (int(root.findtext("size/width")), int(root.findtext("size/height")))
    except (TypeError, ValueError):
        size = None
    return parsed, size


def _by_stem(folder: Path, keep) -> dict[str, Path]:
    """lower-case stem -> path for the files in ``folder`` that ``keep`` accepts."""
    files = sorted((Path(e.path) for e in os.scandir(folder) if e.is_file()), key=lambda p: p.name)
    return {p.stem.lower(): p for p in files if keep(p)}


def _numeric_first(name: str):
    stem = os.path.splitext(name)[0]
    return (0, int(stem), name) if stem.isdigit() else (1, 0, name)


class _FaceDataset(Dataset):
    requires_root = True
    task = "detection"
    classes = CLASSES

    def __len__(self) -> int:
        return len(self.items)

    def name_of(self, index: int) -> str:
        return self.items[index][0].name

    def parse(self, annotation: Path) -> tuple[ParsedBoxes, tuple[int, int] | None]:
        raise NotImplementedError

    def load(self, index: int) -> Sample:
        image_path, annotation = self.items[index]
        parsed, _ = self.parse(annotation)
        parsed.raise_errors()
        image = read_image(image_path)
        meta = {"path": str(image_path), "split": self.split, "annotation": str(annotation)}
        meta["size"] = list(image.shape[1:])
        target = detection_target(parsed.boxes, parsed.labels, self._ignore(parsed))
        return Sample(image_path.name, image, target=target, meta=meta)

    def _ignore(self, parsed: ParsedBoxes) -> list[bool] | None:
        return None

    def fingerprint(self) -> str:
        files = [p for pair in self.items for p in pair]
        return fingerprint_files(files, self.root, [getattr(self, "split_list", None)])

    def check(self, read_images: bool = True) -> CheckReport:
        report = super().check(read_images=False)
        report.counts[f"split {self.split}"] = len(self)
        report.counts["boxes face"] = report.counts["ignored (difficult)"] = 0
        for image_path, annotation in self.items:
            parsed, xml_size = self.parse(annotation)
            report.findings += parsed.errors + parsed.warnings
            report.counts["boxes face"] += len(parsed.boxes)
            report.counts["ignored (difficult)"] += sum(parsed.ignore)
            size, unreadable = probe_image(image_path, read_images)
            if unreadable:
                report.findings.append(unreadable)
                continue
            if xml_size is not None and xml_size != size:
                message = f"<size> {xml_size[0]}x{xml_size[1]} but the image is {size[0]}x{size[1]}"
                report.findings.append(Finding(str(annotation), message))
            report.findings += parsed.box_findings(annotation, size)
        return report


class DarkFace(_FaceDataset):
    """The released layout: ``image/N.png`` with ``label/N.txt`` (first line: the face count;
    then ``xmin ymin xmax ymax`` per face, used as written). The labelled release has no official
    split (``split`` is a label for ``meta``; select images with ``subset``).

    An image without label file, or a label without image, is left out; a count that disagrees
    with the boxes is reported (the boxes are kept); a malformed line makes ``load`` raise
    ``ValueError`` naming file and line."""

    def __init__(
        self,
        root,
        split: str = "train",
        limit=None,
        subset=None,
        images_dir: str = "image",
        labels_dir: str = "label",
    ):
        super().__init__(root, limit)
        self.split = split
        images = _by_stem(self.require_dir(self.root / images_dir, "the images (N.png)"), is_image)
        labels = _by_stem(
            self.require_dir(self.root / labels_dir, "the labels (N.txt)"),
            lambda p: p.suffix.lower() == ".txt",
        )
        for stem in sorted(set(images) - set(labels), key=_numeric_first):
            message = f"no label file {labels_dir}/{images[stem].stem}.txt (image left out)"
            self.findings.append(Finding(str(images[stem]), message))
        for stem in sorted(set(labels) - set(images), key=_numeric_first):
            self.findings.append(Finding(str(labels[stem]), "label without an image"))
        items = [(images[s], labels[s]) for s in images if s in labels]
        items.sort(key=lambda pair: _numeric_first(pair[0].name))
        names = [image.name for image, _ in items]
        self.items = self._limited(select_subset(items, names, subset, "darkface"))

    def parse(self, annotation: Path) -> tuple[ParsedBoxes, None]:
        return parse_label(annotation), None


class DarkFaceVOC(_FaceDataset):
    """The VOC-XML layout of MAET / GEFU: ``xml/<id>.xml``, ``main/<split>.txt`` (ids, one per
    line) and ``<images_dir>/<id>.png``; ``images_dir`` defaults to the first of ``images/``
    (MAET's code), ``imgs/`` (MAET's README), ``val/`` (GEFU's release) that exists.

    Faces are objects named "face" (any case; MAET/GEFU write "Face"); ``difficult`` objects
    are kept with ``target["ignore"]``. ``one_based=True`` subtracts 1 from xmin/ymin/xmax/ymax,
    as mmdetection's VOC reader used by MAET and GEFU does. Listed ids without XML or image are
    left out; other objects drop; a malformed XML makes ``load`` raise ``ValueError``."""

    def __init__(
        self,
        root,
        split: str = "val",
        limit=None,
        subset=None,
        images_dir: str | None = None,
        annotations_dir: str = "xml",
        split_file: str | None = None,
        one_based: bool = True,
    ):
        super().__init__(root, limit)
        self.split, self.one_based = split, one_based
        xml_dir = self.require_dir(self.root / annotations_dir, "the VOC annotations (<id>.xml)")
        image_dir = self._image_dir(images_dir)
        self.split_list = self.root / (split_file or f"main/{split}.txt")
        if not self.split_list.is_file():
            raise FileNotFoundError(
                f"darkface_voc: expected the split list at {self.split_list} (one image id per "
                "line, as main/train.txt and main/val.txt of the MAET/GEFU release)"
            )
        images = _by_stem(image_dir, is_image)
        xmls = _by_stem(xml_dir, lambda p: p.suffix.lower() == ".xml")
        items = []
        for n, raw in enumerate(read_text_lines(self.split_list), 1):
            key = raw.strip().lower()
            if not key or key.startswith("#"):
                continue
            missing = [
                what for what, found in (("image", images), ("xml", xmls)) if key not in found
            ]
            if missing:
                message = f"{raw.strip()}: no {' and no '.join(missing)} (left out)"
                self.findings.append(Finding(str(self.split_list), message, n))
            else:
                items.append((images[key], xmls[key]))
        items = sorted(set(items), key=lambda pair: _numeric_first(pair[0].name))
        names = [image.name for image, _ in items]
        self.items = self._limited(select_subset(items, names, subset, "darkface_voc"))

    def _image_dir(self, images_dir: str | None) -> Path:
        if images_dir is not None:
            return self.require_dir(self.root / images_dir, "the images (<id>.png)")
        found = next((self.root / d for d in VOC_IMAGE_DIRS if (self.root / d).is_dir()), None)
        if found is None:
            raise FileNotFoundError(
                f"darkface_voc: expected the images in one of {', '.join(VOC_IMAGE_DIRS)} under "
                f"{self.root} (or set `images_dir`)"
            )
        return found

    def parse(self, annotation: Path) -> tuple[ParsedBoxes, tuple[int, int] | None]:
        return parse_voc(annotation, self.one_based)

    def _ignore(self, parsed: ParsedBoxes) -> list[bool]:
        return parsed.ignore
