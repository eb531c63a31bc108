"""Enhancers: ``[B,3,H,W]`` float RGB in [0,1] in, same shape and range out."""

from __future__ import annotations

from typing import Any

from gefu.core.manifests import manifests
from gefu.core.registry import Registry

ENHANCERS: Registry = Registry("enhancer")
# A built-in is declared once, by its line below (a learned one, in its folder's manifest); the
# decorator is for code outside the suite (a script, a test).
register_enhancer = ENHANCERS.register

# Classic built-ins, imported only when used (``gefu list`` and ``--help`` stay instant).
for _name, _target in {
    "identity": "gefu.enhancers.classic:Identity",
    "gamma": "gefu.enhancers.classic:Gamma",
    "he": "gefu.enhancers.histogram:HistogramEqualization",
    "clahe": "gefu.enhancers.histogram:CLAHE",
    "msrcr": "gefu.enhancers.retinex:MSRCR",
    "lime": "gefu.enhancers.lime:LIME",
}.items():
    ENHANCERS.add_lazy(_name, _target)

# Learned ones (need weights: `weights:` in a config, `--weights` on the command line): one
# folder each in gefu/methods/, found through its manifest.
for _manifest in manifests():
    for _name, _target in _manifest.enhancers.items():
        ENHANCERS.add_lazy(_name, _target)


def create_enhancer(name: str, weights: str | None = None, **params: Any):
    """Build a registered enhancer; ``None`` params fall back to the enhancer's defaults.
    ``weights``: a checkpoint folder or file, or a release name (``zero_dce.official``, fetched
    into the weights cache on first use: ``Enhancer.from_pretrained``)."""
    if weights is None:
        return ENHANCERS.build(name, **params).eval()
    return ENHANCERS.get(name).from_pretrained(
        weights, **{k: v for k, v in params.items() if v is not None}
    )
