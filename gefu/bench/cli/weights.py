"""``gefu weights list`` and ``gefu weights import NAME FILE OUT_DIR``: the authors' releases."""

from __future__ import annotations

import sys


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    ls = sub.add_parser("list", help="known released weights: source, SHA-256, licence, input")
    ls.add_argument("--json", action="store_true", help="print the table as JSON")
    imp = sub.add_parser(
        "import", help="convert an author's weights file to a checkpoint folder (config.json + "
        "model.safetensors)",
    )  # fmt: skip
    imp.add_argument("name", help="the enhancer (zero_dce, zero_dce_pp, scl_lle, sagc, ...)")
    imp.add_argument("file", help="the released weights file")
    imp.add_argument("out_dir", help="the checkpoint folder to write")
    imp.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE",
        help="enhancer parameter (YAML value), repeatable",
    )  # fmt: skip


def main(args) -> int:
    return _list(args.json) if args.action == "list" else _import(args)


def _list(as_json: bool) -> int:
    import json
    from dataclasses import asdict

    from gefu.enhancers.released import RELEASES

    if as_json:
        rows = [asdict(r) | {"url": r.url} for r in RELEASES.values()]
        print(json.dumps(rows, indent=2))
        return 0
    for r in RELEASES.values():
        contract = r.input_range
        if r.gain != 1:
            contract += f", times {r.gain:g}"
        if r.size_multiple > 1:
            contract += f", multiple of {r.size_multiple}"
        loads_as = f"--weights FILE with `{r.enhancer}`" if r.enhancer else "a component"
        print(f"{r.name}  ({loads_as})")
        print(f"  file:    {r.file}")
        print(f"  url:     {r.url}" + "".join(f"\n           {u}" for u in r.urls[1:]))
        print(f"  sha256:  {r.sha256 or 'unknown'}")
        print(f"  licence: {r.licence}")
        print(f"  input:   {contract}")
        if r.note:
            print(f"  note:    {r.note}")
    return 0


def _import(args) -> int:
    import warnings

    from gefu.bench.cli.enhance import parse_params
    from gefu.enhancers.released import import_weights

    try:
        params = parse_params(args.param)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = import_weights(args.name, args.file, args.out_dir, **params)
    except (KeyError, TypeError, ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    print(f"wrote {out} (load with --weights {out} or `weights: {out}`)")
    return 0
