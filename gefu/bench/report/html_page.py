"""The self-contained HTML page, rendered with Jinja2 (autoescaping on): inline CSS and a small
inline script that sorts a table by the clicked header, every figure a base64 PNG data URI;
nothing is fetched when the page is opened."""

from __future__ import annotations

import base64

from gefu.bench.report import plots
from gefu.bench.report import stat_tables as st
from gefu.bench.report.collect import FAILED, NOT_RUN, Report, Table
from gefu.bench.report.tables import problem_lines, summary_lines, table_cells

TEMPLATE = "report.html.jinja"


def _figure(png: bytes | None, caption: str) -> dict | None:
    if png is None:
        return None
    return {"data": base64.b64encode(png).decode("ascii"), "caption": caption}


def _numeric(text: str) -> bool:
    return text[:1].isdigit() or text[:1] in "-–+"


def _cell(text: str, v: float | None = None, cls: str | None = None, bold: bool = False) -> dict:
    cls = cls or ("num" if _numeric(text) else "text")
    return {"text": text, "v": v, "cls": cls, "bold": bold}


def _leaderboard_rows(t: Table) -> tuple[list[str], list[list[dict]]]:
    header, body = table_cells(t.rows, t.columns)
    rows = []
    for row, cells in zip(t.rows, body):
        out = []
        values = [row.rank, None] + [
            m.value if (m := row.metrics.get(c.metric)) and row.status == "ok" else None
            for c in t.columns
        ]
        values += [row.params, row.images_per_s, row.ms_per_mp, None]
        for j, (text, bold) in enumerate(cells):
            last = j == len(cells) - 1
            cls = "text" if j == 1 or last or not _numeric(text) else "num"
            if last and row.status in (FAILED, NOT_RUN):
                cls += " failed" if row.status == FAILED else " notrun"
            v = values[j] if j < len(values) else None
            out.append(_cell(text, v, cls, bold))
        rows.append(out)
    return header, rows


def _table(t: Table) -> dict:
    title = f"{t.dataset} · {t.evaluation}"
    header, rows = _leaderboard_rows(t)
    view = {"title": title, "empty": not t.columns, "header": header, "rows": rows}
    matrix = st.matrix_cells(t.stats)
    view["matrix"] = None
    if matrix is not None:
        m_header, m_body = matrix
        m_rows = [[_cell(r[0], cls="text"), *(_cell(c, cls="mark") for c in r[1:])] for r in m_body]
        view["matrix"] = {"metric": t.stats.metric, "header": m_header, "rows": m_rows}
    view["notes"] = st.table_notes(t)
    strata = st.stratum_cells(t)
    view["strata"] = None if strata is None else _sortable(*strata) | {"metric": t.primary.metric}
    view["problems"] = problem_lines(t.problems) if t.problems else []
    view["protocol"] = t.protocol
    view["figures"] = [
        f
        for f in (
            _figure(plots.metric_bars(t), f"{title}: value and 95% interval"),
            _figure(plots.degradation(t), f"{title}: primary metric by stratum"),
            _figure(plots.quality_vs_speed(t), f"{title}: primary metric vs ms per megapixel"),
        )
        if f
    ]
    return view


def _sortable(header, body) -> dict:
    return {"header": header, "rows": [[_cell(text, v) for text, v in row] for row in body]}


def _agreement(report: Report) -> list[dict]:
    out = []
    for a in report.agreement:
        view = {"dataset": a.dataset, "note": st.agreement_note()}
        view["flags"] = st.unreliable_lines(a)
        view["table"] = _sortable(*st.agreement_cells(a)) if a.correlations else None
        caption = f"{a.dataset}: Kendall τ between IQA and downstream rankings of the enhancers"
        view["figure"] = _figure(plots.agreement_heatmap(a), caption)
        out.append(view)
    return out


def _environment():
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    return Environment(
        loader=PackageLoader("gefu.bench.report", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def page(report: Report) -> str:
    notes = summary_lines(report) + (st.legend() if report.tables else [])
    summary = None
    if report.summary is not None and report.summary.rows:
        summary = _sortable(*st.summary_cells(report.summary))
        summary["note"] = st.summary_note(report.summary)
    samples = [
        _figure(plots.sample_grid(dataset, grid), f"{dataset}: sample crops")
        for dataset, grid in report.samples.items()
    ]
    return (
        _environment()
        .get_template(TEMPLATE)
        .render(
            notes=notes,
            summary=summary,
            agreement=_agreement(report),
            tables=[_table(t) for t in report.tables],
            samples=[f for f in samples if f],
        )
    )
