"""SCUF, the one-step diffusion enhancer of seed 000 (``gefu.enhancers.scuf.model``)."""

from gefu.enhancers.scuf.counts import parameter_counts
from gefu.enhancers.scuf.model import SCUF

__all__ = ["SCUF", "parameter_counts"]
