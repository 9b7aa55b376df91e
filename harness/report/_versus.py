"""The report's section for one run against the baseline: paired differences from
``harness.compare`` and the gate's per-rule verdicts from ``harness.gate``, or, when either
cannot be made, the message that says why."""

from __future__ import annotations

from harness.compare import Comparison, MetricComparison
from harness.gate import GateDecision
from harness.report._data import ReportData, VersusBaseline
from harness.report._markup import error_box, esc, number, table
from harness.report._svg import PALETTE, PlotRow, dot_whisker_svg

_RULE_TYPE = {"floor": "floor", "non_inferiority": "non-inferiority", "superiority": "superiority"}


def versus_section(data: ReportData, versus: VersusBaseline) -> str:
    parts = [f"<h2>{esc(versus.run_id)} against the baseline {esc(data.baseline_run_id)}</h2>"]
    parts.append("<h3>Paired differences (run &minus; baseline, on the items both scored)</h3>")
    if versus.comparison is None:
        parts.append(error_box("These runs cannot be compared", versus.comparison_error or "unknown reason"))
    else:
        parts.append(_difference_plot(data, versus.run_id, versus.comparison))
        parts.append(_comparison_table(versus.comparison))
        parts.append(_comparison_notes(versus.comparison))
    parts.append("<h3>Acceptance gate</h3>")
    if versus.gate is None:
        parts.append(
            error_box("The gate cannot judge these runs (mindgate gate would exit 2)", versus.gate_error or "")
        )
    else:
        parts.append(_gate(versus.gate))
    return "\n".join(parts)


def _difference_plot(data: ReportData, run_id: str, comparison: Comparison) -> str:
    """The main metric of every task, as difference and paired 95% CI; * = significant (Holm)."""
    index = [run.run_id for run in data.runs].index(run_id)
    color = PALETTE[index % len(PALETTE)]
    reasons = {(left.task, left.metric): left.reason for left in comparison.not_compared}
    rows = []
    for task, score in data.run(run_id).scores.items():
        compared = _find(comparison, task, score.metric)
        if compared is None:
            reason = reasons.get((task, score.metric)) or reasons.get((task, None)) or "not compared"
            rows.append(PlotRow(f"{task}: {score.metric}", None, color=color, note=reason))
            continue
        note = f"n={compared.n}" + (" *" if compared.significant else "")
        rows.append(
            PlotRow(f"{task}: {score.metric}", compared.difference, compared.ci_low, compared.ci_high, color, note)
        )
    if not rows:
        return '<p class="muted">no task to plot</p>'
    title = "run - baseline, main metric per task (95% paired bootstrap CI; * significant after Holm)"
    return dot_whisker_svg(rows, title=title, reference=0.0, signed=True)


def _find(comparison: Comparison, task: str, metric: str) -> MetricComparison | None:
    return next((c for c in comparison.metrics if (c.task, c.metric) == (task, metric)), None)


def _comparison_table(comparison: Comparison) -> str:
    headers = ["task", "metric", "n", "baseline", "run", "difference", "95% CI", "test", "p", "p Holm", "significant"]
    rows = [
        [
            esc(c.task),
            esc(c.metric),
            str(c.n),
            number(c.mean_a),
            number(c.mean_b),
            number(c.difference, signed=True),
            f"[{number(c.ci_low, signed=True)}, {number(c.ci_high, signed=True)}]",
            esc(c.test),
            _p(c.p_value),
            _p(c.p_holm),
            "yes" if c.significant else "",
        ]
        for c in comparison.metrics
    ]
    return table(headers, rows, numeric={2, 3, 4, 5, 6, 8, 9})


def _comparison_notes(comparison: Comparison) -> str:
    parts = []
    if comparison.not_compared:
        items = "".join(
            f"<li>{esc(left.task)} / {esc(left.metric or '(whole task)')}: {esc(left.reason)}</li>"
            for left in comparison.not_compared
        )
        parts.append(f"<p>Not compared:</p><ul>{items}</ul>")
    notes = list(comparison.warnings) + [f"{c.task}/{c.metric}: {w}" for c in comparison.metrics for w in c.warnings]
    if notes:
        parts.append('<ul class="warning">' + "".join(f"<li>{esc(note)}</li>" for note in notes) + "</ul>")
    return "\n".join(parts)


def _gate(decision: GateDecision) -> str:
    verdict = decision.verdict
    parts = [
        f'<p>Verdict: <span class="{esc(verdict)}">{esc(verdict.upper())}</span> '
        f'<span class="muted">(mindgate gate would exit {decision.exit_code}; rules {esc(decision.rules_path)}, '
        f"sha256 {esc(decision.rules_sha256[:12])})</span></p>",
        "<ul>" + "".join(f"<li>{esc(reason)}</li>" for reason in decision.reasons) + "</ul>",
    ]
    rows = [
        [
            esc(result.rule.id),
            esc(_RULE_TYPE.get(result.rule.type, result.rule.type) + ("" if result.rule.blocking else " (target)")),
            esc(result.rule.criterion()),
            f'<span class="{esc(result.verdict)}">{esc(result.verdict)}</span>',
            esc(result.evidence),
        ]
        for result in decision.results
    ]
    parts.append(table(["rule", "check", "criterion", "verdict", "evidence"], rows))
    if decision.warnings:
        parts.append('<ul class="warning">' + "".join(f"<li>{esc(w)}</li>" for w in decision.warnings) + "</ul>")
    return "\n".join(parts)


def _p(value: float) -> str:
    if value != value:  # NaN
        return "-"
    return "&lt;0.001" if value < 0.001 else f"{value:.3f}"
