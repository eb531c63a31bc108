"""``gefu enhance NAME INPUT_DIR OUTPUT_DIR``: enhance a folder of images."""

from __future__ import annotations

import sys
from pathlib import Path


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
    p.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE",
        help="enhancer parameter (YAML value), repeatable",
    )  # fmt: skip
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument(
        "--format", default="png", choices=["png", "npy"],
        help="png: 8-bit images; npy: the float32 HxWx3 output in [0, 1], unrounded",
    )  # fmt: skip


def main(args) -> int:
    from gefu.bench.runner import resolve_device
    from gefu.enhancers import ENHANCERS, create_enhancer
    from gefu.enhancers.weights import resolve_weights
    from gefu.io import ImageReadError, list_images, read_image, write_image

    src, dst = Path(args.input_dir), Path(args.output_dir)
    if not src.is_dir():
        print(f"error: input folder {src} does not exist", file=sys.stderr)
        return 2
    try:
        params = parse_params(args.param)
        ENHANCERS.check(args.name)
        device = resolve_device(args.device)
        if args.no_download:  # a release not in the cache: its clear error, before any model
            resolve_weights(args.weights, download=False)
        model = create_enhancer(args.name, weights=args.weights, **params).to(device)
    except (KeyError, TypeError, ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    import numpy as np
    import torch

    files, failures = list_images(src), 0
    for path in files:
        try:
            image = read_image(path)
        except ImageReadError as exc:
            print(f"skipped {exc}", file=sys.stderr)
            failures += 1
            continue
        with torch.inference_mode():
            out = model(image[None].to(device))[0].clamp(0, 1)
        if args.format == "npy":
            dst.mkdir(parents=True, exist_ok=True)
            np.save(dst / f"{path.stem}.npy", out.float().cpu().permute(1, 2, 0).numpy())
        else:
            write_image(dst / f"{path.stem}.png", out)
    print(f"enhanced {len(files) - failures} of {len(files)} image(s) into {dst}")
    return 1 if failures else 0


def parse_params(items: list[str]) -> dict:
    """``["k=v", ...]`` -> ``{k: yaml(v)}``; raises ValueError for an item without ``=``."""
    import yaml

    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--param {item!r} is not KEY=VALUE")
        params[key] = yaml.safe_load(value)
    return params
