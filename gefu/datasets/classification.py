"""Classification readers: CODaN and any ImageFolder-style tree (``root/<class>/<image>``)."""

from __future__ import annotations

import os
from pathlib import Path

from gefu.datasets.base import (
    CheckReport,
    Dataset,
    Finding,
    Sample,
    files_fingerprint,
    select_subset,
    spellings,
)
from gefu.io import is_image, read_image


def _files_under(folder: Path) -> list[Path]:
    """Every file below ``folder`` (sub-folders too), in sorted path order."""
    out: list[Path] = []
    with os.scandir(folder) as it:
        entries = sorted(it, key=lambda e: e.name)
    for e in entries:
        out += _files_under(Path(e.path)) if e.is_dir() else [Path(e.path)]
    return out


class _ClassFolders(Dataset):
    """One folder per class; the target is the class's index in ``classes``. Items are ordered
    by class, then by path. Folders that are not a known class, images outside any class
    folder, non-image files and empty class folders are reported by ``check`` and not read;
    ``load`` never raises for them."""

    requires_root = True
    task = "classification"

    def __init__(self, root, split: str | None, limit=None):
        super().__init__(root, limit)
        self.split = split
        self.items: list[tuple[str, Path, int]] = []  # (name "<class>/<file>", path, label)
        self.per_class: dict[str, int] = {}

    def _list(self, folder: Path, subset=None) -> None:
        self._folder = folder
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
        dirs = {e.name for e in entries if e.is_dir()}
        for e in entries:
            if e.is_file() and not e.name.startswith("."):
                self.findings.append(Finding(e.path, "file outside any class folder: not read"))
        for name in sorted(dirs - set(self.classes)):
            self.findings.append(
                Finding(
                    str(folder / name),
                    f"folder is not one of the {len(self.classes)} classes "
                    f"({', '.join(self.classes)}): not read",
                )
            )
        for label, cls in enumerate(self.classes):
            if cls not in dirs:
                self.findings.append(Finding(str(folder / cls), "class folder missing"))
                continue
            images = []
            for path in _files_under(folder / cls):
                if is_image(path):
                    images.append(path)
                elif not path.name.startswith("."):
                    self.findings.append(Finding(str(path), "not an image file: not read"))
            if not images:
                self.findings.append(Finding(str(folder / cls), "class folder has no images"))
            self.per_class[cls] = len(images)
            for path in images:
                self.items.append((path.relative_to(folder).as_posix(), path, label))
        spelled = [spellings(name, name.rsplit(".", 1)[0]) for name, _, _ in self.items]
        self.items = select_subset(self.items, spelled, subset, self.registry_name)
        self.items = self._limited(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def name_of(self, index: int) -> str:
        return self.items[index][0]

    def load(self, index: int) -> Sample:
        name, path, label = self.items[index]
        image = read_image(path)
        meta = {
            "path": str(path),
            "split": self.split,
            "size": tuple(image.shape[1:]),
            "class": self.classes[label],
        }
        return Sample(name, image, None, label, meta)

    def fingerprint(self) -> str:
        return files_fingerprint([p for _, p, _ in self.items], self.root)

    def check(self, read_images: bool = True) -> CheckReport:
        report = super().check(read_images)
        report.counts[f"split {self.split or 'all'}"] = len(self)
        for cls in self.classes:
            report.counts[f"class {cls}"] = self.per_class.get(cls, 0)
        return report


class CODaN(_ClassFolders):
    """CODaN (Lengyel et al., ICCV 2021): ``<split>/<Class>/<image>`` for the splits train,
    val, test_day and test_night (the official repository keeps them under ``data/``, which is
    also accepted), 10 classes in the official order."""

    classes = ("Bicycle", "Car", "Motorbike", "Bus", "Boat", "Cat", "Dog", "Bottle", "Cup", "Chair")
    splits = ("train", "val", "test_day", "test_night")

    def __init__(self, root, split: str = "test_night", limit=None, subset=None):
        super().__init__(root, split, limit)
        if split not in self.splits:
            raise ValueError(f"codan: unknown split {split!r}; valid: {', '.join(self.splits)}")
        folder = self.root / split
        if not folder.is_dir() and (self.root / "data" / split).is_dir():
            folder = self.root / "data" / split
        self._list(self.require_dir(folder, f"the {split} split ({split}/<Class>/*.jpg)"), subset)


class ImageFolderClassification(_ClassFolders):
    """``root[/<split>]/<class>/<image>`` (images in sub-folders of a class count too). Classes
    are the folder names sorted alphabetically, as torchvision's ``ImageFolder`` does, unless
    ``classes`` gives them (in the model's output order); then other folders are reported."""

    def __init__(
        self,
        root,
        split: str | None = None,
        classes: list[str] | None = None,
        limit=None,
        subset=None,
    ):
        super().__init__(root, split, limit)
        folder = self.require_dir(
            self.root / split if split else self.root, "a folder with one sub-folder per class"
        )
        if classes is None:
            with os.scandir(folder) as it:
                classes = sorted(e.name for e in it if e.is_dir() and not e.name.startswith("."))
        self.classes = tuple(str(c) for c in classes)
        if not self.classes:
            raise ValueError(f"image_folder: no class folders in {folder}")
        self._list(folder, subset)
