"""Method discovery: the manifest of every folder of ``gefu/methods/``, read as data.

A manifest (``gefu/methods/<name>/__init__.py``; the guide is ``gefu/methods/__init__.py``)
holds plain literals only, so it is read here with ``ast.literal_eval``: nothing of the folder
or of ``gefu.methods`` is imported. ``gefu.enhancers`` and ``gefu.train`` list the methods'
names from it and ``tests/test_layers.py`` places each module of a folder by its ``LAYERS``.
The folders are the packages on ``gefu.methods``' search path (``importlib.util.find_spec``,
which does not run the package; a folder appended to ``gefu.methods.__path__`` is found too).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import pkgutil
from dataclasses import dataclass
from importlib.util import resolve_name
from pathlib import Path
from typing import Any

PACKAGE = "gefu.methods"
KEYS = ("ENHANCERS", "TRAINING", "RELEASES", "LAYERS")
# where a module of a folder sits: with the components (its network, release layout and their
# helpers) or with gefu.train (its recipe, losses, training data)
LAYER_NAMES = ("enhancers", "train")
GUIDE = "see gefu/methods/__init__.py"


@dataclass(frozen=True)
class Manifest:
    package: str  # "gefu.methods.zero_dce"
    enhancers: dict[str, str]  # registered name -> absolute "module:attr"
    training: dict[str, str]
    releases: str | None
    layers: dict[str, str]  # module of the folder ("network") -> "enhancers" | "train"

    def load_releases(self) -> tuple[Any, ...]:
        """The ``Release`` rows of the folder's ``RELEASES`` target (none if it has none)."""
        if self.releases is None:
            return ()
        module, _, attr = self.releases.partition(":")
        return tuple(getattr(importlib.import_module(module), attr))


def manifests() -> list[Manifest]:
    """The manifest of every method folder, in folder-name order."""
    spec = importlib.util.find_spec(PACKAGE)
    paths = list(spec.submodule_search_locations or []) if spec else []
    out = []
    for info in sorted(pkgutil.iter_modules(paths), key=lambda i: i.name):
        if info.ispkg and not info.name.startswith("_"):
            folder = Path(info.module_finder.path) / info.name  # type: ignore[union-attr]
            out.append(read_manifest(folder, f"{PACKAGE}.{info.name}"))
    return out


def read_manifest(folder: Path, package: str) -> Manifest:
    """The manifest in ``folder/__init__.py``, the folder importable as ``package``."""
    where = folder / "__init__.py"
    values = _literals(where)
    if values.get("ENHANCERS") is None and values.get("TRAINING") is None:
        raise ValueError(
            f"{where}: a method folder's __init__.py must declare ENHANCERS and/or TRAINING "
            f'(e.g. ENHANCERS = {{"name": ".network:Class"}}); {GUIDE}'
        )
    targets = {}
    for key in ("ENHANCERS", "TRAINING"):
        table = values.get(key) or {}
        if not isinstance(table, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in table.items()
        ):
            raise ValueError(f"{where}: {key} must map names to 'module:attr' strings")
        targets[key] = {name: _absolute(t, package, where) for name, t in table.items()}
    releases = values.get("RELEASES")
    if releases is not None and not isinstance(releases, str):
        raise ValueError(f"{where}: RELEASES must be a 'module:attr' string")
    return Manifest(
        package,
        targets["ENHANCERS"],
        targets["TRAINING"],
        _absolute(releases, package, where) if releases else None,
        _layers(values.get("LAYERS") or {}, where),
    )


def _literals(where: Path) -> dict[str, Any]:
    """``NAME = literal`` assignments of a manifest (its docstring aside); anything else is an
    error, so that reading it never needs running it."""
    tree = ast.parse(where.read_text(encoding="utf-8"), str(where))
    out: dict[str, Any] = {}
    for i, node in enumerate(tree.body):
        if i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring
        target = node.targets[0] if isinstance(node, ast.Assign) and node.targets else None
        if not isinstance(target, ast.Name) or len(node.targets) != 1 or target.id not in KEYS:
            raise ValueError(
                f"{where}:{node.lineno}: a manifest holds only {', '.join(KEYS)} = plain "
                f"strings; {GUIDE}"
            )
        try:
            out[target.id] = ast.literal_eval(node.value)
        except ValueError:
            raise ValueError(f"{where}: {target.id} must be plain strings; {GUIDE}") from None
    return out


def _layers(table: Any, where: Path) -> dict[str, str]:
    if not isinstance(table, dict) or not set(table) <= set(LAYER_NAMES):
        raise ValueError(f"{where}: LAYERS must map {' and/or '.join(LAYER_NAMES)} to modules")
    out: dict[str, str] = {}
    for layer, names in table.items():
        if not isinstance(names, tuple | list) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"{where}: LAYERS[{layer!r}] must be a tuple of module names")
        for name in names:
            if name in out:
                raise ValueError(f"{where}: LAYERS places {name!r} twice")
            out[name] = layer
    return out


def _absolute(target: str, package: str, where: Path) -> str:
    module, sep, attr = target.partition(":")
    if not sep or not module or not attr:
        raise ValueError(f"{where}: {target!r} is not a 'module:attr' target")
    return f"{resolve_name(module, package)}:{attr}"
