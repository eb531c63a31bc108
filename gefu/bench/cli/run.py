"""``gefu run [CONFIG]``."""

from __future__ import annotations

import sys


def add_arguments(p) -> None:
    p.add_argument("config", nargs="?", help="benchmark YAML (default: the embedded demo)")
    p.add_argument("--output", help="results folder (default: the config's, or results/<name>)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="override the config's")
    p.add_argument("--force", action="store_true", help="recompute cells already in the store")
    p.add_argument("--save-images", action="store_true", help="also write enhanced images")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--debug", action="store_true", help="print the traceback of each failure")


def main(args) -> int:
    from gefu.bench.config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.output:
        config = config.model_copy(update={"output": args.output})

    from gefu.bench.runner import Runner

    try:
        runner = Runner(
            config, force=args.force, save_images=args.save_images, device=args.device,
            quiet=args.quiet, debug=args.debug,
        )  # fmt: skip
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    outcome = runner.run()
    print(
        f"{len(outcome.computed)} cell(s) computed, {len(outcome.cached)} cached, "
        f"{len(outcome.failed)} failed"
    )
    for evaluation, dataset, why in outcome.unavailable:
        print(f"  UNAVAILABLE {evaluation} on {dataset}: {why}")
    for cell, error in outcome.failed:
        print(f"  FAILED {cell.enhancer} · {cell.dataset} · {cell.evaluation}: {error}")
    if "error" in outcome.report:
        print(f"Report not written: {outcome.report['error']}")
        return 1
    print(f"Report: {outcome.report.get('html', outcome.results_dir)}")
    return 1 if outcome.failed else 0
