import ast
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gefu.core.registry import Registry, RegistryError
from gefu.datasets import DATASETS
from gefu.enhancers import ENHANCERS
from gefu.enhancers.classic import Gamma
from gefu.metrics import METRICS
from gefu.tasks import TASKS
from gefu.train import METHODS

ROOT = Path(__file__).resolve().parents[1]


class Thing:
    pass


def test_register_get_and_duplicates():
    reg = Registry("thing")

    @reg.register("alpha")
    class Alpha:
        pass

    assert reg.get("alpha") is Alpha and Alpha.registry_name == "alpha"
    with pytest.raises(RegistryError, match="registered twice"):
        reg.register("alpha")(Thing)
    with pytest.raises(RegistryError, match="clashes"):
        reg.add_lazy("alpha", "x:y")


def test_unknown_name_suggests_close_ones():
    reg = Registry("thing")
    reg.add_lazy("gamma", "gefu.enhancers.classic:Gamma")
    with pytest.raises(RegistryError) as err:
        reg.get("gama")
    assert "Did you mean 'gamma'" in str(err.value) and "Valid choices: gamma" in str(err.value)


def test_lazy_entries_do_not_import_until_used():
    reg = Registry("thing")
    reg.add_lazy("broken", "no_such_module_xyz:Nothing")
    assert "broken" in reg.names()  # listing never imports
    with pytest.raises(ModuleNotFoundError):
        reg.get("broken")


def test_a_lazy_entry_naming_a_class_registered_otherwise_is_refused():
    reg = Registry("thing")
    reg.add_lazy("gama", "gefu.enhancers.classic:Gamma")  # ENHANCERS lists Gamma as "gamma"
    with pytest.raises(RegistryError, match="registered as 'gamma'"):
        reg.get("gama")
    assert Gamma.registry_name == "gamma"  # untouched
    reg.add_lazy("one", f"{__name__}:Thing")
    reg.add_lazy("two", f"{__name__}:Thing")  # one class, two names
    assert reg.get("one") is Thing and Thing.registry_name == "one"
    with pytest.raises(RegistryError, match="registered as 'one'"):
        reg.get("two")


def test_a_name_is_declared_once():
    reg = Registry("thing")
    reg.add_lazy("alpha", f"{__name__}:Thing")
    with pytest.raises(RegistryError, match="declare a name once"):
        reg.register("alpha")(Thing)


def test_a_class_imported_directly_knows_its_name(tmp_path):
    """No decorator: the name comes from the registry's table, before any ``get``."""
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "from gefu.enhancers.histogram import CLAHE\n"
            "from gefu.datasets.paired_sets import LOLv1\n"
            "from gefu.tasks.detection import DetectionConsistency\n"
            "from gefu.enhancers import ENHANCERS\n"
            "class Mine(CLAHE): pass\n"
            "print(CLAHE.registry_name, LOLv1.registry_name, DetectionConsistency.registry_name,"
            " Mine.registry_name, sorted(ENHANCERS._loaded))",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=tmp_path,
        check=True,
    ).stdout.split()
    assert out == ["clahe", "lol_v1", "detection_consistency", "clahe", "[]"]


@pytest.mark.parametrize("registry", [ENHANCERS, DATASETS, TASKS, METRICS, METHODS])
def test_every_builtin_is_declared_once_and_resolves(registry):
    """Each built-in name's ``"module:attr"`` imports, and names its object under no other
    name; a class names itself (``registry_name``) as listed."""
    builtin = [n for n in registry.names() if registry.origin(n) == "gefu"]
    objects = {}
    for name in builtin:
        module, _, attr = registry._lazy.get(name, "").partition(":")
        obj = getattr(importlib.import_module(module), attr) if module else registry.get(name)
        assert obj is not None and registry.get(name) is obj
        objects.setdefault(id(obj), []).append(name)
        if isinstance(obj, type):
            assert obj.registry_name == name
    assert [names for names in objects.values() if len(names) > 1] == []


def _registering(node: ast.AST) -> bool:
    """A call of ``register_<kind>(...)`` or ``REGISTRY.register(...)``, or an import of a
    ``register_<kind>``."""
    if isinstance(node, ast.ImportFrom):
        return any(a.name.startswith("register_") for a in node.names)
    if not isinstance(node, ast.Call):
        return False
    f = node.func
    if isinstance(f, ast.Name):
        return f.id.startswith("register_")
    return isinstance(f, ast.Attribute) and f.attr == "register" and isinstance(f.value, ast.Name)


def test_builtin_modules_do_not_register_themselves():
    """The registries' tables (and the method manifests) are the one declaration of the
    suite's names: no module of gefu/ calls a registering decorator or imports one."""
    found = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in sorted((ROOT / "gefu").rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if _registering(node)
    ]
    assert found == []
    assert _registering(ast.parse('@register_task("x")\nclass X: pass').body[0].decorator_list[0])
    assert _registering(ast.parse("Y = TASKS.register('y')(Y)").body[0].value.func)


def test_build_passes_params_as_given_and_drops_unset_keywords():
    reg = Registry("thing")

    @reg.register("pair")
    class Pair:
        def __init__(self, a, b=2, root="default"):
            self.a, self.b, self.root = a, b, root

    made = reg.build("pair", {"a": 1, "b": None}, root=None)
    assert (made.a, made.b, made.root) == (1, None, "default")  # null in params: passed on
    assert reg.build("pair", a=5, b=None, root="r").__dict__ == {"a": 5, "b": 2, "root": "r"}
    with pytest.raises(TypeError, match="'pair': a given twice"):
        reg.build("pair", {"a": 1}, a=2)
    with pytest.raises(RegistryError, match="Did you mean 'pair'"):
        reg.build("pairs", a=1)
