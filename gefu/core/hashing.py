"""Cache keys: a content hash of everything that determines a cell's result.

Code is part of it: ``code_hash`` hashes the source of the module that defines a class and of
every module of the same packages it imports (module-level and lazy, in-function imports alike,
followed transitively), so an edit to an enhancer, a reader, an evaluation or a helper they use
changes exactly the keys of the cells that ran that code. Package ``__init__`` files are not
followed (in this suite they are registries: names, not behaviour), except where the class
itself is defined in one.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
from contextlib import suppress
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, packages_distributions, version
from pathlib import Path
from typing import Any

# Libraries whose version can change any cell's numbers (image decoding, enhancers' ops): their
# versions are part of every key; an evaluation adds its own (``Task.libraries``).
BASE_LIBRARIES = (
    "torch",
    "torchvision",
    "numpy",
    "scipy",
    "pillow",
    "kornia",
    "opencv-python",
    "scikit-image",
)

OWN_DISTRIBUTION = {"gefu": "gefu-bench"}


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


def library_versions(names) -> dict[str, str]:
    """Installed version of each distribution ("absent" where not installed)."""
    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "absent"
    return out


def code_hash(*classes) -> str:
    """SHA-256 over the source files behind ``classes`` (classes or functions; see the module
    docstring) and the version of each distribution providing them."""
    files: set[Path] = set()
    tops: set[str] = set()
    for cls in classes:
        for c in getattr(cls, "__mro__", (cls,)):
            top = c.__module__.split(".")[0]
            if c is cls or top in ("gefu", cls.__module__.split(".")[0]):
                files |= _closure(c.__module__)
                tops.add(top)
    h = hashlib.sha256()
    for top in sorted(tops):
        h.update(f"{top}={_dist_version(top)}\0".encode())
    for f in sorted(files):
        st = f.stat()
        h.update(f"{f.name}\0{_file_hash(str(f), st.st_size, st.st_mtime_ns)}\0".encode())
    return h.hexdigest()[:24]


@lru_cache(maxsize=64)
def _dist_version(top: str) -> str:
    """Version of the distribution shipping a top-level package: the distribution named like
    it (or this suite's own), else the one whose files list it (scanning every installed
    distribution takes about 0.3 s, so only when needed and once per process)."""
    for name in OWN_DISTRIBUTION.get(top, top), top.replace("_", "-"):
        with suppress(PackageNotFoundError):
            return version(name)
    for dist in packages_distributions().get(top, []):
        with suppress(PackageNotFoundError):
            return version(dist)
    return "unversioned"


@lru_cache(maxsize=512)
def _closure(module: str) -> frozenset[Path]:
    """The file of ``module`` and of every same-top-package module it imports, transitively."""
    top = module.split(".")[0]
    seen: dict[str, Path] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = _module_file(name)
        if path is None:
            continue
        seen[name] = path
        for imported in _imports(str(path), name, path.name == "__init__.py"):
            if imported.split(".")[0] == top and imported not in seen:
                target = _module_file(imported)
                if target is not None and target.name != "__init__.py":
                    todo.append(imported)
    return frozenset(seen.values())


@lru_cache(maxsize=64)
def _package_dir(top: str) -> Path | None:
    spec = importlib.util.find_spec(top)
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(spec.origin) if spec.origin else None


def _module_file(name: str) -> Path | None:
    """The source file of a module, found without importing it."""
    top, *rest = name.split(".")
    base = _package_dir(top)
    if base is None:
        return None
    if base.is_file():  # a single-module distribution
        return base if not rest else None
    stem = base.joinpath(*rest)
    for candidate in (stem.with_suffix(".py"), stem / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: str, module: str, is_package: bool) -> list[str]:
    st = Path(path).stat()
    return list(_parsed_imports(path, module, is_package, st.st_size, st.st_mtime_ns))


@lru_cache(maxsize=1024)
def _parsed_imports(path, module, is_package, size, mtime_ns) -> tuple[str, ...]:
    tree = ast.parse(Path(path).read_text(encoding="utf-8"), filename=path)
    package = module if is_package else module.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            out.append(source)  # a module, or a package whose names follow
            out += [f"{source}.{alias.name}" for alias in node.names]  # submodules
    return tuple(out)
