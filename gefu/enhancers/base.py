"""The enhancer interface and the checkpoint format shared by every learned enhancer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from gefu.core.checkpoint import load_state_dict
from gefu.core.registry import RegisteredName

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


class Enhancer(nn.Module):
    """Maps a float32 RGB batch ``[B,3,H,W]`` in [0,1] to the same shape and range.

    Subclasses implement ``forward``. Learned ones set ``trainable = True`` and keep the
    keyword arguments that rebuild them in ``self.hparams`` (saved to ``config.json``).
    """

    registry_name = RegisteredName("gefu.enhancers:ENHANCERS")  # the name it is listed under
    trainable: ClassVar[bool] = False
    needs_weights: ClassVar[bool] = False  # True: useless without from_pretrained()
    # bumped when the meaning of saved weights changes; older folders go through
    # ``upgrade_state_dict``. Written to config.json as "format" when above 1.
    format_version: ClassVar[int] = 1

    def __init__(self) -> None:
        super().__init__()
        self.hparams: dict[str, Any] = {}

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # -- checkpoints: a folder with config.json + model.safetensors ---------------------
    def save_pretrained(self, path: str | Path) -> Path:
        from safetensors.torch import save_file

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        config = {"enhancer": self.registry_name, "params": self.hparams}
        if self.format_version > 1:
            config["format"] = self.format_version
        (path / CONFIG_NAME).write_text(json.dumps(config, indent=2, sort_keys=True))
        state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        save_file(state, str(path / WEIGHTS_NAME))
        return path

    @classmethod
    def weights_path(cls, path: str | Path) -> Path:
        """``path``, or the cached file of a release name (fetched on first use)."""
        from gefu.enhancers.weights import RELEASES, is_release_name, resolve_weights

        if is_release_name(str(path)):
            holds = RELEASES[str(path)].enhancer
            if cls.registry_name and holds != cls.registry_name:
                raise ValueError(
                    f"release {str(path)!r} holds {holds!r} weights, not {cls.registry_name!r}"
                )
        return Path(resolve_weights(str(path)))

    @classmethod
    def from_pretrained(cls, path: str | Path, **overrides: Any) -> Enhancer:
        """Load a checkpoint folder, or a weights file (``.safetensors``; ``.pth``/``.pt``/
        ``.pkl`` read with ``weights_only=True``) in this suite's layout or an author's
        released layout (renamed by ``convert_state_dict``). A file named like a known release
        (``gefu weights list``) whose SHA-256 differs is still loaded, with a warning. A release
        name (``zero_dce.official``) loads its file from the weights cache, fetched on first
        use unless ``GEFU_OFFLINE`` is set (``gefu.enhancers.weights``)."""
        path = cls.weights_path(path)
        if not path.exists():
            raise FileNotFoundError(f"{cls.__name__}: weights not found at {path}")
        params: dict[str, Any] = {}
        version = cls.format_version
        if path.is_dir():
            cfg_file = path / CONFIG_NAME
            if not cfg_file.is_file():
                raise FileNotFoundError(f"{path} has no {CONFIG_NAME}")
            config = json.loads(cfg_file.read_text())
            saved_as = config.get("enhancer")
            if cls.registry_name and saved_as and saved_as != cls.registry_name:
                raise ValueError(
                    f"{path} holds a {saved_as!r} checkpoint, not {cls.registry_name!r}"
                )
            params = dict(config.get("params", {}))
            version = int(config.get("format", 1))
            if version > cls.format_version:
                raise ValueError(
                    f"{path}: checkpoint format {version} is newer than this gefu's "
                    f"{cls.__name__} (format {cls.format_version}); update gefu-bench"
                )
            state = load_state_dict(path / WEIGHTS_NAME)
        else:
            from gefu.enhancers.released import check_release

            check_release(cls.registry_name, path)
            state = load_state_dict(path)
        params.update(overrides)
        model = cls(**params)
        state = model.convert_state_dict(state)
        if version < cls.format_version:
            state = model.upgrade_state_dict(state, version)
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            raise ValueError(
                f"{path}: not a {cls.registry_name or cls.__name__} checkpoint: {exc}"
            ) from None
        return model.eval()

    def convert_state_dict(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Hook for importing foreign checkpoint layouts (e.g. a ``module.`` prefix)."""
        return state

    def upgrade_state_dict(
        self, state: dict[str, torch.Tensor], version: int
    ) -> dict[str, torch.Tensor]:
        """Hook: weights of a folder saved at an older ``format_version`` -> current ones."""
        return state


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflect-pad H and W up to a multiple; returns the padded batch and the original size."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (h, w)


def crop_to(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return x[..., : size[0], : size[1]]


def luminance(x: torch.Tensor) -> torch.Tensor:
    """ITU-R BT.601 luma, ``[B,1,H,W]``."""
    w = x.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)
