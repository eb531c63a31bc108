"""``gefu doctor``: what is installed, what runs offline, which device."""

from __future__ import annotations

import shutil
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

HELP = "what is installed, which weights are available offline, which device"

PACKAGES = (
    "gefu-bench",
    "torch",
    "torchvision",
    "pyiqa",
    "kornia",
    "numpy",
    "scikit-image",
    "matplotlib",
    "mmengine",
    "mmcv",
    "mmdet",
    "mmsegmentation",
    "accelerate",
    "diffusers",
    "transformers",
    "peft",
)


def add_arguments(p) -> None:
    del p  # no options


def main(args) -> int:
    del args
    print("packages:")
    for dist in PACKAGES:
        try:
            print(f"  {dist:<16} {version(dist)}")
        except PackageNotFoundError:
            print(f"  {dist:<16} not installed")

    import torch

    print("device:")
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            print(f"  cuda:{i} {torch.cuda.get_device_name(i)}")
    else:
        print("  cpu only (no CUDA device visible to torch)")
    print(f"  torch threads: {torch.get_num_threads()}")

    from gefu.cli.list import availability, registries

    print("metrics:")
    metrics = registries()["metrics"]
    for name in metrics.names():
        print(f"  {name:<10} {availability('metrics', metrics.get(name))}")
    print("checkpoints named in configs/ (present offline?):")
    for config, ref in configured_checkpoints():
        from gefu.tasks.frozen import checkpoint_unavailable

        why = checkpoint_unavailable(ref)
        if why is None and Path(ref).expanduser().exists():
            from gefu.core.hashing import weights_hash

            ref = f"{ref} (sha256 {weights_hash(ref)})"
        print(
            f"  {'ok     ' if why is None else 'missing'} {config}: {ref if why is None else why}"
        )
    print_weights_cache()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    print("report check:")
    print(f"  headless chromium: {chromium or 'not found (the HTML rendering test will skip)'}")
    return 0


def print_weights_cache() -> None:
    """The released weights in the cache, with their SHA-256 (checked against the pinned)."""
    from gefu.enhancers.released import RELEASES, sha256_of
    from gefu.enhancers.weights import cached_path, expected_sha256, weights_home

    print(f"released weights cached in {weights_home()}:")
    cached = [r for r in RELEASES.values() if cached_path(r).is_file()]
    for r in cached:
        got, want = sha256_of(cached_path(r)), expected_sha256(r)
        mark = "ok     " if got == want else "CHANGED" if want else "unpinned"
        print(f"  {mark} {r.name}: sha256 {got}")
    if not cached:
        print("  none (`gefu weights fetch NAME`, `gefu weights list`)")


def configured_checkpoints(folder: str = "configs") -> list[tuple[str, str]]:
    """(config file, checkpoint) for every evaluation/enhancer checkpoint in ``folder``'s YAML."""
    from pathlib import Path

    import yaml

    found = []
    for path in sorted(Path(folder).rglob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError:
            continue
        entries = (
            data.get("evaluations", []) + data.get("enhancers", [])
            if isinstance(data, dict)
            else []
        )
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            params = entry.get("params") or {}
            model = params.get("model") if isinstance(params.get("model"), dict) else {}
            ref = params.get("checkpoint") or model.get("checkpoint") or entry.get("weights")
            if ref:
                found.append((str(path), str(ref)))
    return found
