"""Text cells of the statistics tables (GEFU summary, "significantly better than" matrices,
IQA <-> downstream agreement), shared by the Markdown and HTML renderings. A cell is
``(text, sort_value)``: ``sort_value`` is the number a sortable HTML column sorts by (None
for text)."""

from __future__ import annotations

from gefu.bench.report.agreement import Agreement
from gefu.bench.report.compare import BETTER, MIN_UNITS, TIED, WORSE, TableStats
from gefu.bench.report.paired import ALPHA
from gefu.bench.report.stats import N_RESAMPLES
from gefu.bench.report.summary import Summary
from gefu.bench.report.text import DASH, TIE, decimals, shorten
from gefu.core.specs import REFERENCE_ROW

MARK = {BETTER: " ▲", WORSE: " ▼", TIED: "", None: ""}
MATRIX = {BETTER: "▲", WORSE: "▼", TIED: "·", None: ""}


def legend() -> list[str]:
    return [
        "Values: the metric with its 95% interval as value [low, high]: Wilson's interval for "
        "a proportion of independent images (agreement, top-1), scipy's BCa bootstrap for "
        "other means of independent images, a cluster bootstrap (resampling scenes / "
        "sequences within strata) where images are clustered and for mAP / mIoU (recomputed "
        "by the library's aggregation on each resample); 'no variation' where every unit "
        "gave the same value. Each table states its units, its test and its power.",
        f"Δ: difference from the un-enhanced input on the same images, with its 95% interval "
        "(unadjusted). ▲ / ▼: significantly better / worse than the input; in a matrix, the "
        "row is significantly better (▲) or worse (▼) than the column, · not significantly "
        f"different. Significance: a two-sided paired permutation test on the table's primary "
        f"metric (named under each table), Holm-corrected across all pairs of one table (one "
        f"family per table; the GEFU summary's marks are those same tests), at {ALPHA:g}. "
        f"{TIE} after a rank: not significantly different from the row ranked just above. "
        "A value or Δ of mAP / mIoU without an interval rests on ground truth in fewer than "
        f"{MIN_UNITS} units (too few to resample; it is still tested) or has no stored "
        "per-image records (then untested).",
    ]


def table_notes(t) -> list[str]:
    """What stands behind one table's numbers: units, test, correction and power."""
    if t.design is None:
        return []
    out = [f"Units: {t.design.describe()}."]
    s = t.stats
    if s is None or not s.pairs:
        return out
    tests = "; ".join(s.tests) or "none"
    out.append(f"Test ({s.metric}): {tests}; Holm over the {s.family} pair(s) of this table.")
    units = s.units
    if s.underpowered:
        out.append(
            f"Underpowered: no pair can be significant with {units} unit(s) and {s.family} "
            f"pair(s) (the smallest attainable Holm-adjusted p is {s.min_p:.3g} > {ALPHA:g})."
        )
    elif s.detectable is not None:
        d = decimals(s.detectable)
        out.append(
            f"Minimum detectable difference in {s.metric} (80% power, two-sided at "
            f"{ALPHA:g}/{s.family}, median standard error of the pairs): "
            f"{s.detectable:.{d}f}."
        )
    return out


def stratum_cells(t) -> tuple[list[str], list[list[tuple[str, float | None]]]] | None:
    """Per-stratum values of the primary metric: rows in rank order, one column per stratum,
    then mPC (the mean over strata, as MMDetection's robustness benchmark reports performance
    under corruption) and, for a higher-is-better metric whose reference row (the clean
    images) has a value, rPC = mPC / clean."""
    if not t.strata or t.primary is None:
        return None
    strata = list(t.strata)
    metric = t.primary.metric
    clean = next(
        (
            m.value
            for r in t.rows
            if r.enhancer == REFERENCE_ROW and (m := r.metrics.get(metric)) is not None
        ),
        None,
    )
    relative = clean is not None and clean > 0 and not t.primary.lower_better
    header = ["enhancer", *(f"{metric} @ {s}" for s in strata), "mPC"]
    header += ["rPC"] if relative else []
    body = []
    for r in t.rows:
        values = [t.strata[s].get(r.enhancer) for s in strata]
        if all(v is None for v in values):
            continue
        mpc = None if None in values else sum(values) / len(values)
        extra = [mpc] + ([None if mpc is None else mpc / clean] if relative else [])
        body.append(
            [(r.enhancer, None)]
            + [(DASH, None) if v is None else (f"{v:.{decimals(v)}f}", v) for v in values]
            + [(DASH, None) if v is None else (f"{v:.{decimals(v)}f}", v) for v in extra]
        )
    return (header, body) if body else None


def _num(x: float, d: int, sign: bool = False) -> str:
    x = 0.0 if round(x, d) == 0 else x  # no "-0.000"
    return f"{x:+.{d}f}" if sign else f"{x:.{d}f}"


