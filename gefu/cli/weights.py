"""``gefu weights list``, ``gefu weights fetch NAME... | --all`` and
``gefu weights import NAME FILE OUT_DIR``: the authors' releases and the weights cache."""

from __future__ import annotations

import sys

from gefu.cli.params import add_param_option, parse_params

HELP = "the authors' released weights: `gefu weights list`, `gefu weights import`"


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    ls = sub.add_parser(
        "list", help="known released weights: cached?, size, source, SHA-256, licence, input"
    )
    ls.add_argument("--json", action="store_true", help="print the table as JSON")
    fe = sub.add_parser(
        "fetch", help="download releases into the weights cache ($GEFU_HOME/weights), verified"
    )
    fe.add_argument("names", nargs="*", metavar="NAME", help="release names (`gefu weights list`)")
    fe.add_argument("--all", action="store_true", help="every release with a download source")
    imp = sub.add_parser(
        "import",
        help="convert an author's weights file to a checkpoint folder (config.json + "
        "model.safetensors)",
    )
    imp.add_argument("name", help="the enhancer (zero_dce, zero_dce_pp, scl_lle, sagc, ...)")
    imp.add_argument("file", help="the released weights file")
    imp.add_argument("out_dir", help="the checkpoint folder to write")
    add_param_option(imp, "enhancer")


def main(args) -> int:
    if args.action == "fetch":
        return _fetch(args.names, args.all)
    return _list(args.json) if args.action == "list" else _import(args)


def _fetch(names: list[str], every: bool) -> int:
    import warnings

    from gefu.enhancers.released import RELEASES
    from gefu.enhancers.weights import fetch

    if every:
        names = [n for n, r in RELEASES.items() if r.download_url]
    if not names:
        print("error: name releases to fetch, or --all (see `gefu weights list`)", file=sys.stderr)
        return 2
    unknown = [n for n in names if n not in RELEASES]
    if unknown:
        known = ", ".join(RELEASES)
        print(f"error: unknown release(s) {', '.join(unknown)}; known: {known}", file=sys.stderr)
        return 2
    failed = 0
    for name in names:
        release = RELEASES[name]
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                path = fetch(name, verify=True, log=lambda m: print(m, file=sys.stderr))
        except (OSError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
            continue
        for w in caught:
            print(f"warning: {w.message}", file=sys.stderr)
        terms = "NON-COMMERCIAL: " if release.noncommercial else ""
        print(f"{name}: {path}\n  licence: {terms}{release.licence}")
    return 1 if failed else 0


def _list(as_json: bool) -> int:
    import json
    from dataclasses import asdict

    from gefu.enhancers.released import RELEASES
    from gefu.enhancers.weights import cached_path, weights_home

    def state(r):
        path = cached_path(r)
        size = path.stat().st_size if path.is_file() else None
        return path, size

    if as_json:
        rows = []
        for r in RELEASES.values():
            path, size = state(r)
            extra = {"url": r.url, "download_url": r.download_url, "noncommercial": r.noncommercial}
            rows.append(asdict(r) | extra | {"cached": str(path) if size else None, "size": size})
        print(json.dumps(rows, indent=2))
        return 0
    print(f"weights cache: {weights_home()}")
    for r in RELEASES.values():
        contract = r.input_range
        if r.gain != 1:
            contract += f", times {r.gain:g}"
        if r.size_multiple > 1:
            contract += f", multiple of {r.size_multiple}"
        loads_as = f"--weights {r.name} with `{r.enhancer}`" if r.enhancer else "a component"
        path, size = state(r)
        print(f"{r.name}  ({loads_as})")
        print(f"  cached:   {f'yes, {size / 1e6:.2f} MB' if size is not None else 'no'}")
        print(f"  file:     {r.file}")
        if r.download_url:
            print(f"  download: {r.download_url}")
        else:
            print(f"  download: by hand only (put it at {path})")
        pages = [r.url, *(u for u in r.urls if u != r.url)]
        print("  page:     " + "\n            ".join(pages))
        print(f"  sha256:   {r.sha256 or 'not pinned (recorded at the first download)'}")
        terms = " (non-commercial)" if r.noncommercial and "non" not in r.licence else ""
        print(f"  licence:  {r.licence}{terms}")
        print(f"  input:    {contract}")
        if r.note:
            print(f"  note:     {r.note}")
    return 0


def _import(args) -> int:
    import warnings

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
