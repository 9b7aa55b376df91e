"""The leaderboard as people read it: one row per model + adapter, one column per task (the
task's main metric with its 95% CI and n), and the latest gate verdict on any of the row's runs.

The long rows of ``leaderboard()`` stay the export format (CSV / JSON); this only reshapes them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.lineage import lineage_label
from harness.store._leaderboard import LeaderboardRow

_CELL_WIDTH = len("0.279 [0.245, 0.316]")
_VERDICT_MARK = {"accept": "[green]✓ accepted[/green]", "reject": "[bold red]✗ rejected[/bold red]"}


@dataclass(frozen=True)
class BoardEntry:
    """One model + adapter (identified by content hashes) and its latest result per task."""

    model_name: str
    model_hash: str
    adapter_name: str | None
    adapter_hash: str | None
    cells: dict[str, LeaderboardRow]  # task -> latest main-metric row
    verdict: str | None  # the most recent verdict on any run in ``cells``
    verdict_baseline_run_id: str | None
    lineage: list[str] | None = None  # trainer kinds from the first ancestor, e.g. ["sft", "dpo"]

    @property
    def label(self) -> str:
        model = f"{self.model_name} ({self.model_hash[:8]})"
        if self.adapter_name is None and self.adapter_hash is None:
            return model
        adapter = f"{model}\n+ {self.adapter_name or '?'} ({(self.adapter_hash or '')[:8]})"
        return adapter if not self.lineage else f"{adapter}\n{lineage_label(self.lineage)}"


def pivot_leaderboard(rows: Sequence[LeaderboardRow]) -> tuple[list[str], list[BoardEntry]]:
    """(tasks in their first-seen order, one entry per model + adapter, base models first)."""
    tasks = list(dict.fromkeys(row.task for row in rows))
    grouped: dict[tuple[str, str | None], list[LeaderboardRow]] = {}
    for row in rows:
        grouped.setdefault((row.model_hash, row.adapter_hash), []).append(row)
    entries = [_entry(group) for group in grouped.values()]
    entries.sort(key=lambda e: (e.model_name, e.model_hash, e.adapter_hash is not None, e.adapter_name or ""))
    return tasks, entries


def leaderboard_pivot_table(rows: Sequence[LeaderboardRow], title: str = "leaderboard") -> Table:
    """Rows: model + adapter; columns: tasks, each cell ``value [low, high]`` over ``n=...``."""
    tasks, entries = pivot_leaderboard(rows)
    table = Table(
        title=title,
        title_justify="left",
        caption="latest full run per model + adapter and task (a --limit run only where there is no full run, "
        "marked 'limit'; a task finished in a run where another task failed only where no complete run has it, "
        "marked 'incomplete run'; runs the gate stopped early are not shown); main metric with its 95% CI and n; "
        "↑ higher is better, ↓ lower is better; verdict: the latest gate decision on the row's runs",
        caption_justify="left",
        show_lines=True,
    )
    table.add_column("model + adapter", overflow="fold", min_width=20)
    for task in tasks:
        metric = next(row for row in rows if row.task == task)
        header = escape(f"{task}\n{metric.metric}{_arrow(metric.higher_is_better)}")
        table.add_column(header, justify="right", overflow="fold", min_width=_CELL_WIDTH)
    table.add_column("verdict", overflow="fold")
    for entry in entries:
        cells = [_cell(entry.cells.get(task)) for task in tasks]
        verdict = _VERDICT_MARK.get(entry.verdict or "", "-")
        if entry.verdict_baseline_run_id:
            verdict += f"\n[dim]vs {escape(entry.verdict_baseline_run_id)}[/dim]"
        table.add_row(escape(entry.label), *cells, verdict)
    return table


def print_leaderboard(rows: Sequence[LeaderboardRow], console: Console | None = None) -> None:
    """Print the pivot table whole: where the terminal is too narrow for every task column at
    its minimum width, the table keeps that width (the terminal wraps lines) instead of rich
    cutting off the columns on the right."""
    console = console or Console()
    table = leaderboard_pivot_table(rows)
    needed = console.measure(table, options=console.options.update_width(100_000)).minimum
    if needed > console.width:
        console = Console(
            file=console.file, width=needed, force_terminal=console.is_terminal, no_color=console.no_color
        )
    console.print(table)


def format_estimate(value: float | None, low: float | None, high: float | None) -> str:
    """``0.279 [0.245, 0.316]``; a missing number prints as ``-``."""
    return f"{_number(value)} [{_number(low)}, {_number(high)}]"


def _entry(group: list[LeaderboardRow]) -> BoardEntry:
    first = group[0]
    judged = [row for row in group if row.verdict is not None]
    latest = max(judged, key=lambda row: (row.verdict_created or "", row.run_id)) if judged else None
    return BoardEntry(
        model_name=first.model_name,
        model_hash=first.model_hash,
        adapter_name=first.adapter_name,
        adapter_hash=first.adapter_hash,
        cells={row.task: row for row in group},
        verdict=latest.verdict if latest else None,
        verdict_baseline_run_id=latest.verdict_baseline_run_id if latest else None,
        lineage=next((json.loads(row.adapter_lineage) for row in group if row.adapter_lineage), None),
    )


def _cell(row: LeaderboardRow | None) -> str:
    if row is None:
        return "[dim]-[/dim]"
    limited = "" if row.item_limit is None else f", limit {row.item_limit:g}"
    incomplete = "" if row.run_status == "completed" else ", incomplete run"
    return f"{format_estimate(row.value, row.ci_low, row.ci_high)}\n[dim]n={row.n}{limited}{incomplete}[/dim]"


def _arrow(higher_is_better: bool | None) -> str:
    return "" if higher_is_better is None else (" ↑" if higher_is_better else " ↓")


def _number(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.3f}"
