"""The ``gefu`` command line. Each subcommand lives in its own module; imports stay lazy."""

from __future__ import annotations

import argparse
import sys

import gefu
from gefu.core.registry import Registry

# The built-in commands, in `gefu --help` order: each is the module gefu/cli/<name>.py, with
# ``HELP`` (one line), ``add_arguments(parser)`` and ``main(args) -> exit code``. A plugin adds
# a command through the entry-point group ``gefu.commands`` (``name = "package.module"``).
BUILTIN = (
    "run",
    "report",
    "compare",
    "list",
    "enhance",
    "doctor",
    "datasets",
    "train",
    "captions",
    "weights",
)
COMMANDS: Registry = Registry("command")
for _name in BUILTIN:
    COMMANDS.add_lazy(_name, f"gefu.cli.{_name}")


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
    for name in [*BUILTIN, *(n for n in COMMANDS.names() if n not in BUILTIN)]:
        try:
            module, text = load_command(name)
        except Exception as e:  # a broken plugin command must not take the others down
            if name in BUILTIN:
                raise
            origin = COMMANDS.origin(name)
            print(f"gefu: command {name!r} (from {origin}) left out: {e}", file=sys.stderr)
            continue
        module.add_arguments(sub.add_parser(name, help=text, description=text))
    return parser


def load_command(name: str):
    """The command's module and its one-line help (``HELP``, else the docstring's first line)."""
    module = COMMANDS.get(name)
    missing = [f for f in ("add_arguments", "main") if not callable(getattr(module, f, None))]
    text = getattr(module, "HELP", None) or (module.__doc__ or "").strip().split("\n")[0]
    if missing or not text:
        lacks = missing + ([] if text else ["HELP or a docstring"])
        raise TypeError(f"command module {module.__name__} lacks {', '.join(lacks)}")
    return module, text


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    quiet_third_party()
    try:
        return COMMANDS.get(args.command).main(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
