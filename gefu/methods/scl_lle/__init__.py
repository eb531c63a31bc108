"""scl_lle: network, released checkpoints and training recipe."""
