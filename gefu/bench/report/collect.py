"""Read the latest run's grid from the store into plain objects the renderers share.

A grid cell is ``ok``, ``failed`` or ``not run`` (absent from ``cells``: the run stopped first).
Shown values are the stored dataset-level values (``cell_metrics.value``); intervals are filled
by ``compare.analyse`` once the table's sampling units are known.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

import numpy as np

from gefu.bench.report.stats import best_positions, competition_ranks, finite, proportion
from gefu.bench.store import Store
from gefu.core.specs import REFERENCE_ROW

OK, FAILED, NOT_RUN = "ok", "failed", "not run"
SAMPLE_INPUT, SAMPLE_REFERENCE = "input", "reference"
INPUT_ENHANCER = "identity"  # the registered enhancer that returns its input unchanged
IQA_TASK = "iqa"


@dataclass
class MetricResult:
    value: float | None
    ci: tuple[float, float] | None = None  # (low, high) of the interval
    n: int | None = None  # how many images stand behind the value
    method: str | None = None  # how the interval was made (stats.WILSON, ...)
    unavailable: str | None = None  # why it could not be computed
    rank: int | None = None  # among the table's rows, for this metric
    best: bool = False
    images: dict[str, float] | None = None  # per-image scores by image name, where kept
    proportion: bool = False  # the per-image scores are 0/1 outcomes (declared by the task)


@dataclass
class Row:
    enhancer: str
    status: str
    error: str | None = None
    n_skipped: int = 0
    params: int | None = None
    images_per_s: float | None = None
    ms_per_mp: float | None = None
    metrics: dict[str, MetricResult] = field(default_factory=dict)
    rank: int | None = None  # by the primary metric
    tied_above: bool = False  # not significantly different from the row ranked just above
    spec: dict = field(default_factory=dict)  # the cell's resolved spec (enhancer, dataset...)
    records: list[tuple[str, bytes]] = field(default_factory=list)  # per-image, dataset metrics
    groups: dict = field(default_factory=dict)  # image -> (cluster, stratum), from the reader


@dataclass
class Column:
    metric: str
    lower_better: bool


@dataclass
class Table:
    dataset: str
    evaluation: str
    columns: list[Column]  # primary metric first
    rows: list[Row]  # ranked; rows without a primary value, failed and not-run rows last
    problems: list[tuple[str, str, list[str]]]  # item, message, enhancers where it occurred
    input_row: str | None = None  # the un-enhanced input's row (enhancer ``identity``)
    downstream: bool = True  # a frozen-model evaluation (False for IQA)
    stats: object = None  # paired comparisons on the primary metric (compare.TableStats)
    resampled: dict = field(default_factory=dict)  # enhancer -> compare.Replicates
    protocol: list = field(default_factory=list)  # (key, text) facts: protocol.card
    design: object = None  # units.Design: the sampling units of the table's images
    strata: dict = field(default_factory=dict)  # stratum -> enhancer -> primary value

    @property
    def primary(self) -> Column | None:
        return self.columns[0] if self.columns else None

    def row(self, enhancer: str) -> Row | None:
        return next((r for r in self.rows if r.enhancer == enhancer), None)


def compared_scores(row: Row, metric: str) -> dict[str, float] | None:
    """The row's per-image scores of ``metric`` when it takes part in comparisons, else None."""
    m = row.metrics.get(metric)
    if row.status != OK or row.enhancer == REFERENCE_ROW or m is None or m.value is None:
        return None
    return m.images or None


def resampled_values(table: Table, enhancer: str) -> dict:
    """Metric -> the row's values under the table's image resamples (dataset-level metrics)."""
    rep = table.resampled.get(enhancer)
    return rep.values if rep is not None else {}


@dataclass
class SampleGrid:
    columns: list[str]  # "input", enhancer names..., "reference"
    images: dict[str, dict[str, bytes]]  # image -> column -> PNG


@dataclass
class Report:
    run: dict | None  # run_id, started, finished (ISO strings) or None when nothing ran
    tables: list[Table]
    samples: dict[str, SampleGrid]  # by dataset
    versions: dict = field(default_factory=dict)  # suite and library versions of the run
    config: dict = field(default_factory=dict)  # the run's resolved benchmark config
    summary: object = None  # compare.Summary, filled by compare.analyse
    agreement: list = field(default_factory=list)  # compare.Agreement per dataset

    def count(self, status: str) -> int:
        return sum(1 for t in self.tables for r in t.rows if r.status == status)


