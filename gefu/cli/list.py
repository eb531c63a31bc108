"""``gefu list [KIND]``: registered components, where they come from, whether they run here."""

from __future__ import annotations

import sys

HELP = "list enhancers, datasets, tasks and metrics, with availability"

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
        why = metric.unavailable()
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

    from gefu.enhancers import ENHANCERS

    try:
        cls = ENHANCERS.get(name)
    except KeyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    doc = (inspect.getdoc(cls) or "").splitlines()
    print(f"{name}: {cls.__module__}.{cls.__qualname__}")
    if doc:
        print(f"  {doc[0]}")
    print(f"  parameters: {inspect.signature(cls.__init__)}")
    print(f"  learned: {'yes (needs weights)' if getattr(cls, 'needs_weights', False) else 'no'}")
    for configuration, parts in parameter_report(cls).items():
        print(f"  parameter counts, {configuration}:")
        for part, counts in parts.items():
            print(
                f"    {part:<14} trainable {counts['trainable']:>14,}  "
                f"frozen {counts['frozen']:>14,}"
            )
    return 0


def parameter_report(cls) -> dict[str, dict[str, dict[str, int]]]:
    """The class's own ``parameter_report()`` when it has one (models too large to build
    here), else counts of the model built with its default parameters."""
    if hasattr(cls, "parameter_report"):
        return cls.parameter_report()
    model = cls()
    params = list(model.parameters())
    trainable = sum(p.numel() for p in params if p.requires_grad)
    total = {"trainable": trainable, "frozen": sum(p.numel() for p in params) - trainable}
    return {"default parameters": {"total": total}}
