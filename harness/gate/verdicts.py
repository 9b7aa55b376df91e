"""Keeping a gate decision: in the candidate's run directory and in the leaderboard database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from harness.gate._render import decision_record
from harness.gate._types import GateDecision


def store_decision(decision: GateDecision, console: Console, db: Path | None = None) -> dict[str, Any]:
    """Save the decision beside the candidate run (verdicts/) and in the database; return the record."""
    from harness.store import record_verdict, save_verdict, utc_now

    record = {**decision_record(decision), "created": utc_now()}
    try:
        saved = save_verdict(decision.candidate_dir, record)
        console.print(f"verdict saved in {escape(str(saved))}", soft_wrap=True)  # a path must stay whole
    except OSError as error:  # a read-only run directory: the database still gets the verdict
        console.print(
            f"[yellow]warning:[/yellow] could not save the verdict in the candidate's run directory ({error})"
        )
    record_verdict(db, **record)
    return record
