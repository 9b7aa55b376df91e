"""The report as one self-contained HTML page: inline CSS, inline SVG, no script, no external
resource. Every string that comes from a run (ids, names, prompts, replies, explanations, error
messages) goes through ``esc``; the page's Content-Security-Policy forbids scripts besides.
"""

from __future__ import annotations

import time

from harness.report._data import ReportData, TaskScore
from harness.report._markup import arrow, esc, number, table
from harness.report._safety import floors_section, task_metrics_section
from harness.report._samples import SampleView
from harness.report._svg import PALETTE, PlotRow, dot_whisker_svg
from harness.report._versus import versus_section

_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; color: #1d232b; margin: 24px auto; max-width: 1180px; padding: 0 16px; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid #ccd3db; }
h3 { font-size: 15px; margin-top: 22px; } h4 { font-size: 14px; margin: 14px 0 6px; }
table { border-collapse: collapse; margin: 8px 0 16px; }
th, td { border: 1px solid #d5dbe2; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #eef2f6; } td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
code, pre { font: 12.5px/1.4 ui-monospace, monospace; }
pre { white-space: pre-wrap; word-break: break-word; background: #f6f8fa; padding: 6px 8px; margin: 2px 0 6px; }
.plot { display: block; margin: 6px 0 14px; } .plot-title { font-weight: 600; font-size: 13px; }
.plot .label, .plot .numbers, .plot .tick, .plot .missing { font-size: 12px; fill: #1d232b; }
.plot .missing { fill: #8a939d; font-style: italic; } .plot .grid { stroke: #e3e8ee; }
.plot .reference { stroke: #5b6570; stroke-dasharray: 4 3; } .plot .whisker, .plot .cap { stroke-width: 2; }
.error { border-left: 4px solid #c03048; background: #fbeef0; padding: 8px 12px; }
.warning { color: #8a5a00; } .muted { color: #5b6570; }
.accept { color: #1f7a35; font-weight: 700; } .reject, .fail { color: #b3261e; font-weight: 700; }
.pass { color: #1f7a35; } .not_applicable, .not_evaluated { color: #8a939d; }
.sample { border: 1px solid #d5dbe2; padding: 6px 10px; margin: 8px 0; }
.swatch { display: inline-block; width: 10px; height: 10px; margin-right: 6px; }
"""
_CSP = "default-src 'none'; style-src 'unsafe-inline'"


def render_report(data: ReportData, generated_at: float | None = None) -> str:
    """The whole page as a string."""
    moment = time.gmtime(generated_at if generated_at is not None else time.time())
    title = "mindgate report: " + ", ".join(run.run_id for run in data.runs)
    body = [
        f"<h1>{esc(title)}</h1>",
        f'<p class="muted">generated {esc(time.strftime("%Y-%m-%d %H:%M:%S UTC", moment))}. Every figure carries '
        "its 95% interval (Wilson for proportions, seeded bootstrap otherwise) and its n, as the run record stores "
        "it. Safety floors first; then each task's main metric (the first it logs), every metric per task, the "
        "comparison with the baseline and the worst samples.</p>",
        floors_section(data),
        _runs_table(data),
        _scores_section(data),
        task_metrics_section(data),
        *(versus_section(data, versus) for versus in data.versus),
        _samples_section(data),
    ]
    head = [
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        f"<title>{esc(title)}</title>",
        f"<style>{_CSS}</style>",
    ]
    page = ["<!DOCTYPE html>", '<html lang="en">', "<head>", *head, "</head>", "<body>", *body, "</body>", "</html>"]
    return "\n".join(page) + "\n"


def _runs_table(data: ReportData) -> str:
    rows = []
    for index, run in enumerate(data.runs):
        role = "baseline" if run.run_id == data.baseline_run_id else ("" if data.baseline_run_id is None else "run")
        rows.append(
            [
                f'<span class="swatch" style="background:{PALETTE[index % len(PALETTE)]}"></span>{esc(run.run_id)}',
                esc(role),
                esc(run.model),
                esc(run.adapter or "-"),
                esc(run.status),
                f"<code>{esc(run.run_dir)}</code>",
            ]
        )
    notes = [
        f'<p class="warning"><b>{esc(run.run_id)}</b>: {esc(run.status_note)}</p>'
        for run in data.runs
        if run.status_note
    ]
    runs = table(["run", "role", "model", "adapter", "status", "directory"], rows)
    return "\n".join(["<h2>Runs</h2>", runs, *notes])


def _scores_section(data: ReportData) -> str:
    parts = ["<h2>Scores per task</h2>"]
    for task in data.tasks:
        # one colour per run, the same in every plot and in the runs table
        present = [(index, run.run_id, run.scores[task]) for index, run in enumerate(data.runs) if task in run.scores]
        plot_rows = [
            PlotRow(run_id, score.value, score.ci_low, score.ci_high, PALETTE[index % len(PALETTE)], f"n={score.n}")
            for index, run_id, score in present
        ]
        first = present[0][2]
        parts.append(dot_whisker_svg(plot_rows, title=f"{task}: {first.metric}{arrow(first.higher_is_better)}"))
    parts.append(_scores_table(data))
    return "\n".join(parts)


def _scores_table(data: ReportData) -> str:
    rows = []
    for task in data.tasks:
        scores = [run.scores.get(task) for run in data.runs]
        first = next(score for score in scores if score is not None)
        rows.append([esc(task), esc(first.metric + arrow(first.higher_is_better)), *map(_score_cell, scores)])
    headers = ["task", "metric", *(esc(run.run_id) for run in data.runs)]
    return table(headers, rows, numeric=range(2, 2 + len(data.runs)))


def _score_cell(score: TaskScore | None) -> str:
    if score is None:
        return '<span class="muted">not run</span>'
    interval = f" [{number(score.ci_low)}, {number(score.ci_high)}]" if score.ci_low is not None else ""
    return f'{esc(number(score.value) + interval)}<br><span class="muted">n={score.n}</span>'


def _samples_section(data: ReportData) -> str:
    if data.samples_per_task == 0:
        return ""
    parts = [
        f"<h2>Worst samples ({data.samples_per_task} per task)</h2>",
        '<p class="muted">Ranked by the task\'s main metric (or its first per-item score), worst first. Prompts '
        "and replies are shown as text exactly as the run recorded them, cut at 2,000 characters.</p>",
    ]
    for run in data.runs:
        parts.append(f"<h3>{esc(run.run_id)}</h3>")
        for task, samples in run.worst.items():
            parts.append(f"<h4>{esc(task)}</h4>")
            if not samples:
                parts.append('<p class="muted">no sample has a score for this metric</p>')
            parts += [_sample(sample) for sample in samples]
    return "\n".join(parts)


def _sample(sample: SampleView) -> str:
    scores = ", ".join(f"{name}={value:.3g}" for name, value in sample.scores)
    lines = [
        '<div class="sample">',
        f"<p><b>{esc(sample.item)}</b> &mdash; {esc(sample.metric)} = {esc(f'{sample.value:.3g}')}"
        f' <span class="muted">({esc(scores)})</span></p>',
    ]
    if sample.prompt is not None:
        lines.append(f"<div>input</div><pre>{esc(sample.prompt)}</pre>")
    for index, reply in enumerate(sample.replies, start=1):
        label = sample.reply_kind if len(sample.replies) == 1 else f"reply {index}"
        lines.append(f"<div>{esc(label)}</div><pre>{esc(reply)}</pre>")
    if sample.target is not None:
        lines.append(f"<div>expected option</div><pre>{esc(sample.target)}</pre>")
    if sample.evidence:
        lines.append("<ul>")
        lines += [f"<li><b>{esc(label)}</b>: {esc(text)}</li>" for label, text in sample.evidence]
        lines.append("</ul>")
    lines.append("</div>")
    return "\n".join(lines)
