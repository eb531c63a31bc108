"""Rewrite README's demo figures from a finished results folder (``make docs-figures``).

Each figure the README quotes from the demo sits between markers,

    <!-- docs-figures:NAME -->
    ...
    <!-- /docs-figures -->

and is written here from the report the store gives (``gefu.bench.report``: the same analysis and
the same cell formatting as ``leaderboard.md``), so the README cannot drift from what the demo
prints. Usage: ``python scripts/docs_figures.py [RESULTS_DIR] [--readme README.md] [--check]``;
``--check`` changes nothing and exits 1 when a block differs from the results.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path

from gefu.bench.report.collect import OK, Report, Table
from gefu.bench.report.compare import BETTER
from gefu.bench.report.stat_tables import delta_text
from gefu.bench.report.tables import arrow, metric_text
from gefu.bench.report.text import decimals
from gefu.core.specs import REFERENCE_ROW

REPO = Path(__file__).resolve().parents[1]
OPEN = re.compile(r"<!-- docs-figures:([a-z0-9-]+) -->\n")
CLOSE = "<!-- /docs-figures -->"
MARKER = re.compile(r"<!-- /?docs-figures[^>]*-->")
SECONDARY = ("mAP50",)  # shown beside a downstream table's primary metric when it has them


class BlockError(ValueError):
    """A malformed marker, or a block no generator writes."""


# -- the blocks ------------------------------------------------------------------------------
def _order(report: Report, tables: list[Table]) -> list[str]:
    """Enhancer rows in config order (then any other), the clean reference left out."""
    listed = [e.get("id") or e.get("name") for e in report.config.get("enhancers", [])]
    seen = [r.enhancer for t in tables for r in t.rows if r.enhancer != REFERENCE_ROW]
    return [n for n in dict.fromkeys(listed + seen) if n in seen]


def _datasets(report: Report) -> dict[str, list[Table]]:
    out: dict[str, list[Table]] = {}
    for t in report.tables:
        out.setdefault(t.dataset, []).append(t)
    return out


def demo_table(report: Report) -> str:
    """Per dataset: one row per enhancer, each evaluation's primary metric (and mAP50)."""
    parts = []
    for dataset, tables in _datasets(report).items():
        cols = []
        for t in tables:
            names = [t.primary] + [
                c for c in t.columns[1:] if t.downstream and c.metric in SECONDARY
            ]
            for c in names if t.primary else []:
                label = f"{t.evaluation}: {c.metric}" if t.downstream else c.metric
                cols.append((t, c.metric, f"{label} {arrow(c)}"))
        lines = ["| enhancer | " + " | ".join(h for _, _, h in cols) + " |"]
        lines.append("|---" * (len(cols) + 1) + "|")
        for name in _order(report, tables):
            cells = [name]
            for t, metric, _ in cols:
                row = t.row(name)
                m = row.metrics.get(metric) if row else None
                text = metric_text(m, row) if row else "–"
                cells.append(f"**{text}**" if m and m.best and row.status == OK else text)
            lines.append("| " + " | ".join(cells) + " |")
        head = [f"{dataset}:", ""] if len(_datasets(report)) > 1 else []
        parts.append("\n".join(head + lines))
    return "\n\n".join(parts)


def _value(t: Table, enhancer: str | None, metric: str) -> float | None:
    row = t.row(enhancer) if enhancer else None
    m = row.metrics.get(metric) if row and row.status == OK else None
    return m.value if m else None


def iqa_agreement(report: Report) -> str:
    """The no-reference metrics against the input / reference test, and Kendall's tau of each
    IQA metric with the first downstream evaluation (the report's agreement tables)."""
    parts = []
    for a in report.agreement:
        iqa = [t for t in report.tables if t.dataset == a.dataset and not t.downstream]
        flagged = {(u.evaluation, u.metric) for u in a.unreliable}
        said, unsaid = [], []
        for t in iqa:
            for c in t.columns:
                inp, ref = _value(t, t.input_row, c.metric), _value(t, REFERENCE_ROW, c.metric)
                if inp is None or ref is None:
                    continue
                d = decimals(ref or inp)
                rank = t.row(t.input_row).metrics[c.metric].rank
                n = sum(1 for r in t.rows if r.enhancer != REFERENCE_ROW and r.status == OK)
                text = f"{c.metric.upper()} (input {inp:.{d}f}, reference {ref:.{d}f}, "
                text += f"{'lower' if c.lower_better else 'higher'} is better; "
                text += f"the input ranks {rank} of {n})"
                (said if (t.evaluation, c.metric) in flagged else unsaid).append(text)
        where = f"{a.dataset}: " if len(report.agreement) > 1 else ""
        lines = [
            f"{where}Flagged as unreliable (they score the dark input better than the "
            f"reference): {', '.join(said) or 'none'}; "
            f"not flagged: {', '.join(unsaid) or 'none'}."
        ]
        first = next((c.evaluation for c in a.correlations), None)
        taus = [c for c in a.correlations if c.evaluation == first and c.tau is not None]
        if taus:
            t = next(t for t in report.tables if (t.dataset, t.evaluation) == (a.dataset, first))
            shown = [
                f"{c.iqa_metric.upper()} {c.tau:+.2f}"
                + (f" [{c.ci[0]:+.2f}, {c.ci[1]:+.2f}]" if c.ci else "")
                for c in taus
            ]
            lines.append(
                f"Kendall's τ with {first} ({taus[0].metric}), {taus[0].n_enhancers} rows on "
                f"{t.design.describe() if t.design else '?'}: {', '.join(shown)}."
            )
        parts.append(" ".join(lines))
    return "\n\n".join(parts)


