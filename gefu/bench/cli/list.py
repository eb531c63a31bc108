"""``gefu list [KIND]``: registered components, where they come from, whether they run here."""

from __future__ import annotations

import sys

KINDS = ("enhancers", "datasets", "tasks", "metrics")


def add_arguments(p) -> None:
    p.add_argument("kind", nargs="?", choices=KINDS, help="list only this kind")
    p.add_argument("--details", metavar="NAME", help="show one enhancer's parameters and counts")


def registries():
    from gefu.datasets import DATASETS
    from gefu.enhancers import ENHANCERS
    from gefu.metrics import METRICS
    from gefu.tasks import TASKS

    return {"enhancers": ENHANCERS, "datasets": DATASETS, "tasks": TASKS, "metrics": METRICS}


def availability(kind: str, obj) -> str:
    if kind == "metrics":
        metric = obj()
        why = metric.unavailable_reason()
        mode = "FR" if metric.full_reference else "NR"
        direction = "lower better" if metric.lower_better else "higher better"
        return f"{mode}, {direction}, " + (f"unavailable: {why}" if why else "available")
    if kind == "enhancers" and getattr(obj, "needs_weights", False):
        return "needs weights (--weights / `weights:`)"
    return "available"


def main(args) -> int:
    if args.details:
        return _details(args.details)
    for kind, registry in registries().items():
        if args.kind and kind != args.kind:
            continue
        print(f"{kind}:")
        for name in registry.names():
            try:
                status = availability(kind, registry.get(name))
            except Exception as exc:
                status = f"broken: cannot load ({type(exc).__name__}: {exc})"
            origin = registry.origin(name)
            print(f"  {name:<18} {status}" + (f"  [from {origin}]" if origin != "gefu" else ""))
    return 0


def _details(name: str) -> int:
    import inspect

    from gefu.enhancers import ENHANCERS, create_enhancer

    try:
        cls = ENHANCERS.get(name)
    except KeyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{name}: {cls.__module__}.{cls.__qualname__}")
    print(f"  {(inspect.getdoc(cls) or '').splitlines()[0] if cls.__doc__ else ''}")
    print(f"  parameters: {inspect.signature(cls.__init__)}")
    model = create_enhancer(name)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print(f"  parameter count: {model.num_parameters:,} ({trainable:,} trainable tensors' total)")
    return 0
