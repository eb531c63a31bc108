"""One small registry mechanism, used for enhancers, datasets, tasks, metrics and CLI commands.

Built-ins are listed lazily as ``"module:attr"`` strings (or ``"module"``: the module itself,
as a CLI command is) so that listing names never imports torch or a model; third-party
packages add entries through the Python entry-point group ``gefu.<kind>`` (e.g.
``gefu.enhancers``, ``gefu.commands``) and appear without any change to the suite.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from typing import Generic, TypeVar

T = TypeVar("T")


class RegistryError(KeyError):
    """An unknown or duplicate name; the message lists the valid choices."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it readable
        return str(self.args[0])


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind  # "enhancer", "dataset", ...
        self.group = f"gefu.{kind}s"
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

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: ``@ENHANCERS.register("gamma")``."""

        def deco(obj: T) -> T:
            if name in self._lazy and _top(self._lazy[name]) == _top(obj.__module__):
                del self._lazy[name]  # the same package's lazy entry, now resolved
            elif name in self._loaded and self._loaded[name] is not obj:
                raise RegistryError(f"{self.kind} {name!r} is registered twice")
            elif name in self._lazy:
                raise RegistryError(
                    f"{self.kind} {name!r} is already registered as {self._lazy[name]}"
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

    def get(self, name: str) -> T:
        self.check(name)
        if name not in self._loaded:
            module, _, attr = self._lazy[name].partition(":")
            obj = importlib.import_module(module)
            obj = getattr(obj, attr) if attr else obj
            declared = vars(obj).get("registry_name") if isinstance(obj, type) else None
            if declared and declared != name:
                raise RegistryError(
                    f"{self.kind} {name!r} points at {module}:{attr}, which is registered as "
                    f"{declared!r}"
                )
            self._lazy.pop(name, None)
            self._loaded[name] = obj
            if getattr(obj, "registry_name", None) != name:
                with contextlib.suppress(AttributeError, TypeError):  # e.g. a function
                    obj.registry_name = name
        return self._loaded[name]


def _top(module_path: str) -> str:
    return module_path.split(":")[0].split(".")[0]
