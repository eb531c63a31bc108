"""What the MMDetection and MMSegmentation adapters share: the frozen model's options and spec
(``OpenMMLabModel``), configs shipped inside a package, config overrides from YAML, the hash of
a resolved config, and feeding in-memory images to a config's test pipeline.

Every function takes the package (``"mmdet"`` or ``"mmseg"``); nothing here imports it
unless a config is read.
"""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path
from typing import Any, ClassVar

from gefu.tasks.frozen import FrozenModel, checkpoint_hash, packages_unavailable, versions

INSTALL = "`make install-openmmlab`: builds mmcv 2.1 from source; see README, 'Install'"
COMMON = {"mmengine": "mmengine", "mmcv": "mmcv"}  # module -> distribution


def shipped_configs(package: str) -> Path:
    """The configs folder inside an installed OpenMMLab package (``<package>/.mim/configs``),
    found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"{package} is not installed ({INSTALL})")
    return Path(next(iter(spec.submodule_search_locations))) / ".mim" / "configs"


def resolve_config(package: str, config: str | Path) -> Path:
    """A config file: ``config`` itself, or a config shipped inside ``package`` named relative
    to its configs folder (``"yolo/yolov3_d53_8xb8-ms-608-273e_coco.py"``; a ``<package>::``
    prefix is allowed) or by its file name alone (``.py`` optional) when that is unique."""
    path = Path(config).expanduser()
    if path.is_file():
        return path
    root = shipped_configs(package)
    name = str(config).removeprefix(f"{package}::")
    if (root / name).is_file():
        return root / name
    stem = Path(name).name
    found = sorted(root.rglob(stem if stem.endswith(".py") else f"{stem}.py"))
    if len(found) == 1:
        return found[0]
    if found:
        shown = ", ".join(str(p.relative_to(root)) for p in found[:5])
        raise FileNotFoundError(f"{package} config {config!r} is ambiguous: {shown}")
    raise FileNotFoundError(
        f"{package} config {config!r} not found: neither a file nor a config shipped in {root}"
    )


def read_config(package: str, config: str | Path, cfg_options: dict | None = None):
    """The mmengine ``Config`` with its bases merged and ``cfg_options`` applied."""
    from mmengine.config import Config

    cfg = Config.fromfile(str(resolve_config(package, config)))
    if cfg_options:
        cfg.merge_from_dict(yaml_tuples(cfg_options))
    return cfg


def config_digest(package: str, config: str | Path, cfg_options: dict | None = None) -> str:
    """SHA-256 of the fully resolved config (bases merged, overrides applied)."""
    import hashlib
    import json

    cfg = read_config(package, config, cfg_options)
    text = json.dumps(cfg.to_dict(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def yaml_tuples(options):
    """Config overrides with lists of numbers as tuples: YAML has no tuples, and OpenMMLab's
    sizes (``Resize.scale``, ``crop_size``) must be tuples."""

    def convert(value):
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            items = [convert(v) for v in value]
            numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in items)
            return tuple(items) if numbers and items else items
        return value

    return None if options is None else convert(copy.deepcopy(options))


def in_memory_pipeline(steps, loader: str = "LoadImageFromNDArray") -> list[dict]:
    """A test pipeline with its file loader replaced by ``LoadImageFromNDArray`` and its
    annotation loader dropped: the enhanced image goes in as a float32 0-255 BGR array (what
    the file loader gives, minus the 8-bit rounding). Labels are scored outside the package."""
    steps = [copy.deepcopy(dict(s)) for s in steps if "LoadAnnotations" not in str(s["type"])]
    if not steps or "LoadImage" not in str(steps[0]["type"]):
        raise ValueError(
            f"the config's test pipeline starts with {steps[0]['type'] if steps else 'nothing'}, "
            "not an image loader: cannot feed it in-memory images"
        )
    steps[0] = {"type": loader}
    return steps


def bgr_arrays(images):
    """``[B,3,H,W]`` RGB in [0,1] -> float32 0-255 BGR ``[B,H,W,3]`` numpy, on the CPU."""
    return (images.detach().flip(1).float() * 255).permute(0, 2, 3, 1).cpu().numpy()


class OpenMMLabModel(FrozenModel):
    """A frozen OpenMMLab model: ``config`` (a file, or one shipped in ``package``, see
    ``resolve_config``), ``checkpoint`` (a path or URL), ``cfg_options`` (config overrides,
    as mmengine's ``--cfg-options``)."""

    package: ClassVar[str] = ""  # "mmdet" or "mmseg"
    install_hint = INSTALL

    def __init__(self, config: str, checkpoint=None, cfg_options=None, allow_random_weights=False):
        self.config = str(config)
        self.checkpoint = None if checkpoint is None else str(checkpoint)
        self.cfg_options = dict(cfg_options or {})
        self.allow_random_weights = bool(allow_random_weights)
        self._config_digest: str | None = None
        if packages_unavailable(self.packages) is None:
            resolve_config(self.package, config)  # a wrong name fails now, saying where

    def spec(self) -> dict[str, Any]:
        if self._config_digest is None and packages_unavailable(self.packages) is None:
            self._config_digest = config_digest(self.package, self.config, self.cfg_options)
        random = self.random_weights
        return {
            "family": self.family,
            "config": self.config,
            "config_hash": self._config_digest,
            "cfg_options": self.cfg_options,
            "checkpoint": self.checkpoint,
            "checkpoint_sha256": None if random else checkpoint_hash(self.checkpoint),
            "random_weights": random,
            "versions": versions(*self.packages.values()),
        }
