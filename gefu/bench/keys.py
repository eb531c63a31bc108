"""Cache keys of a grid's rows and datasets: what an enhancer entry's output and a dataset
entry's items depend on (code included). Used by the grid and by workers (fine-tunes)."""

from __future__ import annotations

from gefu.core.hashing import code_hash, weights_hash
from gefu.core.params import resolved_params
from gefu.core.specs import REFERENCE_ROW


def enhancer_key(spec, registry=None) -> dict:
    """The cache key of an enhancer entry (None: the reference row)."""
    if spec is None:
        return {"name": REFERENCE_ROW}
    from gefu.enhancers.weights import resolve_weights

    if registry is None:
        from gefu.enhancers import ENHANCERS as registry
    cls = registry.get(spec.name)
    return {
        "name": spec.name,
        "params": resolved_params(cls, spec.params),
        "weights": weights_hash(resolve_weights(spec.weights, download=False)),
        "code": code_hash(cls),
    }


def train_key(spec, registry=None) -> dict:
    """The cache key of a fine-tuned evaluation's training split (a dataset entry)."""
    from gefu.datasets import open_dataset

    ds = open_dataset(spec)
    return dataset_key(spec, ds, registry)


def dataset_key(spec, ds, registry=None) -> dict:
    """The cache key of a dataset entry and its opened dataset ``ds``."""
    if registry is None:
        from gefu.datasets import DATASETS as registry
    cls = registry.get(spec.name)
    readers = [cls]  # and the sets it wraps (``darkened``)
    inner = ds.__dict__.get("dataset")
    while inner is not None and hasattr(inner, "fingerprint"):
        readers.append(type(inner))
        inner = inner.__dict__.get("dataset")
    return {
        "name": spec.name,
        "params": resolved_params(cls, spec.params),
        "limit": spec.limit,
        "code": code_hash(*readers),
        "files": ds.fingerprint(),
    }
