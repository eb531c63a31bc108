"""``gefu train METHOD --config PATH [--resume] [--output DIR] [--steps N]``."""

from __future__ import annotations

import sys

HELP = "train a learned enhancer: `gefu train METHOD --config configs/train/<m>.yaml`"


def add_arguments(p) -> None:
    p.add_argument("method", help="a registered training method (zero_dce, zero_dce_pp, ...)")
    p.add_argument("--config", required=True, help="training YAML (e.g. configs/train/<m>.yaml)")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint")
    p.add_argument("--output", help="run folder (default: the config's `output`)")
    p.add_argument("--steps", type=int, help="total steps (default: the config's `steps`)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")


def main(args) -> int:
    from gefu.bench.config import ConfigError
    from gefu.train import METHODS

    try:
        METHODS.check(args.method)
        if args.steps is not None and args.steps < 1:
            raise ConfigError(f"--steps must be at least 1, got {args.steps}")
        from gefu.train.config import load_train_config

        config = load_train_config(args.config, method=args.method)
    except (KeyError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from gefu.train.loop import train

    try:
        result = train(
            config, resume=args.resume, output=args.output, steps=args.steps, quiet=args.quiet
        )
    except (ConfigError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"trained {result.steps} step(s); model: {result.model_dir}")
    return 0
