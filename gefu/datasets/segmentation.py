"""Semantic segmentation readers: the night driving sets and a generic image + mask folder.

Every reader pairs images with single-channel id masks by name and yields an int64 ``[H,W]``
torch tensor of train ids (Cityscapes' 19 by default), 255 = ignore.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from gefu.datasets.base import (
    CheckReport,
    Dataset,
    Finding,
    Sample,
    files_fingerprint,
    read_subset,
    select_subset,
    spellings,
)
from gefu.datasets.cityscapes_ids import (
    IGNORE,
    LABEL_TO_TRAIN,
    TRAIN_CLASSES,
    apply_lookup,
    lookup_table,
)
from gefu.io import ImageReadError, is_image, read_image

_RECORDING = re.compile(r"(GOPR\d+)_")  # ACDC / Dark Zurich: GOPR0351_frame_000159_rgb_anon.png


def read_mask(path: Path) -> np.ndarray:
    """A single-channel id image as int64 ``[H,W]``: palette indices stay indices, no colour."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            if img.mode not in ("L", "P", "I", "I;16", "I;16B", "I;16L", "1"):
                raise ImageReadError(
                    path, f"mask has mode {img.mode}; expected single-channel ids (L, P, 16-bit)"
                )
            return np.asarray(img).astype(np.int64)
    except ImageReadError:
        raise
    except UnidentifiedImageError as exc:
        raise ImageReadError(path, "not a recognised image format") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(path, f"cannot read mask ({exc})") from exc


@dataclass(slots=True)
class _Pair:
    name: str  # image path relative to the image folder, "/"-separated
    key: str  # the name both files share once their suffixes are removed
    image: Path
    mask: Path | None


