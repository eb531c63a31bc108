"""The one interface every frozen downstream model family implements (``FrozenModel``), and
what the families share: checkpoint resolution, a load-once cache, library versions, and the
model spec an evaluation names (``frozen_model``).

A family is one adapter file, registered by name in ``gefu.tasks.FAMILIES`` (third-party ones
through the entry-point group ``gefu.model_families``): ``mmdet_model``, ``mmseg_model``,
``refinenet_model``, ``darknet_model``, ``mtcnn_model`` (and ``classifiers``, which the
classification evaluations build directly). An evaluation takes ``model: {family: <name>,
...}``: the other keys are the family's constructor keywords (its schema: unknown or missing
ones are errors naming the family), and ``serves`` says which evaluations it can be the model
of (``KINDS``). Each adapter says why it cannot run here (``unavailable``), what determines its
predictions (``spec``, for the cache key), and builds the loaded model (``build``); ``load``
builds it once per process and device, and the loaded model's ``predict`` takes a
``[B,3,H,W]`` batch in [0,1].

Weights, the same rule for every family: ``checkpoint`` (a path or URL) if given, else the
family's packaged weights (EfficientNet-Lite0, Darknet YOLOv3-tiny and MTCNN ship theirs in a
package); with neither, or with a checkpoint that cannot be found, the model is unavailable
(the reason says which) unless ``allow_random_weights: true``, which runs the architecture with
seeded random weights (smoke tests; a URL not downloaded yet is then not fetched). Families
whose weights always come with their package (MTCNN, Darknet's packaged model) take no
``allow_random_weights``. The demo's models all have packaged weights.

A URL checkpoint is downloaded once into torch's hub cache (the folder mmengine uses), only
when the model is loaded and only where the network allows; offline, the reason names the
file and the folder to put it in.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlparse

_LOADED: dict[tuple, Any] = {}
# What a family can be the model of: box detection (``detection``), face detection
# (``face_detection``: a detector with a "face" class), ``segmentation``, ``classification``.
KINDS = ("detector", "face_detector", "segmenter", "classifier")


class ModelUnavailable(FileNotFoundError):
    """A frozen model that cannot be loaded here (a checkpoint neither on disk nor
    downloadable, packages missing); the message says why."""


class FrozenModel:
    """Where a frozen model comes from (family, files, options); cheap to create, loads
    nothing until ``load``."""

    family: ClassVar[str] = ""  # its name in ``gefu.tasks.FAMILIES`` (and in its spec)
    serves: ClassVar[tuple[str, ...]] = ()  # the ``KINDS`` it can be
    # module -> distribution that the family needs (checked without importing them)
    packages: ClassVar[dict[str, str]] = {}
    install_hint: ClassVar[str] = "pip install --no-deps"
    checkpoint: str | None = None
    allow_random_weights: bool = False

    def cannot_serve(self, kind: str) -> str | None:
        """Why this model cannot be an evaluation's ``kind`` (one of ``KINDS``), or None."""
        if kind in self.serves:
            return None
        return f"model family {self.family!r} serves {', '.join(self.serves)}, not {kind}"

    # -- availability --------------------------------------------------------------------
    def unavailable(self, download: bool = False) -> str | None:
        """Why this model cannot be used here, or None. Never touches the network: a URL not
        downloaded yet is a reason unless ``download`` (then ``load`` will fetch it)."""
        missing = packages_unavailable(self.packages, self.install_hint)
        if missing or self.allow_random_weights:
            return missing
        return self._weights_unavailable(download)

    def weights_ref(self) -> str | None:
        """The checkpoint to load: ``checkpoint``, else the family's packaged weights."""
        return None if self.checkpoint is None else str(self.checkpoint)

    def _no_weights(self) -> str:
        return (
            f"no checkpoint given for {self.family} (set `checkpoint`, a path or URL, or "
            "`allow_random_weights: true` for a smoke test)"
        )

    def _weights_unavailable(self, download: bool = False) -> str | None:
        """Why the trained weights cannot be used (None if they can)."""
        ref = self.weights_ref()
        if ref is None:
            return self._no_weights()
        if download and is_url(ref):
            return None
        return checkpoint_unavailable(ref)

    @property
    def random_weights(self) -> bool:
        """Runs with random weights: allowed, and no trained weights on disk here (nothing is
        downloaded then)."""
        return self.allow_random_weights and self._weights_unavailable() is not None

    def weights_file(self) -> Path | None:
        """The local weights file to load (downloading a URL), None for random weights."""
        if self.random_weights:
            return None
        ref = self.weights_ref()
        if ref is None:
            raise ModelUnavailable(self._no_weights())
        return resolve_checkpoint(ref)

    # -- identity and loading --------------------------------------------------------------
    def spec(self) -> dict[str, Any]:
        """Everything that determines the predictions (part of the evaluation's cache key)."""
        raise NotImplementedError

    def build(self, device: str) -> Any:
        """The loaded model on ``device``: an object with ``predict(images)``."""
        raise NotImplementedError

    def load(self, device: str) -> Any:
        """``build(device)`` once per process: evaluations naming the same model share it."""
        key = (self.family, json.dumps(self.spec(), sort_keys=True, default=str), device)
        if key not in _LOADED:
            _LOADED[key] = self.build(device)
        return _LOADED[key]


