"""The text of ``gefu compare``: two enhancers, paired, on every table's primary metric."""

from __future__ import annotations

from gefu.bench.report import stat_tables as st
from gefu.bench.report.collect import OK, Report
from gefu.bench.report.compare import BETTER, TIED, WORSE
from gefu.bench.report.text import DASH, decimals, shorten

WORDS = {BETTER: "better", WORSE: "worse", TIED: "not significantly different", None: "untested"}


def comparison_lines(report: Report, a: str, b: str) -> list[str]:
    """One block per table where both rows have a primary value, then a one-line tally."""
    header = [
        "dataset · evaluation",
        "metric",
        a,
        b,
        f"Δ ({a} − {b}) [95% CI]",
        "p (Holm)",
        f"{a} is",
    ]
    rows, tally = [], {BETTER: 0, WORSE: 0, TIED: 0, None: 0}
    for t in report.tables:
        col = t.primary
        ra, rb = t.row(a), t.row(b)
        if col is None or ra is None or rb is None or OK not in (ra.status, rb.status):
            continue
        ma, mb = ra.metrics.get(col.metric), rb.metrics.get(col.metric)
        va = ma.value if ma is not None and ra.status == OK else None
        vb = mb.value if mb is not None and rb.status == OK else None
        found = t.stats.result(a, b) if t.stats is not None else None
        verdict = t.stats.verdict(a, b) if found else None
        tally[verdict] += 1
        d = decimals(va if va is not None else vb if vb is not None else 1.0)
        if found is not None:
            pair, p_adj = found
            delta = st.delta_text(pair.delta, pair.ci, va or vb or 1.0) + f" (n={pair.n})"
            p = DASH if p_adj is None else f"{p_adj:.3g}"
        else:
            delta = DASH if va is None or vb is None else f"{va - vb:+.{d}f} (untested)"
            p = DASH
        rows.append(
            [
                shorten(f"{t.dataset} · {t.evaluation}", 40),
                f"{col.metric} {'↓' if col.lower_better else '↑'}",
                DASH if va is None else f"{va:.{d}f}",
                DASH if vb is None else f"{vb:.{d}f}",
                delta,
                p,
                WORDS[verdict],
            ]
        )
    if not rows:
        return [f"No table has both {a} and {b} completed."]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    out += [
        "",
        f"{a} vs {b}: significantly better on {tally[BETTER]}, worse on {tally[WORSE]}, "
        f"not significantly different on {tally[TIED]}, untested on {tally[None]} evaluation(s).",
        "Paired on the images both scored; p-values Holm-corrected across all pairs of each "
        "table, as in the report.",
    ]
    return out
