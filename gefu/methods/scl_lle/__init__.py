"""SCL-LLE (Liang et al., AAAI 2022): semantic contrastive learning for Zero-DCE's DCE-Net.

Manifest (plain strings; see ``gefu.methods``)."""

ENHANCERS = {"scl_lle": ".network:SCLLLE"}
TRAINING = {"scl_lle": ".recipe:SCLLLETraining"}
RELEASES = ".release:RELEASES"
# the layer of each module (tests/test_layers.py): a component, or training only
LAYERS = {"enhancers": ("network", "release"), "train": ("recipe", "losses")}
