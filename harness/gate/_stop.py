"""When may an evaluation stop? When a floor can no longer pass, whatever the rest gives.

A binary floor is judged on the run's proportion and its 95% Wilson interval. Part-way through a
task, with ``s`` of the ``n`` items seen so far counting as successes (or events, for a
lower-is-better rate) and at most ``r`` items still to come in the metric's denominator, the
final figure lies among the outcomes of those ``r`` items. The most favourable one for the
candidate adds ``k`` items (0 <= k <= r), all of them good. If no ``k`` lets both the value limit
and the bound limit pass, the floor has failed already, and evaluating the rest cannot change
the verdict: the gate stops and rejects. Every ``k`` is tried rather than assuming that more good
items always help, so the rule holds without relying on a monotonicity argument.

Only binary floors on per-item 0/1 values are judged early; continuous scores and whole-task
record metrics are judged when their task is complete.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.gate._evidence import judge_floor
from harness.gate._schema import FloorRule
from harness.gate._types import FloorEvidence
from harness.stats import wilson_interval


@dataclass(frozen=True)
class FloorOutlook:
    """What a binary floor can still become, given the items seen and the items left."""

    rule: FloorRule
    seen: FloorEvidence  # the metric over the items seen so far
    remaining: int  # items still to come that may count in the metric's denominator
    best_value: float
    best_bound: float  # the conservative CI bound at the best outcome
    passable: bool


def binary_values(values: Sequence[object]) -> list[float] | None:
    """The 0/1 values of the items in the metric's denominator (None = not counted), or None if
    some value is neither (a score, a record): then the floor is not judged early."""
    counted: list[float] = []
    for value in values:
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or value not in (0, 1):
            return None
        counted.append(float(value))
    return counted


def floor_outlook(rule: FloorRule, values: Sequence[float], remaining: int) -> FloorOutlook | None:
    """``values``: the 0/1 values seen (items in the denominator only); ``remaining``: an upper
    bound on how many more items can enter the denominator. None when nothing can be said yet
    (no item in the denominator so far and none guaranteed to come)."""
    n, good_so_far = len(values), sum(values)
    if n == 0 and remaining == 0:
        return None
    lower = rule.direction == "lower"
    best: tuple[float, float] | None = None
    passable = False
    for added in range(remaining + 1):
        total = n + added
        if total == 0:
            continue
        events = good_so_far if lower else good_so_far + added  # good items add no events / add successes
        value = events / total
        low, high = wilson_interval(events, total)
        bound = high if lower else low
        if best is None or (bound < best[1] if lower else bound > best[1]):
            best = (value, bound)
        if _within(value, rule.value_limit, lower) and _within(bound, rule.bound_limit, lower):
            passable = True
            break
    assert best is not None
    seen_low, seen_high = wilson_interval(good_so_far, n) if n else (float("nan"), float("nan"))
    seen = FloorEvidence(
        value=good_so_far / n if n else float("nan"), n=n, ci_low=seen_low, ci_high=seen_high, ci_method="wilson"
    )
    return FloorOutlook(rule, seen, remaining, best[0], best[1], passable)


def stop_evidence(outlook: FloorOutlook, items_seen: int, items_planned: int, task: str, membership: str) -> str:
    """The reason to stop, in words a reviewer can check by hand."""
    rule, seen = outlook.rule, outlook.seen
    lower = rule.direction == "lower"
    so_far = judge_floor(rule, seen).evidence.split(" Fails:")[0].split(" Passes:")[0] if seen.n else ""
    good = "free of events" if lower else "successes"
    bound_name = "upper" if lower else "lower"
    limits = f"the limit {rule.bound_limit:g} on the CI {bound_name} bound"
    if rule.value_limit is not None:
        limits += f" and {rule.value_limit:g} on the value"
    if items_seen >= items_planned:
        return (
            f"Stopped after all {items_planned} items of {task}, before the tasks that remain. {so_far} "
            f"The 95% CI {bound_name} bound {outlook.best_bound:.3f} (value {outlook.best_value:.3f}) does not meet "
            f"{limits}: the floor fails."
        )
    return (
        f"Stopped after {items_seen} of {items_planned} items of {task}. So far: {so_far} "
        f"Even if all {outlook.remaining} remaining items that can count ({membership}) were {good}, "
        f"{rule.target} would be at best {outlook.best_value:.3f} with a 95% CI {bound_name} bound of "
        f"{outlook.best_bound:.3f}, which cannot meet {limits}: the floor fails whatever the rest of the task gives."
    )


def _within(number: float, limit: float | None, lower_is_better: bool) -> bool:
    if limit is None:
        return True
    return number <= limit if lower_is_better else number >= limit
