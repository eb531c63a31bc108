"""Image-quality metrics computed by pyiqa, with our own facts table and offline checks.

NIQE uses the LIVE pristine-image parameters shipped in ``assets/niqe_pris_params.npz``, taken
from the BasicSR 1.4.2 source archive (Apache-2.0, see NOTICE), so it needs no download.

Settings chosen here (pyiqa 0.1.16):
- ``psnr``: on RGB, data range 1 (pyiqa's "psnr").
- ``psnr_y``: on luma Y = 0.299 R + 0.587 G + 0.114 B (pyiqa's "psnry", Y of YIQ), as HVR-SSLE
  reports it (it calls pyiqa's psnr with ``test_y_channel=True``).
- ``ssim`` / ``ms_ssim``: pyiqa's defaults: on that luma rounded to 8-bit levels, Gaussian
  window 11x11 with sigma 1.5, no MATLAB-style automatic downsampling; MS-SSIM uses 5 scales.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import Any

from gefu.metrics.base import Metric

ASSETS = Path(__file__).parent / "assets"
NIQE_PARAMS = ASSETS / "niqe_pris_params.npz"


class MetricUnavailable(RuntimeError):
    """The metric cannot run here (e.g. its weights are not on disk and we never download)."""


@dataclass(frozen=True)
class IqaSpec:
    pyiqa_name: str
    full_reference: bool
    lower_better: bool
    options: dict[str, Any] = field(default_factory=dict)  # passed to pyiqa.create_metric
    # files pyiqa would download, relative to torch.hub.get_dir()
    weights: tuple[str, ...] = ()
    min_size: int = 1  # smallest height/width the metric is defined for
    needs_texture: bool = False  # undefined on a flat (constant) image


# Options are pyiqa 0.1.16's defaults, written out so that the cache key records them.
_LUMA = {"test_y_channel": True, "color_space": "yiq"}
FR, NR = {"full_reference": True}, {"full_reference": False}
LOWER, HIGHER = {"lower_better": True}, {"lower_better": False}
SPECS: dict[str, IqaSpec] = {
    "psnr": IqaSpec("psnr", **FR, **HIGHER, options={"test_y_channel": False}),
    "psnr_y": IqaSpec("psnry", **FR, **HIGHER, options=_LUMA),
    "ssim": IqaSpec("ssim", **FR, **HIGHER, options={**_LUMA, "downsample": False}, min_size=11),
    # the 11x11 window must fit at the 5th scale: 161 -> 81 -> 41 -> 21 -> 11
    "ms_ssim": IqaSpec(
        "ms_ssim",
        **FR,
        **HIGHER,
        options={**_LUMA, "downsample": False, "is_prod": True},
        min_size=161,
    ),
    "lpips": IqaSpec(
        "lpips",
        **FR,
        **LOWER,
        options={"net": "alex", "version": "0.1"},
        weights=("pyiqa/LPIPS_v0.1_alex-df73285e.pth", "checkpoints/alexnet-owt-7be5be79.pth"),
    ),
    # 96x96 blocks; a flat image makes pyiqa fail inside an SVD, for the whole batch
    "niqe": IqaSpec("niqe", **NR, **LOWER, options=_LUMA, min_size=96, needs_texture=True),
    "piqe": IqaSpec("piqe", **NR, **LOWER, min_size=16),  # 16x16 blocks
    "brisque": IqaSpec(
        "brisque",
        **NR,
        **LOWER,
        options={"test_y_channel": True},
        weights=("pyiqa/brisque_svm_weights.pth",),
    ),
    "musiq": IqaSpec(
        "musiq",
        **NR,
        **HIGHER,
        options={"pretrained": "koniq10k"},
        weights=("pyiqa/musiq_koniq_ckpt-e95806b9.pth",),
    ),
    "clipiqa": IqaSpec("clipiqa", **NR, **HIGHER, weights=("clip/RN50.pt",)),
}


def weights_dir() -> Path:
    """Where pyiqa (and torchvision, CLIP) look for downloaded weights: torch's hub folder."""
    import torch.hub

    return Path(torch.hub.get_dir())


@cache
def niqe_params_sha256() -> str:
    return hashlib.sha256(NIQE_PARAMS.read_bytes()).hexdigest()


def _niqe_params_mat() -> io.BytesIO:
    """The shipped parameters as the in-memory .mat that pyiqa's NIQE reads with loadmat."""
    import numpy as np
    import scipy.io

    with np.load(NIQE_PARAMS) as params:
        mat = {"mu_prisparam": params["mu_pris_param"], "cov_prisparam": params["cov_pris_param"]}
    buf = io.BytesIO()
    scipy.io.savemat(buf, mat)
    buf.seek(0)
    return buf


