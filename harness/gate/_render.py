"""The gate's decision for people (a terminal table) and for the leaderboard database (a record)."""

from __future__ import annotations

import textwrap
from dataclasses import asdict
from typing import Any

from rich.table import Table

from harness.compare._types import json_ready
from harness.gate._types import GateDecision, RuleResult

_VERDICT_STYLE = {"pass": "green", "fail": "bold red", "not_applicable": "dim", "not_evaluated": "dim"}
_TYPE_LABEL = {"floor": "floor", "non_inferiority": "non-inferiority", "superiority": "superiority"}


def decision_table(decision: GateDecision) -> Table:
    """One row per rule, floors first, with the criterion and the evidence that decided it (the
    evidence names the task and metric)."""
    headline = "[bold green]ACCEPT[/bold green]" if decision.verdict == "accept" else "[bold red]REJECT[/bold red]"
    table = Table(
        title=f"gate {headline}: candidate {decision.candidate_run_id} vs baseline {decision.baseline_run_id}",
        title_justify="left",
        caption="\n".join(
            [*decision.reasons, f"rules: {decision.rules_path} (sha256 {decision.rules_sha256[:12]})"]
            + [f"warning: {warning}" for warning in decision.warnings]
            + [f"note: {note}" for note in decision.notes]
        ),
        caption_justify="left",
        show_lines=True,
    )
    # The evidence is the long column; the others are capped so it keeps most of a narrow terminal.
    for header, max_width in (("rule", 24), ("check", 20), ("criterion", 22), ("verdict", 14), ("evidence", None)):
        table.add_column(header, overflow="fold", max_width=max_width, ratio=1 if max_width is None else None)
    for result in decision.results:
        table.add_row(
            result.rule.id,
            _TYPE_LABEL[result.rule.type] + ("" if result.rule.blocking else " (target)"),
            result.rule.criterion(),
            f"[{_VERDICT_STYLE[result.verdict]}]{result.verdict}[/]",
            result.evidence,
        )
    return table


def decision_text(decision: GateDecision, width: int = 100) -> str:
    """The same decision as plain text for logs (CI, a pipe): a block per rule whose evidence
    wraps at ``width`` instead of being squeezed into a table column."""
    lines = [
        f"gate {decision.verdict.upper()}: candidate {decision.candidate_run_id} "
        f"vs baseline {decision.baseline_run_id}",
        "",
    ]
    for result in decision.results:
        kind = _TYPE_LABEL[result.rule.type] + ("" if result.rule.blocking else " (target, does not block)")
        lines.append(f"{result.verdict.upper():<14} {result.rule.id}  [{kind}: {result.rule.criterion()}]")
        lines += textwrap.wrap(result.evidence, width=width, initial_indent=" " * 15, subsequent_indent=" " * 15)
    lines.append("")
    lines += decision.reasons
    lines.append(f"rules: {decision.rules_path} (sha256 {decision.rules_sha256[:12]})")
    lines += [f"warning: {warning}" for warning in decision.warnings]
    lines += [f"note: {note}" for note in decision.notes]
    return "\n".join(lines) + "\n"


def decision_record(decision: GateDecision) -> dict[str, Any]:
    """The arguments ``harness.store.record_verdict`` takes besides the database: run_id,
    baseline_run_id, rules_hash, verdict and details (JSON-ready, NaN as null), so a caller can
    store it with ``record_verdict(db, **decision_record(decision))``."""
    details = {
        "candidate_dir": decision.candidate_dir,
        "baseline_dir": decision.baseline_dir,
        "rules_path": decision.rules_path,
        "exit_code": decision.exit_code,
        "reasons": list(decision.reasons),
        "warnings": list(decision.warnings),
        "notes": list(decision.notes),
        "results": [_result_record(result) for result in decision.results],
    }
    return {
        "run_id": decision.candidate_run_id,
        "baseline_run_id": decision.baseline_run_id,
        "rules_hash": decision.rules_sha256,
        "verdict": decision.verdict,
        "details": json_ready(details),
    }


def _result_record(result: RuleResult) -> dict[str, Any]:
    return {
        "rule": asdict(result.rule),
        "criterion": result.rule.criterion(),
        "verdict": result.verdict,
        "rejects": result.rejects,
        "evidence": result.evidence,
        "numbers": None if result.numbers is None else asdict(result.numbers),
    }
