"""SCL-LLE's released checkpoint (Zero-DCE's DCE-Net layout: ``gefu.methods.zero_dce.release``)."""

from __future__ import annotations

from gefu.enhancers.released import Release

RELEASES = (
    Release(
        "scl_lle.official",
        "scl_lle",
        "SCL-LLE.pth",
        "LingLIx/SCL-LLE",
        "checkpoints/SCL-LLE.pth",
        "408d89a500a85c3950b1afd6619ccf1f7da9d278",
        "fc5aa74a6674bb747b325e5a06efbfea2973c10cc93cf25cd2b8f33a038e821f",
        "none stated",
    ),
)
