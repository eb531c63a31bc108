"""``bundled_photos``: natural photos that ship inside installed packages, for offline training
and validation runs. None of them is a demo photo (those are reserved for evaluation)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from gefu.datasets.base import Dataset, Sample, files_fingerprint
from gefu.datasets.demo import PHOTOS

# The demo's photos are reserved for evaluation: never train on them.
RESERVED = tuple(PHOTOS)


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def bundled_photos() -> list[Path]:
    """pyiqa's ``ResultsCalibra/ref_dir/*.bmp`` (5), matplotlib's
    ``Minduka_Present_Blue_Pack.png`` and, when scikit-learn is installed, its ``china.jpg`` and
    ``flower.jpg``."""
    found: list[Path] = []
    pyiqa = _package_dir("pyiqa")
    if pyiqa is not None:
        found += sorted((pyiqa.parent / "ResultsCalibra" / "ref_dir").glob("*.bmp"))
    mpl = _package_dir("matplotlib")
    if mpl is not None:
        found.append(mpl / "mpl-data" / "sample_data" / "Minduka_Present_Blue_Pack.png")
    sklearn = _package_dir("sklearn")
    if sklearn is not None:
        found += [sklearn / "datasets" / "images" / f for f in ("china.jpg", "flower.jpg")]
    found = [p for p in found if p.is_file()]
    assert not any(p.stem.startswith(RESERVED) for p in found), "a demo photo in training data"
    if not found:
        raise FileNotFoundError("no bundled photos found (pyiqa and matplotlib ship them)")
    return found


class BundledPhotos(Dataset):
    """The ``bundled_photos()`` as an unpaired dataset, the longer side resized to
    ``max_side`` (None: as stored), e.g. under ``darkened`` for a training run."""

    def __init__(self, root=None, limit: int | None = None, max_side: int | None = 256):
        super().__init__(root, limit)
        self.files, self.max_side = self._limited(bundled_photos()), max_side

    def __len__(self) -> int:
        return len(self.files)

    def name_of(self, index: int) -> str:
        return self.files[index].name

    def load(self, index: int) -> Sample:
        import torch

        from gefu.io import read_image, resize

        image = read_image(self.files[index])
        if self.max_side is not None:
            image = resize(image, longer=self.max_side)
            image = torch.round(image * 255) / 255  # 8-bit values, like a stored image
        return Sample(self.files[index].name, image, meta={"path": str(self.files[index])})

    def fingerprint(self) -> str:
        return files_fingerprint(self.files) + f":{self.max_side}"
