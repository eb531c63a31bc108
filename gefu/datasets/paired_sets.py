"""The published low-light enhancement sets: paired (LOL v1, LOL v2 real / synthetic, LSRW) for
full-reference IQA, and unpaired (LIME, DICM, MEF, NPE, VV) for no-reference IQA.

``root`` is always the dataset's top folder as distributed (e.g. the folder holding ``our485/``
and ``eval15/``), never a split folder. Items are listed in sorted name order; nothing is
decoded until ``load``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from gefu.datasets.base import CheckReport, Dataset, Finding, Sample, select_subset
from gefu.datasets.folders import PairedFolder, UnpairedFolder
from gefu.io import list_images, read_image_array


# -- helpers ----------------------------------------------------------------------------------
def pair_by_key(
    low: list[Path],
    high: list[Path],
    low_key: Callable[[Path], str | None],
    high_key: Callable[[Path], str | None],
) -> tuple[list[tuple[Path, Path]], list[Path], list[Path]]:
    """(pairs in low-file order, low files without a match, high files without a match)."""
    high_by_key = {k: p for p in high if (k := high_key(p)) is not None}
    pairs, only_low = [], []
    for p in low:
        k = low_key(p)
        if k in high_by_key:
            pairs.append((p, high_by_key[k]))
        else:
            only_low.append(p)
    matched = {h for _, h in pairs}
    return pairs, only_low, [p for p in high if p not in matched]


def _stem(path: Path) -> str:
    return path.stem


def _without_prefix(prefix: str) -> Callable[[Path], str | None]:
    def key(path: Path) -> str | None:
        return path.stem[len(prefix) :] if path.stem.startswith(prefix) else None

    return key


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the file header only."""
    from PIL import Image

    with Image.open(path) as img:
        return img.size


# -- paired sets --------------------------------------------------------------------------------
class PairedSet(PairedFolder):
    """Shared reader: ``root/<split folder>/[<group>/]<low_dir>|<high_dir>``.

    Files on one side only are skipped, listed in ``problems`` and reported per file by
    ``check()``; a low/high size mismatch or an unreadable file makes ``load`` raise (the runner
    reports that item and goes on)."""

    splits: ClassVar[dict[str, str]] = {}  # split -> folder under root
    low_dir: ClassVar[str] = "low"
    high_dir: ClassVar[str] = "high"
    low_prefix: ClassVar[str] = ""  # LOL v2 real: "low00001.png" <-> "normal00001.png"
    high_prefix: ClassVar[str] = ""
    layout: ClassVar[str] = ""  # what root must contain, for error messages

    def __init__(self, root, split: str, limit=None, subset=None, groups=(("", ""),)):
        Dataset.__init__(self, root, limit)  # PairedFolder's listing is replaced by _list below
        if split not in self.splits:
            raise ValueError(
                f"{self.registry_name}: unknown split {split!r}; choose one of "
                f"{', '.join(self.splits)}"
            )
        self.split = split
        self._require_root()
        items = []
        for group, folder in groups:
            items += self._list(self.root / self.splits[split] / folder, group)
        names = [name for name, *_ in items]
        items = self._limited(select_subset(items, names, subset, self.registry_name))
        self.names = [name for name, *_ in items]
        self.groups = [group for _, _, group in items]
        self.pairs = [pair for _, pair, _ in items]

    def _require_root(self) -> None:
        if self.root is None:
            raise ValueError(f"{self.registry_name} needs root: the folder holding {self.layout}")
        self.require_dir(self.root, f"the dataset's top folder (holding {self.layout})")
        split_dir = self.root / self.splits[self.split]
        if not split_dir.is_dir():
            hint = ""
            if (self.root / self.low_dir).is_dir() or any(
                (self.root / d).is_dir() for d in ("Huawei", "Nikon")
            ):
                hint = "; root looks like a split folder: give the dataset's top folder instead"
            raise FileNotFoundError(
                f"{self.registry_name}: expected the {self.split!r} split at {split_dir} "
                f"(root must be the top folder holding {self.layout}){hint}"
            )

    def _list(self, folder: Path, group: str) -> list:
        what = f"the {{}} images of split {self.split!r}" + (f" ({group})" if group else "")
        low = list_images(self.require_dir(folder / self.low_dir, what.format("low-light")))
        high = list_images(self.require_dir(folder / self.high_dir, what.format("reference")))
        low_key = _without_prefix(self.low_prefix) if self.low_prefix else _stem
        high_key = _without_prefix(self.high_prefix) if self.high_prefix else _stem
        pairs, only_low, only_high = pair_by_key(low, high, low_key, high_key)
        for other, files in ((self.high_dir, only_low), (self.low_dir, only_high)):
            self.findings += [Finding(str(p), f"no matching file in {other}/") for p in files]
        prefix = f"{group}/" if group else ""
        return [(prefix + lo.name, (lo, hi), group) for lo, hi in pairs]

    def name_of(self, index: int) -> str:
        return self.names[index]

    def meta_of(self, index: int) -> dict:
        """The item's metadata, without decoding anything."""
        low, high = self.pairs[index]
        meta = {"path": str(low), "reference_path": str(high), "split": self.split}
        if self.groups[index]:
            meta["camera"] = self.groups[index]
        return meta

    def load(self, index: int) -> Sample:
        sample = super().load(index)  # decodes both, raises on a size mismatch
        meta = {**self.meta_of(index), "size": list(sample.image.shape[1:])}
        return Sample(self.names[index], sample.image, sample.reference, meta=meta)

    def check(self, read_images: bool = True) -> CheckReport:
        """Unmatched files (both sides), low/high size mismatches (headers only), unreadable
        files (headers always; full decode with ``read_images``). One finding per file."""
        report = CheckReport(counts={"items": len(self), f"split {self.split}": len(self)})
        for group in sorted(set(self.groups) - {""}):
            report.counts[f"camera {group}"] = self.groups.count(group)
        report.findings += self.findings
        for low, high in self.pairs:
            sizes = {}
            for path in (low, high):
                try:
                    sizes[path] = image_size(path)
                    if read_images:
                        read_image_array(path)
                except Exception as exc:
                    report.findings.append(Finding(str(path), f"unreadable: {exc}"))
            if len(sizes) == 2 and sizes[low] != sizes[high]:
                (lw, lh), (hw, hh) = sizes[low], sizes[high]
                report.findings.append(
                    Finding(str(high), f"size {hw}x{hh} differs from {low.name} ({lw}x{lh})")
                )
        return report


