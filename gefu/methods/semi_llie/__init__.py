"""semi_llie: network, released checkpoints and training recipe."""
