"""Build structured cases: positives that meet a disorder's criteria, and negatives that break
exactly one criterion of such a positive.

Labels follow from how each case is built. This module deliberately does not use the criteria
checker in ``_logic``: the tests run the checker over every generated case, which only means
something if the two were written independently. The few rules both need (how many items a
group requires) are therefore restated here.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

from harness.dsm5._case import Case
from harness.dsm5._schema import Disorder, Duration, SymptomGroup

# Exclusion kinds that become minimal-pair negatives. "Better explained by another disorder"
# is not generated: its expected answer would often be that other disorder, not "none".
GENERATED_EXCLUSION_KINDS: tuple[str, ...] = ("substance", "medical")
_FREQUENCY_LADDER: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0)
# For a one-unit minimum, too-short durations are drawn in the next smaller unit, far enough
# below the minimum that no reader would round them up to it.
_SMALLER_UNIT: dict[str, tuple[str, int, int]] = {
    "year": ("month", 4, 9),
    "month": ("week", 2, 3),
    "week": ("day", 3, 5),
}


@dataclass(frozen=True)
class Negative:
    """A case that fails one criterion, with the kind of change and the criterion broken."""

    key: str
    kind: str
    broken_criterion: str
    case: Case


def needed_count(group: SymptomGroup, present: frozenset[str] | set[str], age: int) -> int:
    """How many of the group's items a case must show, given its other items and age."""
    count = group.min_count
    if group.age_threshold is not None and age >= group.age_threshold.from_age:
        count = group.age_threshold.min_count
    raised = group.raised_threshold
    if raised is not None and not set(raised.unless_present) & set(present):
        count = max(count, raised.min_count)
    return count


def build_positive_case(disorder: Disorder, rng: random.Random) -> Case:
    """A case that meets every criterion, with symptom counts from threshold upwards."""
    age = rng.randint(*disorder.age_range)
    met_alternatives = _choose_met_alternatives(disorder, rng)
    present: set[str] = set()
    # Raised thresholds depend on items of other groups, so those groups are filled first.
    ordered = sorted(disorder.groups, key=lambda g: g.raised_threshold is not None)
    for group in ordered:
        if group.alternative_set is not None and group.id not in met_alternatives:
            continue
        needed = needed_count(group, present, age)
        cap = group.max_present if group.max_present is not None else len(group.items)
        targeted = disorder.threshold_group in (group.id, group.alternative_set)
        count = rng.randint(needed, cap if targeted else min(cap, needed + 2))
        present |= _pick_items(group, count, rng)
    return _with_timing(disorder, Case(disorder.id, frozenset(present), age), rng)


def with_age(disorder: Disorder, case: Case, age: int) -> Case:
    """The same case at another age; a childhood-onset duration follows the age."""
    if _childhood_onset(disorder) and case.onset_age is not None:
        return replace(case, age=age, duration=Duration(age - case.onset_age, "year"))
    return replace(case, age=age)


def threshold_version(disorder: Disorder, case: Case, rng: random.Random) -> tuple[Case, SymptomGroup, str] | None:
    """The case trimmed to exactly the threshold of its threshold group, plus that group and
    the criterion id a one-item-fewer negative breaks. None if the disorder has no target."""
    group = _target_group(disorder, case)
    if group is None:
        return None
    shown = [item for item in group.items if item in case.present]
    extra = len(shown) - needed_count(group, case.present, case.age)
    cores = [item for item in shown if item in group.required_any]
    kept_core = rng.choice(cores) if cores else None
    removable = [item for item in shown if item != kept_core]
    rng.shuffle(removable)
    trimmed = replace(case, present=case.present - set(removable[:extra]))
    criterion = f"group_set:{group.alternative_set}" if group.alternative_set is not None else f"group:{group.id}"
    return trimmed, group, criterion


def below_threshold_negative(
    disorder: Disorder, case: Case, group: SymptomGroup, criterion: str, rng: random.Random
) -> Negative | None:
    """Drop one item of ``group`` from a case at threshold; state absent items where needed."""
    shown = [item for item in group.items if item in case.present]
    every_item_required = group.min_count == len(group.items)
    # Leaving out a required feature is not the same as saying it is absent, so for such
    # groups only items with an explicit absent phrasing are dropped.
    candidates = [i for i in shown if not every_item_required or disorder.item(i).absent_lay]
    non_core = [i for i in candidates if i not in group.required_any]
    pool = non_core or candidates
    if not pool:
        return None
    dropped = rng.choice(pool)
    present = case.present - {dropped}
    stated_absent = frozenset(i for i in group.items if i not in present and disorder.item(i).absent_lay)
    negative = replace(case, present=present, stated_absent=stated_absent)
    return Negative("below_threshold", "below_threshold", criterion, negative)


