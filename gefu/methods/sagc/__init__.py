"""Semantic-aware Gamma Correction (Pan et al., ICASSP 2023).

Manifest (plain strings; see ``gefu.methods``)."""

ENHANCERS = {"sagc": ".network:SemanticGammaCorrection"}
TRAINING = {"sagc": ".recipe:SAGCTraining"}
RELEASES = ".release:RELEASES"
