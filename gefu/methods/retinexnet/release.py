"""RetinexNet's released DecomNet (``retinexnet/decomp.pth`` of wangsen99/GEFU, SCUF's
reflectance teacher) and its key layout.
"""

from __future__ import annotations

from gefu.enhancers.released import Release

# The PyTorch DecomNet that SCUF loads (``RetinexNet().DecomNet``) names its layers so:
FOREIGN_DECOM_PREFIXES = {
    "DecomNet.net1_conv0.": "shallow.",
    "DecomNet.net1_convs.": "body.",
    "DecomNet.net1_recon.": "recon.",
}


def rename_foreign(key: str, prefix: str = "") -> str:
    for old, new in FOREIGN_DECOM_PREFIXES.items():
        if key.startswith(old):
            return prefix + new + key[len(old) :]
    return key


RELEASES = (
    Release(
        "retinexnet.decom",
        None,
        "decomp.pth",
        "wangsen99/GEFU",
        "retinexnet/decomp.pth",
        "5d28e53c0e3e02113faa2285ef20196432e240b0",
        "c6901c9424100bc24b682c278f8c8318c661c649c3aa36f828a5d6582ba166b9",
        "MIT",
        note="RetinexNet's DecomNet only (SCUF's reflectance teacher): "
        "gefu.methods.retinexnet.network.load_decomnet, or SCUF training's teacher",
    ),
)
