"""Terminal tables for ``mindgate compare`` and ``mindgate leaderboard``."""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from harness.compare._types import Comparison
from harness.store import LeaderboardRow


def comparison_table(comparison: Comparison) -> Table:
    table = Table(
        title=f"A: {comparison.run_a}\nB: {comparison.run_b}",
        title_justify="left",
        caption=f"B - A over paired items; 95% paired bootstrap CI; Holm over {len(comparison.metrics)} tests; "
        f"* = significant at {comparison.alpha:g}",
        caption_justify="left",
    )
    for header in ("task", "metric", "n", "A", "B", "B - A", "95% CI", "test", "p", "p Holm", ""):
        table.add_column(header, justify="left" if header in ("task", "metric", "test") else "right")
    previous_task = None
    for compared in comparison.metrics:
        test = compared.test
        if compared.a_only is not None:
            test += f" ({compared.a_only} A-only / {compared.b_only} B-only)"
        elif compared.wilcoxon_p is not None:
            test += f" (Wilcoxon p={_p(compared.wilcoxon_p)})"
        table.add_row(
            compared.task if compared.task != previous_task else "",
            compared.metric,
            str(compared.n),
            _number(compared.mean_a),
            _number(compared.mean_b),
            _signed(compared.difference),
            f"[{_signed(compared.ci_low)}, {_signed(compared.ci_high)}]",
            test,
            _p(compared.p_value),
            _p(compared.p_holm),
            "[bold]*[/bold]" if compared.significant else "",
        )
        previous_task = compared.task
    return table


def not_compared_table(comparison: Comparison) -> Table | None:
    if not comparison.not_compared:
        return None
    table = Table(title="not compared", title_justify="left")
    table.add_column("task")
    table.add_column("metric")
    table.add_column("reason")
    for left_out in comparison.not_compared:
        table.add_row(left_out.task, left_out.metric or "(whole task)", left_out.reason)
    return table


def print_comparison(console: Console, comparison: Comparison) -> None:
    console.print(comparison_table(comparison))
    skipped = not_compared_table(comparison)
    if skipped is not None:
        console.print(skipped)
    notes = list(comparison.warnings) + [
        f"{compared.task}/{compared.metric}: {warning}"
        for compared in comparison.metrics
        for warning in compared.warnings
    ]
    for note in notes:
        console.print(f"[yellow]warning:[/yellow] {note}", highlight=False)


def leaderboard_table(rows: Sequence[LeaderboardRow], title: str = "leaderboard") -> Table:
    table = Table(title=title, title_justify="left", caption="latest run per model + adapter and task; main metric")
    for header in ("task", "metric", "model", "adapter", "value", "95% CI", "n", "verdict", "run"):
        table.add_column(header, justify="right" if header in ("value", "95% CI", "n") else "left")
    previous_task = None
    for row in rows:
        arrow = "" if row.higher_is_better is None else (" ↑" if row.higher_is_better else " ↓")
        table.add_row(
            row.task if row.task != previous_task else "",
            row.metric + arrow,
            f"{row.model_name} ({row.model_hash[:8]})",
            "-" if row.adapter_name is None else f"{row.adapter_name} ({(row.adapter_hash or '')[:8]})",
            _number(row.value),
            f"[{_number(row.ci_low)}, {_number(row.ci_high)}]",
            str(row.n),
            row.verdict or "-",
            row.run_id,
        )
        previous_task = row.task
    return table


def _number(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.3f}"


def _signed(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:+.3f}"


def _p(value: float) -> str:
    if math.isnan(value):
        return "-"
    return "<0.001" if value < 0.001 else f"{value:.3f}"
