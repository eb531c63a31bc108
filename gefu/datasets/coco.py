"""``coco_detection``: an image folder + a COCO-format JSON file."""

from __future__ import annotations

import json

from gefu.datasets.base import CheckReport, Dataset, Finding, Sample, select_subset
from gefu.datasets.boxes import (
    ParsedBoxes,
    box_issue,
    detection_target,
    fingerprint_files,
    probe_image,
)
from gefu.io import read_image


# -- the COCO reader ---------------------------------------------------------------------------
class CocoDetection(Dataset):
    """Images under ``root/<images_dir>/<file_name>`` with boxes from a COCO JSON file
    (``images``, ``annotations``, ``categories``); absolute ``images_dir``/``annotations`` paths
    are used as given. Read with plain ``json`` (no pycocotools).

    - Classes: the JSON categories in category-id order; ``labels`` index them and
      ``self.category_ids[label]`` gives the category id back (``meta["image_id"]`` and
      ``meta["annotations"]`` let a COCO evaluation find the ground truth).
    - Boxes: ``[x, y, w, h]`` -> ``x, y, x+w, y+h``; ``iscrowd`` -> ``target["ignore"]``.
    - An image without annotations is a valid item with an empty target.
    - Left out (and reported by ``check``): annotations with an unknown image or category id,
      images whose file is missing. A malformed ``bbox`` makes ``load`` of that image raise
      ``ValueError`` naming the annotation id. ``check`` also reports boxes outside the image
      (against the JSON's width/height) and JSON sizes that differ from the file's."""

    requires_root = True
    task = "detection"

    def __init__(
        self,
        root,
        split: str = "val",
        limit=None,
        subset=None,
        images_dir: str = "images",
        annotations: str = "annotations.json",
    ):
        super().__init__(root, limit)
        self.split = split
        self.images_dir = self.require_dir(
            self.root / images_dir, f"the image folder ({images_dir}/ holding each file_name)"
        )
        self.annotation_file = self.root / annotations
        if not self.annotation_file.is_file():
            raise FileNotFoundError(
                f"coco_detection: expected the COCO JSON annotations at {self.annotation_file} "
                "(set `annotations:` to its name or absolute path)"
            )
        data = self._read_json()
        self._index_categories(data.get("categories") or [])
        images = self._index_images(data.get("images") or [])
        self._anns: dict = {image_id: [] for image_id in images}
        self._index_annotations(data.get("annotations") or [])
        items = []
        for image_id, info in sorted(images.items(), key=lambda kv: kv[1]["file_name"]):
            if info["path"].is_file():
                items.append((image_id, info))
            else:
                self.findings.append(
                    Finding(str(info["path"]), f"image id {image_id} is listed but missing")
                )
        names = [info["file_name"] for _, info in items]
        self.items = self._limited(select_subset(items, names, subset, "coco_detection"))

    # -- listing -------------------------------------------------------------------------------
    def _read_json(self) -> dict:
        try:
            data = json.loads(self.annotation_file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{self.annotation_file}:{exc.lineno}: not JSON ({exc.msg})") from None
        if not isinstance(data, dict):
            raise ValueError(f"{self.annotation_file}: expected a JSON object with 'images'")
        return data

    def _finding(self, message: str) -> None:
        self.findings.append(Finding(str(self.annotation_file), message))

    def _index_categories(self, categories: list) -> None:
        by_id = {}
        for cat in categories:
            if not isinstance(cat, dict) or not isinstance(cat.get("id"), int):
                self._finding(f"category without an integer id: {cat!r}")
            elif cat["id"] in by_id:
                self._finding(f"category id {cat['id']} appears twice")
            else:
                by_id[cat["id"]] = str(cat.get("name", cat["id"]))
        self.category_ids = tuple(sorted(by_id))
        self.classes = tuple(by_id[i] for i in self.category_ids)
        self._label_of = {cat_id: label for label, cat_id in enumerate(self.category_ids)}

    def _index_images(self, images: list) -> dict:
        out: dict = {}
        for img in images:
            if not isinstance(img, dict) or not isinstance(img.get("id"), int | str):
                self._finding(f"image entry without an id: {img!r}")
            elif "file_name" not in img:
                self._finding(f"image {img['id']}: no file_name")
            elif img["id"] in out:
                self._finding(f"image id {img['id']} appears twice")
            else:
                name = str(img["file_name"])
                size = (img.get("width"), img.get("height"))
                out[img["id"]] = {"file_name": name, "path": self.images_dir / name, "size": size}
        return out

    def _index_annotations(self, annotations: list) -> None:
        """Keep only what the target needs (id, bbox, label, iscrowd): not the polygons."""
        for ann in annotations:
            if not isinstance(ann, dict):
                self._finding(f"annotation is not an object: {ann!r}")
                continue
            image_id, cat_id = (ann.get(k) for k in ("image_id", "category_id"))
            if not isinstance(image_id, int | str) or image_id not in self._anns:
                self._finding(f"annotation {ann.get('id')}: unknown image id {image_id!r}")
            elif not isinstance(cat_id, int) or cat_id not in self._label_of:
                valid = ", ".join(map(str, self.category_ids)) or "none"
                self._finding(
                    f"annotation {ann.get('id')}: unknown category id {cat_id!r} (valid: {valid})"
                )
            else:
                entry = (ann.get("id"), ann.get("bbox"), self._label_of[cat_id], ann.get("iscrowd"))
                self._anns[image_id].append(entry)

    # -- reading -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.items)

    def name_of(self, index: int) -> str:
        return self.items[index][1]["file_name"]

    def parse(self, image_id) -> ParsedBoxes:
        parsed = ParsedBoxes()
        for ann_id, bbox, label, crowd in self._anns[image_id]:
            numbers = isinstance(bbox, list) and len(bbox) == 4
            if not numbers or not all(isinstance(v, int | float) for v in bbox):
                message = f"annotation {ann_id}: bbox {bbox!r} is not [x, y, w, h]"
                parsed.errors.append(Finding(str(self.annotation_file), message))
                continue
            x, y, w, h = bbox
            parsed.add([x, y, x + w, y + h], label, None, bool(crowd))
        return parsed

    def load(self, index: int) -> Sample:
        image_id, info = self.items[index]
        parsed = self.parse(image_id)
        parsed.raise_errors()
        image = read_image(info["path"])
        meta = {
            "path": str(info["path"]),
            "split": self.split,
            "image_id": image_id,
            "annotations": str(self.annotation_file),
            "size": list(image.shape[1:]),
        }
        target = detection_target(parsed.boxes, parsed.labels, parsed.ignore)
        return Sample(info["file_name"], image, target=target, meta=meta)

    def fingerprint(self) -> str:
        paths = [info["path"] for _, info in self.items]
        return fingerprint_files(paths, self.root, [self.annotation_file])

    def check(self, read_images: bool = True) -> CheckReport:
        report = super().check(read_images=False)
        report.counts[f"split {self.split}"] = len(self)
        per_class = dict.fromkeys(self.classes, 0)
        for image_id, info in self.items:
            parsed = self.parse(image_id)
            report.findings += parsed.errors
            for label in parsed.labels:
                per_class[self.classes[label]] += 1
            report.findings += self._check_sizes(info, parsed, read_images)
        report.counts.update({f"boxes {name}": n for name, n in per_class.items()})
        return report

    def _check_sizes(self, info: dict, parsed: ParsedBoxes, read_images: bool) -> list[Finding]:
        actual, unreadable = probe_image(info["path"], read_images)
        if unreadable:
            return [unreadable]
        width, height = (given or real for given, real in zip(info["size"], actual, strict=True))
        where = f"{self.annotation_file} ({info['file_name']})"
        found = [
            Finding(where, issue) for b in parsed.boxes if (issue := box_issue(b, width, height))
        ]
        if (width, height) != tuple(actual):
            message = f"JSON size {width}x{height}, but the file is {actual[0]}x{actual[1]}"
            found.append(Finding(where, message))
        return found