class _PairedMaskReader(Dataset):
    """Images and masks matched by name: ``<key><image_suffix>`` <-> ``<key><mask_suffix>``.

    Suffixes match case-insensitively (``.PNG`` too). An image without its mask is left out and
    reported; a mask without an image is reported. ``load`` raises ``ImageReadError`` naming both
    files when a mask's size differs from its image's; ids outside the valid set become 255 in
    ``load`` and are reported by ``check``."""

    requires_root = True
    task = "segmentation"
    classes: tuple[str, ...] = TRAIN_CLASSES
    splits: ClassVar[tuple[str, ...]] = ()
    labelled_splits: ClassVar[tuple[str, ...]] = ()
    image_suffix: str = ""  # "" = any image file, key = its stem
    mask_suffix: str = ".png"
    recursive: bool = False  # images in sub-folders (ACDC/Dark Zurich sequences)
    label_map: dict[int, int] | None = None  # raw mask id -> train id; None: masks hold train ids
    sequences: bool = False  # clusters: the recording (GOPR folder, or the GOPRxxxx name prefix)

    def __init__(self, root, split: str | None = None, limit=None):
        super().__init__(root, limit)
        kind = self.registry_name or type(self).__name__
        if self.splits and split not in self.splits:
            raise ValueError(f"{kind}: unknown split {split!r}; valid: {', '.join(self.splits)}")
        self.split = split
        self.labelled = split in self.labelled_splits if self.splits else True
        self.items: list[_Pair] = []

    def _mask_dir(self, path: Path, what: str) -> Path | None:
        return self.require_dir(path, what) if self.labelled else None

    # -- listing -----------------------------------------------------------------------
    def _scan(self, folder: Path, suffix: str, images: bool) -> dict[str, Path]:
        found: dict[str, Path] = {}
        low = suffix.lower()
        stack = [(folder, "")]
        while stack:
            here, rel = stack.pop()
            with os.scandir(here) as it:
                entries = sorted(it, key=lambda e: e.name)
            for e in entries:
                if e.is_dir():
                    if self.recursive:
                        stack.append((Path(e.path), f"{rel}{e.name}/"))
                    continue
                path = Path(e.path)
                if images and not is_image(path):
                    continue
                if suffix and not e.name.lower().endswith(low):
                    if images:
                        self.findings.append(
                            Finding(str(path), f"image not named *{suffix}: not read")
                        )
                    continue
                key = rel + (e.name[: -len(suffix)] if suffix else path.stem)
                if key in found:
                    self.findings.append(
                        Finding(str(path), f"same name as {found[key].name}: not read")
                    )
                    continue
                found[key] = path
        return found

    def _list(self, image_dir: Path, mask_dir: Path | None, subset=None) -> None:
        images = self._scan(image_dir, self.image_suffix, images=True)
        names = {k: p.relative_to(image_dir).as_posix() for k, p in images.items()}
        keys = sorted(names, key=names.get)
        keys = select_subset(
            keys, [spellings(names[k], k) for k in keys], subset, self.registry_name
        )
        names = {k: names[k] for k in keys}
        wanted = set(read_subset(subset) or ())
        masks = self._scan(mask_dir, self.mask_suffix, images=False) if mask_dir else {}
        for key, name in sorted(names.items(), key=lambda kv: kv[1]):
            mask = masks.get(key)
            if mask_dir is not None and mask is None:
                expected = mask_dir / f"{key}{self.mask_suffix}"
                self.findings.append(
                    Finding(str(images[key]), f"image without a mask (no {expected})")
                )
                continue
            self.items.append(_Pair(name, key, images[key], mask))
        for key in sorted(set(masks) - set(images)):
            if subset is None or wanted & spellings(key):
                self.findings.append(
                    Finding(str(masks[key]), f"mask without an image (no {key}* in {image_dir})")
                )
        self.items = self._limited(self.items)
        ids = self.label_map or {i: i for i in range(len(self.classes))}
        self._lut, self._known = lookup_table(ids, size=max(256, max(ids, default=0) + 1))

    # -- reading -----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.items)

    def name_of(self, index: int) -> str:
        return self.items[index].name

    def cluster_of(self, index: int) -> str | None:
        if not self.sequences:
            return None
        name = self.items[index].name
        if "/" in name:
            return name.split("/", 1)[0]
        match = _RECORDING.match(name)
        return match.group(1) if match else None

    def load(self, index: int) -> Sample:
        import torch

        item = self.items[index]
        image = read_image(item.image)
        h, w = image.shape[1:]
        meta = {"path": str(item.image), "split": self.split, "size": (h, w)}
        if "/" in item.name:
            meta["sequence"] = item.name.split("/", 1)[0]
        target = None
        if item.mask is not None:
            raw = read_mask(item.mask)
            if raw.shape != (h, w):
                raise ImageReadError(
                    item.mask,
                    f"mask is {raw.shape[1]}x{raw.shape[0]} but its image {item.image} is {w}x{h}",
                )
            target = torch.from_numpy(apply_lookup(raw, self._lut))
            meta["mask_path"] = str(item.mask)
        return Sample(item.name, image, None, target, meta, cluster=self.cluster_of(index))

    def fingerprint(self) -> str:
        files = [p for it in self.items for p in (it.image, it.mask) if p is not None]
        return files_fingerprint(files, self.root)

    # -- checking ----------------------------------------------------------------------
    def _bad_ids(self, ids: np.ndarray) -> list[int]:
        return [int(i) for i in ids if not (0 <= i < len(self._known) and self._known[i])]

    def check(self, read_images: bool = True) -> CheckReport:
        """Pairing defects, load failures (size mismatch, unreadable files) and, when
        ``read_images``, label ids outside the valid set; counts images per split and class."""
        report = super().check(read_images)
        report.counts[f"split {self.split or 'all'}"] = len(self)
        if not self.labelled:
            report.counts["unlabelled images (this split has no masks)"] = len(self)
        if not (read_images and self.labelled):
            return report
        per_class: Counter[int] = Counter()
        valid = sorted(int(i) for i in np.flatnonzero(self._known))
        for item in self.items:
            try:
                ids = np.unique(read_mask(item.mask))
            except ImageReadError:
                continue  # reported by the load above
            bad = self._bad_ids(ids)
            if bad:
                report.findings.append(
                    Finding(str(item.mask), f"label ids {bad} outside the valid set {valid}")
                )
            per_class.update(int(t) for t in np.unique(apply_lookup(ids, self._lut)))
        for c, name in enumerate(self.classes):
            report.counts[f"class {name} (images)"] = per_class[c]
        return report


