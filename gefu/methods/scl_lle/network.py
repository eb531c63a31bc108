"""SCL-LLE's enhancer: Zero-DCE's DCE-Net (``gefu.methods.zero_dce.network``), registered under
its own name so that its checkpoints and released weights are its own."""

from __future__ import annotations

from gefu.methods.zero_dce.network import ZeroDCE


class SCLLLE(ZeroDCE):
    """SCL-LLE (Liang et al., AAAI 2022): Zero-DCE's DCE-Net, trained with semantic contrastive
    learning (see ``gefu.methods.scl_lle.recipe``)."""
