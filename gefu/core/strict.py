"""Strict configs: safe YAML with duplicate keys rejected, and pydantic models that refuse
unknown keys, with every problem reported as ``key.path: message``."""

from __future__ import annotations

import types
import typing
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from gefu.core.errors import ConfigError


class StrictModel(BaseModel):
    """A config section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class _UniqueKeyLoader(yaml.SafeLoader):
    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise ConfigError(f"line {key_node.start_mark.line + 1}: duplicate key {key!r}")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml_mapping(text: str, where: str) -> dict:
    """Safe YAML with duplicate keys rejected; a mapping at the top level, or ConfigError."""
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of keys at the top level")
    return data


def validate(model: type[BaseModel], data: Any, prefix: str = ""):
    """``data`` (None: empty) validated into ``model``; errors raise one ConfigError with a
    ``key.path: message`` line each, the paths under ``prefix`` (e.g. ``"params"``)."""
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, model, prefix)) from None


def format_errors(exc: ValidationError, model: type[BaseModel] | None, prefix: str = "") -> str:
    """pydantic's errors as ``key.path: message`` lines, with the valid keys for unknown ones
    (where ``model`` is given); one error is one line."""
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        path = _path((prefix, *loc) if prefix else loc)
        if err["type"] == "extra_forbidden":
            valid = _fields_at(model, loc[:-1])
            hint = f"; valid keys here: {', '.join(valid)}" if valid else ""
            lines.append(f"{path}: unknown key{hint}")
        elif err["type"] == "missing":
            lines.append(f"{path}: required key is missing")
        elif isinstance(err.get("ctx", {}).get("error"), ConfigError):  # names its own key path
            lines.append(str(err["ctx"]["error"]))
        else:
            lines.append(f"{path}: {err['msg']} (got {err.get('input')!r})")
    return lines[0] if len(lines) == 1 else "\n  ".join(["invalid config:", *lines])


def _path(loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _is_model(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, BaseModel)


def _fields_at(model: Any, loc) -> list[str]:
    """Names of the keys the model accepts at ``loc`` (for "unknown key" messages)."""
    for part in loc:
        if isinstance(part, int) or not _is_model(model):
            continue
        if part not in model.model_fields:
            return []
        ann = model.model_fields[part].annotation
        while typing.get_origin(ann) in (list, dict, typing.Union, types.UnionType):
            args = [a for a in typing.get_args(ann) if a is not type(None)]
            ann = args[-1] if args else None
        model = ann
    return list(model.model_fields) if _is_model(model) else []
