"""RetinexNet (Wei et al., BMVC 2018); its DecomNet is SCUF's reflectance teacher.

Manifest (plain strings; see ``gefu.methods``)."""

ENHANCERS = {"retinexnet": ".network:RetinexNet"}
TRAINING = {"retinexnet": ".recipe:RetinexNetTraining"}
RELEASES = ".release:RELEASES"
# the layer of each module (tests/test_layers.py): a component, or training only
LAYERS = {"enhancers": ("network", "release"), "train": ("recipe", "losses")}
