"""The dataset interface: lazy, indexable, each item a ``Sample``."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from gefu.core.registry import RegisteredName


@dataclass
class Finding:
    """One defect found by ``Dataset.check``: a file, the line where it applies, what is wrong."""

    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        return (
            f"{self.path}:{self.line}: {self.message}"
            if self.line
            else f"{self.path}: {self.message}"
        )


@dataclass
class CheckReport:
    counts: dict[str, int] = field(default_factory=dict)  # e.g. "split test", "class Car"
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


@dataclass
class Sample:
    """One evaluation item. ``image`` is the (dark) input, ``[3,H,W]`` float in [0,1]."""

    name: str
    image: Any
    reference: Any = None  # the normal-light image, same size, where the set is paired
    target: Any = None  # boxes / mask / label, in the task's own format
    meta: dict[str, Any] = field(default_factory=dict)
    cluster: str | None = None  # the independent unit (scene, sequence); None = the image itself
    stratum: str | None = None  # a fixed condition the set repeats (e.g. darkness level)


class Dataset:
    """Subclasses list their items in ``__init__`` (cheaply: names and paths, no decoding)
    and decode one item in ``load``. ``load`` raises ``gefu.io.ImageReadError`` for a file
    it cannot read; the runner reports it by name and goes on with the rest."""

    registry_name = RegisteredName("gefu.datasets:DATASETS")  # the name it is listed under
    paired: ClassVar[bool] = False  # items carry a reference image
    task: ClassVar[str | None] = None  # "detection", "segmentation", "classification"
    classes: tuple[str, ...] = ()
    requires_root: ClassVar[bool] = False  # a reader of files under ``root``

    def __init__(self, root: str | Path | None = None, limit: int | None = None):
        if root is None and self.requires_root:
            raise ValueError(f"{self.registry_name or type(self).__name__} needs a root folder")
        self.root = Path(root).expanduser() if root is not None else None
        self.limit = limit
        # what listing found wrong (unmatched, misplaced or stray files): reported, never fatal
        self.findings: list[Finding] = []

    def __len__(self) -> int:
        raise NotImplementedError

    def name_of(self, index: int) -> str:
        raise NotImplementedError

    def load(self, index: int) -> Sample:
        raise NotImplementedError

    # -- sampling units: from the item listing, never by decoding -------------------------
    def cluster_of(self, index: int) -> str | None:
        """The independent unit item ``index`` belongs to (its scene, sequence, source photo);
        None: the item is its own unit. ``load`` puts the same value in ``Sample.cluster``."""
        return None

    def stratum_of(self, index: int) -> str | None:
        """The fixed condition item ``index`` was taken under (e.g. a darkness level) when the
        set repeats its scenes under several; None: no strata."""
        return None

    def clusters(self) -> list[str | None]:
        """``cluster_of`` for every item, in index order."""
        return [self.cluster_of(i) for i in range(len(self))]

    def strata(self) -> list[str | None]:
        """``stratum_of`` for every item, in index order."""
        return [self.stratum_of(i) for i in range(len(self))]

    def fingerprint(self) -> str:
        """Content identity of the items, for the runner's cache key."""
        raise NotImplementedError

    def check(self, read_images: bool = True) -> CheckReport:
        """Validate the whole dataset without stopping at the first defect. This default
        decodes every item; readers add their annotation checks (file and line numbers)."""
        report = CheckReport(counts={"items": len(self)})
        report.findings += self.findings
        if read_images:
            for i in range(len(self)):
                try:
                    self.load(i)
                except Exception as exc:  # report and go on: that is the point of a check
                    report.findings.append(Finding(self.name_of(i), str(exc)))
        return report

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


def read_subset(subset: str | Path | Iterable[str] | None) -> list[str] | None:
    """Item names from a list, or from a text file (one per line; blank and ``#`` lines skipped)."""
    if subset is None:
        return None
    if isinstance(subset, str | Path):
        path = Path(subset).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"subset file {path} does not exist")
        lines = (line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines())
        return [line for line in lines if line and not line.startswith("#")]
    return [str(name) for name in subset]


def spellings(name: str, *keys: str) -> set[str]:
    """The ways a subset list may name an item: relative name, file name, stem, extra keys."""
    base = name.rsplit("/", 1)[-1]
    out = {name, base, base.rsplit(".", 1)[0]}
    for key in keys:
        out |= {key, key.rsplit("/", 1)[-1]}
    return out


def select_subset(items: list, names: list[str | set[str]], subset, where: str) -> list:
    """``items`` listed in ``subset``, in dataset order. ``names[i]`` is the item's name or the
    set of its accepted spellings. Unknown names are an error: a subset from another split or
    set would otherwise silently shrink the benchmark."""
    wanted = read_subset(subset)
    if wanted is None:
        return items
    spelled = [spellings(n) if isinstance(n, str) else set(n) for n in names]
    known = set().union(*spelled) if spelled else set()
    missing = [w for w in wanted if w not in known]
    if missing:
        shown = ", ".join(missing[:5]) + (
            f" (+{len(missing) - 5} more)" if len(missing) > 5 else ""
        )
        raise ValueError(f"{where}: subset names not in the dataset: {shown}")
    keep = set(wanted)
    return [item for item, s in zip(items, spelled, strict=True) if s & keep]
