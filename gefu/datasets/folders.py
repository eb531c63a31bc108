"""Generic folder readers: a paired ``low/`` + ``high/`` folder and an unpaired folder."""

from __future__ import annotations

from gefu.datasets.base import Dataset, Finding, Sample, files_fingerprint
from gefu.io import list_images, read_image


class PairedFolder(Dataset):
    """``root/<low_dir>/x.png`` paired with ``root/<high_dir>/x.*`` by file stem.

    Files present on one side only are reported by name in ``problems`` and skipped."""

    requires_root = True
    paired = True

    def __init__(self, root, low_dir: str = "low", high_dir: str = "high", limit=None):
        super().__init__(root, limit)
        low = list_images(
            self.require_dir(self.root / low_dir, f"the low-light images ({low_dir}/)")
        )
        high = list_images(
            self.require_dir(self.root / high_dir, f"the reference images ({high_dir}/)")
        )
        high_by_stem = {p.stem: p for p in high}
        low_stems = {p.stem for p in low}
        self.pairs = [(p, high_by_stem[p.stem]) for p in low if p.stem in high_by_stem]
        only_low = sorted(low_stems - set(high_by_stem))
        only_high = sorted(set(high_by_stem) - low_stems)
        for side, other, stems in ((low_dir, high_dir, only_low), (high_dir, low_dir, only_high)):
            if stems:
                where = str(self.root / side)
                self.findings.append(Finding(where, f"no {other}/ match for: {', '.join(stems)}"))
        self.pairs = self._limited(self.pairs)

    def __len__(self) -> int:
        return len(self.pairs)

    def name_of(self, index: int) -> str:
        return self.pairs[index][0].name

    def load(self, index: int) -> Sample:
        low, high = self.pairs[index]
        image, reference = read_image(low), read_image(high)
        if reference.shape != image.shape:
            from gefu.io import ImageReadError

            raise ImageReadError(
                high,
                f"size {tuple(reference.shape[1:])} differs from {low.name} "
                f"{tuple(image.shape[1:])}",
            )
        return Sample(low.name, image, reference, meta={"path": str(low)})

    def fingerprint(self) -> str:
        return files_fingerprint([p for pair in self.pairs for p in pair], self.root)


class UnpairedFolder(Dataset):
    """Every image directly inside ``root``: for no-reference metrics only."""

    requires_root = True

    def __init__(self, root, limit=None):
        super().__init__(root, limit)
        self.files = self._limited(list_images(self.require_dir(self.root, "an image folder")))

    def __len__(self) -> int:
        return len(self.files)

    def name_of(self, index: int) -> str:
        return self.files[index].name

    def load(self, index: int) -> Sample:
        path = self.files[index]
        return Sample(path.name, read_image(path), meta={"path": str(path)})

    def fingerprint(self) -> str:
        return files_fingerprint(self.files, self.root)
