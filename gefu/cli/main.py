"""The ``gefu`` command line. Each subcommand lives in its own module; imports stay lazy."""

from __future__ import annotations

import argparse
import importlib
import sys

import gefu

COMMANDS = {  # name -> module with add_arguments(parser) and main(args) -> exit code
    "run": "gefu.cli.run",
    "report": "gefu.cli.report",
    "compare": "gefu.cli.compare",
    "list": "gefu.cli.list",
    "enhance": "gefu.cli.enhance",
    "doctor": "gefu.cli.doctor",
    "datasets": "gefu.cli.datasets",
    "train": "gefu.cli.train",
    "captions": "gefu.cli.captions",
    "weights": "gefu.cli.weights",
}
HELP = {
    "run": "run a benchmark config (default: the embedded demo benchmark)",
    "report": "write leaderboard.md/.csv and report.html from a results folder",
    "compare": "paired comparison of two enhancers on every evaluation of a results folder",
    "list": "list enhancers, datasets, tasks and metrics, with availability",
    "enhance": "enhance every image in a folder with one enhancer",
    "doctor": "what is installed, which weights are available offline, which device",
    "datasets": "dataset tools: `gefu datasets check KIND PATH` validates a dataset folder",
    "train": "train a learned enhancer: `gefu train METHOD --config configs/train/<m>.yaml`",
    "captions": "caption a folder of images (SCUF's caption-consistency training data)",
    "weights": "the authors' released weights: `gefu weights list`, `gefu weights import`",
}


# Third-party loggers that chatter about optional accelerations unrelated to a run: bitsandbytes
# (pulled in by pyiqa through transformers) warns on every import that a CPU kernel could not be
# fetched. Errors still show; the suite's own warnings are untouched.
QUIET_LOGGERS = ("bitsandbytes",)


def quiet_third_party() -> None:
    import logging

    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gefu",
        description="gefu-bench: does low-light enhancement help machines see in the dark?",
    )
    parser.add_argument("--version", action="version", version=f"gefu-bench {gefu.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in COMMANDS.items():
        p = sub.add_parser(name, help=HELP[name], description=HELP[name])
        importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    quiet_third_party()
    try:
        return importlib.import_module(COMMANDS[args.command]).main(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
