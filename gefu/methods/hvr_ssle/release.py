"""HVR-SSLE's released checkpoint and its key layout (``checkpoint/HVR.safetensors``)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from gefu.enhancers.released import Release

if TYPE_CHECKING:
    import torch

# (pattern on the official key, after the ``_orig_mod.`` prefix, -> this module's key)
_OFFICIAL_RENAMES = [
    (r"^(embed|head)_layer\.(?:embedding|layers\.0)\.", lambda m: f"{m[1]}."),
    (r"^L_net_model\.(conv\d_\d)\.conv\.", r"l_net.\1."),
    (r"^L_net_model\.final_conv\.", "l_net.out."),
    (r"^H_net_model\.patch_embed\.proj\.", "h_net.embed."),
    (r"^H_net_model\.patch_embed\.norm\.", "h_net.embed_norm."),
    (
        r"^H_net_model\.layers\.(\d+)\.residual_group\.blocks\.(\d+)\.mlp\.fc1\.",
        r"h_net.groups.\1.blocks.\2.mlp.0.",
    ),
    (
        r"^H_net_model\.layers\.(\d+)\.residual_group\.blocks\.(\d+)\.mlp\.fc2\.",
        r"h_net.groups.\1.blocks.\2.mlp.2.",
    ),
    (r"^H_net_model\.layers\.(\d+)\.residual_group\.blocks\.", r"h_net.groups.\1.blocks."),
    (r"^H_net_model\.layers\.(\d+)\.patch_embed\.proj\.", r"h_net.groups.\1.proj."),
    (r"^H_net_model\.layers\.(\d+)\.conv\.", r"h_net.groups.\1.conv."),
    (r"^H_net_model\.(norm|conv_after_body)\.", r"h_net.\1."),
]
_OFFICIAL_BUFFERS = re.compile(r"\.(attn_mask|relative_coords_table|relative_position_index)$")


def official_to_suite(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The released HVR state dict -> ``HVRSSLE`` names; a suite state dict passes unchanged."""
    import torch

    state = {k.removeprefix("_orig_mod."): v for k, v in state.items()}
    if not any(k.startswith(("L_net_model.", "H_net_model.")) for k in state):
        return state
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if _OFFICIAL_BUFFERS.search(key):
            continue
        for pattern, repl in _OFFICIAL_RENAMES:
            new, n = re.subn(pattern, repl, key)
            if n:
                break
        else:
            raise ValueError(f"hvr_ssle: unexpected key {key!r} in a released HVR state dict")
        if new in out and not torch.equal(out[new], value):
            raise ValueError(f"hvr_ssle: {key!r} disagrees with its alias ({new!r})")
        out[new] = value
    return out


RELEASES = (
    Release(
        "hvr_ssle.official",
        "hvr_ssle",
        "HVR.safetensors",
        "dwchoo/HVR-SSLE",
        "checkpoint/HVR.safetensors",
        "00dac33931b34e2fe43f6da3c11db5f231dc13bf",
        None,
        "none stated",
        size_multiple=8,
        note="a large file (Git LFS per the authors; GitHub's raw route serves either way); "
        "no hash pinned yet: the first download records it; keys carry `_orig_mod.`; the "
        "network sees [-1, 1] (the enhancer maps); padded to a multiple of 8 inside",
    ),
)
