"""zero_dce: network, released checkpoints and training recipe."""
