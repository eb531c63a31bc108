"""hvr_ssle: network, released checkpoints and training recipe."""
