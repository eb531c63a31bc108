"""The dataset interface: lazy, indexable, each item a ``Sample``."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar


@dataclass
class Sample:
    """One evaluation item. ``image`` is the (dark) input, ``[3,H,W]`` float in [0,1]."""

    name: str
    image: Any
    reference: Any = None  # the normal-light image, same size, where the set is paired
    target: Any = None  # boxes / mask / label, in the task's own format
    meta: dict[str, Any] = field(default_factory=dict)


class Dataset:
    """Subclasses list their items in ``__init__`` (cheaply: names and paths, no decoding)
    and decode one item in ``load``. ``load`` raises ``gefu.io.ImageReadError`` for a file
    it cannot read; the runner reports it by name and goes on with the rest."""

    registry_name: ClassVar[str] = ""
    paired: ClassVar[bool] = False  # items carry a reference image
    task: ClassVar[str | None] = None  # "detection", "segmentation", "classification"
    classes: tuple[str, ...] = ()

    def __init__(self, root: str | Path | None = None, limit: int | None = None):
        self.root = Path(root).expanduser() if root is not None else None
        self.limit = limit
        self.problems: list[str] = []  # found while listing: reported, never fatal

    def __len__(self) -> int:
        raise NotImplementedError

    def name_of(self, index: int) -> str:
        raise NotImplementedError

    def load(self, index: int) -> Sample:
        raise NotImplementedError

    def fingerprint(self) -> str:
        """Content identity of the items, for the runner's cache key."""
        raise NotImplementedError

    def _limited(self, items: list) -> list:
        return items if self.limit is None else items[: self.limit]

    def require_dir(self, path: Path, what: str) -> Path:
        if not path.is_dir():
            raise FileNotFoundError(
                f"{self.registry_name or type(self).__name__}: expected {what} at {path}, "
                "but that folder does not exist"
            )
        return path


def files_fingerprint(paths: list[Path], base: Path | None = None) -> str:
    """Hash of relative names, sizes and modification times: cheap and content-sensitive."""
    h = hashlib.sha256()
    for p in paths:
        st = p.stat()
        name = str(p.relative_to(base)) if base else p.name
        h.update(f"{name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()