class LOLv1(PairedSet):
    """LOL (Wei et al., BMVC 2018): ``our485/{low,high}`` (train), ``eval15/{low,high}`` (test),
    same file names on both sides."""

    splits = {"eval15": "eval15", "our485": "our485"}
    layout = "our485/ and eval15/"

    def __init__(self, root, split: str = "eval15", limit=None, subset=None):
        super().__init__(root, split, limit, subset)


class LOLv2Real(PairedSet):
    """LOL-v2 real (Yang et al., TIP 2021): ``Real_captured/{Train,Test}/{Low,Normal}``,
    ``lowXXXXX.png`` paired with ``normalXXXXX.png``."""

    splits = {"test": "Real_captured/Test", "train": "Real_captured/Train"}
    low_dir, high_dir, low_prefix, high_prefix = "Low", "Normal", "low", "normal"
    layout = "Real_captured/{Train,Test}/{Low,Normal}"

    def __init__(self, root, split: str = "test", limit=None, subset=None):
        super().__init__(root, split, limit, subset)


class LOLv2Synthetic(PairedSet):
    """LOL-v2 synthetic: ``Synthetic/{Train,Test}/{Low,Normal}``, same names on both sides."""

    splits = {"test": "Synthetic/Test", "train": "Synthetic/Train"}
    low_dir, high_dir = "Low", "Normal"
    layout = "Synthetic/{Train,Test}/{Low,Normal}"

    def __init__(self, root, split: str = "test", limit=None, subset=None):
        super().__init__(root, split, limit, subset)


class LSRW(PairedSet):
    """LSRW (Hai et al., R2RNet, JVCIR 2023): ``{Training data,Eval}/{Huawei,Nikon}/{low,high}``.
    Item names carry the camera (``Huawei/2.jpg``) so both cameras can be read together."""

    splits = {"eval": "Eval", "train": "Training data"}
    cameras: ClassVar[dict[str, tuple[str, ...]]] = {
        "huawei": ("Huawei",),
        "nikon": ("Nikon",),
        "both": ("Huawei", "Nikon"),
    }
    layout = "'Training data/' and 'Eval/', each with Huawei/ and Nikon/"

    def __init__(self, root, split: str = "eval", camera: str = "both", limit=None, subset=None):
        if camera not in self.cameras:
            raise ValueError(f"lsrw: unknown camera {camera!r}; choose one of huawei, nikon, both")
        self.camera = camera
        super().__init__(root, split, limit, subset, groups=[(c, c) for c in self.cameras[camera]])


# -- unpaired sets ------------------------------------------------------------------------------
class UnpairedSet(UnpairedFolder):
    """All images directly in ``root`` (sorted by name); no references, no split (``meta``
    split is "test": the whole set is an evaluation set). Unreadable files make ``load`` raise."""

    def __init__(self, root, limit=None, subset=None):
        Dataset.__init__(self, root, limit)
        if self.root is None:
            raise ValueError(f"{self.registry_name} needs root: the folder holding its images")
        files = list_images(self.require_dir(self.root, "a flat folder of images"))
        names = [p.name for p in files]
        self.files = self._limited(select_subset(files, names, subset, self.registry_name))

    def meta_of(self, index: int) -> dict:
        return {"path": str(self.files[index]), "split": "test"}

    def load(self, index: int) -> Sample:
        sample = super().load(index)
        sample.meta = {**self.meta_of(index), "size": list(sample.image.shape[1:])}
        return sample

    def check(self, read_images: bool = True) -> CheckReport:
        report = CheckReport(counts={"items": len(self), "split test": len(self)})
        if not self.files:
            report.findings.append(Finding(str(self.root), "no images found"))
        for path in self.files:
            try:
                image_size(path)
                if read_images:
                    read_image_array(path)
            except Exception as exc:
                report.findings.append(Finding(str(path), f"unreadable: {exc}"))
        return report


class LIMESet(UnpairedSet):
    """The LIME test images (Guo et al., TIP 2017)."""


class DICM(UnpairedSet):
    """DICM (Lee et al., TIP 2013)."""


class MEF(UnpairedSet):
    """The MEF low-light images (Ma et al., TIP 2015)."""


class NPE(UnpairedSet):
    """NPE (Wang et al., TIP 2013)."""


class VV(UnpairedSet):
    """VV (Vonikakis' test images)."""
