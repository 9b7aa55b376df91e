"""The safety floors of a rules file judged on one run alone, for what people read first.

A floor needs no baseline, so every run summary and report can open with them: each floor, the
run's value, n, 95% interval, and whether it passes. A run of part of a task (``--limit``, or
stopped by the gate) is judged on what it holds and says so: the gate itself would refuse it.
On part of a task a floor fails only when it can no longer pass whatever the items not evaluated
would give (or the gate stopped the run on it); a floor that misses its limit only because the
interval of a few items is wide is ``undecided``, not failed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from harness.gate._evidence import judge_floor
from harness.gate._schema import FloorRule, GateRules
from harness.gate._stop import floor_outlook
from harness.gate._types import FloorEvidence

FloorStatus = Literal["pass", "fail", "undecided", "not_evaluated"]


@dataclass(frozen=True)
class FloorCheck:
    rule: FloorRule
    status: FloorStatus
    numbers: FloorEvidence | None  # None when the run lacks the task or the metric has no items
    evidence: str
    partial: str | None  # "5 of 124 items": the run holds part of the task only

    @property
    def label(self) -> str:
        """The status as shown: a failure on part of a task is final (it cannot pass any more); a pass
        or an undecided floor on part of a task is marked as such."""
        if self.status in ("pass", "undecided") and self.partial:
            return f"{self.status} (partial run)"
        return self.status.replace("_", " ")


def floor_checks(record: Mapping[str, Any], rules: GateRules) -> list[FloorCheck]:
    """Every floor rule of ``rules`` on the run record, in the file's order."""
    return [_check(rule, record) for rule in rules.rules if isinstance(rule, FloorRule)]


def _check(rule: FloorRule, record: Mapping[str, Any]) -> FloorCheck:
    estimate = _estimate(record, rule.task, rule.metric)
    partial = _partial(record, rule.task)
    if estimate is None:
        where = "the run has no task " + rule.task if rule.task not in _tasks(record) else f"no {rule.metric} logged"
        return FloorCheck(rule, "not_evaluated", None, f"Not evaluated: {where}.", partial)
    if estimate.n == 0 or not all(math.isfinite(v) for v in (estimate.value, estimate.ci_low, estimate.ci_high)):
        return FloorCheck(
            rule,
            "not_evaluated",
            estimate,
            f"Not evaluated: no item of this run is in {rule.target}'s denominator.",
            partial,
        )
    if rule.kind == "binary" and estimate.ci_method != "wilson":
        return FloorCheck(
            rule,
            "not_evaluated",
            estimate,
            f"Not evaluated: {rule.target} is stored as a continuous "
            f"score ({estimate.ci_method}) but the rule is written for a proportion.",
            partial,
        )
    result = judge_floor(rule, estimate)
    status: FloorStatus = "pass" if result.verdict == "pass" else "fail"
    evidence = result.evidence
    if partial and status == "fail" and not _failed_already(rule, estimate, record):
        status = "undecided"
        evidence += (
            " The items not evaluated could still make it pass, so on this part of the task the floor is "
            "undecided, not failed."
        )
    evidence += f" Partial run ({partial}): the gate would refuse it." if partial else ""
    return FloorCheck(rule, status, estimate, evidence, partial)


def _failed_already(rule: FloorRule, estimate: FloorEvidence, record: Mapping[str, Any]) -> bool:
    """On part of a task: did the floor fail whatever the items not evaluated would give? Yes when
    the gate stopped the run on it; for a proportion, when even all of those items being good
    (each one counting) cannot bring value and bound within the limits. A continuous score cannot
    be bounded that way: not failed yet."""
    if rule.id in ((record.get("gate_stop") or {}).get("failed_floors") or {}):
        return True
    if rule.kind != "binary":
        return False
    evaluated, original = _item_counts(record, rule.task)
    events = round(estimate.value * estimate.n)
    outlook = floor_outlook(rule, [1.0] * events + [0.0] * (estimate.n - events), max(0, original - evaluated))
    return outlook is not None and not outlook.passable


def _tasks(record: Mapping[str, Any]) -> set[str]:
    groups = ((record.get("lm_eval") or {}).get("group_subtasks") or {}).keys()
    return {*(record.get("metrics") or {}), *(record.get("group_metrics") or {}), *groups}


def _estimate(record: Mapping[str, Any], task: str, metric: str) -> FloorEvidence | None:
    for section in ("metrics", "group_metrics"):
        estimate = ((record.get(section) or {}).get(task) or {}).get(metric)
        if isinstance(estimate, Mapping):
            return FloorEvidence(
                value=_number(estimate.get("value")),
                n=int(estimate.get("n") or 0),
                ci_low=_number(estimate.get("ci_low")),
                ci_high=_number(estimate.get("ci_high")),
                ci_method=str(estimate.get("ci_method", "")),
            )
    return None


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else math.nan


def _partial(record: Mapping[str, Any], task: str) -> str | None:
    """ "k of N items" over the task's leaves when the run evaluated fewer items than they have."""
    evaluated, original = _item_counts(record, task)
    return f"{evaluated} of {original} items" if evaluated < original else None


def _item_counts(record: Mapping[str, Any], task: str) -> tuple[int, int]:
    """(items evaluated, items the task has) over the task's leaves."""
    subtasks = (record.get("lm_eval") or {}).get("group_subtasks") or {}
    leaves, pending = [], [task]
    while pending:
        name = pending.pop()
        if name in subtasks:
            pending.extend(subtasks[name])
        else:
            leaves.append(name)
    infos = [(record.get("tasks") or {}).get(leaf) or {} for leaf in leaves]
    evaluated = sum(int(info.get("n_evaluated") or 0) for info in infos)
    original = sum(int(info.get("n_original") or info.get("n_evaluated") or 0) for info in infos)
    return evaluated, original
