"""Run under ``accelerate launch``: train, then write this rank's final model weights.

accelerate launch --num_processes 2 --cpu tests/ddp_train_worker.py CONFIG OUT_DIR STEPS [--resume]
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

import gefu.train.loop as loop
from gefu.train.config import load_train_config


def main(config_path: str, out: str, steps: str, *flags: str) -> None:
    torch.set_num_threads(1)
    built = {}
    real = loop.build_method

    def capture(config):
        method, datasets = real(config)
        built["method"] = method
        return method, datasets

    loop.build_method = capture
    result = loop.train(
        load_train_config(config_path),
        output=out,
        steps=int(steps),
        resume="--resume" in flags,
        quiet=True,
    )
    from accelerate import PartialState

    state = PartialState()
    model = built["method"].model  # the trained network (``modules()`` would build a new one)
    weights = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save(
        {"weights": weights, "world": state.num_processes, "last": result.last},
        Path(out) / f"rank{state.process_index}.pt",
    )


if __name__ == "__main__":
    main(*sys.argv[1:])
