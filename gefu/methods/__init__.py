"""Learned enhancers, one folder each (network, released checkpoints, training recipe)."""
