"""One small registry mechanism, used for enhancers, datasets, tasks, frozen-model families,
metrics, training methods, executors and CLI commands.

Built-ins are declared once, lazily, as ``"name": "module:attr"`` strings (or ``"module"``: the
module itself, as a CLI command is) in their registry's table (the package ``__init__``, or a
method folder's manifest), so that listing names never imports torch or a model; their modules
do not register themselves. Third-party packages add
entries through the Python entry-point group ``gefu.<kind>`` (e.g. ``gefu.enhancers``) and
appear without any change to the suite; code in a script or test may use the decorator
(``@ENHANCERS.register("name")``) instead. A name is declared one way only.

A class knows the name it is registered under (``registry_name``): ``get`` and ``register``
write it on the class, and a base class holding ``RegisteredName`` looks it up in its
registry, so a class imported directly (a recipe building its network) knows it too.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import inspect
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class RegistryError(KeyError):
    """An unknown or duplicate name; the message lists the valid choices."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it readable
        return str(self.args[0])


class Registry(Generic[T]):
    def __init__(self, kind: str, group: str | None = None):
        self.kind = kind  # "enhancer", "dataset", ...
        self.group = group or f"gefu.{kind}s"  # the entry-point group plugins register in
        self._lazy: dict[str, str] = {}
        self._loaded: dict[str, T] = {}
        self._origin: dict[str, str] = {}
        self._plugins_scanned = False

    # -- registration ------------------------------------------------------------------
    def add_lazy(self, name: str, target: str, origin: str = "gefu") -> None:
        """Register ``name`` as ``"package.module:attr"``, imported on first use."""
        self._check_new(name, origin)
        self._lazy[name] = target
        self._origin[name] = origin

    def add_built(self, name: str, obj: T) -> None:
        """Register a built-in given as an object made from a table row (the pyiqa metrics):
        the table is its one declaration, as ``add_lazy``'s is for a module's class."""
        self._check_new(name, "gefu")
        self._loaded[name] = obj
        self._origin[name] = "gefu"
        obj.registry_name = name

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: ``@ENHANCERS.register("gamma")``."""

        def deco(obj: T) -> T:
            if name in self._loaded and self._loaded[name] is not obj:
                raise RegistryError(f"{self.kind} {name!r} is registered twice")
            if name in self._lazy:
                raise RegistryError(
                    f"{self.kind} {name!r} is already registered as {self._lazy[name]}: "
                    "declare a name once, in its table (or entry point) or by the decorator"
                )
            self._loaded[name] = obj
            self._origin.setdefault(name, obj.__module__.split(".")[0])
            obj.registry_name = name
            return obj

        return deco

    def _check_new(self, name: str, origin: str) -> None:
        if name in self._lazy or name in self._loaded:
            raise RegistryError(
                f"{self.kind} {name!r} from {origin} clashes with the one from "
                f"{self._origin.get(name, '?')}: names must be unique"
            )

    def _scan_plugins(self) -> None:
        if self._plugins_scanned:
            return
        self._plugins_scanned = True
        for ep in entry_points(group=self.group):
            origin = ep.dist.name if ep.dist else ep.value
            self.add_lazy(ep.name, ep.value, origin=origin)

    # -- lookup ------------------------------------------------------------------------
    def names(self) -> list[str]:
        self._scan_plugins()
        return sorted(set(self._lazy) | set(self._loaded))

    def __contains__(self, name: str) -> bool:
        return name in self.names()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def origin(self, name: str) -> str:
        self.check(name)
        return self._origin.get(name, "?")

    def check(self, name: str) -> None:
        """Raise a RegistryError that suggests close names when ``name`` is unknown."""
        names = self.names()
        if name in names:
            return
        close = difflib.get_close_matches(name, names, n=3)
        hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise RegistryError(
            f"unknown {self.kind} {name!r}.{hint} Valid choices: {', '.join(names) or '(none)'}"
        )

    def name_of(self, obj: object) -> str:
        """The name ``obj`` itself is registered under here, ``""`` if none; imports nothing
        (a lazy entry matches by the ``module:qualname`` of ``obj``)."""
        for name, loaded in self._loaded.items():
            if loaded is obj:
                return name
        self._scan_plugins()
        target = f"{getattr(obj, '__module__', '')}:{getattr(obj, '__qualname__', '')}"
        return next((name for name, t in self._lazy.items() if t == target), "")

    def get(self, name: str) -> T:
        self.check(name)
        if name not in self._loaded:
            module, _, attr = self._lazy[name].partition(":")
            obj = importlib.import_module(module)
            obj = getattr(obj, attr) if attr else obj
            declared = _declared_name(obj) or next(
                (n for n, o in self._loaded.items() if o is obj), ""
            )
            if declared and declared != name:
                raise RegistryError(
                    f"{self.kind} {name!r} points at {module}:{attr}, which is registered as "
                    f"{declared!r}"
                )
            self._lazy.pop(name, None)
            self._loaded[name] = obj
            if not isinstance(inspect.getattr_static(obj, "registry_name", None), RegisteredName):
                with contextlib.suppress(AttributeError, TypeError):  # e.g. a builtin
                    obj.registry_name = name
        return self._loaded[name]

    def build(self, name: str, params: dict[str, Any] | None = None, /, **optional: Any) -> Any:
        """The registered ``name`` called with ``params`` as given (a config entry's
        ``params:``: an explicit null is passed on) and the ``optional`` keywords that are not
        None (e.g. ``root``, ``limit``: None means the constructor's default)."""
        given = {k: v for k, v in optional.items() if v is not None}
        clash = sorted(set(given) & set(params or {}))
        if clash:
            raise TypeError(f"{self.kind} {name!r}: {clash[0]} given twice; give it once")
        return self.get(name)(**(params or {}), **given)


class RegisteredName:
    """A base class's ``registry_name``: the name its registry (``"package:ATTR"``) lists the
    class, or its nearest listed base, under; ``""`` if none. Resolved on access, so a class
    imported directly rather than through ``get`` knows its name."""

    def __init__(self, registry: str):
        self.target = registry
        self._registry: Registry | None = None

    def registry(self) -> Registry:
        if self._registry is None:
            module, _, attr = self.target.partition(":")
            self._registry = getattr(importlib.import_module(module), attr)
        return self._registry

    def __get__(self, obj: object, owner: type) -> str:
        return next((n for cls in owner.__mro__ if (n := self.registry().name_of(cls))), "")


def _declared_name(obj: object) -> str:
    """The name ``obj`` already carries: written on the class itself (``register``, ``get``),
    or its base class's registry's name for this very class (``RegisteredName``)."""
    if not isinstance(obj, type):
        return ""
    own = vars(obj).get("registry_name")
    if isinstance(own, str):
        return own
    named = inspect.getattr_static(obj, "registry_name", None)
    return named.registry().name_of(obj) if isinstance(named, RegisteredName) else ""
