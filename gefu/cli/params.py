"""``--param KEY=VALUE``, shared by the commands that build one component (enhance, datasets
check, weights import)."""

from __future__ import annotations


def add_param_option(parser, what: str) -> None:
    """A repeatable ``--param KEY=VALUE`` whose value is YAML; ``what``: e.g. "enhancer"."""
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"{what} parameter (YAML value), repeatable",
    )


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
