"""Semi-LLIE (Li et al., 2024): a mean teacher with a Mamba enhancer.

Manifest (plain strings; see ``gefu.methods``)."""

ENHANCERS = {"semi_llie": ".network:SemiLLIE"}
TRAINING = {"semi_llie": ".recipe:SemiLLIETraining"}
RELEASES = ".release:RELEASES"