def demo_power(report: Report) -> str:
    """Per table: its Holm family, the smallest difference it could detect, and the rows
    significantly better than the input (with their Holm-adjusted p)."""
    lines = []
    for t in report.tables:
        s = t.stats
        if s is None or not s.pairs:
            continue
        power = (
            "underpowered (no pair can be significant)"
            if s.underpowered
            else f"minimum detectable difference {s.detectable:.{decimals(s.detectable)}f}"
            if s.detectable is not None
            else "no power estimate"
        )
        better = []
        for name in s.enhancers:
            found = s.result(name, t.input_row) if t.input_row and name != t.input_row else None
            if found and s.verdict(name, t.input_row) == BETTER:
                r, p = found
                ref = _value(t, t.input_row, s.metric) or 0.0
                better.append(f"{name} ({delta_text(r.delta, None, ref)}, Holm p {p:.2g})")
        where = f"{t.dataset} · " if len(_datasets(report)) > 1 else ""
        lines.append(
            f"- {where}{t.evaluation} ({s.metric}): {len(s.enhancers)} rows, "
            f"{s.family} pairs, {power}; "
            f"better than the input: {', '.join(better) or 'none'}."
        )
    return "\n".join(lines)


def demo_strata(report: Report) -> str:
    """The IQA tables' primary metric per stratum (the report's per-stratum table)."""
    from gefu.bench.report.stat_tables import stratum_cells

    parts = []
    for t in report.tables:
        cells = None if t.downstream else stratum_cells(t)
        if cells is None:
            continue
        header, body = cells
        where = f"{t.dataset} · " if len(_datasets(report)) > 1 else ""
        lines = [f"{where}{t.evaluation}, by stratum:", "", "| " + " | ".join(header) + " |"]
        lines.append("|---" * len(header) + "|")
        lines += ["| " + " | ".join(text for text, _ in row) + " |" for row in body]
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


GENERATORS: dict[str, Callable[[Report], str]] = {
    "demo-table": demo_table,
    "demo-iqa-agreement": iqa_agreement,
    "demo-power": demo_power,
    "demo-strata": demo_strata,
}


# -- the markers -----------------------------------------------------------------------------
def blocks(text: str) -> list[tuple[str, int, int]]:
    """``(name, start, end)`` of every marked block's body; a marker out of place, an unclosed
    or nested block, or a name without a generator raises ``BlockError`` naming its line."""
    found = []
    markers = list(MARKER.finditer(text))
    i = 0
    while i < len(markers):
        m = markers[i]
        line = text.count("\n", 0, m.start()) + 1
        opened = OPEN.match(text, m.start())
        if opened is None:
            raise BlockError(f"README line {line}: {m.group()!r} opens no block")
        name = opened.group(1)
        if name not in GENERATORS:
            raise BlockError(f"README line {line}: no generator writes block {name!r}")
        if i + 1 == len(markers) or markers[i + 1].group() != CLOSE:
            raise BlockError(f"README line {line}: block {name!r} is not closed by {CLOSE}")
        end = markers[i + 1].start()
        if text[end - 1 : end] != "\n" and end != opened.end():
            raise BlockError(f"README line {line}: {CLOSE} must start a line")
        found.append((name, opened.end(), end))
        i += 2
    return found


def rewrite(text: str, report: Report) -> str:
    """``text`` with every marked block written afresh from ``report``."""
    out, last = [], 0
    for name, start, end in blocks(text):
        body = GENERATORS[name](report).rstrip("\n")
        out += [text[last:start], body + "\n" if body else ""]
        last = end
    return "".join(out) + text[last:]


def load(results_dir: Path) -> Report:
    from gefu.bench.report.collect import load_report
    from gefu.bench.report.compare import analyse
    from gefu.bench.store import DB_NAME, Store

    if not (results_dir / DB_NAME).is_file():
        raise FileNotFoundError(f"no results store ({DB_NAME}) in {results_dir}: run `make demo`")
    with Store(results_dir, readonly=True) as store:
        return analyse(load_report(store))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("results", nargs="?", type=Path, default=REPO / "results" / "demo")
    p.add_argument("--readme", type=Path, default=REPO / "README.md")
    p.add_argument("--check", action="store_true", help="exit 1 if a block differs; write nothing")
    args = p.parse_args(argv)
    try:
        blocks(args.readme.read_text(encoding="utf-8"))  # malformed markers fail first
        report = load(args.results)  # minutes on the demo
        text = args.readme.read_text(encoding="utf-8")  # as it is now, edits meanwhile kept
        new = rewrite(text, report)
    except (BlockError, FileNotFoundError) as e:
        print(f"docs-figures: {e}", file=sys.stderr)
        return 2
    if new == text:
        print(f"{args.readme}: every marked block matches {args.results}")
        return 0
    if args.check:
        print(f"{args.readme}: marked blocks differ from {args.results}", file=sys.stderr)
        return 1
    args.readme.write_text(new, encoding="utf-8")
    print(f"{args.readme}: marked blocks rewritten from {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
