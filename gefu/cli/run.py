"""``gefu run [CONFIG]``."""

from __future__ import annotations

import sys

from gefu.cli.enhance import add_threads_argument

HELP = "run a benchmark config (default: the embedded demo benchmark)"


def add_arguments(p) -> None:
    p.add_argument("config", nargs="?", help="benchmark YAML (default: the embedded demo)")
    p.add_argument("--output", help="results folder (default: the config's, or results/<name>)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="override the config's")
    p.add_argument("--force", action="store_true", help="recompute cells already in the store")
    p.add_argument("--save-images", action="store_true", help="also write enhanced images")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--debug", action="store_true", help="print the traceback of each failure")
    p.add_argument(
        "--no-download",
        action="store_true",
        help="never download released weights (sets GEFU_OFFLINE=1 for this run and its "
        "workers): a release named in the config must be in the cache or mirror",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print what would be computed (cells, fine-tunes and their recipes, estimated "
        "cost) and exit",
    )
    add_threads_argument(p)
    from gefu.bench.executors import EXECUTORS

    g = p.add_argument_group("scale-out (results are the same whichever is used)")
    g.add_argument(
        "--executor",
        choices=EXECUTORS.names(),
        default=None,
        help="where units of work run: local (this process), processes (worker processes), "
        "ray (a Ray cluster), or a plugin's (default: the one the options below imply, "
        "processes with --workers or --devices, ray with --ray-address; else local)",
    )
    g.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes or Ray workers (default: one per --devices entry, else 2)",
    )
    g.add_argument(
        "--devices",
        help="comma-separated devices, one worker each round robin (e.g. cuda:0,cuda:1)",
    )
    g.add_argument("--ray-address", help="a running Ray cluster (default: a local one)")
    g.add_argument(
        "--shard-size",
        type=int,
        default=None,
        help="images per unit of work (default: 256 on workers, a whole dataset "
        "locally); rounded up to whole batches",
    )


def main(args) -> int:
    import os

    from gefu.bench.config import ConfigError, load_config
    from gefu.enhancers.weights import OFFLINE_ENV

    if args.no_download:
        os.environ[OFFLINE_ENV] = "1"  # worker processes inherit it
    try:
        config = load_config(args.config, check_paths=not args.dry_run)  # a plan needs no data
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.output:
        config = config.model_copy(update={"output": args.output})
    from gefu.bench.threads import ThreadsError, apply_threads

    try:
        apply_threads(args.threads, config.threads)
    except ThreadsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    if args.dry_run:
        from gefu.bench.dry_run import dry_run

        dry_run(config)
        return 0

    from gefu.bench.executors import implied_executor
    from gefu.bench.runner import Runner

    options = {  # each executor checks those it takes (None: not given)
        "workers": args.workers,
        "devices": args.devices.split(",") if args.devices else None,
        "ray_address": args.ray_address,
    }
    try:
        runner = Runner(
            config,
            force=args.force,
            save_images=args.save_images,
            device=args.device,
            quiet=args.quiet,
            debug=args.debug,
            executor=args.executor or implied_executor(options),
            executor_options=options,
            shard_size=args.shard_size,
        )
        outcome = runner.run()
    except (RuntimeError, ConfigError) as exc:  # StoreError is a RuntimeError
        print(f"error: {exc}", file=sys.stderr)
        return 2
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
