"""``gefu datasets check KIND PATH``: validate a dataset folder and report every defect."""

from __future__ import annotations

import sys

from gefu.cli.params import add_param_option, parse_params

HELP = "dataset tools: `gefu datasets check KIND PATH` validates a dataset folder"


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = sub.add_parser("check", help="validate a dataset folder (exit 1 if anything is wrong)")
    check.add_argument("kind", help="a registered dataset name (see `gefu list datasets`)")
    check.add_argument("path", help="the dataset's root folder")
    add_param_option(check, "reader")
    check.add_argument("--no-images", action="store_true", help="skip decoding every image")
    check.add_argument("--max-findings", type=int, default=200, help="findings printed at most")


def main(args) -> int:
    from pathlib import Path

    from gefu.datasets import DATASETS, create_dataset

    try:
        params = parse_params(args.param)
        DATASETS.check(args.kind)
        if not Path(args.path).exists():
            raise FileNotFoundError(f"{args.path} does not exist")
        dataset = create_dataset(args.kind, root=args.path, **params)
    except (KeyError, TypeError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = dataset.check(read_images=not args.no_images)
    print(f"{args.kind} at {args.path}")
    for key, n in report.counts.items():
        print(f"  {key}: {n}")
    if report.ok:
        print("no problems found")
        return 0
    print(f"{len(report.findings)} problem(s):")
    for finding in report.findings[: args.max_findings]:
        print(f"  {finding}")
    if len(report.findings) > args.max_findings:
        print(f"  ... and {len(report.findings) - args.max_findings} more")
    return 1
