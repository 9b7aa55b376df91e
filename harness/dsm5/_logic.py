"""Decide whether a structured case meets a disorder's criteria, and which criteria fail.

This is the reference the generated items are checked against. It is written separately from
the generator (which never calls it) so that tests can cross-check the two.

Criterion ids in a verdict:
``group:<group id>``, ``group_set:<alternative set>``, ``group_duration:<group id>``,
``duration``, ``onset``, ``frequency``, ``impairment``, ``exclusion:<exclusion id>``.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.dsm5._case import Case
from harness.dsm5._schema import Disorder, Duration, DurationRule, SymptomGroup


@dataclass(frozen=True)
class CriterionResult:
    """One criterion's outcome and the reason for it."""

    criterion: str
    met: bool
    detail: str


@dataclass(frozen=True)
class Verdict:
    """All criterion outcomes for one case; ``meets`` only if every one is met."""

    disorder_id: str
    results: tuple[CriterionResult, ...]

    @property
    def meets(self) -> bool:
        return all(result.met for result in self.results)

    @property
    def failed(self) -> tuple[str, ...]:
        return tuple(result.criterion for result in self.results if not result.met)

    def explanation(self) -> str:
        if self.meets:
            return f"meets the criteria for {self.disorder_id}"
        reasons = "; ".join(f"{r.criterion}: {r.detail}" for r in self.results if not r.met)
        return f"does not meet the criteria for {self.disorder_id}: {reasons}"


def check_case(disorder: Disorder, case: Case) -> Verdict:
    """Evaluate every criterion of ``disorder`` on ``case``."""
    _reject_unknown_ids(disorder, case)
    results: list[CriterionResult] = []
    for group in disorder.groups:
        if group.alternative_set is None:
            met, detail = _group_outcome(group, case)
            results.append(CriterionResult(f"group:{group.id}", met, detail))
    for name, members in disorder.alternative_sets().items():
        outcomes = [(group.id, *_group_outcome(group, case)) for group in members]
        met = any(outcome_met for _, outcome_met, _ in outcomes)
        detail = "; ".join(f"{gid}: {text}" for gid, _, text in outcomes)
        results.append(CriterionResult(f"group_set:{name}", met, detail))
    for group in disorder.groups:
        if group.duration is not None:
            stated = case.group_durations.get(group.id)
            met, detail = _duration_outcome(group.duration, stated)
            results.append(CriterionResult(f"group_duration:{group.id}", met, detail))
    if disorder.duration is not None:
        met, detail = _duration_outcome(disorder.duration, case.duration)
        results.append(CriterionResult("duration", met, detail))
    if disorder.onset is not None:
        results.append(_onset_result(disorder, case))
    if disorder.frequency is not None:
        rate, minimum = case.episodes_per_week, disorder.frequency.min_per_week
        met = rate is not None and rate >= minimum
        results.append(CriterionResult("frequency", met, f"{rate} per week, needs at least {minimum}"))
    if disorder.impairment.required:
        detail = "distress or impairment stated" if case.impairment else "no distress or impairment"
        results.append(CriterionResult("impairment", case.impairment, detail))
    for exclusion in disorder.exclusions:
        present = exclusion.id in case.exclusions_present
        detail = f"applies: {exclusion.text}" if present else "does not apply"
        results.append(CriterionResult(f"exclusion:{exclusion.id}", not present, detail))
    return Verdict(disorder.id, tuple(results))


def required_count(group: SymptomGroup, case: Case) -> int:
    """The number of the group's items this case needs, given its age and present items."""
    needed = group.min_count
    if group.age_threshold is not None and case.age >= group.age_threshold.from_age:
        needed = group.age_threshold.min_count
    raised = group.raised_threshold
    if raised is not None and not any(item in case.present for item in raised.unless_present):
        needed = max(needed, raised.min_count)
    return needed


def _group_outcome(group: SymptomGroup, case: Case) -> tuple[bool, str]:
    present = [item for item in group.items if item in case.present]
    needed = required_count(group, case)
    count_met = len(present) >= needed
    core_met = not group.required_any or any(item in case.present for item in group.required_any)
    detail = f"{len(present)} of {len(group.items)} present, needs {needed}"
    if group.required_any:
        detail += f"; core ({', '.join(group.required_any)}) {'present' if core_met else 'absent'}"
    return count_met and core_met, detail


def _duration_outcome(rule: DurationRule, stated: Duration | None) -> tuple[bool, str]:
    if stated is None:
        return False, "duration not stated"
    long_enough = (stated.days > rule.min.days) if rule.min_exclusive else (stated.days >= rule.min.days)
    short_enough = rule.max is None or stated.days <= rule.max.days
    bound = f"more than {rule.min}" if rule.min_exclusive else f"at least {rule.min}"
    if rule.max is not None:
        bound += f" and at most {rule.max}"
    return long_enough and short_enough, f"{stated}, needs {bound}"


def _onset_result(disorder: Disorder, case: Case) -> CriterionResult:
    rule = disorder.onset
    assert rule is not None
    if rule.before_age is not None:
        met = case.onset_age is not None and case.onset_age < rule.before_age
        detail = f"onset at age {case.onset_age}, needs before age {rule.before_age}"
    else:
        limit = rule.within_after_event
        assert limit is not None
        delay = case.onset_after_event
        met = delay is not None and delay.days <= limit.days
        detail = f"onset {delay} after the event, needs within {limit}"
    return CriterionResult("onset", met, detail)


def _reject_unknown_ids(disorder: Disorder, case: Case) -> None:
    if case.disorder_id != disorder.id:
        raise ValueError(
            f"case is for '{case.disorder_id}' but was checked against '{disorder.id}': pass the matching disorder"
        )
    items = {item.id for item in disorder.items}
    exclusions = {exclusion.id for exclusion in disorder.exclusions}
    groups = {group.id for group in disorder.groups}
    for field_name, ids, known in (
        ("present", case.present, items),
        ("stated_absent", case.stated_absent, items),
        ("exclusions_present", case.exclusions_present, exclusions),
        ("group_durations", set(case.group_durations), groups),
    ):
        unknown = sorted(set(ids) - known)
        if unknown:
            raise ValueError(
                f"case field '{field_name}' has '{unknown[0]}', which disorder "
                f"'{disorder.id}' does not define: use the ids from its YAML file"
            )
    both = sorted(case.present & case.stated_absent)
    if both:
        raise ValueError(f"case lists '{both[0]}' as both present and stated absent: keep one")
