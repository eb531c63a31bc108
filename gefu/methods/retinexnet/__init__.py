"""retinexnet: network, released checkpoints and training recipe."""
