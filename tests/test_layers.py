"""Imports point one way, and never in a circle.

Every module of ``gefu/`` belongs to a layer (``LAYERS``: the first pattern that matches its
name; a module of a learned method's folder, its manifest's ``LAYERS``); a module may import
only the layers its row of ``ALLOWED`` names. Module-level and in-function imports count alike,
and so does a registry's lazy ``"gefu.x.y:Attr"`` string (it imports that module on first use).
No group of modules may import one another round in a circle (lazy registry strings are left
out of that check: a registry names its members, and a member may look others up by name
through it, e.g. ``darkened`` wraps any dataset).

The layers, bottom to top:
- core: config errors, strict YAML and spec models, params, hashing, the registry; the package
  root (its version);
- imaging: image files (``gefu.io``) and the low-light simulator (``gefu.simulate``,
  ``gefu.sensor_noise``), pure functions on images that import only core;
- the components: enhancers, datasets, metrics and tasks (the downstream evaluations, which
  read datasets' label maps and score with metrics; nothing else imports tasks at this level);
  a learned method's folder, ``gefu/methods/<name>/``, holds components (its network and
  released-checkpoint layout) and its training recipe (train layer), each module placed by the
  folder's manifest (``LAYERS = {"enhancers": (...), "train": (...)}``, read as data by
  ``gefu.core.manifests``; the manifest itself, plain strings, sits with core);
- train (the loop, its configs, data and losses) and bench (runner, store, report, benchmark
  configs), side by side: neither imports the other;
- the CLI on top of both.
"""

from __future__ import annotations

import ast
import re
import textwrap
from fnmatch import fnmatch
from pathlib import Path

import pytest

from gefu.core.manifests import read_manifest

GEFU = Path(__file__).resolve().parents[1] / "gefu"

# (fnmatch pattern over dotted module names, layer); the first match wins. A pattern "x*"
# covers the module x and everything under it.
LAYERS = [
    ("gefu", "core"),  # the package root: __version__ only
    ("gefu.core*", "core"),
    ("gefu.io", "imaging"),
    ("gefu.simulate", "imaging"),
    ("gefu.sensor_noise", "imaging"),
    ("gefu.enhancers*", "enhancers"),
    ("gefu.datasets*", "datasets"),
    ("gefu.metrics*", "metrics"),
    ("gefu.tasks*", "tasks"),
    # the guide to the method folders (a docstring); the folders' modules are placed by their
    # manifests (``method_layers``)
    ("gefu.methods", "core"),
    ("gefu.train*", "train"),
    ("gefu.cli*", "cli"),
    ("gefu.bench*", "bench"),
]

BASE = {"core", "imaging"}
COMPONENTS = BASE | {"enhancers", "datasets", "metrics", "tasks"}
# layer -> the layers its modules may import (its own included)
ALLOWED = {
    "core": {"core"},
    "imaging": BASE,
    "enhancers": BASE | {"enhancers"},
    "datasets": BASE | {"datasets"},
    "metrics": BASE | {"metrics"},
    "tasks": BASE | {"datasets", "metrics", "tasks"},
    "train": COMPONENTS | {"train"},
    "bench": COMPONENTS | {"bench"},
    "cli": COMPONENTS | {"train", "bench", "cli"},
}

# Arrows and cycles in code other sessions are changing now (issue 13), tolerated until they
# land. An entry that no longer exists fails the test: delete it then.
KNOWN_ARROWS: set[tuple[str, str]] = set()
LAZY = re.compile(r"^(gefu(?:\.\w+)+):\w+$")


