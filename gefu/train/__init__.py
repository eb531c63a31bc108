"""Training: one shared loop (``gefu.train.loop``); each method supplies its model, losses and
data needs as a ``TrainMethod`` (``gefu.train.method``), registered here by name from the
manifest of its folder in ``gefu/methods/``."""

from __future__ import annotations

from gefu.core.manifests import manifests
from gefu.core.registry import Registry

METHODS: Registry = Registry("method")
# A built-in is declared once, in its folder's manifest; the decorator is for code
# outside the suite (a script, a test).
register_method = METHODS.register

# One folder per method in gefu/methods/, found through its manifest.
for _manifest in manifests():
    for _name, _target in _manifest.training.items():
        METHODS.add_lazy(_name, _target)
