"""Semi-LLIE (Li et al., 2024): a mean teacher with a Mamba enhancer.

Manifest (plain strings; see ``gefu.methods``)."""

ENHANCERS = {"semi_llie": ".network:SemiLLIE"}
TRAINING = {"semi_llie": ".recipe:SemiLLIETraining"}
RELEASES = ".release:RELEASES"
# the layer of each module (tests/test_layers.py): a component, or training only
LAYERS = {"enhancers": ("network", "release", "mamba_scan"), "train": ("recipe", "losses")}
