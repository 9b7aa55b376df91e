"""Terminal output of a finished run: the safety floors first, then every metric."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

_STATUS_STYLE = {"pass": "green", "fail": "bold red", "undecided": "yellow", "not_evaluated": "dim"}


def floors_table(record: Mapping[str, Any]) -> Table | str:
    """The floors of ``rubrics/gate.yaml`` judged on this run alone (no baseline needed), or a
    line saying why they cannot be shown."""
    # The gate reads run records; it is imported here, when a summary is printed, so that the
    # evaluation stages below it never depend on it.
    from harness.gate import DEFAULT_RULES_PATH, floor_checks, load_rules
    from harness.gate._rules import GateRulesError

    try:
        checks = floor_checks(record, load_rules(DEFAULT_RULES_PATH))
    except GateRulesError as error:
        return f"[yellow]safety floors not shown[/yellow]: {escape(str(error))}"
    table = Table(
        title=f"safety floors ({DEFAULT_RULES_PATH.parent.name}/{DEFAULT_RULES_PATH.name}, this run alone)",
        title_justify="left",
    )
    table.add_column("floor: task/metric, criterion", overflow="fold", ratio=1)
    for header in ("value", "95% CI", "n"):
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    for check in checks:
        numbers = check.numbers
        table.add_row(
            f"{escape(check.rule.id)}\n[dim]{escape(check.rule.target)}: {escape(check.rule.criterion())}[/dim]",
            _value(numbers.value if numbers else None),
            _interval(numbers.ci_low, numbers.ci_high) if numbers else "-",
            str(numbers.n) if numbers else "-",
            f"[{_STATUS_STYLE[check.status]}]{escape(check.label)}[/]"
            + (f"\n[dim]{escape(check.partial)}[/dim]" if check.partial else ""),
        )
    return table


def metrics_table(record: Mapping[str, Any], title: str) -> Table:
    groups = record.get("group_metrics", {})
    rows = sorted(record["metrics"].items()) + sorted(groups.items())
    any_cut = any((estimate.get("units_cut") or 0) for _, metrics in rows for estimate in metrics.values())
    table = Table(title=title, title_justify="left", show_lines=False)
    table.add_column("task", overflow="fold")
    table.add_column("metric", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("95% CI", justify="right", no_wrap=True)
    table.add_column("n", justify="right", no_wrap=True)
    if any_cut:  # units (pairs, groups) with a member beyond --limit: left out of n
        table.add_column("cut", justify="right", no_wrap=True)
    for task, metrics in rows:
        label = f"[bold]{task}[/bold] (group)" if task in groups else task
        for name, estimate in metrics.items():
            cells = [label, name, _value(estimate["value"]), _interval(estimate["ci_low"], estimate["ci_high"])]
            cells.append(str(estimate["n"]))
            if any_cut:
                cut = estimate.get("units_cut") or 0
                cells.append(f"[yellow]{cut}[/yellow]" if cut else "")
            table.add_row(*cells)
            label = ""
    if any_cut:
        table.caption = "cut: units (pairs, groups, dialogues) with a member beyond --limit, left out of n"
        table.caption_justify = "left"
    return table


def print_run(console: Console, record: Mapping[str, Any], run_dir: Path) -> None:
    who = record["model"]["name"] + (f" + {record['adapter']['name']}" if record.get("adapter") else "")
    console.print(floors_table(record))
    console.print(metrics_table(record, title=f"{who}  ({record['backend']} backend)"))
    for message in (record.get("task_errors") or {}).values():
        console.print(f"[bold red]task failed[/bold red]: {escape(str(message))}", soft_wrap=True)
    status = record.get("status")
    note = "" if status == "completed" else f" [bold red]status {escape(str(status))}[/bold red]:"
    console.print(f"run {record['run_id']}:{note} {record['wall_time_s']:.0f} s, record in {run_dir}", soft_wrap=True)


def _value(value: Any) -> str:
    return "-" if not isinstance(value, int | float) or math.isnan(value) else f"{value:.3f}"


def _interval(low: Any, high: Any) -> str:
    if not all(isinstance(v, int | float) and not math.isnan(v) for v in (low, high)):
        return "-"
    return f"[{low:.3f}, {high:.3f}]"
