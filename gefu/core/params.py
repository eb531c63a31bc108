"""Constructor parameters of registered components: which a config may set, and the full set
a component ran with (defaults filled in, so equal configs hash equal)."""

from __future__ import annotations

import inspect
from typing import Any


def constructor_params(cls) -> tuple[set[str] | None, set[str]]:
    """(accepted keyword names or None when ``**kwargs`` takes anything, required names)."""
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    required = {
        p.name
        for p in params
        if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
    if any(p.kind == p.VAR_KEYWORD for p in params):
        return None, required
    return {p.name for p in params if p.kind != p.VAR_POSITIONAL}, required


def unknown_params(cls, name: str, params, where: str, beside=("root", "limit")) -> list[str]:
    """One ``where.key: unknown parameter of 'name'; valid: ...`` line per key of ``params``
    that the constructor of ``cls`` does not take (``beside``: keys a config sets beside
    ``params``, left out of the valid list)."""
    accepted, _ = constructor_params(cls)
    if accepted is None:
        return []
    valid = ", ".join(sorted(accepted - set(beside))) or "(none)"
    moved = getattr(cls, "moved", {})  # removed spellings -> where they went
    return [
        f"{where}.{key}: {moved[key]}"
        if key in moved
        else f"{where}.{key}: unknown parameter of {name!r}; valid: {valid}"
        for key in sorted(set(params) - accepted)
    ]


def resolved_params(cls, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` completed with the constructor's defaults (so equal configs hash equal)."""
    sig = inspect.signature(cls.__init__)
    out = {
        name: p.default
        for name, p in list(sig.parameters.items())[1:]
        if p.default is not inspect.Parameter.empty and p.kind == p.POSITIONAL_OR_KEYWORD
    }
    out.update(params)
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in out.items()}


def param_type_problems(cls, params: dict[str, Any], where: str = "params") -> list[str]:
    """``params`` checked against the constructor's annotations with pydantic (an int is a
    float, a list a tuple, a string is never a number); one ``where.key: ...`` line per value
    of the wrong type. Parameters without a usable annotation are not checked."""
    import typing

    from pydantic import ConfigDict, TypeAdapter, ValidationError

    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # an annotation that names what is only imported for type checkers
        hints = {}
    sig = inspect.signature(cls.__init__)
    problems = []
    for key, value in params.items():
        ann, p = hints.get(key), sig.parameters.get(key)
        if ann is None or p is None or (value is None and p.default is None):
            continue
        try:
            adapter = TypeAdapter(ann, config=ConfigDict(arbitrary_types_allowed=True))
        except Exception:  # a type pydantic cannot check
            continue
        try:
            try:
                adapter.validate_python(value, strict=True)
            except ValidationError:
                adapter.validate_python(value)  # lax: a YAML list for a tuple, ...
                if isinstance(value, str):  # ... but not "8" for a number
                    raise
        except ValidationError as exc:
            msg = exc.errors()[0]["msg"]
            problems.append(
                f"{where}.{key}: {value!r} is not a valid {_type_name(ann)} ({msg.lower()})"
            )
    return problems


def _type_name(ann) -> str:
    return ann.__name__ if isinstance(ann, type) else str(ann).replace("typing.", "")
