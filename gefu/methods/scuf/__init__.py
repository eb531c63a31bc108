"""scuf: network, released checkpoints and training recipe."""
