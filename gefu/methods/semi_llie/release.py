"""Semi-LLIE's checkpoints: the official trainer's layout (no weights are released)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from gefu.enhancers.released import Release

if TYPE_CHECKING:
    import torch

# official MambaLowlightguided key (after ``module.``) -> this module's key
_BLOCK = r"^layers\.(\d+)\.residual_group\.blocks\.(\d+)\."
_OFFICIAL_RENAMES = [
    (r"^estimator\.conv1\.", "illu_in."),
    (r"^estimator\.depth_conv\.", "illu_feat."),
    (r"^estimator\.conv2\.", "illu_map."),
    (r"^patch_embed\.norm\.", "embed_norm."),
    (r"^(conv_first|norm|conv_after_body|conv_last)\.", r"\1."),
    (r"^layers\.(\d+)\.conv\.", r"groups.\1.conv."),
    (_BLOCK + r"ln_1\.", r"groups.\1.blocks.\2.norm1."),
    (_BLOCK + r"ln_2\.", r"groups.\1.blocks.\2.norm2."),
    (_BLOCK + r"skip_scale$", r"groups.\1.blocks.\2.skip1"),
    (_BLOCK + r"skip_scale2$", r"groups.\1.blocks.\2.skip2"),
    (_BLOCK + r"fuse\.pwconv\.", r"groups.\1.blocks.\2.fuse.pw."),
    (_BLOCK + r"fuse\.dwconv\.", r"groups.\1.blocks.\2.fuse.dw."),
    (_BLOCK + r"fuse\.project_out\.", r"groups.\1.blocks.\2.fuse.out."),
    (_BLOCK + r"fuse\.mlp\.", r"groups.\1.blocks.\2.fuse.mix."),
    (_BLOCK + r"conv_blk\.cab\.([02])\.", r"groups.\1.blocks.\2.cab.body.\3."),
    (_BLOCK + r"conv_blk\.cab\.3\.attention\.([13])\.", r"groups.\1.blocks.\2.cab.gate.\3."),
    (_BLOCK + r"self_attention\.(in_proj|out_proj|out_norm)\.", r"groups.\1.blocks.\2.ssm.\3."),
    (_BLOCK + r"self_attention\.conv2d\.", r"groups.\1.blocks.\2.ssm.conv3."),
    (_BLOCK + r"self_attention\.conv2d_55\.", r"groups.\1.blocks.\2.ssm.conv5."),
    (_BLOCK + r"self_attention\.point_wise_conv\.", r"groups.\1.blocks.\2.ssm.merge."),
    (_BLOCK + r"self_attention\.x_proj_weight$", r"groups.\1.blocks.\2.ssm.x_proj"),
    (_BLOCK + r"self_attention\.dt_projs_weight$", r"groups.\1.blocks.\2.ssm.dt_proj"),
    (_BLOCK + r"self_attention\.dt_projs_bias$", r"groups.\1.blocks.\2.ssm.dt_bias"),
    (_BLOCK + r"self_attention\.A_logs$", r"groups.\1.blocks.\2.ssm.A_log"),
    (_BLOCK + r"self_attention\.Ds$", r"groups.\1.blocks.\2.ssm.D"),
]


def official_to_suite(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """An official Semi-LLIE state dict -> ``SemiLLIE`` names; a suite one passes unchanged."""
    state = {k.removeprefix("module."): v for k, v in state.items()}
    if not any(k.startswith(("estimator.", "layers.")) for k in state):
        return state
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.startswith("get_gradient."):
            continue  # the fixed finite-difference kernels (parameters there, constants here)
        for pattern, repl in _OFFICIAL_RENAMES:
            new, n = re.subn(pattern, repl, key)
            if n:
                out[new] = value
                break
        else:
            raise ValueError(f"semi_llie: unexpected key {key!r} in an official state dict")
    return out


RELEASES = (
    Release(
        "semi_llie.training",
        "semi_llie",
        "model_e<N>.pth",
        "guanguanboy/Semi-LLIE",
        None,
        None,
        None,
        "none stated",
        size_multiple=16,
        params={"fit": "resize", "multiple": 16},
        note="no released weights: the "
        "official trainer's checkpoints (state_dict of MambaLowlightguided under "
        "DataParallel) load; the test scripts resize to the next multiple of 16 and back",
    ),
)