def modules(root: Path) -> dict[str, Path]:
    """Dotted name -> file for every module of the package at ``root``."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def import_graph(root: Path) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(imports, lazy registry strings): for each module, the package's modules it names."""
    mods = modules(root)

    def known(name: str) -> str | None:  # the module itself, or the package holding the name
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    imports: dict[str, set[str]] = {m: set() for m in mods}
    lazy: dict[str, set[str]] = {m: set() for m in mods}
    for module, path in mods.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                source = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[: len(parts) - node.level + 1])
                    source = f"{base}.{source}" if source else base
                names = [f"{source}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                match = LAZY.match(node.value)
                if match and known(match[1]):
                    lazy[module].add(known(match[1]))
            imports[module] |= {t for t in map(known, names) if t and t != module}
    return imports, lazy


def method_layers(root: Path) -> tuple[list[tuple[str, str]], list[str]]:
    """Rows for the layer table from each method folder's manifest, and the problems: a module
    of the folder its manifest does not place, a placed module that does not exist."""
    mods = modules(root)
    rows: list[tuple[str, str]] = []
    problems: list[str] = []
    folders = root / "methods"
    for folder in sorted(folders.iterdir() if folders.is_dir() else []):
        if not (folder / "__init__.py").is_file():
            continue
        package = f"gefu.methods.{folder.name}"
        placed = read_manifest(folder, package).layers
        rows.append((package, "core"))  # the manifest: plain strings
        for name, layer in placed.items():
            rows += [(f"{package}.{name}", layer), (f"{package}.{name}.*", layer)]
            if f"{package}.{name}" not in mods:
                problems.append(f"{package}: its LAYERS places {name!r}, which does not exist")
        for module in mods:
            if (
                module.startswith(package + ".")
                and module[len(package) + 1 :].split(".")[0] not in placed
            ):
                problems.append(f"{module}: its folder's manifest does not place it (LAYERS)")
    return rows, problems


def layer_table(root: Path = GEFU) -> list[tuple[str, str]]:
    return method_layers(root)[0] + LAYERS


def layer_of(module: str, table=None) -> str | None:
    table = layer_table() if table is None else table
    return next((layer for pattern, layer in table if fnmatch(module, pattern)), None)


def upward_arrows(root: Path, allowed=ALLOWED) -> list[str]:
    """``"a (layer) -> b (layer)"`` for every import the allowed matrix forbids, and every
    module no row of the layer table maps."""
    imports, lazy = import_graph(root)
    rows, problems = method_layers(root)
    table = rows + LAYERS
    unplaced = {p.partition(":")[0] for p in problems}
    problems += [
        f"{m}: no layer (add a pattern to LAYERS)"
        for m in imports
        if not layer_of(m, table) and m not in unplaced
    ]
    for graph, how in ((imports, "imports"), (lazy, "names lazily")):
        for a, targets in sorted(graph.items()):
            for b in sorted(targets):
                la, lb = layer_of(a, table), layer_of(b, table)
                if la and lb and lb not in allowed[la]:
                    problems.append(f"{a} ({la}) {how} {b} ({lb})")
    return problems


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


# -- the package ---------------------------------------------------------------------------
def test_every_module_imports_only_the_layers_below_or_beside_it():
    problems = upward_arrows(GEFU)
    known = {f"{a} ({layer_of(a)}) imports {b} ({layer_of(b)})" for a, b in KNOWN_ARROWS}
    assert sorted(set(problems) - known) == [], "\n".join(problems)
    assert sorted(known - set(problems)) == [], "KNOWN_ARROWS lists arrows that are gone"


def test_no_import_cycles():
    found = cycles(import_graph(GEFU)[0])
    loops = [sorted(c) for c in found]
    assert loops == [], "import cycles:\n" + "\n".join(" <-> ".join(c) for c in loops)


def test_the_layer_table_maps_every_module_and_every_layer_has_a_row():
    assert set(ALLOWED) == {layer for _, layer in layer_table()} | {"cli"}
    assert method_layers(GEFU)[1] == []
    assert all(layer_of(m) for m in modules(GEFU))
    assert layer_of("gefu.methods.scuf.network") == "enhancers"
    assert layer_of("gefu.methods.scuf.release") == "enhancers"
    assert layer_of("gefu.methods.scuf.recipe") == "train"
    assert layer_of("gefu.methods.hvr_ssle.train_data") == "train"
    assert layer_of("gefu.methods.scuf") == layer_of("gefu.methods") == "core"


def test_manifest_targets_sit_in_their_layers():
    """What a manifest registers as an enhancer is a component; a training method, train."""
    for folder in sorted(p for p in (GEFU / "methods").iterdir() if (p / "__init__.py").is_file()):
        manifest = read_manifest(folder, f"gefu.methods.{folder.name}")
        for targets, layer in ((manifest.enhancers, "enhancers"), (manifest.training, "train")):
            for target in targets.values():
                assert layer_of(target.partition(":")[0]) == layer, target


def test_enhancers_and_train_import_no_method_folder():
    """Method discovery is data (``gefu.core.manifests``): the registries that list the folders'
    names never import ``gefu.methods`` (the package-level back-arrows are gone)."""
    imports, lazy = import_graph(GEFU)

    def under(module: str, package: str) -> bool:
        return module == package or module.startswith(package + ".")

    back = [
        f"{a} -> {b}"
        for graph in (imports, lazy)
        for a, targets in graph.items()
        for b in targets
        if (under(a, "gefu.enhancers") or under(a, "gefu.train")) and under(b, "gefu.methods")
    ]
    assert back == []


# -- the checker itself, on a synthetic tree -------------------------------------------------
def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tmp_path / "gefu"


CLEAN = {
    "gefu/__init__.py": "",
    "gefu/core/__init__.py": "",
    "gefu/core/errors.py": "",
    "gefu/datasets/__init__.py": 'TARGETS = {"folder": "gefu.datasets.folder:Folder"}\n',
    "gefu/datasets/folder.py": "from gefu.core.errors import ConfigError\nfrom . import base\n",
    "gefu/datasets/base.py": "from ..core import errors\n",
    "gefu/bench/__init__.py": "",
    "gefu/bench/runner.py": "def run():\n    import gefu.datasets.folder\n",
}


def test_a_clean_tree_passes(tmp_path):
    root = _tree(tmp_path, CLEAN)
    assert upward_arrows(root) == []
    imports, lazy = import_graph(root)
    assert imports["gefu.datasets.folder"] == {"gefu.core.errors", "gefu.datasets.base"}
    assert imports["gefu.datasets.base"] == {"gefu.core.errors"}  # relative, two levels
    assert imports["gefu.bench.runner"] == {"gefu.datasets.folder"}  # inside a function
    assert lazy["gefu.datasets"] == {"gefu.datasets.folder"}
    assert cycles(imports) == []


@pytest.mark.parametrize(
    "name, text, expected",
    [
        # an import inside a function counts
        (
            "gefu/datasets/bad.py",
            "def f():\n    from gefu.bench import runner\n",
            "gefu.datasets.bad (datasets) imports gefu.bench.runner (bench)",
        ),
        (
            "gefu/core/bad.py",
            "import gefu.datasets.folder\n",
            "gefu.core.bad (core) imports gefu.datasets.folder (datasets)",
        ),
        # train and bench sit side by side
        (
            "gefu/train/loop.py",
            "from gefu.bench.runner import run\n",
            "gefu.train.loop (train) imports gefu.bench.runner (bench)",
        ),
        # a registry's lazy string pointing up
        (
            "gefu/metrics/__init__.py",
            'T = "gefu.train.loop:Thing"\n',
            "gefu.metrics (metrics) names lazily gefu.train.loop (train)",
        ),
        ("gefu/stray.py", "", "gefu.stray: no layer (add a pattern to LAYERS)"),
    ],
)
def test_an_upward_import_fails(tmp_path, name, text, expected):
    files = {**CLEAN, "gefu/train/__init__.py": "", "gefu/train/loop.py": "", name: text}
    files.setdefault("gefu/metrics/__init__.py", "")
    assert upward_arrows(_tree(tmp_path, files)) == [expected]


def test_a_cycle_fails_even_through_a_lazy_import(tmp_path):
    files = {
        **CLEAN,
        "gefu/datasets/a.py": "from gefu.datasets import b\n",
        "gefu/datasets/b.py": "def f():\n    from gefu.datasets.c import x\n",
        "gefu/datasets/c.py": "import gefu.datasets.a\n",
    }
    imports, _ = import_graph(_tree(tmp_path, files))
    assert cycles(imports) == [{"gefu.datasets.a", "gefu.datasets.b", "gefu.datasets.c"}]


FOLDER = {
    **CLEAN,
    "gefu/enhancers/__init__.py": "",
    "gefu/enhancers/base.py": "",
    "gefu/train/__init__.py": "",
    "gefu/methods/__init__.py": "",
    "gefu/methods/foo/__init__.py": (
        'ENHANCERS = {"foo": ".network:Net"}\n'
        'LAYERS = {"enhancers": ("network",), "train": ("recipe",)}\n'
    ),
    "gefu/methods/foo/network.py": "from gefu.enhancers.base import x\n",
    "gefu/methods/foo/recipe.py": "from gefu.train import y\nfrom .network import Net\n",
}


def test_a_learned_method_folder_is_split_between_component_and_train(tmp_path):
    root = _tree(tmp_path, FOLDER)
    assert upward_arrows(root) == []
    (root / "methods/foo/network.py").write_text("from gefu.methods.foo.recipe import r\n")
    assert upward_arrows(root) == [
        "gefu.methods.foo.network (enhancers) imports gefu.methods.foo.recipe (train)"
    ]


@pytest.mark.parametrize(
    "name, text, expected",
    [
        # a module the manifest does not place, whatever its name
        (
            "gefu/methods/foo/losses.py",
            "",
            "gefu.methods.foo.losses: its folder's manifest does not place it (LAYERS)",
        ),
        # a placed module that does not exist
        (
            "gefu/methods/foo/__init__.py",
            'ENHANCERS = {"foo": ".network:Net"}\n'
            'LAYERS = {"enhancers": ("network", "release"), "train": ("recipe",)}\n',
            "gefu.methods.foo: its LAYERS places 'release', which does not exist",
        ),
    ],
)
def test_a_method_module_its_manifest_does_not_place_fails(tmp_path, name, text, expected):
    assert upward_arrows(_tree(tmp_path, {**FOLDER, name: text})) == [expected]
