"""Semantic-aware Gamma Correction (Pan et al., ICASSP 2023).

Manifest (plain strings; see ``gefu.methods``)."""

ENHANCERS = {"sagc": ".network:SemanticGammaCorrection"}
TRAINING = {"sagc": ".recipe:SAGCTraining"}
RELEASES = ".release:RELEASES"
# the layer of each module (tests/test_layers.py): a component, or training only
LAYERS = {"enhancers": ("network", "release"), "train": ("recipe", "losses", "critic")}
