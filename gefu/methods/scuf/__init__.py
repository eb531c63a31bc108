"""SCUF (Wang et al., ICCV 2025): a one-step SD-Turbo translator fine-tuned without pairs.

Manifest (plain strings; see ``gefu.methods``)."""

ENHANCERS = {"scuf": ".network:SCUF"}
TRAINING = {"scuf": ".recipe:SCUFTraining"}
RELEASES = ".release:RELEASES"
# the layer of each module (tests/test_layers.py): a component, or training only
LAYERS = {
    "enhancers": ("network", "release", "attention", "components", "counts", "prompt"),
    "train": ("recipe", "losses"),
}
