"""Frozen models shared by the evaluations: checkpoint resolution and a load-once cache.

A checkpoint is a local path or a URL. URLs are downloaded once into torch's hub cache (the
same folder mmengine uses) where the network allows; offline, the error names the file and
the folder to put it in. Models are cached per process by what determines them, so two
evaluations over the same detector load it once per run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

_MODELS: dict[tuple, Any] = {}


class CheckpointUnavailable(FileNotFoundError):
    """A checkpoint that is neither on disk nor downloadable here."""


def is_url(ref: str) -> bool:
    return urlparse(str(ref)).scheme in ("http", "https")


def cached_path(url: str) -> Path:
    """Where a downloaded ``url`` lives (torch hub's checkpoints folder, as mmengine uses)."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name


def checkpoint_available(ref: str | None) -> str | None:
    """None if ``ref`` can be used without a download, else why not (never touches the net)."""
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
            raise CheckpointUnavailable(f"checkpoint not found: {path}")
        return path
    path = cached_path(ref)
    if path.is_file():
        return path
    if not download:
        raise CheckpointUnavailable(checkpoint_available(ref))
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(ref, str(path), progress=False)
    except Exception as exc:  # no network, 404, proxy...
        raise CheckpointUnavailable(
            f"cannot download {ref} ({type(exc).__name__}: {exc}); download it elsewhere and "
            f"put it at {path}, or give a local path"
        ) from exc
    return path


def file_sha256(path: str | Path | None) -> str | None:
    """Content hash for cache keys (a checkpoint that is not available hashes to None)."""
    if path is None:
        return None
    if is_url(str(path)):
        path = cached_path(str(path))
    path = Path(path).expanduser()
    if not path.is_file():
        return None
    from gefu.core.hashing import weights_hash

    return weights_hash(path)


def load_once(key: tuple, factory: Callable[[], Any]) -> Any:
    """``factory()`` the first time ``key`` is seen in this process, the cached model after."""
    if key not in _MODELS:
        _MODELS[key] = factory()
    return _MODELS[key]


def short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]