def other_negatives(disorder: Disorder, case: Case, rng: random.Random) -> list[Negative]:
    """Negatives that change timing, impairment or an exclusion of a positive case."""
    negatives = []
    short = _too_short_duration(disorder, case, rng)
    if short is not None:
        negatives.append(
            Negative("duration_too_short", "duration_too_short", "duration", replace(case, duration=short))
        )
    late = _late_onset(disorder, case, rng)
    if late is not None:
        negatives.append(Negative("onset_outside_rule", "onset_outside_rule", "onset", late))
    if disorder.frequency is not None:
        rates = [r for r in _FREQUENCY_LADDER if r < disorder.frequency.min_per_week]
        negatives.append(
            Negative(
                "frequency_too_low",
                "frequency_too_low",
                "frequency",
                replace(case, episodes_per_week=rng.choice(rates)),
            )
        )
    if disorder.impairment.required:
        negatives.append(
            Negative("impairment_absent", "impairment_absent", "impairment", replace(case, impairment=False))
        )
    for exclusion in disorder.exclusions:
        if exclusion.kind in GENERATED_EXCLUSION_KINDS and exclusion.lay:
            negatives.append(
                Negative(
                    f"exclusion_{exclusion.id}",
                    f"exclusion_{exclusion.kind}",
                    f"exclusion:{exclusion.id}",
                    replace(case, exclusions_present=frozenset({exclusion.id})),
                )
            )
    return negatives


def _choose_met_alternatives(disorder: Disorder, rng: random.Random) -> set[str]:
    met: set[str] = set()
    for name, members in sorted(disorder.alternative_sets().items()):
        # The threshold target gets exactly one met alternative, so that removing one of its
        # items is enough to fail the whole set.
        count = 1 if name == disorder.threshold_group else rng.randint(1, len(members))
        met |= {group.id for group in rng.sample(list(members), count)}
    return met


def _pick_items(group: SymptomGroup, count: int, rng: random.Random) -> set[str]:
    if not group.required_any:
        return set(rng.sample(list(group.items), count))
    core = rng.choice(list(group.required_any))
    rest = [item for item in group.items if item != core]
    return {core, *rng.sample(rest, count - 1)}


def _sample_duration(bounds: tuple[Duration, Duration], rng: random.Random) -> Duration:
    low, high = bounds
    return Duration(rng.randint(low.value, high.value), low.unit)


def _childhood_onset(disorder: Disorder) -> bool:
    return disorder.onset is not None and disorder.onset.before_age is not None


def _with_timing(disorder: Disorder, case: Case, rng: random.Random) -> Case:
    onset, rule = disorder.onset, disorder.duration
    onset_age = None
    if onset is not None and onset.typical_onset_age is not None:
        onset_age = rng.randint(*onset.typical_onset_age)
    duration = None
    if rule is not None:
        if _childhood_onset(disorder) and onset_age is not None:
            duration = Duration(case.age - onset_age, "year")
        elif rule.typical is not None:
            duration = _sample_duration(rule.typical, rng)
    group_durations = {
        group.id: _sample_duration(group.duration.typical, rng)
        for group in disorder.groups
        if group.duration is not None and group.duration.typical is not None
    }
    delay = None
    if onset is not None and onset.typical_delay is not None:
        delay = _sample_duration(onset.typical_delay, rng)
    rate = None if disorder.frequency is None else float(rng.randint(*disorder.frequency.typical))
    return replace(
        case,
        duration=duration,
        group_durations=group_durations,
        onset_age=onset_age,
        onset_after_event=delay,
        episodes_per_week=rate,
        impairment=disorder.impairment.required,
    )


def _target_group(disorder: Disorder, case: Case) -> SymptomGroup | None:
    target = disorder.threshold_group
    if target is None:
        return None
    members = disorder.alternative_sets().get(target)
    if members is None:
        return disorder.group(target)
    # Positives meet exactly one alternative of a targeted set: the one with items present.
    return max(members, key=lambda g: sum(item in case.present for item in g.items))


def _too_short_duration(disorder: Disorder, case: Case, rng: random.Random) -> Duration | None:
    rule = disorder.duration
    if rule is None or rule.flexible or _childhood_onset(disorder):
        return None
    if rule.too_short is not None:
        low, high = rule.too_short
        unit, values = low.unit, range(low.value, high.value + 1)
    elif rule.min.value >= 2:
        unit, values = rule.min.unit, range(max(1, math.ceil(rule.min.value / 3)), rule.min.value)
    elif rule.min.unit in _SMALLER_UNIT:
        unit, low_value, high_value = _SMALLER_UNIT[rule.min.unit]
        values = range(low_value, high_value + 1)
    else:
        return None
    # A sub-episode (such as an active phase) cannot outlast the whole disturbance.
    floor = max((d.days for d in case.group_durations.values()), default=0.0)
    options = [Duration(v, unit) for v in values]
    options = [d for d in options if floor <= d.days < rule.min.days]
    return rng.choice(options) if options else None


def _late_onset(disorder: Disorder, case: Case, rng: random.Random) -> Case | None:
    onset = disorder.onset
    if onset is None:
        return None
    if onset.before_age is not None:
        # Clearly past the cut-off, not a borderline year a reader might argue about.
        earliest, latest = onset.before_age + 4, case.age - 1
        if earliest > latest:
            return None
        return with_age(disorder, replace(case, onset_age=rng.randint(earliest, latest)), case.age)
    limit = onset.within_after_event
    assert limit is not None
    return replace(case, onset_after_event=Duration(limit.value + rng.randint(2, 6), limit.unit))
