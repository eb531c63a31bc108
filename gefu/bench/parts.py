"""A run's datasets and evaluations, each built once per process.

The grid and the local executor's worker share one ``Parts``, so what the grid opened and bound
is what the units run on; a worker process or a Ray worker makes its own, once, and keeps it for
all its units. An entry is keyed by its whole spec entry (label included: two evaluations with
equal parameters but their own ids are two objects, each bound to its own dataset). A build that
fails is not kept: the caller reports it, and asking again tries again.
"""

from __future__ import annotations

import json
from typing import Any


class Parts:
    def __init__(self):
        self._built: dict[tuple[str, str], Any] = {}

    def dataset(self, spec):
        """The dataset of a dataset entry (a ``DatasetSpec``: a test set or a training split)."""
        from gefu.datasets import create_dataset

        return self._once(
            "dataset",
            spec,
            lambda: create_dataset(spec.name, root=spec.root, limit=spec.limit, **spec.params),
        )

    def task(self, spec):
        """The evaluation of an evaluation entry (no model loaded: ``setup`` does that)."""
        from gefu.tasks import create_task

        return self._once("evaluation", spec, lambda: create_task(spec.name, **spec.params))

    def _once(self, kind: str, spec, build):
        key = (kind, json.dumps(spec.model_dump(mode="json"), sort_keys=True))
        if key not in self._built:
            self._built[key] = build()
        return self._built[key]