class ACDCNight(_PairedMaskReader):
    """ACDC, night condition (Sakaridis et al., ICCV 2021):
    ``rgb_anon/night/<split>/GOPRxxxx/*_rgb_anon.png`` with
    ``gt/night/<split>/GOPRxxxx/*_gt_labelTrainIds.png``. The test split's labels are withheld:
    its targets are None. ``meta["sequence"]`` and the item's cluster are the GOPR folder (one
    recording)."""

    splits = ("train", "val", "test")
    labelled_splits = ("train", "val")
    image_suffix, mask_suffix, recursive = "_rgb_anon.png", "_gt_labelTrainIds.png", True
    sequences = True

    def __init__(self, root, split: str = "val", limit=None, subset=None):
        super().__init__(root, split, limit)
        self._list(
            self.require_dir(
                self.root / "rgb_anon" / "night" / split,
                f"the night images (rgb_anon/night/{split}/GOPR*/*_rgb_anon.png)",
            ),
            self._mask_dir(
                self.root / "gt" / "night" / split,
                f"the night labels (gt/night/{split}/GOPR*/*_gt_labelTrainIds.png)",
            ),
            subset,
        )


class DarkZurich(_PairedMaskReader):
    """Dark Zurich (Sakaridis et al., ICCV 2019), night part:
    ``rgb_anon/<split>/night/GOPRxxxx/*_rgb_anon.png`` with
    ``gt/<split>/night/GOPRxxxx/*_gt_labelTrainIds.png``. Only val (50 images) has labels;
    test and train are read without (targets None). Clusters: the GOPR folder (one recording)."""

    splits = ("val", "test", "train")
    labelled_splits = ("val",)
    image_suffix, mask_suffix, recursive = "_rgb_anon.png", "_gt_labelTrainIds.png", True
    sequences = True

    def __init__(self, root, split: str = "val", limit=None, subset=None):
        super().__init__(root, split, limit)
        self._list(
            self.require_dir(
                self.root / "rgb_anon" / split / "night",
                f"the night images (rgb_anon/{split}/night/GOPR*/*_rgb_anon.png)",
            ),
            self._mask_dir(
                self.root / "gt" / split / "night",
                f"the night labels (gt/{split}/night/GOPR*/*_gt_labelTrainIds.png)",
            ),
            subset,
        )


class NighttimeDriving(_PairedMaskReader):
    """Nighttime Driving test (Dai & Van Gool, ITSC 2018), 50 coarsely annotated night images
    in the Cityscapes layout: ``leftImg8bit/test/night/*_leftImg8bit.png`` with
    ``gtCoarse_daytime_trainvaltest/test/night/*_gtCoarse_labelTrainIds.png``."""

    splits = labelled_splits = ("test",)
    image_suffix, mask_suffix = "_leftImg8bit.png", "_gtCoarse_labelTrainIds.png"

    def __init__(self, root, split: str = "test", limit=None, subset=None):
        super().__init__(root, split, limit)
        self._list(
            self.require_dir(
                self.root / "leftImg8bit" / split / "night",
                f"the night images (leftImg8bit/{split}/night/*_leftImg8bit.png)",
            ),
            self._mask_dir(
                self.root / "gtCoarse_daytime_trainvaltest" / split / "night",
                f"the labels (gtCoarse_daytime_trainvaltest/{split}/night/"
                "*_gtCoarse_labelTrainIds.png)",
            ),
            subset,
        )


