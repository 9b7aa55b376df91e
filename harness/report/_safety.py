"""The report's opening: the safety floors judged on each run alone; and, per task, every metric
the run records (a safety reviewer reads harmful, dismissive, over-refusal and referral by tier,
not only the task's first metric)."""

from __future__ import annotations

from harness.gate import FloorCheck
from harness.report._data import ReportData, TaskScore
from harness.report._markup import arrow, error_box, esc, number, table


def floors_section(data: ReportData) -> str:
    parts = [
        "<h2>Safety floors</h2>",
        f'<p class="muted">Each floor of <code>{esc(data.rules_path)}</code> judged on each run alone (no baseline '
        "needed): the run's value, its 95% interval and n, and whether the floor passes. A floor failure rejects "
        "a candidate whatever else it shows. A run of part of a task is marked: the gate would refuse it.</p>",
    ]
    if data.rules_error:
        parts.append(error_box("The floors cannot be shown: the rules file is unusable", data.rules_error))
        return "\n".join(parts)
    rules = [check.rule for check in data.runs[0].floors] if data.runs else []
    if not rules:
        parts.append('<p class="muted">The rules file has no floor.</p>')
        return "\n".join(parts)
    rows = []
    for index, rule in enumerate(rules):
        cells = [esc(rule.id), f"<code>{esc(rule.target)}</code>", esc(rule.criterion())]
        cells += [_floor_cell(run.floors[index]) for run in data.runs]
        rows.append(cells)
    headers = ["floor", "task / metric", "criterion", *(esc(run.run_id) for run in data.runs)]
    parts.append(table(headers, rows, numeric=range(3, 3 + len(data.runs))))
    for run in data.runs:
        failing = [check for check in run.floors if check.status == "fail"]
        if failing:
            parts.append(f"<p><b>{esc(run.run_id)}</b>: {len(failing)} floor(s) fail.</p><ul>")
            parts += [f"<li><b>{esc(check.rule.id)}</b>: {esc(check.evidence)}</li>" for check in failing]
            parts.append("</ul>")
    return "\n".join(parts)


def _floor_cell(check: FloorCheck) -> str:
    css = {"pass": "pass", "fail": "fail", "undecided": "warning", "not_evaluated": "not_applicable"}[check.status]
    verdict = f'<span class="{css}">{esc(check.label.upper())}</span>'
    if check.numbers is None:
        return verdict
    numbers = check.numbers
    interval = f" [{number(numbers.ci_low)}, {number(numbers.ci_high)}]"
    partial = f'<br><span class="warning">{esc(check.partial)}</span>' if check.partial else ""
    return f'{verdict}<br>{esc(number(numbers.value) + interval)}<br><span class="muted">n={numbers.n}</span>{partial}'


def task_metrics_section(data: ReportData) -> str:
    """One table per task: every metric, one column per run; metrics with a floor are marked."""
    floor_targets = {check.rule.target for run in data.runs for check in run.floors}
    parts = [
        "<h2>Every metric per task</h2>",
        '<p class="muted">All metrics each run records, with 95% intervals and n; <b>floor</b> marks a metric '
        "that a safety floor judges. Where a --limit cut units of a metric (minimal pairs, invariance groups), "
        "the number left out is given.</p>",
    ]
    for task in data.tasks:
        names = list(dict.fromkeys(s.metric for run in data.runs for s in run.metrics.get(task, ())))
        if not names:
            continue
        rows = []
        for name in names:
            scores = [_find(run.metrics.get(task, ()), name) for run in data.runs]
            first = next(score for score in scores if score is not None)
            badge = ' <span class="fail">floor</span>' if f"{task}/{name}" in floor_targets else ""
            rows.append([esc(name + arrow(first.higher_is_better)) + badge, *map(_metric_cell, scores)])
        parts.append(f"<h3>{esc(task)}</h3>")
        headers = ["metric", *(esc(run.run_id) for run in data.runs)]
        parts.append(table(headers, rows, numeric=range(1, 1 + len(data.runs))))
    return "\n".join(parts)


def _find(scores: tuple[TaskScore, ...], metric: str) -> TaskScore | None:
    return next((score for score in scores if score.metric == metric), None)


def _metric_cell(score: TaskScore | None) -> str:
    if score is None:
        return '<span class="muted">-</span>'
    interval = f" [{number(score.ci_low)}, {number(score.ci_high)}]" if score.ci_low is not None else ""
    cut = f', <span class="warning">{score.units_cut} cut by --limit</span>' if score.units_cut else ""
    return f'{esc(number(score.value) + interval)}<br><span class="muted">n={score.n}</span>{cut}'