def _iso(ts) -> str | None:
    t = finite(ts)
    if t is None:
        return None
    return dt.datetime.fromtimestamp(t, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _metric_result(store: Store, cell_key: str, m, n_images: int | None) -> MetricResult:
    if m["unavailable"] is not None:
        return MetricResult(value=None, unavailable=str(m["unavailable"]))
    value = finite(m["value"])
    images = store.image_score_map(cell_key, m["metric"])
    kept = {k: float(v) for k, v in images.items() if finite(v) is not None}
    if not kept:
        return MetricResult(value=value, n=n_images if value is not None else None)
    value = sum(kept.values()) / len(kept) if value is None else value
    return MetricResult(value=value, n=len(kept), images=kept)


def _load_row(store: Store, grid_row, columns: dict[str, Column]) -> tuple[Row, list]:
    cell = store.cell(grid_row["cell_key"])
    if cell is None:
        return Row(grid_row["enhancer"], NOT_RUN), []
    row = Row(
        enhancer=grid_row["enhancer"],
        status=OK if cell["status"] == OK else FAILED,
        error=cell["error"],
        n_skipped=cell["n_skipped"] or 0,
        params=None if (n := finite(cell["params"])) is None else round(n),
        images_per_s=finite(cell["images_per_s"]),
        ms_per_mp=finite(cell["ms_per_mp"]),
        spec=_json(cell["spec_json"]),
    )
    proportions = store.proportion_metrics(cell["cell_key"])
    for m in store.cell_metrics(cell["cell_key"]):
        columns.setdefault(m["metric"], Column(m["metric"], bool(m["lower_better"])))
        if row.status == OK:
            n = cell["n_images"]
            result = _metric_result(store, cell["cell_key"], m, n)
            if proportions is None:  # an older store: 0/1 scores were taken as proportions
                values = np.array(list((result.images or {}).values()), np.float64)
                result.proportion = proportion(values)
            else:
                result.proportion = m["metric"] in proportions
            row.metrics[m["metric"]] = result
    if row.status == OK:
        row.records = store.image_records(cell["cell_key"])
        row.groups = store.image_groups(cell["cell_key"])
    return row, list(store.problems(cell["cell_key"]))


def _input_row(rows: list[Row]) -> str | None:
    """The un-enhanced input: the ``identity`` enhancer (by registered name, else by label)."""
    for r in rows:
        if r.spec.get("enhancer", {}).get("name") == INPUT_ENHANCER:
            return r.enhancer
    return next((r.enhancer for r in rows if r.enhancer == INPUT_ENHANCER), None)


def _downstream(rows: list[Row], evaluation: str) -> bool:
    """IQA tables rank image quality; every other evaluation is a frozen downstream model."""
    for r in rows:
        task = r.spec.get("evaluation", {}).get("task", {})
        if isinstance(task, dict) and task.get("task"):
            return task["task"] != IQA_TASK
    return evaluation != IQA_TASK


def _rank(rows: list[Row], columns: list[Column]) -> list[Row]:
    for col in columns:  # the reference row is an upper bound shown for context, not ranked
        cells = [r.metrics.get(col.metric) if r.enhancer != REFERENCE_ROW else None for r in rows]
        values = [c.value if c else None for c in cells]
        ranks = competition_ranks(values, col.lower_better)
        best = best_positions(values, col.lower_better)
        for i, c in enumerate(cells):
            if c is not None:
                c.rank, c.best = ranks[i], i in best
    primary = columns[0].metric if columns else None
    for r in rows:
        r.rank = r.metrics[primary].rank if primary in r.metrics else None
    group = {OK: 1, FAILED: 2, NOT_RUN: 3}

    def key(ir: tuple[int, Row]):
        i, r = ir
        return (0 if r.rank is not None else group[r.status], r.rank or 0, i)

    return [r for _, r in sorted(enumerate(rows), key=key)]


def _problems(found: list[tuple[str, object]]) -> list[tuple[str, str, list[str]]]:
    merged: dict[tuple[str, str], list[str]] = {}
    for enhancer, p in found:
        merged.setdefault((str(p["item"]), str(p["message"])), []).append(enhancer)
    return [(item, msg, enh) for (item, msg), enh in merged.items()]


def _samples(store: Store, grid: list) -> dict[str, SampleGrid]:
    out: dict[str, SampleGrid] = {}
    for g in grid:
        if store.cell(g["cell_key"]) is None:
            continue
        sg = out.setdefault(g["dataset"], SampleGrid([SAMPLE_INPUT], {}))
        for s in store.samples(g["cell_key"]):
            column = g["enhancer"] if s["kind"] == "output" else s["kind"]
            if column not in sg.columns and column != SAMPLE_REFERENCE:
                sg.columns.append(column)
            sg.images.setdefault(str(s["image"]), {}).setdefault(column, bytes(s["png"]))
    for sg in out.values():
        sg.columns.append(SAMPLE_REFERENCE)
    return {d: sg for d, sg in out.items() if sg.images}


def _json(text) -> dict:
    try:
        out = json.loads(text) if text else {}
    except ValueError:
        return {}
    return out if isinstance(out, dict) else {}


def load_report(store: Store) -> Report:
    run = store.latest_run()
    if run is None:
        return Report(None, [], {})
    grid = store.run_grid(run["run_id"])
    info = {"run_id": run["run_id"], "started": _iso(run["started"])}
    info["finished"] = _iso(run["finished"])
    info["versions"] = json.loads(run["versions"])
    by_table: dict[tuple[str, str], list] = {}
    for g in grid:
        by_table.setdefault((g["dataset"], g["evaluation"]), []).append(g)
    tables = []
    for (dataset, evaluation), cells in by_table.items():
        columns: dict[str, Column] = {}
        rows, found = [], []
        for g in cells:
            row, problems = _load_row(store, g, columns)
            rows.append(row)
            found += [(row.enhancer, p) for p in problems]
        cols = list(columns.values())
        table = Table(dataset, evaluation, cols, _rank(rows, cols), _problems(found))
        table.input_row, table.downstream = _input_row(rows), _downstream(rows, evaluation)
        tables.append(table)
    versions, config = _json(run["versions"]), _json(run["config_json"])
    return Report(info, tables, _samples(store, grid), versions, config)
