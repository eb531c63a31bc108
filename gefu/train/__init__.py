"""Training: one shared loop (``gefu.train.loop``); each method supplies its model, losses and
data needs as a ``TrainMethod`` (``gefu.train.method``), registered here by name."""

from __future__ import annotations

from gefu.core.registry import Registry

METHODS: Registry = Registry("method")
register_method = METHODS.register

for _name, _target in {
    "zero_dce": "gefu.methods.zero_dce.recipe:ZeroDCETraining",
    "zero_dce_pp": "gefu.methods.zero_dce.recipe:ZeroDCEPPTraining",
    "scl_lle": "gefu.methods.scl_lle.recipe:SCLLLETraining",
    "sagc": "gefu.methods.sagc.recipe:SAGCTraining",
    "hvr_ssle": "gefu.methods.hvr_ssle.recipe:HVRSSLETraining",
    "semi_llie": "gefu.methods.semi_llie.recipe:SemiLLIETraining",
    "scuf": "gefu.methods.scuf.recipe:SCUFTraining",
    "retinexnet": "gefu.methods.retinexnet.recipe:RetinexNetTraining",
}.items():
    METHODS.add_lazy(_name, _target)
