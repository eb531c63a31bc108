"""Zero-DCE (Guo et al., CVPR 2020) and Zero-DCE++ (Li et al., TPAMI 2021).

Manifest (plain strings; see ``gefu.methods``)."""

ENHANCERS = {"zero_dce": ".network:ZeroDCE", "zero_dce_pp": ".network:ZeroDCEPP"}
TRAINING = {"zero_dce": ".recipe:ZeroDCETraining", "zero_dce_pp": ".recipe:ZeroDCEPPTraining"}
RELEASES = ".release:RELEASES"
# the layer of each module (tests/test_layers.py): a component, or training only
LAYERS = {"enhancers": ("network", "release"), "train": ("recipe",)}
