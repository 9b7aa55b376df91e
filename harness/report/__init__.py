"""``mindgate report``: one self-contained HTML page about one or more runs.

It shows each run's main metric per task with its 95% CI (dot-and-whisker SVG and a table), the
paired differences and the gate's verdicts against a baseline run, and the worst samples per
task with the model's reply and the scorer's explanation. The page has no script and loads
nothing: every style and plot is inline, and all run text is escaped.
"""

from __future__ import annotations

from harness.report._data import (
    WORST_SAMPLES,
    ReportData,
    RunSummary,
    TaskScore,
    VersusBaseline,
    gather_report,
    main_score,
    summarise,
)
from harness.report._html import render_report
from harness.report._markup import esc
from harness.report._samples import SampleView, worst_samples
from harness.report._svg import PlotLayout, PlotRow, dot_whisker_svg, plot_domain
from harness.report._write import build_report, default_report_path, write_atomically

__all__ = [
    "WORST_SAMPLES",
    "PlotLayout",
    "PlotRow",
    "ReportData",
    "RunSummary",
    "SampleView",
    "TaskScore",
    "VersusBaseline",
    "build_report",
    "default_report_path",
    "dot_whisker_svg",
    "esc",
    "gather_report",
    "main_score",
    "plot_domain",
    "render_report",
    "summarise",
    "worst_samples",
    "write_atomically",
]
