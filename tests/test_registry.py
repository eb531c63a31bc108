import pytest

from gefu.core.registry import Registry, RegistryError
from gefu.datasets import DATASETS
from gefu.enhancers import ENHANCERS
from gefu.metrics import METRICS
from gefu.tasks import TASKS


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
    reg.add_lazy("gama", "gefu.enhancers.classic:Gamma")  # Gamma declares itself "gamma"
    with pytest.raises(RegistryError, match="registered as 'gamma'"):
        reg.get("gama")


@pytest.mark.parametrize("registry", [ENHANCERS, DATASETS, TASKS, METRICS])
def test_every_builtin_resolves_to_an_object_registered_under_its_name(registry):
    for name in registry.names():
        if registry.origin(name) != "gefu":
            continue
        obj = registry.get(name)
        assert obj is not None
        if isinstance(obj, type):
            assert obj.registry_name == name


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
