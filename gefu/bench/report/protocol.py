"""The protocol card of a table: what produced its numbers, from what the store already has
(the cells' resolved specs and the run's versions): dataset reader, its parameters (split,
darkening parameters and seed), the file-list hash, the evaluation (model config, checkpoint
and its sha256, input size, thresholds, class map, IQA settings), library and suite versions."""

from __future__ import annotations

import json
from typing import Any

from gefu.bench.report.collect import Report, Table
from gefu.core.specs import REFERENCE_ROW

MAX_VALUE = 300  # characters of one card entry


def _flat(prefix: str, value: Any, out: dict[str, Any]) -> None:
    """Nested dicts -> dotted keys; a list of named dicts (IQA metric specs) by name."""
    named = (
        isinstance(value, list)
        and value
        and all(isinstance(v, dict) and isinstance(v.get("name"), str) for v in value)
    )
    if named:
        value = {v["name"]: {k: x for k, x in v.items() if k != "name"} for v in value}
    if isinstance(value, dict) and value:
        for k, v in value.items():
            _flat(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = value


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def facts(table: Table, versions: dict) -> dict[str, Any]:
    """Flat ``key -> value`` facts of the table's protocol (JSON values)."""
    rows = [r for r in table.rows if r.spec]
    if not rows:
        return {}
    spec = rows[0].spec
    out: dict[str, Any] = {}
    evaluation = spec.get("evaluation", {})
    if evaluation.get("protocol"):  # the published protocol the numbers follow
        out["protocol"] = evaluation["protocol"]
    _flat("dataset", spec.get("dataset", {}), out)
    _flat("evaluation", evaluation.get("task", {}), out)
    metrics = evaluation.get("metrics")
    if metrics:
        out["evaluation.reported"] = [m[0] if isinstance(m, list) else m for m in metrics]
    for r in rows:  # the weights behind each learned enhancer's row
        weights = r.spec.get("enhancer", {}).get("weights")
        if r.enhancer != REFERENCE_ROW and weights:
            out[f"enhancer.{r.enhancer}.weights"] = weights
    _flat("versions", versions or {}, out)
    return out


def card(table: Table, versions: dict) -> list[tuple[str, str]]:
    """``(key, text)`` pairs for the report, in a stable order."""
    return [(k, _text(v)) for k, v in facts(table, versions).items()]


def attach(report: Report) -> None:
    """``table.protocol`` for every table (rendered as the table's protocol card)."""
    for t in report.tables:
        t.protocol = card(t, report.versions)
