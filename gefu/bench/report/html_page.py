"""The self-contained HTML page: inline CSS, every figure a base64 PNG data URI, all text
escaped; nothing is fetched when the page is opened."""

from __future__ import annotations

import base64
from html import escape

from gefu.bench.report import plots
from gefu.bench.report.collect import FAILED, NOT_RUN, Report, Table
from gefu.bench.report.tables import problem_lines, summary_lines, table_cells

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 1200px; padding: 0 1em; color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; } tr:nth-child(even) td { background: #fafafa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.text { max-width: 22em; overflow-wrap: anywhere; }
td.failed { color: #a00; } td.notrun { color: #888; font-style: italic; }
figure { margin: 1em 0; } img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; }
.note { color: #555; font-size: 0.9em; } .wrap { overflow-x: auto; }
"""


def _img(png: bytes | None, caption: str) -> str:
    if png is None:
        return ""
    data = base64.b64encode(png).decode("ascii")
    alt = escape(caption)
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{alt}">'
        f"<figcaption>{alt}</figcaption></figure>"
    )


def _numeric(text: str) -> bool:
    return text[:1].isdigit() or text[:1] in "-–"


def _table_html(t: Table) -> str:
    header, body = table_cells(t.rows, t.columns)
    out = [
        '<div class="wrap"><table>',
        "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in header) + "</tr>",
    ]
    for row, cells in zip(t.rows, body):
        tds = []
        for j, (text, bold) in enumerate(cells):
            last = j == len(cells) - 1
            classes = ["text" if j == 1 or last or not _numeric(text) else "num"]
            if last and row.status in (FAILED, NOT_RUN):
                classes.append("failed" if row.status == FAILED else "notrun")
            cls = f' class="{" ".join(classes)}"'
            content = f"<strong>{escape(text)}</strong>" if bold else escape(text)
            tds.append(f"<td{cls}>{content}</td>")
        out.append("<tr>" + "".join(tds) + "</tr>")
    out.append("</table></div>")
    return "\n".join(out)


def _section(t: Table) -> str:
    title = f"{t.dataset} · {t.evaluation}"
    parts = [f"<h2>{escape(title)}</h2>"]
    if not t.columns:
        parts.append(
            '<p class="note">No metric values yet (no cell of this table has completed).</p>'
        )
    parts.append(_table_html(t))
    if t.problems:
        items = "".join(f"<li>{escape(p)}</li>" for p in problem_lines(t.problems))
        parts.append(f'<p class="note">Problems:</p><ul class="note">{items}</ul>')
    parts.append(_img(plots.metric_bars(t), f"{title}: mean and 95% bootstrap interval"))
    parts.append(_img(plots.quality_vs_speed(t), f"{title}: primary metric vs ms per megapixel"))
    return "\n".join(p for p in parts if p)


def page(report: Report) -> str:
    body = ["<h1>Leaderboard</h1>"]
    body += [f'<p class="note">{escape(line)}</p>' for line in summary_lines(report)]
    body += [_section(t) for t in report.tables]
    if report.samples:
        body.append("<h2>Sample crops</h2>")
        for dataset, grid in report.samples.items():
            body.append(_img(plots.sample_grid(dataset, grid), f"{dataset}: sample crops"))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>gefu-bench leaderboard</title>"
        f"<style>{CSS}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
