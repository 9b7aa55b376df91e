"""Judging one rule on its numbers, and saying why in words a reviewer can check by hand."""

from __future__ import annotations

import math

from harness.gate._schema import FloorRule, NonInferiorityRule, SuperiorityRule
from harness.gate._types import FloorEvidence, PairedEvidence, RuleResult
from harness.stats import Z_95


def judge_floor(rule: FloorRule, numbers: FloorEvidence) -> RuleResult:
    lower = rule.direction == "lower"
    bound = numbers.ci_high if lower else numbers.ci_low
    bound_name = "CI upper bound" if lower else "CI lower bound"
    past = "above" if lower else "below"
    failures = []
    if rule.value_limit is not None and not _within(numbers.value, rule.value_limit, lower):
        failures.append(
            f"the value {numbers.value:.3f}{_count(rule, numbers)} is {past} the limit {rule.value_limit:g}"
        )
    if not _within(bound, rule.bound_limit, lower):
        failures.append(
            f"the {bound_name} {bound:.3f} is {past} the limit {rule.bound_limit:g}{_n_advice(rule, numbers)}"
        )
    measured = (
        f"{rule.target} = {numbers.value:.3f}{_count(rule, numbers)}, 95% CI [{numbers.ci_low:.3f}, "
        f"{numbers.ci_high:.3f}] ({numbers.ci_method}), n={numbers.n}."
    )
    if failures:
        return RuleResult(rule, "fail", f"{measured} Fails: {'; '.join(failures)}.", numbers)
    passed = f"the {bound_name} {bound:.3f} is within the limit {rule.bound_limit:g}"
    if rule.value_limit is not None:
        passed += f" and the value within {rule.value_limit:g}"
    return RuleResult(rule, "pass", f"{measured} Passes: {passed}.", numbers)


def judge_comparison(rule: NonInferiorityRule | SuperiorityRule, numbers: PairedEvidence) -> RuleResult:
    higher = rule.direction == "higher"
    if isinstance(rule, NonInferiorityRule):
        threshold = -rule.margin if higher else rule.margin
        shown, not_shown = f"a loss of {rule.margin:g} or more is ruled out", "a loss of the margin is not ruled out"
    else:
        threshold = rule.min_difference if higher else -rule.min_difference
        improvement = "an improvement" + (f" of more than {rule.min_difference:g}" if rule.min_difference else "")
        shown, not_shown = f"{improvement} is shown", f"{improvement} is not shown"
    bound_name, bound = ("lower bound", numbers.ci_low) if higher else ("upper bound", numbers.ci_high)
    passed = bound > threshold if higher else bound < threshold
    measured = (
        f"{rule.target}: candidate {numbers.candidate_mean:.3f} vs baseline {numbers.baseline_mean:.3f} on "
        f"n={numbers.n} paired units; difference {numbers.difference:+.3f}, 95% paired bootstrap CI "
        f"[{numbers.ci_low:+.3f}, {numbers.ci_high:+.3f}]."
    )
    side = "above" if higher else "below"
    if passed:
        why = f"the CI {bound_name} {bound:+.3f} is {side} {signed(threshold)}, so {shown}"
    else:
        why = f"the CI {bound_name} {bound:+.3f} is not {side} {signed(threshold)}, so {not_shown}"
        why += _width_advice(rule, numbers)
    target_note = "" if rule.blocking else " (a target: it does not block)"
    if passed:
        return RuleResult(rule, "pass", f"{measured} Passes{target_note}: {why}.", numbers)
    return RuleResult(rule, "fail", f"{measured} Fails{target_note}: {why}.", numbers)


def signed(number: float) -> str:
    """A difference threshold as text: "+0.05", "-0.03", and "0" rather than "+0" or "-0"."""
    return "0" if number == 0 else f"{number:+g}"


def _within(number: float, limit: float, lower_is_better: bool) -> bool:
    return number <= limit if lower_is_better else number >= limit


def _count(rule: FloorRule, numbers: FloorEvidence) -> str:
    if rule.kind != "binary" or numbers.ci_method != "wilson":
        return ""
    return f" ({round(numbers.value * numbers.n)} of {numbers.n})"


def _n_advice(rule: FloorRule, numbers: FloorEvidence) -> str:
    """A binary floor that no result could pass at this n: say how many items it needs.
    With 0 of n events the Wilson upper bound is z^2 / (n + z^2); with n of n the lower bound is
    n / (n + z^2). Solving each for the limit gives the smallest n that can pass."""
    n, limit, z2 = numbers.n, rule.bound_limit, Z_95 * Z_95
    if rule.kind != "binary" or n <= 0 or not 0.0 < limit < 1.0:
        return ""
    if rule.direction == "lower":
        best, needed, outcome = z2 / (n + z2), z2 * (1 - limit) / limit, f"0 of {n}"
    else:
        best, needed, outcome = n / (n + z2), z2 * limit / (1 - limit), f"{n} of {n}"
    if _within(best, limit, rule.direction == "lower"):
        return ""
    return (
        f" (n={n} is too small for this limit: even {outcome} would give a bound of {best:.3f}; "
        f"it needs at least {math.ceil(needed)} items)"
    )


def _width_advice(rule: NonInferiorityRule | SuperiorityRule, numbers: PairedEvidence) -> str:
    if not isinstance(rule, NonInferiorityRule):
        return ""
    half_width = (numbers.ci_high - numbers.ci_low) / 2
    if half_width <= rule.margin:
        return ""
    return (
        f"; the interval's half-width {half_width:.3f} exceeds the margin, so n={numbers.n} paired units can only "
        "show non-inferiority when the candidate is clearly better (evaluate more items, or widen the margin "
        "with a stated reason)"
    )