class NightCity(_PairedMaskReader):
    """NightCity (Tan et al., TIP 2021): ``images/<split>/<name>.png`` with
    ``label/<split>/<name>_labelIds.png`` holding Cityscapes label ids, mapped to the 19 train
    ids by the official table (``cityscapes_ids.LABEL_TO_TRAIN``; 255 stays ignore). Label ids
    above 33 (other than 255) become 255 and are reported by ``check``."""

    splits = labelled_splits = ("train", "val")
    mask_suffix = "_labelIds.png"
    label_map = LABEL_TO_TRAIN

    def __init__(self, root, split: str = "val", limit=None, subset=None):
        super().__init__(root, split, limit)
        self._list(
            self.require_dir(self.root / "images" / split, f"the images (images/{split}/*.png)"),
            self._mask_dir(
                self.root / "label" / split, f"the label-id masks (label/{split}/*_labelIds.png)"
            ),
            subset,
        )


class BDD100KNight(_PairedMaskReader):
    """BDD100K-night (the night images of BDD100K's segmentation set, as used by FDLNet and
    GEFU): ``images/<split>/<name>.jpg`` with ``labels/<split>/<name>_train_id.png`` (BDD100K's
    original naming) or ``labels/<split>/<name>.png`` (its later release; GEFU's copy), holding
    Cityscapes train ids. ``mask_suffix=None`` picks whichever the folder has. GEFU evaluates
    ``split="test"``; ``subset`` takes a list of night image names."""

    splits = labelled_splits = ("train", "val", "test")

    def __init__(
        self, root, split: str = "test", mask_suffix: str | None = None, limit=None, subset=None
    ):
        super().__init__(root, split, limit)
        images = self.require_dir(self.root / "images" / split, f"the images (images/{split}/)")
        masks = self.require_dir(
            self.root / "labels" / split, f"the train-id masks (labels/{split}/*_train_id.png)"
        )
        if mask_suffix is None:
            with os.scandir(masks) as it:
                legacy = any(e.name.lower().endswith("_train_id.png") for e in it)
            mask_suffix = "_train_id.png" if legacy else ".png"
        self.mask_suffix = mask_suffix
        self._list(images, masks, subset)


class MaskFolder(_PairedMaskReader):
    """Your own segmentation set: ``root/<images_dir>/<key><image_suffix>`` with
    ``root/<masks_dir>/<key><mask_suffix>`` (``image_suffix=""``: any image, key = its stem;
    ``recursive``: sub-folders too, e.g. Cityscapes' city folders). Masks hold train ids
    indexing ``classes`` (default: the 19 Cityscapes classes), or raw ids mapped by
    ``label_map`` ({raw id: train id}, or ``"cityscapes"`` for the official label-id table);
    ids the map does not name become 255 and are reported by ``check``."""

    def __init__(
        self,
        root,
        images_dir: str = "images",
        masks_dir: str = "masks",
        image_suffix: str = "",
        mask_suffix: str = ".png",
        label_map: dict | str | None = None,
        classes: list[str] | None = None,
        recursive: bool = False,
        limit=None,
        subset=None,
    ):
        super().__init__(root, None, limit)
        if classes is not None:
            self.classes = tuple(str(c) for c in classes)
        if label_map == "cityscapes":
            label_map = LABEL_TO_TRAIN
        elif isinstance(label_map, str):
            raise ValueError(f"mask_folder: label_map {label_map!r}: give a dict or 'cityscapes'")
        if label_map is not None:
            label_map = {int(k): int(v) for k, v in label_map.items()}
            bad = {k: v for k, v in label_map.items() if not (0 <= v < len(self.classes))}
            bad = {k: v for k, v in bad.items() if v != IGNORE}
            if bad or any(not 0 <= k < 65536 for k in label_map):
                raise ValueError(
                    f"mask_folder: label_map must map ids 0..65535 to 0..{len(self.classes) - 1}"
                    f" or {IGNORE}; bad entries: {bad or label_map}"
                )
        self.label_map = label_map
        self.image_suffix, self.mask_suffix, self.recursive = image_suffix, mask_suffix, recursive
        self._list(
            self.require_dir(self.root / images_dir, f"the images ({images_dir}/)"),
            self.require_dir(self.root / masks_dir, f"the masks ({masks_dir}/*{mask_suffix})"),
            subset,
        )
