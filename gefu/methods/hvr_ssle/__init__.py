"""HVR-SSLE: hierarchical visual reasoning for self-supervised low-light enhancement.

Manifest (plain strings; see ``gefu.methods``)."""

ENHANCERS = {"hvr_ssle": ".network:HVRSSLE"}
TRAINING = {"hvr_ssle": ".recipe:HVRSSLETraining"}
RELEASES = ".release:RELEASES"
# the layer of each module (tests/test_layers.py): a component, or training only
LAYERS = {"enhancers": ("network", "release"), "train": ("recipe", "train_data")}
