"""Terminal output of a finished run."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


def metrics_table(record: Mapping[str, Any], title: str) -> Table:
    table = Table(title=title, title_justify="left", show_lines=False)
    table.add_column("task")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("95% CI", justify="right")
    table.add_column("n", justify="right")
    groups = record.get("group_metrics", {})
    for task, metrics in sorted(record["metrics"].items()) + sorted(groups.items()):
        label = f"[bold]{task}[/bold] (group)" if task in groups else task
        for name, estimate in metrics.items():
            table.add_row(
                label,
                name,
                f"{estimate['value']:.3f}",
                f"[{estimate['ci_low']:.3f}, {estimate['ci_high']:.3f}]",
                str(estimate["n"]),
            )
            label = ""
    return table


def print_run(console: Console, record: Mapping[str, Any], run_dir: Path) -> None:
    who = record["model"]["name"] + (f" + {record['adapter']['name']}" if record.get("adapter") else "")
    console.print(metrics_table(record, title=f"{who}  ({record['backend']} backend)"))
    console.print(f"run {record['run_id']}: {record['wall_time_s']:.0f} s, record in {run_dir}")