# -- the model spec of an evaluation -------------------------------------------------------------
def model_problems(spec: Any, kind: str, where: str = "model") -> list[str]:
    """What is wrong with the model spec ``spec`` (``{family: <name>, ...options}``) for an
    evaluation whose model is a ``kind``: one ``where.key: ...`` line each (nothing built)."""
    from gefu.core.params import constructor_params, param_type_problems
    from gefu.tasks import FAMILIES

    if not isinstance(spec, dict) or not spec.get("family"):
        return [f"{where}: name the frozen model's family: `{{family: <name>, ...options}}`"]
    name, options = spec["family"], {k: v for k, v in spec.items() if k != "family"}
    try:
        cls = FAMILIES.get(name)
    except KeyError as exc:
        return [f"{where}.family: {exc}"]
    if kind not in cls.serves:
        serving = [n for n in FAMILIES.names() if kind in FAMILIES.get(n).serves]
        return [
            f"{where}.family: model family {name!r} serves {', '.join(cls.serves) or 'nothing'}"
            f", not {kind} (families that do: {', '.join(serving)})"
        ]
    accepted, required = constructor_params(cls)
    problems = []
    if accepted is not None:
        for key in sorted(set(options) - accepted):
            problems.append(
                f"{where}.{key}: unknown option of model family {name!r}; valid: "
                f"{', '.join(sorted(accepted)) or '(none)'}"
            )
    for key in sorted(required - set(options)):
        problems.append(f"{where}.{key}: required by model family {name!r} but not given")
    known = {k: v for k, v in options.items() if accepted is None or k in accepted}
    return problems + param_type_problems(cls, known, where)


def frozen_model(spec: Any, kind: str) -> FrozenModel:
    """The frozen model ``spec`` names, checked against its family's options and ``kind``;
    ValueError naming what is wrong."""
    from gefu.tasks import FAMILIES

    problems = model_problems(spec, kind)
    if problems:
        raise ValueError("; ".join(problems))
    model = FAMILIES.get(spec["family"])(**{k: v for k, v in spec.items() if k != "family"})
    why = model.cannot_serve(kind)
    if why:
        raise ValueError(f"model: {why}")
    return model


def packages_unavailable(
    packages: dict[str, str], hint: str = "pip install --no-deps"
) -> str | None:
    """Why ``packages`` (module -> distribution) cannot be imported here, or None (imports
    nothing)."""
    absent = [d for m, d in packages.items() if importlib.util.find_spec(m) is None]
    return f"not installed: {', '.join(absent)} ({hint})" if absent else None


# -- checkpoints -------------------------------------------------------------------------------
def is_url(ref: str) -> bool:
    return urlparse(str(ref)).scheme in ("http", "https")


def cached_path(url: str) -> Path:
    """Where a downloaded ``url`` lives (torch hub's checkpoints folder, as mmengine uses)."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name


def checkpoint_unavailable(ref: str | None) -> str | None:
    """Why checkpoint ``ref`` cannot be used without a download, or None (no network)."""
    if ref is None:
        return None
    path = cached_path(ref) if is_url(ref) else Path(ref).expanduser()
    if path.is_file():
        return None
    if is_url(ref):
        return f"checkpoint not downloaded yet: {path.name} (expected in {path.parent})"
    return f"checkpoint not found: {path}"


def resolve_checkpoint(ref: str, download: bool = True) -> Path:
    """A local file for ``ref``: the path itself, or the URL's cached download."""
    if not is_url(ref):
        path = Path(ref).expanduser()
        if not path.is_file():
            raise ModelUnavailable(f"checkpoint not found: {path}")
        return path
    path = cached_path(ref)
    if path.is_file():
        return path
    if not download:
        raise ModelUnavailable(checkpoint_unavailable(ref))
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(ref, str(path), progress=False)
    except Exception as exc:  # no network, 404, proxy...
        raise ModelUnavailable(
            f"cannot download {ref} ({type(exc).__name__}: {exc}); download it elsewhere and "
            f"put it at {path}, or give a local path"
        ) from exc
    return path


def checkpoint_hash(ref: str | Path | None) -> str | None:
    """SHA-256 of the checkpoint ``ref`` names (a path, or a URL's cached download), for
    cache keys; None where it is not on disk."""
    if ref is None:
        return None
    path = cached_path(str(ref)) if is_url(str(ref)) else Path(ref).expanduser()
    if not path.is_file():
        return None
    from gefu.core.hashing import weights_hash

    return weights_hash(path)


def versions(*dists: str) -> dict[str, str | None]:
    """Installed version of each distribution (None where absent)."""
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for dist in dists:
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = None
    return out
