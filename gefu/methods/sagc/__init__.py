"""sagc: network, released checkpoints and training recipe."""
