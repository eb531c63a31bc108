"""Text renderings of the report: cell formatting, the Markdown leaderboard and the tidy CSV."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from gefu.bench.report.collect import FAILED, NOT_RUN, OK, Column, MetricResult, Report, Row
from gefu.bench.report.stats import FLAT, N_RESAMPLES, SEED
from gefu.bench.report.text import DASH, TIE, decimals, shorten

MAX_PROBLEMS = 20
CSV_FIELDS = [
    "dataset",
    "evaluation",
    "enhancer",
    "metric",
    "value",
    "ci_low",
    "ci_high",
    "ci_method",
    "n_images",
    "lower_better",
    "rank",
    "status",
    "reason",
    "params",
    "images_per_s",
    "ms_per_mp",
]


def arrow(col: Column) -> str:
    return "↓" if col.lower_better else "↑"


def metric_text(m: MetricResult | None, row: Row) -> str:
    """``value [low, high]``, ``value (no variation)``, or why there is no value."""
    if row.status != OK:
        return DASH
    if m is None:
        return DASH
    if m.unavailable is not None:
        return f"unavailable: {shorten(m.unavailable, 60)}"
    if m.value is None:
        return "no value"
    d = decimals(m.value)
    if m.ci is None:
        return f"{m.value:.{d}f}"
    if m.method == FLAT or m.ci[0] == m.ci[1]:
        return f"{m.value:.{d}f} (no variation)"
    return f"{m.value:.{d}f} [{m.ci[0]:.{d}f}, {m.ci[1]:.{d}f}]"


def params_text(n: float | None) -> str:
    if n is None:
        return DASH
    if abs(n) >= 1e6:
        return f"{n / 1e6:.2f}M"
    return f"{n / 1e3:.1f}k" if abs(n) >= 1e3 else f"{n:.0f}"


def speed_text(x: float | None) -> str:
    return DASH if x is None else f"{x:.3g}" if x < 1000 else f"{x:.0f}"


def status_text(row: Row) -> str:
    if row.status == FAILED:
        return f"failed: {shorten(row.error or 'no reason recorded')}"
    if row.status == NOT_RUN:
        return NOT_RUN
    return f"ok ({row.n_skipped} skipped)" if row.n_skipped else OK


def table_cells(rows: list[Row], columns: list[Column]) -> tuple[list[str], list[list[tuple]]]:
    """Header and body shared by Markdown and HTML; body cells are ``(text, bold)``."""
    header = ["#", "enhancer", *(f"{c.metric} {arrow(c)}" for c in columns)]
    header += ["params", "images/s", "ms/MP", "status"]
    body = []
    for r in rows:
        rank = DASH if r.rank is None else f"{r.rank} {TIE}" if r.tied_above else str(r.rank)
        cells = [(rank, False), (r.enhancer, False)]
        for c in columns:
            m = r.metrics.get(c.metric)
            cells.append((metric_text(m, r), bool(m and m.best and r.status == OK)))
        cells += [(params_text(r.params), False), (speed_text(r.images_per_s), False)]
        cells += [(speed_text(r.ms_per_mp), False), (status_text(r), False)]
        body.append(cells)
    return header, body


def summary_lines(report: Report) -> list[str]:
    if report.run is None:
        return ["No runs are recorded in this results directory yet."]
    run = report.run
    done = f"finished {run['finished']}" if run["finished"] else "not finished"
    counts = ", ".join(f"{report.count(s)} {s}" for s in (OK, FAILED, NOT_RUN))
    lines = [f"Run {run['run_id']}: started {run['started']}, {done}; cells: {counts}."]
    if report.count(OK) == 0:
        lines.append("No cell of this run has completed yet.")
    installed = {k: v for k, v in run.get("versions", {}).items() if v != "absent"}
    if installed:
        lines.append("Versions: " + ", ".join(f"{k} {v}" for k, v in installed.items()) + ".")
    lines.append(
        f"Values: mean of per-image scores, or the library's dataset-level value (mAP, mIoU); "
        f"bootstrap intervals use {N_RESAMPLES} resamples, seed {SEED}; a value with no "
        "per-image data is shown alone. ↑ higher is better, ↓ lower is better; bold marks the best."
    )
    return lines


def problem_lines(problems) -> list[str]:
    lines = [
        f"{item}: {shorten(msg, 100)} ({', '.join(enh)})"
        for item, msg, enh in problems[:MAX_PROBLEMS]
    ]
    if len(problems) > MAX_PROBLEMS:
        lines.append(f"… and {len(problems) - MAX_PROBLEMS} more")
    return lines


def _md(text: str) -> str:
    flat = " ".join(text.split()).replace("\\", "\\\\")
    for ch in "|<*":  # table separator, HTML tags, emphasis
        flat = flat.replace(ch, "\\" + ch)
    return flat


def _md_table(header: list[str], body: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(_md(h) for h in header) + " |"]
    out.append("|" + "|".join("---" for _ in header) + "|")
    out += ["| " + " | ".join(_md(c) for c in row) + " |" for row in body]
    return out + [""]


def _md_stats(report: Report) -> list[str]:
    from gefu.bench.report import stat_tables as st

    out = []
    if report.summary is not None and report.summary.rows:
        header, body = st.summary_cells(report.summary)
        out += ["## GEFU summary", "", st.summary_note(report.summary), ""]
        out += _md_table(header, [[text for text, _ in row] for row in body])
    for a in report.agreement:
        out += [f"## IQA ↔ downstream agreement: {_md(a.dataset)}", "", st.agreement_note(), ""]
        if a.correlations:
            header, body = st.agreement_cells(a)
            out += _md_table(header, [[text for text, _ in row] for row in body])
        out += [f"- **{_md(line)}**" for line in st.unreliable_lines(a)]
        out += [""] if a.unreliable else []
    return out


def markdown(report: Report) -> str:
    from gefu.bench.report import stat_tables as st
    from gefu.bench.report.seeds import markdown_lines as seed_lines

    out = ["# Leaderboard", "", *summary_lines(report), ""]
    if report.tables:
        out += [*st.legend(), "", *_md_stats(report)]
        out += seed_lines(report)  # evaluations run once per seed (report/seeds.py)
    for t in report.tables:
        out += [f"## {_md(t.dataset)} · {_md(t.evaluation)}", ""]
        named = dict(t.protocol or ()).get("protocol")
        if named:  # the published protocol its numbers follow, beside them
            out += [f"Protocol: {_md(named)}", ""]
        if not t.columns:
            out += ["No metric values yet (no cell of this table has completed).", ""]
        header, body = table_cells(t.rows, t.columns)
        out.append("| " + " | ".join(_md(h) for h in header) + " |")
        out.append("|" + "|".join("---" for _ in header) + "|")
        for cells in body:
            text = [f"**{_md(s)}**" if bold else _md(s) for s, bold in cells]
            out.append("| " + " | ".join(text) + " |")
        out.append("")
        out += [f"- {_md(line)}" for line in st.table_notes(t)] + [""]
        strata = st.stratum_cells(t)
        if strata is not None:
            out += [f"Per stratum ({t.primary.metric}):", ""]
            out += _md_table(strata[0], [[text for text, _ in row] for row in strata[1]])
        matrix = st.matrix_cells(t.stats)
        if matrix is not None:
            out += [f"Significantly better than (paired, Holm; {t.stats.metric}):", ""]
            out += _md_table(*matrix)
        if t.problems:
            out += ["Problems:", ""] + [f"- {_md(p)}" for p in problem_lines(t.problems)] + [""]
        if t.protocol:
            out += ["Protocol:", ""] + [f"- {_md(k)}: {_md(v)}" for k, v in t.protocol] + [""]
    return "\n".join(out)


def _num(x) -> str:
    return "" if x is None or (isinstance(x, float) and not math.isfinite(x)) else repr(x)


def csv_rows(report: Report) -> list[dict]:
    """One row per enhancer x dataset x evaluation x metric (metric empty when a table has no
    known metrics); ``rank`` is the row's rank within that metric."""
    rows = []
    for t in report.tables:
        for r in t.rows:
            base = {"dataset": t.dataset, "evaluation": t.evaluation, "enhancer": r.enhancer}
            base |= {"params": _num(r.params), "images_per_s": _num(r.images_per_s)}
            base["ms_per_mp"] = _num(r.ms_per_mp)
            reason = shorten(r.error, 300) if r.status == FAILED else ""
            for col in t.columns or [None]:
                m = r.metrics.get(col.metric) if col else None
                status, why = r.status, reason
                if r.status == OK and (m is None or m.value is None):
                    status = "unavailable" if m and m.unavailable else "no value"
                    why = m.unavailable if m and m.unavailable else ""
                rows.append(
                    base
                    | {
                        "metric": col.metric if col else "",
                        "value": _num(m.value if m else None),
                        "ci_low": _num(m.ci[0] if m and m.ci else None),
                        "ci_high": _num(m.ci[1] if m and m.ci else None),
                        "ci_method": (m.method or "") if m else "",
                        "n_images": "" if m is None or m.n is None else str(m.n),
                        "lower_better": "" if col is None else str(col.lower_better).lower(),
                        "rank": "" if m is None or m.rank is None else str(m.rank),
                        "status": status,
                        "reason": why,
                    }
                )
    return rows


def write_csv(report: Report, path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        writer.writeheader()
        writer.writerows(csv_rows(report))
