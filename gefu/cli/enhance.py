"""``gefu enhance NAME INPUT_DIR OUTPUT_DIR``: enhance a folder of images."""

from __future__ import annotations

import sys
from pathlib import Path

from gefu.cli.params import add_param_option, parse_params

HELP = "enhance every image in a folder with one enhancer"


def add_arguments(p) -> None:
    p.add_argument("name", help="a registered enhancer (see `gefu list enhancers`)")
    p.add_argument("input_dir")
    p.add_argument("output_dir")
    p.add_argument(
        "--weights",
        help="checkpoint folder or file for learned enhancers, or a release name "
        "(`gefu weights list`), fetched into the weights cache on first use",
    )
    p.add_argument(
        "--no-download",
        action="store_true",
        help="never download weights (as GEFU_OFFLINE=1): a release must be cached",
    )
    add_param_option(p, "enhancer")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument(
        "--format",
        default="png",
        choices=["png", "npy"],
        help="png: 8-bit images; npy: the float32 HxWx3 output in [0, 1], unrounded",
    )
    p.add_argument(
        "--in-place",
        action="store_true",
        help="allow OUTPUT_DIR to be INPUT_DIR (outputs may replace input files)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_threads_argument(p)


def add_threads_argument(p) -> None:
    p.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="CPU threads for torch, OpenCV and BLAS (default: GEFU_THREADS, else the CPUs "
        "this process may use less the current load)",
    )


def main(args) -> int:
    from gefu.bench.threads import ThreadsError, apply_threads

    src, dst = Path(args.input_dir), Path(args.output_dir)
    try:
        apply_threads(args.threads)
        files = plan(args, src, dst)
    except (ValueError, ThreadsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    from gefu.bench.executors import resolve_device
    from gefu.enhancers import create_enhancer
    from gefu.enhancers.weights import resolve_weights

    try:
        params = parse_params(args.param)
        device = resolve_device(args.device)
        if args.no_download:  # a release not in the cache: its clear error, before any model
            resolve_weights(args.weights, download=False)
        model = create_enhancer(args.name, weights=args.weights, **params).to(device)
    except (KeyError, TypeError, ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failures = _enhance(model, device, files, dst, args)
    print(f"enhanced {len(files) - failures} of {len(files)} image(s) into {dst}")
    return 1 if failures else 0


def plan(args, src: Path, dst: Path) -> list[Path]:
    """The input files, after every check that needs no model: the enhancer's name, its
    parameters' names and types, weights for a learned one, the folders and the output names.
    Raises ValueError (KeyError for an unknown name) with one line per problem."""
    from gefu.core.params import param_type_problems, unknown_params
    from gefu.enhancers import ENHANCERS
    from gefu.io import list_images

    if not src.is_dir():
        raise ValueError(f"input folder {src} does not exist")
    try:
        ENHANCERS.check(args.name)
    except KeyError as exc:
        raise ValueError(exc.args[0]) from None
    cls = ENHANCERS.get(args.name)
    params = parse_params(args.param)
    problems = unknown_params(cls, args.name, params, where="--param")
    problems += param_type_problems(cls, params, where="--param")
    if getattr(cls, "needs_weights", False) and not args.weights:
        problems.append(
            f"{args.name!r} is a learned enhancer and needs trained weights: pass --weights "
            "(a release name from `gefu weights list`, a checkpoint folder from `gefu train`, "
            "or a file)"
        )
    if dst.resolve() == src.resolve() and not args.in_place:
        problems.append(
            f"the output folder is the input folder ({src}): outputs could replace the "
            "photos; choose another folder, or pass --in-place"
        )
    files = list_images(src)
    by_output: dict[str, Path] = {}
    for path in files:
        name = f"{path.stem}.{args.format}"
        if name in by_output:
            problems.append(
                f"{by_output[name].name} and {path.name} would both be written as {name}; "
                "rename one of them"
            )
        by_output.setdefault(name, path)
    if problems:
        raise ValueError("\n  ".join(problems))
    return files


def _enhance(model, device, files: list[Path], dst: Path, args) -> int:
    """Enhance and write each file with a progress bar; returns how many could not be read."""
    import numpy as np
    import torch
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from gefu.io import ImageReadError, read_image, write_image

    console = Console(stderr=True, quiet=args.quiet, highlight=False)
    failures = 0
    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=args.quiet,
    )
    with bar:
        task = bar.add_task(args.name, total=len(files))
        for path in files:
            try:
                image = read_image(path)
            except ImageReadError as exc:
                print(f"skipped {exc}", file=sys.stderr)
                failures += 1
                bar.advance(task)
                continue
            with torch.inference_mode():
                out = model(image[None].to(device))[0].clamp(0, 1)
            if args.format == "npy":
                dst.mkdir(parents=True, exist_ok=True)
                np.save(dst / f"{path.stem}.npy", out.float().cpu().permute(1, 2, 0).numpy())
            else:
                write_image(dst / f"{path.stem}.png", out)
            bar.advance(task)
    return failures