def delta_text(delta: float, ci, reference: float) -> str:
    d = decimals(reference if reference else delta)
    text = _num(delta, d, sign=True)
    if ci is not None:
        text += f" [{_num(ci[0], d, True)}, {_num(ci[1], d, True)}]"
    return text


def summary_cells(s: Summary) -> tuple[list[str], list[list[tuple[str, float | None]]]]:
    header = ["enhancer", "avg rank (downstream)"]
    header += [
        f"{c.dataset} · {c.evaluation}: Δ{c.metric} {'↓' if c.lower_better else '↑'}"
        for c in s.columns
    ]
    body = []
    for r in s.rows:
        if r.avg_rank is None:
            rank = (DASH, None)
        else:
            ci = f" [{r.rank_ci[0]:.1f}, {r.rank_ci[1]:.1f}]" if r.rank_ci else ""
            rank = (f"{r.avg_rank:.2f}{ci} ({r.n_ranked})", r.avg_rank)
        label = f"{r.enhancer} (input)" if r.is_input and "input" not in r.enhancer else r.enhancer
        cells = [(label, None), rank]
        for c in r.cells:
            if c is None or c.value is None:
                cells.append((DASH, None))
            elif c.delta is None and r.is_input:
                cells.append((f"= {_num(c.value, decimals(c.value))}", 0.0))
            elif c.delta is None:  # no input row to compare with in this table
                cells.append((f"value {_num(c.value, decimals(c.value))}", None))
            else:
                text = delta_text(c.delta, c.ci, c.value) + MARK[c.verdict]
                cells.append((text, c.delta))
        body.append(cells)
    return header, body


def summary_note(s: Summary) -> str:
    n = sum(1 for c in s.columns if c.downstream)
    return (
        f"Average rank over the {n} downstream evaluation(s) that ranked the enhancer (their "
        "count in brackets), with a 95% interval from resampling each table's units; the "
        "input's own values are shown as '= value'."
    )


def matrix_cells(stats: TableStats | None) -> tuple[list[str], list[list[str]]] | None:
    """Rows and columns in rank order; None when fewer than two rows could be compared."""
    if stats is None or len(stats.enhancers) < 2 or not stats.pairs:
        return None
    names = stats.enhancers
    header = ["", *(f"{i + 1}" for i in range(len(names)))]
    body = []
    for i, a in enumerate(names):
        row = [f"{i + 1}. {shorten(a, 30)}"]
        row += ["" if a == b else MATRIX[stats.verdict(a, b)] for b in names]
        body.append(row)
    return header, body


def agreement_cells(a: Agreement) -> tuple[list[str], list[list[tuple[str, float | None]]]]:
    header = [
        "IQA metric",
        "downstream evaluation",
        "Kendall τ",
        "95% interval",
        "p (orderings)",
        "enhancers",
    ]
    body = []
    for c in a.correlations:
        tau = (DASH, None) if c.tau is None else (f"{c.tau:+.2f}", c.tau)
        ci = (DASH, None) if c.ci is None else (f"[{c.ci[0]:+.2f}, {c.ci[1]:+.2f}]", c.ci[0])
        body.append(
            [
                (f"{c.iqa_evaluation}/{c.iqa_metric}", None),
                (f"{c.evaluation}/{c.metric}", None),
                tau,
                ci,
                (DASH, None) if c.p is None else (f"{c.p:.3g}", c.p),
                (str(c.n_enhancers), float(c.n_enhancers)),
            ]
        )
    return header, body


def unreliable_lines(a: Agreement) -> list[str]:
    out = []
    for u in a.unreliable:
        d = decimals(u.reference_value or u.input_value)
        better = "lower" if u.lower_better else "higher"
        out.append(
            f"{u.metric} ({u.evaluation}) is unreliable on {a.dataset}: it scores the "
            f"un-enhanced input {u.input_value:.{d}f} and the normal-light reference "
            f"{u.reference_value:.{d}f} ({better} is better), ranking the dark input above "
            "the reference."
        )
    return out


def agreement_note() -> str:
    return (
        "Kendall's τ between the ranking of the enhancers by each IQA metric and by each "
        "downstream evaluation's primary metric (+1: the same order, −1: reversed; each "
        "metric turned so that better is higher), with a 95% percentile interval from "
        f"{N_RESAMPLES} resamples of the units (clusters within strata, or images; the same "
        "for both rankings). The interval covers image noise only, not the choice of "
        "enhancers; p (orderings): does the IQA metric predict the downstream ranking, a "
        "two-sided permutation test of τ over every ordering of the enhancers (exact up to 8, "
        "scipy.stats.permutation_test), unadjusted."
    )
