"""Training: one shared loop (``gefu.train.loop``); each method supplies its model, losses and
data needs as a ``TrainMethod`` (``gefu.train.method``), registered here by name."""

from __future__ import annotations

from gefu.core.registry import Registry

METHODS: Registry = Registry("method")
register_method = METHODS.register

for _name, _target in {
    "zero_dce": "gefu.train.methods.zero_dce:ZeroDCETraining",
    "zero_dce_pp": "gefu.train.methods.zero_dce:ZeroDCEPPTraining",
    "scl_lle": "gefu.train.methods.scl_lle:SCLLLETraining",
    "sagc": "gefu.train.methods.sagc:SAGCTraining",
    "hvr_ssle": "gefu.train.methods.hvr_ssle:HVRSSLETraining",
    "semi_llie": "gefu.train.methods.semi_llie:SemiLLIETraining",
    "scuf": "gefu.train.methods.scuf:SCUFTraining",
    "retinexnet": "gefu.train.methods.retinexnet:RetinexNetTraining",
}.items():
    METHODS.add_lazy(_name, _target)
