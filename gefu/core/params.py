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
