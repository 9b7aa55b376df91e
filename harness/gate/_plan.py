"""What a gate-driven evaluation runs, in which order, and what the baseline tells about the rest.

The rules decide the tasks: every task a rule needs (an optional rule only when the baseline has
its task, since otherwise it is not applicable), floor tasks first in the order of the rules
file, evaluated in chunks so that a failed floor stops the run; then the other tasks in one go.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.gate._runs import leaf_tasks
from harness.gate._schema import FloorRule, GateRules
from harness.run import group_members
from harness.store import StoredRun


@dataclass(frozen=True)
class GatePlan:
    floor_tasks: tuple[str, ...]  # leaf tasks with binary floors, evaluated chunk by chunk
    rest: tuple[str, ...]  # every other task or group the rules need, evaluated at once
    expanded: Mapping[str, tuple[str, ...]]  # groups split because a member is a floor task

    @property
    def names(self) -> tuple[str, ...]:
        return self.floor_tasks + self.rest


def plan_tasks(rules: GateRules, baseline: StoredRun, manager: Any) -> GatePlan:
    needed: list[str] = []
    ordered = [r for r in rules.rules if isinstance(r, FloorRule)] + [
        r for r in rules.rules if not isinstance(r, FloorRule)
    ]
    for rule in ordered:
        if rule.optional and leaf_tasks(baseline, rule.task) is None:
            continue  # not applicable: the baseline lacks the task, so the candidate need not run it
        if rule.task not in needed:
            needed.append(rule.task)
    floors = [
        r.task
        for r in rules.rules
        if isinstance(r, FloorRule) and r.task in needed and group_members(manager, r.task) is None
    ]
    floor_tasks = tuple(dict.fromkeys(floors))
    rest: list[str] = []
    expanded: dict[str, tuple[str, ...]] = {}
    for name in needed:
        if name not in floor_tasks:
            rest.extend(_without(name, set(floor_tasks), manager, expanded))
    # A task named by one rule and also a member of a group named by another is evaluated once,
    # through the group (lm-eval refuses the same task twice in one call).
    inside_groups = {leaf for name in rest for leaf in _members_deep(name, manager)}
    rest = [name for name in dict.fromkeys(rest) if name not in inside_groups]
    return GatePlan(floor_tasks, tuple(rest), expanded)


def _members_deep(name: str, manager: Any) -> set[str]:
    members = group_members(manager, name) or []
    return {inner for member in members for inner in (member, *_members_deep(member, manager))}


def _without(name: str, floor_tasks: set[str], manager: Any, expanded: dict[str, tuple[str, ...]]) -> list[str]:
    """``name``, or, for a group holding a floor task, its other members (so that no item is
    evaluated twice); the group's membership is put back into the run record afterwards."""
    members = group_members(manager, name)
    if members is None or not _contains(name, floor_tasks, manager):
        return [name]
    expanded[name] = tuple(members)
    kept: list[str] = []
    for member in members:
        if member not in floor_tasks:
            kept.extend(_without(member, floor_tasks, manager, expanded))
    return kept


def _contains(name: str, leaves: set[str], manager: Any) -> bool:
    members = group_members(manager, name)
    if members is None:
        return name in leaves
    return any(_contains(member, leaves, manager) for member in members)


def remaining_in_denominator(
    metric: str,
    seen_rows: Sequence[Mapping[str, Any]],
    remaining: Sequence[int],
    baseline_rows: Sequence[Mapping[str, Any]] | None,
) -> tuple[int, str]:
    """How many of the ``remaining`` documents (by index) can still count for ``metric``, and how
    that is known. Which items a metric counts (the referral rate at one risk tier, dismissive
    replies among risk messages) is a property of the items in this project's tasks; the baseline
    run shows it for every item. It is used only if the baseline agrees with the candidate on
    every item seen so far (same document, same membership); otherwise every remaining item is
    assumed to count, which can only delay a stop."""
    everything = (len(remaining), f"any of the {len(remaining)} items left may count")
    if baseline_rows is None:
        return everything
    by_index = {row.get("doc_id"): row for row in baseline_rows}
    for row in seen_rows:
        reference = by_index.get(row.get("doc_id"))
        if reference is None or reference.get("doc_hash") != row.get("doc_hash"):
            return everything
        if (reference.get(metric) is None) != (row.get(metric) is None):
            return everything
    count = sum(1 for index in remaining if index not in by_index or by_index[index].get(metric) is not None)
    return count, (
        f"{count} of the {len(remaining)} items left count for it, as in the baseline run, which agrees with this "
        f"run on all {len(seen_rows)} items seen"
    )
