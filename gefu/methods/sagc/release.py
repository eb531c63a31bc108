"""SAGC's released checkpoint (Zero-DCE++'s separable DCE-Net layout:
``gefu.methods.zero_dce.release``).
"""

from __future__ import annotations

from gefu.enhancers.released import Release

RELEASES = (
    Release(
        "sagc.base",
        "sagc",
        "base.pth",
        "georgepan900530/Semantics-Aware-Gamma-Correction-for-Unsupervised-Low-Light-Image-Enhancement",
        "weight/base.pth",
        "b1448d0e67bdc894dc94297a42f31f6bf1e2da38",
        "44832bf2bae4e81b5fb9079d993a8f07db9f5455e66197c02fecb8fa90eeb58b",
        "none stated",
        gain=1.5,
        params={"alpha": 1.5},
        note="the input times 1.5 is not clipped",
    ),
)
