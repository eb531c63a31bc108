"""Zero-DCE's and Zero-DCE++'s released checkpoints, and the DCE-Net key layout of every
DCE-style release (Zero-DCE, Zero-DCE++, SCL-LLE, SAGC): ``e_convK.weight``,
``e_convK.depth_conv.*`` / ``point_conv.*``, a ``module.`` prefix from ``DataParallel``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from gefu.enhancers.released import Release

if TYPE_CHECKING:
    import torch

_OFFICIAL_KEY = re.compile(
    r"^(?:module\.)?(e_conv\d)\.(?:(depth_conv|point_conv)\.)?(weight|bias)$"
)
_PARTS = {"depth_conv": "depthwise.", "point_conv": "pointwise.", None: ""}


def official_to_suite(state: dict[str, torch.Tensor], separable: bool, name: str):
    """Rename the authors' DCE-Net keys to ``net.*``; a suite state dict passes unchanged."""
    if not any(_OFFICIAL_KEY.match(k) for k in state):
        return state
    out = {}
    for key, value in state.items():
        m = _OFFICIAL_KEY.match(key)
        if m is None:
            raise ValueError(f"{name}: unexpected key {key!r} in an official DCE-Net state dict")
        layer, part, kind = m.groups()
        if (part is not None) != separable:
            want = "depthwise-separable (Zero-DCE++/SAGC)" if separable else "plain (Zero-DCE)"
            raise ValueError(
                f"{name} expects a {want} DCE-Net, but key {key!r} is from the other layout"
            )
        out[f"net.{layer}.{_PARTS[part]}{kind}"] = value
    return out


RELEASES = (
    Release(
        "zero_dce.official",
        "zero_dce",
        "Epoch99.pth",
        "Li-Chongyi/Zero-DCE",
        "Zero-DCE_code/snapshots/Epoch99.pth",
        "e0f4adc54d0f23348c4a9b84acc08fe8778d5bfd",
        "a4395acb874f320375d9704997cef874eaaaaa26a1777ceb29a92b70f74c3612",
        "CC BY-NC 4.0 (academic research only)",
    ),
    Release(
        "zero_dce_pp.official",
        "zero_dce_pp",
        "Epoch99.pth",
        "Li-Chongyi/Zero-DCE_extension",
        "Zero-DCE++/snapshots_Zero_DCE++/Epoch99.pth",
        "09f202b690f82da939b8e6ec8535960ae97ad8bd",
        "ca8855b90df9a80fa4195a831f33d3476b1964f787eb70602797c773067f3b84",
        "CC BY-NC 4.0",
        size_multiple=12,
        params={"scale_factor": 12},
        note="cropped at the top left; the curve map is computed at 1/12 size",
    ),
)