class PyiqaMetric(Metric):
    """One pyiqa metric, configured by ``SPECS[name]``."""

    def __init__(self, name: str):
        if name not in SPECS:
            raise KeyError(f"no IQA spec for {name!r}; known: {', '.join(SPECS)}")
        self.registry_name = name
        self.info = SPECS[name]
        self.lower_better = self.info.lower_better
        self.full_reference = self.info.full_reference
        self._model = None
        self._device = None

    def __repr__(self) -> str:
        return f"PyiqaMetric({self.registry_name!r})"

    def unavailable(self) -> str | None:
        if self.registry_name == "niqe" and not NIQE_PARAMS.is_file():
            return f"NIQE parameters missing: {NIQE_PARAMS} (reinstall gefu-bench)"
        root = weights_dir()
        missing = [w for w in self.info.weights if not (root / w).is_file()]
        if missing:
            files = ", ".join(Path(w).name for w in missing)
            dirs = ", ".join(sorted({str((root / w).parent) for w in missing}))
            return f"weights not found offline: {files} (expected in {dirs})"
        return None

    def setup(self, device: str) -> None:
        if self._model is not None and self._device == str(device):
            return
        reason = self.unavailable()
        if reason:  # never let pyiqa start a download
            raise MetricUnavailable(f"{self.registry_name}: {reason}")
        import pyiqa

        options = dict(self.info.options)
        if self.registry_name == "niqe":
            options["pretrained_model_path"] = _niqe_params_mat()
        self._model = pyiqa.create_metric(self.info.pyiqa_name, device=device, **options)
        self._device = str(device)

    def __call__(self, images, references=None):
        self._check(images, references)
        if self._model is None:
            self.setup(str(images.device))
        import torch

        images = images.to(self._device)
        with torch.no_grad():
            if self.full_reference:
                scores = self._model(images, references.to(self._device))
            else:
                scores = self._model(images)
        scores = scores.detach().reshape(images.shape[0]).float().cpu()
        bad = (~torch.isfinite(scores)).nonzero().flatten().tolist()
        if bad:  # e.g. PIQE on an all-black image (it divides by the maximum)
            raise ValueError(f"{self.registry_name} is not finite for image(s) {bad} of the batch")
        return scores

    def unscorable(self, images) -> dict[int, str]:
        """The images of a ``[B,3,H,W]`` batch this metric is not defined for, with why (too
        small, flat): callers skip and report them rather than fail the batch."""
        h, w = images.shape[-2:]
        size = self.info.min_size
        if min(h, w) < size:
            why = f"needs at least {size}x{size} pixels, got {h}x{w}"
            return dict.fromkeys(range(images.shape[0]), why)
        if not self.info.needs_texture:
            return {}
        levels = _luma_levels(images).flatten(1)  # what pyiqa's NIQE measures
        flat = (levels.amax(dim=1) == levels.amin(dim=1)).nonzero().flatten().tolist()
        return dict.fromkeys(flat, "undefined: its 8-bit luma is constant (flat or nearly black)")

    def _check(self, images, references) -> None:
        name = self.registry_name
        _check_batch(name, "images", images)
        bad = self.unscorable(images)
        if bad:
            raise ValueError(
                f"{name} cannot score image(s) {sorted(bad)} of the batch: "
                f"{next(iter(bad.values()))}"
            )
        if not self.full_reference:
            return
        if references is None:
            raise ValueError(f"{name} is full-reference: pass the reference images")
        _check_batch(name, "references", references)
        if references.shape != images.shape:
            raise ValueError(
                f"{name}: references have shape {tuple(references.shape)}, "
                f"images {tuple(images.shape)}; they must match"
            )

    def spec(self) -> dict:
        out = {
            "name": self.registry_name,
            "pyiqa": self.info.pyiqa_name,
            "options": dict(self.info.options),
            "pyiqa_version": version("pyiqa"),
        }
        if self.registry_name == "niqe":
            out["params_sha256"] = niqe_params_sha256()
        return out


def _luma_levels(images):
    """8-bit luma, Y = 0.299 R + 0.587 G + 0.114 B rounded, as pyiqa computes it."""
    weights = images.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    return ((images * weights).sum(dim=1) * 255).round()


def _check_batch(name: str, what: str, x) -> None:
    import torch

    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: {what} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"{name}: {what} must be [B,3,H,W], got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name}: {what} must be float in [0,1], got {x.dtype}")
    if x.numel() == 0:
        raise ValueError(f"{name}: {what} is empty (shape {tuple(x.shape)})")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name}: {what} contain NaN or Inf")
    lo, hi = x.min().item(), x.max().item()
    if lo < -1e-6 or hi > 1 + 1e-6:
        raise ValueError(f"{name}: {what} must be in [0,1], got values in [{lo:.4g}, {hi:.4g}]")


# -- registry entries: one per row of SPECS (gefu.metrics registers them) -----------------------
def factory(name: str) -> Callable[[], PyiqaMetric]:
    """The registry entry of ``SPECS[name]``: a function that builds its ``PyiqaMetric``."""
    if name not in SPECS:
        raise KeyError(f"no IQA spec for {name!r}; known: {', '.join(SPECS)}")

    def make() -> PyiqaMetric:
        return PyiqaMetric(name)

    make.__name__ = make.__qualname__ = name
    return make
