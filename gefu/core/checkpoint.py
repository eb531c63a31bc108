"""The one reader of checkpoint files: ``.safetensors`` through safetensors, anything else
through ``torch.load(weights_only=True)``, so a file is never unpickled into code. A file that
cannot be read that way is refused with one error naming it."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def load_checkpoint(path: str | Path, *, allow_numpy: bool = False) -> Any:
    """The object saved in ``path``, on the CPU: tensors and plain containers, numbers and
    strings; with ``allow_numpy`` also numpy scalars, arrays and dtypes and
    ``argparse.Namespace`` (what training scripts save beside the weights: a best score, their
    arguments), nothing callable. A file that needs anything else raises ValueError naming it;
    a missing file FileNotFoundError."""
    import torch

    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint file")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        with torch.serialization.safe_globals(_plain_data_globals() if allow_numpy else []):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickled code or a damaged file: refuse, never unpickle
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ValueError(
            f"{path}: cannot be read safely with torch.load(weights_only=True), which allows "
            f"only tensors and plain data; save the state dict alone ({first})"
        ) from None


WEIGHT_SUFFIXES = {".safetensors", ".pth", ".pt", ".ckpt", ".pkl"}


def load_state_dict(path: str | Path) -> dict:
    """A weights file's state dict: ``load_checkpoint``, unwrapped from ``{"state_dict": ...}``
    where a trainer saved it so; other file types are refused by name."""
    path = Path(path).expanduser()
    if path.suffix not in WEIGHT_SUFFIXES:
        raise ValueError(f"{path}: unsupported weights format (use .safetensors or .pth)")
    state = load_checkpoint(path)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    return state


def key_mismatch(keys, expected, shown: int = 4) -> str:
    """How a state dict's ``keys`` fail to fit a model's ``expected`` keys, e.g.
    ``"1 missing (head.bias); 2 unexpected (aux.w, aux.b)"``; empty where they fit."""
    missing, unexpected = sorted(set(expected) - set(keys)), sorted(set(keys) - set(expected))
    parts = [
        f"{len(names)} {what} ({', '.join(names[:shown])}{', ...' if len(names) > shown else ''})"
        for what, names in (("missing", missing), ("unexpected", unexpected))
        if names
    ]
    return "; ".join(parts)


def _plain_data_globals() -> list:
    import argparse

    import numpy as np

    core = getattr(np, "_core", None) or np.core
    dtypes = [type(np.dtype(t)) for t in ("f4", "f8", "i4", "i8", "u1", "b1")]
    return [
        core.multiarray.scalar,
        core.multiarray._reconstruct,
        np.ndarray,
        np.dtype,
        argparse.Namespace,
        *dtypes,
    ]
