"""Cache keys: a content hash of everything that determines a cell's result."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, packages_distributions, version
from pathlib import Path
from typing import Any

import gefu


def digest(obj: Any) -> str:
    blob = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def weights_hash(path: str | Path | None) -> str | None:
    """SHA-256 of a weights file, or of every file in a checkpoint folder."""
    if path is None:
        return None
    path = Path(path).expanduser().resolve()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    h = hashlib.sha256()
    for f in files:
        st = f.stat()
        h.update(f"{f.relative_to(path) if path.is_dir() else f.name}\0".encode())
        h.update(_file_hash(str(f), st.st_size, st.st_mtime_ns).encode())
    return h.hexdigest()


@lru_cache(maxsize=256)
def _file_hash(path: str, size: int, mtime_ns: int) -> str:  # size/mtime: cache validity
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def code_version(cls: type) -> str:
    """Version of the distribution that provides ``cls`` (part of the cache key)."""
    top = cls.__module__.split(".")[0]
    if top == "gefu":
        return f"gefu-bench-{gefu.__version__}"
    dists = packages_distributions().get(top, [])
    for dist in dists:
        try:
            return f"{dist}-{version(dist)}"
        except PackageNotFoundError:
            continue
    return f"{top}-unversioned"
