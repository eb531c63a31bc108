"""``results.json``: everything the report shows, as one machine-readable document with a
versioned JSON schema (``results.schema.json`` beside this file), so that other tools can read
results without SQLite. Numbers that are not finite are written as null."""

from __future__ import annotations

import json
import math
from importlib import resources
from pathlib import Path
from typing import Any

from gefu.bench.report.collect import OK, Report, Table
from gefu.bench.report.paired import ALPHA, EXACT_UNITS, N_PERMUTATIONS
from gefu.bench.report.protocol import facts
from gefu.bench.report.stats import LEVEL, N_RESAMPLES, SEED

SCHEMA_VERSION = "1.1.0"
SCHEMA_FILE = "results.schema.json"
VERDICTS = {1: "better", -1: "worse", 0: "tied", None: None}


def schema() -> dict:
    return json.loads(resources.files(__package__).joinpath(SCHEMA_FILE).read_text("utf-8"))


def _num(x) -> float | None:
    return float(x) if isinstance(x, int | float) and math.isfinite(x) else None


def _ci(ci) -> list | None:
    return None if ci is None else [_num(ci[0]), _num(ci[1])]


def _table(t: Table) -> dict[str, Any]:
    rows = []
    for r in t.rows:
        metrics = {}
        for name, m in r.metrics.items():
            metrics[name] = {
                "value": _num(m.value),
                "ci": _ci(m.ci),
                "ci_method": m.method,
                "n_images": m.n,
                "rank": m.rank,
                "unavailable": m.unavailable,
            }
        rows.append(
            {
                "enhancer": r.enhancer,
                "status": r.status,
                "error": r.error,
                "rank": r.rank,
                "tied_with_above": r.tied_above,
                "n_skipped": r.n_skipped,
                "params": r.params,
                "images_per_s": _num(r.images_per_s),
                "ms_per_mp": _num(r.ms_per_mp),
                "metrics": metrics,
            }
        )
    comparisons = []
    if t.stats is not None:
        for (a, b), pair in t.stats.pairs.items():
            comparisons.append(
                {
                    "a": a,
                    "b": b,
                    "metric": t.stats.metric,
                    "delta": _num(pair.delta),
                    "ci": _ci(pair.ci),
                    "p": _num(pair.p),
                    "p_holm": _num(t.stats.p_adj.get((a, b))),
                    "n_images": pair.n,
                    "n_units": pair.units,
                    "test": pair.test,
                    "exact": pair.exact,
                    "verdict": VERDICTS[t.stats.verdict(a, b)],
                }
            )
    return {
        "dataset": t.dataset,
        "evaluation": t.evaluation,
        "downstream": t.downstream,
        "input_row": t.input_row,
        "metrics": [{"name": c.metric, "lower_better": c.lower_better} for c in t.columns],
        "rows": rows,
        "comparisons": comparisons,
        "statistics": _table_statistics(t),
        "problems": [{"item": i, "message": m, "enhancers": e} for i, m, e in t.problems],
    }


def _table_statistics(t: Table) -> dict[str, Any]:
    d, s = t.design, t.stats
    out: dict[str, Any] = {
        "n_images": len(d.images) if d else 0,
        "n_units": d.n_units if d else 0,
        "unit": "cluster" if d is not None and d.clustered else "image",
        "units_from": d.source if d else None,
        "strata": d.stratum_names if d else [],
        "per_stratum": t.strata,
    }
    if s is not None:
        out |= {
            "metric": s.metric,
            "tests": s.tests,
            "correction": "holm",
            "family": f"the {s.family} pairs of this table",
            "family_size": s.family,
            "random_swaps": s.n_random,
            "min_p_holm": _num(s.min_p),
            "underpowered": s.underpowered,
            "min_detectable_difference": _num(s.detectable),
        }
    return out


def _summary(report: Report) -> dict | None:
    s = report.summary
    if s is None:
        return None
    columns = [
        {
            "dataset": c.dataset,
            "evaluation": c.evaluation,
            "metric": c.metric,
            "lower_better": c.lower_better,
            "downstream": c.downstream,
        }
        for c in s.columns
    ]
    rows = []
    for r in s.rows:
        cells = [
            None
            if c is None
            else {
                "value": _num(c.value),
                "delta": _num(c.delta),
                "ci": _ci(c.ci),
                "p_holm": _num(c.p_adj),
                "verdict": VERDICTS[c.verdict],
            }
            for c in r.cells
        ]
        rows.append(
            {
                "enhancer": r.enhancer,
                "is_input": r.is_input,
                "avg_rank": _num(r.avg_rank),
                "avg_rank_ci": _ci(r.rank_ci),
                "n_ranked": r.n_ranked,
                "gains": cells,
            }
        )
    return {"columns": columns, "rows": rows}


def _agreement(report: Report) -> list[dict]:
    return [
        {
            "dataset": a.dataset,
            "correlations": [
                {
                    "iqa_evaluation": c.iqa_evaluation,
                    "iqa_metric": c.iqa_metric,
                    "evaluation": c.evaluation,
                    "metric": c.metric,
                    "kendall_tau": _num(c.tau),
                    "ci": _ci(c.ci),
                    "n_enhancers": c.n_enhancers,
                    "p_orderings": _num(c.p),
                }
                for c in a.correlations
            ],
            "unreliable": [
                {
                    "evaluation": u.evaluation,
                    "metric": u.metric,
                    "lower_better": u.lower_better,
                    "input_value": _num(u.input_value),
                    "reference_value": _num(u.reference_value),
                }
                for u in a.unreliable
            ],
        }
        for a in report.agreement
    ]


def document(report: Report) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "run": report.run,
        "versions": report.versions or {},
        "config": report.config or {},
        "statistics": {
            "interval": {
                "level": LEVEL,
                "method": "per metric (ci_method): Wilson for proportions of independent "
                "images, BCa bootstrap for other means, cluster bootstrap (clusters within "
                "strata) for clustered images and dataset-level metrics",
                "resamples": N_RESAMPLES,
                "seed": SEED,
            },
            "test": {
                "per_image": "paired permutation test on the mean difference over units "
                f"(scipy.stats.permutation_test), exact up to {EXACT_UNITS} units, else at "
                f"least {N_PERMUTATIONS} random swaps",
                "dataset_level": "paired permutation test on the metric: swap units' "
                "outputs between the two rows and recompute through the library aggregation, "
                f"exact up to {EXACT_UNITS} informative units, else random swaps "
                "(per table: statistics.random_swaps)",
            },
            "correction": "holm, across the pairs of one table (the summary uses the same)",
            "alpha": ALPHA,
        },
        "summary": _summary(report),
        "agreement": _agreement(report),
        "tables": [_table(t) | {"protocol": facts(t, report.versions)} for t in report.tables],
        "counts": {s: report.count(s) for s in (OK, "failed", "not run")},
    }


def _clean(obj):
    """JSON-safe: non-finite floats become null, tuples lists, unknown objects strings."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if obj is None or isinstance(obj, str | int | bool):
        return obj
    return str(obj)


def write(report: Report, path: Path) -> None:
    text = json.dumps(_clean(document(report)), indent=1, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")
