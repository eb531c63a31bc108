"""Learned enhancers, one folder per method: adding a method is one new folder plus its configs.

``gefu/methods/<name>/`` holds everything of one method:

- ``__init__.py``, the manifest: plain strings only, so listing names imports no torch::

      ENHANCERS = {"zero_dce": ".network:ZeroDCE"}       # benchmark enhancers (gefu.enhancers)
      TRAINING = {"zero_dce": ".recipe:ZeroDCETraining"}  # training methods (gefu.train)
      RELEASES = ".release:RELEASES"                     # the authors' checkpoints (optional)

  Targets are ``"module:attr"``; a leading ``.`` is relative to the folder.
- ``network.py``: the enhancer (a ``gefu.enhancers.base.Enhancer``);
- ``release.py``: its released checkpoints (``gefu.enhancers.released.Release`` rows) and the
  released key layout ``network.py`` converts from; it imports no torch at module level and
  never imports ``network.py`` (the network calls into it);
- ``recipe.py``: the ``TrainMethod`` (``gefu.train.method``); ``losses.py``: its own losses.

The registries find the folders by themselves (``manifests()``, ``pkgutil`` over this package):
``gefu.enhancers.ENHANCERS``, ``gefu.train.METHODS`` and ``gefu.enhancers.released.RELEASES``.

Layers (``tests/test_layers.py``): ``recipe*``, ``loss*`` and ``train*`` modules (e.g.
``hvr_ssle/train_data.py``, HVR-SSLE's degraded training photos) sit with ``gefu.train`` and may
import it; every other module of a folder (``network.py``, ``release.py``, their helpers; also
``sagc/critic.py``, plain torch) sits with ``gefu.enhancers``: it may import ``gefu.core``,
``gefu.enhancers`` and other folders' networks, never ``gefu.train`` or ``gefu.bench``.

Where shared code lives:
- A method built on another's network imports it from that folder: SCL-LLE is Zero-DCE's
  DCE-Net and SAGC Zero-DCE++'s separable one (``zero_dce/network.py``: ``CurveNet``,
  ``apply_curves``; the DCE-Net release layout in ``zero_dce/release.py``); SCUF's reflectance
  teacher is RetinexNet's DecomNet (``retinexnet/network.py``).
- A helper of one method stays in its folder (Semi-LLIE's selective scan,
  ``semi_llie/mamba_scan.py``; SCUF's attention, prompt and diffusers parts).
- Image helpers of every enhancer (``luminance``, padding) stay in ``gefu/enhancers/base.py``;
  the classic Retinex helpers in ``gefu/enhancers/retinex.py``.
- Losses used by several methods are in ``gefu/train/losses.py`` (Zero-DCE's zero-reference
  losses, which SCL-LLE reuses); a recipe may import another's helper (Semi-LLIE's perceptual
  term taps VGG through ``scl_lle/recipe.py``'s ``vgg_taps``); the frozen auxiliary networks
  (segmenters, VGG, RAM) are built by ``gefu/train/aux.py``.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from importlib.util import resolve_name
from typing import Any


@dataclass(frozen=True)
class Manifest:
    package: str  # "gefu.methods.zero_dce"
    enhancers: dict[str, str]  # registered name -> absolute "module:attr"
    training: dict[str, str]
    releases: str | None

    def load_releases(self) -> tuple[Any, ...]:
        """The ``Release`` rows of the folder's ``RELEASES`` target (none if it has none)."""
        if self.releases is None:
            return ()
        module, _, attr = self.releases.partition(":")
        return tuple(getattr(importlib.import_module(module), attr))


def manifests() -> list[Manifest]:
    """The manifest of every method folder, in folder-name order."""
    out = []
    for info in sorted(pkgutil.iter_modules(__path__, __name__ + "."), key=lambda i: i.name):
        if info.ispkg and not info.name.rpartition(".")[2].startswith("_"):
            out.append(read_manifest(info.name))
    return out


def read_manifest(package: str) -> Manifest:
    module = importlib.import_module(package)
    where = module.__file__
    names = {k: getattr(module, k, None) for k in ("ENHANCERS", "TRAINING", "RELEASES")}
    if names["ENHANCERS"] is None and names["TRAINING"] is None:
        raise ValueError(
            f"{where}: a method folder's __init__.py must declare ENHANCERS and/or TRAINING "
            '(e.g. ENHANCERS = {"name": ".network:Class"}); see gefu/methods/__init__.py'
        )
    targets = {}
    for key in ("ENHANCERS", "TRAINING"):
        table = names[key] or {}
        if not isinstance(table, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in table.items()
        ):
            raise ValueError(f"{where}: {key} must map names to 'module:attr' strings")
        targets[key] = {name: _absolute(t, package, where) for name, t in table.items()}
    releases = names["RELEASES"]
    if releases is not None and not isinstance(releases, str):
        raise ValueError(f"{where}: RELEASES must be a 'module:attr' string")
    return Manifest(
        package,
        targets["ENHANCERS"],
        targets["TRAINING"],
        _absolute(releases, package, where) if releases else None,
    )


def _absolute(target: str, package: str, where: str) -> str:
    module, sep, attr = target.partition(":")
    if not sep or not module or not attr:
        raise ValueError(f"{where}: {target!r} is not a 'module:attr' target")
    return f"{resolve_name(module, package)}:{attr}"
