"""Consistency checks on a loaded disorder; each failure is a :class:`CriteriaError`.

These catch the mistakes that make a criteria file silently wrong rather than unreadable: a
threshold larger than its group, a core symptom that is not in the group, a typical vignette
duration that would not meet the disorder's own minimum, a phrasing that would not render.
"""

from __future__ import annotations

import re

from harness.dsm5._schema import (
    DURATION_TOKEN,
    EXCLUSION_KINDS,
    FREQUENCY_TOKEN,
    ONSET_AGE_TOKEN,
    ONSET_DELAY_TOKEN,
    PERSON_TOKENS,
    CriteriaError,
    Disorder,
    DurationRule,
    SymptomGroup,
)

_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_ICD10CM = re.compile(r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?$")
_TOKEN = re.compile(r"\{([A-Za-z_]+)\}")
# A verb that agrees with the person must be a token, or "she was" renders as "they was".
_AGREEING_VERB = r"(is|am|are|was|were|has|have|does|do)"
_RAW_VERB_AFTER_SUBJECT = re.compile(r"\{[sS]ubj\} " + _AGREEING_VERB + r"\b")
_RAW_VERB_FIRST = re.compile(r"^" + _AGREEING_VERB + r"\b")
_WORD = re.compile(r"[A-Za-z]+")
_GROUP_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# Person words must be written as tokens so that a phrasing renders in every voice. "they",
# "them" and "their" stay allowed because phrasings use them for things ("finishes them").
_RAW_PERSON_WORDS = frozenset(
    {"she", "he", "her", "hers", "him", "his", "herself", "himself", "themself", "i", "me", "my", "mine", "myself"}
)


def validate_disorder(disorder: Disorder) -> None:
    """Raise :class:`CriteriaError` for the first inconsistency found in ``disorder``."""
    check = _Checker(disorder)
    check.identity()
    check.items()
    check.groups()
    check.threshold_group()
    check.timing()
    check.impairment_and_exclusions()


class _Checker:
    def __init__(self, disorder: Disorder) -> None:
        self.d = disorder

    def fail(self, field: str, problem: str, fix: str) -> CriteriaError:
        return CriteriaError(self.d.source_file, field, problem, fix)

    def identity(self) -> None:
        if not _ID.match(self.d.id):
            raise self.fail("id", f"'{self.d.id}' is not a snake_case id", "use a-z, 0-9 and _")
        for index, code in enumerate(self.d.icd10cm):
            if not _ICD10CM.match(code):
                raise self.fail(f"icd10cm[{index}]", f"'{code}' is not an ICD-10-CM code", "write a code such as F41.1")
        low, high = self.d.age_range
        if not 18 <= low < high <= 100:
            raise self.fail(
                "age_range",
                f"[{low}, {high}] is not an adult range",
                "this criteria set covers adults: use 18 <= min < max <= 100",
            )

    def items(self) -> None:
        seen: set[str] = set()
        for index, item in enumerate(self.d.items):
            field = f"items[{index}]"
            self.check_id(f"{field}.id", item.id, seen, "item")
            self.check_source(f"{field}.source", item.source)
            for number, text in enumerate(item.lay):
                self.check_phrasing(f"{field}.lay[{number}]", text, set(), predicate=True)
            for number, text in enumerate(item.absent_lay):
                self.check_phrasing(f"{field}.absent_lay[{number}]", text, set(), predicate=True)

    def groups(self) -> None:
        known = {item.id for item in self.d.items}
        owner: dict[str, str] = {}
        seen: set[str] = set()
        for index, group in enumerate(self.d.groups):
            field = f"groups[{index}]"
            self.check_id(f"{field}.id", group.id, seen, "group", pattern=_GROUP_ID)
            self.check_source(f"{field}.source", group.source)
            for item_id in group.items:
                if item_id not in known:
                    raise self.fail(
                        f"{field}.items",
                        f"item '{item_id}' is not in the item list",
                        "add the item under 'items' or fix the id",
                    )
                if item_id in owner:
                    raise self.fail(
                        f"{field}.items",
                        f"item '{item_id}' is already in group '{owner[item_id]}'",
                        "list each item in one group only",
                    )
                owner[item_id] = group.id
            self.check_counts(field, group, known)
            for number, text in enumerate(group.intro):
                self.check_phrasing(f"{field}.intro[{number}]", text, set(), predicate=False)
            if group.duration is not None:
                self.check_duration(f"{field}.duration", group.duration, typical_needed=True)
        unused = sorted(known - set(owner))
        if unused:
            raise self.fail(
                "items", f"item '{unused[0]}' belongs to no group", "add it to a group's 'items' or remove it"
            )
        for name, members in self.d.alternative_sets().items():
            if len(members) < 2:
                raise self.fail(
                    f"groups.{members[0].id}.alternative_set",
                    f"alternative set '{name}' has only one group",
                    "give at least two groups the same alternative_set, or drop it",
                )

    def check_counts(self, field: str, group: SymptomGroup, known: set[str]) -> None:
        size = len(group.items)
        if len(set(group.items)) != size:
            raise self.fail(f"{field}.items", "an item is listed twice", "list each item once")
        if not 1 <= group.min_count <= size:
            raise self.fail(
                f"{field}.min_count",
                f"min_count {group.min_count} is outside 1..{size} (the group has {size} items)",
                "lower min_count or add the missing items to the group",
            )
        missing_core = [i for i in group.required_any if i not in group.items]
        if missing_core:
            raise self.fail(
                f"{field}.required_any",
                f"core item '{missing_core[0]}' is not in this group's items",
                "list core items among the group's items",
            )
        thresholds = [group.min_count]
        if group.age_threshold is not None:
            if not 1 <= group.age_threshold.min_count <= size:
                raise self.fail(
                    f"{field}.age_threshold.min_count",
                    "outside 1..group size",
                    "use a count between 1 and the number of items",
                )
            thresholds.append(group.age_threshold.min_count)
        if group.raised_threshold is not None:
            raised = group.raised_threshold
            if not group.min_count < raised.min_count <= size:
                raise self.fail(
                    f"{field}.raised_threshold.min_count",
                    f"{raised.min_count} is not above min_count and within the group size",
                    "use a count above min_count and at most the number of items",
                )
            unknown = [i for i in raised.unless_present if i not in known]
            if unknown:
                raise self.fail(
                    f"{field}.raised_threshold.unless_present",
                    f"item '{unknown[0]}' is not in the item list",
                    "fix the id",
                )
            thresholds.append(raised.min_count)
        if group.max_present is not None and not max(thresholds) <= group.max_present <= size:
            raise self.fail(
                f"{field}.max_present",
                f"{group.max_present} is below a threshold or above the group size",
                "use a value between the highest threshold and the number of items",
            )

    def threshold_group(self) -> None:
        name = self.d.threshold_group
        if name is None:
            return
        group_ids = {group.id for group in self.d.groups}
        sets = self.d.alternative_sets()
        if name not in group_ids and name not in sets:
            raise self.fail(
                "threshold_group",
                f"'{name}' is neither a group nor an alternative set",
                "name a group id or an alternative_set",
            )
        if name in group_ids and self.d.group(name).alternative_set is not None:
            raise self.fail(
                "threshold_group",
                f"group '{name}' is in an alternative set",
                "name the alternative set instead of one of its groups",
            )
        for group in sets.get(name, (self.d.group(name),) if name in group_ids else ()):
            all_required = group.min_count == len(group.items)
            if all_required and not any(self.d.item(i).absent_lay for i in group.items):
                raise self.fail(
                    "threshold_group",
                    f"every item of group '{group.id}' is "
                    "required, but none has absent_lay, so a negative could only "
                    "leave an item unmentioned",
                    "add absent_lay to an item",
                )

    def timing(self) -> None:
        childhood_onset = self.d.onset is not None and self.d.onset.before_age is not None
        if self.d.duration is not None:
            # With a childhood-onset rule the generator derives duration from age at onset.
            self.check_duration("duration", self.d.duration, typical_needed=not childhood_onset)
        if self.d.onset is not None:
            self.check_onset()
        if self.d.frequency is not None:
            rule = self.d.frequency
            self.check_source("frequency.source", rule.source)
            low, high = rule.typical
            if not 0 < rule.min_per_week <= low <= high <= 14:
                raise self.fail(
                    "frequency.typical",
                    f"[{low}, {high}] does not lie between min_per_week {rule.min_per_week} and 14",
                    "use a typical range that meets the minimum",
                )
            for number, text in enumerate(rule.lay):
                self.check_phrasing(
                    f"frequency.lay[{number}]", text, {FREQUENCY_TOKEN}, predicate=False, required=FREQUENCY_TOKEN
                )

    def check_duration(self, field: str, rule: DurationRule, typical_needed: bool) -> None:
        self.check_source(f"{field}.source", rule.source)
        if rule.max is not None and rule.max.days < rule.min.days:
            raise self.fail(f"{field}.max", "max is shorter than min", "swap or fix the values")
        for number, text in enumerate(rule.lay):
            self.check_phrasing(
                f"{field}.lay[{number}]", text, {DURATION_TOKEN}, predicate=False, required=DURATION_TOKEN
            )
        if rule.typical is None:
            if typical_needed:
                raise self.fail(f"{field}.typical", "missing", "give the range vignettes use, e.g. [2 weeks, 8 weeks]")
        else:
            low, high = rule.typical
            below_min = low.days < rule.min.days or (rule.min_exclusive and low.days == rule.min.days)
            above_max = rule.max is not None and high.days > rule.max.days
            if low.unit != high.unit or low.value > high.value or below_min or above_max:
                raise self.fail(
                    f"{field}.typical",
                    f"[{low}, {high}] is not an ordered range in one unit that meets the rule's min and max",
                    "use one unit and values that satisfy the rule",
                )
        if rule.too_short is not None:
            low, high = rule.too_short
            if low.unit != high.unit or low.value > high.value or high.days >= rule.min.days:
                raise self.fail(
                    f"{field}.too_short",
                    f"[{low}, {high}] is not an ordered range in one unit below the minimum {rule.min}",
                    "use one unit and values shorter than min",
                )

    def check_onset(self) -> None:
        rule = self.d.onset
        assert rule is not None
        self.check_source("onset.source", rule.source)
        if (rule.before_age is None) == (rule.within_after_event is None):
            raise self.fail(
                "onset",
                "needs exactly one of before_age and within_after_event",
                "keep the one rule DSM-5 states for this disorder",
            )
        if rule.before_age is not None:
            ages = rule.typical_onset_age
            if ages is None or not 1 <= ages[0] <= ages[1] < rule.before_age:
                raise self.fail(
                    "onset.typical_onset_age",
                    f"{ages} is not a range of ages below {rule.before_age}",
                    "give e.g. [5, 10]",
                )
            token = ONSET_AGE_TOKEN
        else:
            delay, limit = rule.typical_delay, rule.within_after_event
            assert limit is not None
            if delay is None or delay[0].unit != delay[1].unit or delay[1].days > limit.days:
                raise self.fail(
                    "onset.typical_delay",
                    f"{delay} is not a range in one unit within {limit}",
                    "give e.g. [1 week, 8 weeks]",
                )
            token = ONSET_DELAY_TOKEN
        for number, text in enumerate(rule.lay):
            self.check_phrasing(f"onset.lay[{number}]", text, {token}, predicate=False, required=token)

    def impairment_and_exclusions(self) -> None:
        rule = self.d.impairment
        if rule.required:
            self.check_source("impairment.source", rule.source)
        for number, text in enumerate(rule.lay):
            self.check_phrasing(f"impairment.lay[{number}]", text, set(), predicate=False)
        seen: set[str] = set()
        for index, exclusion in enumerate(self.d.exclusions):
            field = f"exclusions[{index}]"
            self.check_id(f"{field}.id", exclusion.id, seen, "exclusion")
            self.check_source(f"{field}.source", exclusion.source)
            if exclusion.kind not in EXCLUSION_KINDS:
                raise self.fail(
                    f"{field}.kind", f"unknown kind '{exclusion.kind}'", f"use one of: {', '.join(EXCLUSION_KINDS)}"
                )
            for number, text in enumerate(exclusion.lay):
                self.check_phrasing(f"{field}.lay[{number}]", text, set(), predicate=False)

    def check_id(self, field: str, value: str, seen: set[str], what: str, pattern: re.Pattern[str] = _ID) -> None:
        if not pattern.match(value):
            raise self.fail(
                field,
                f"'{value}' is not a valid {what} id",
                "use letters, digits and _ (lower case except criterion letters)",
            )
        if value in seen:
            raise self.fail(field, f"duplicate {what} id '{value}'", f"give each {what} its own id")
        seen.add(value)

    def check_source(self, field: str, source: str) -> None:
        if not source.startswith("DSM-5 ") or "Criteri" not in source:
            raise self.fail(
                field, f"'{source}' does not cite a DSM-5 criterion", "write e.g. 'DSM-5 Panic Disorder, Criterion A'"
            )

    def check_phrasing(
        self, field: str, text: str, extra: set[str], predicate: bool, required: str | None = None
    ) -> None:
        tokens = _TOKEN.findall(text)
        unknown = [t for t in tokens if t not in PERSON_TOKENS and t not in extra]
        if unknown:
            raise self.fail(
                field,
                f"unknown placeholder '{{{unknown[0]}}}'",
                f"use only {{{'}, {'.join(sorted(PERSON_TOKENS | extra))}}}",
            )
        if required is not None and required not in tokens:
            raise self.fail(field, f"does not contain '{{{required}}}'", f"put {{{required}}} where the value belongs")
        bare = _TOKEN.sub(" ", text)
        if "{" in bare or "}" in bare:
            raise self.fail(field, "has an unmatched brace", "write placeholders as {name}")
        person_words = [w for w in _WORD.findall(bare) if w.lower() in _RAW_PERSON_WORDS]
        if person_words:
            raise self.fail(
                field,
                f"uses the person word '{person_words[0]}' directly",
                "write {subj}, {obj}, {pos} or {refl} so it renders in every voice",
            )
        raw_verb = _RAW_VERB_AFTER_SUBJECT.search(text) or (_RAW_VERB_FIRST.match(text) if predicate else None)
        if raw_verb:
            raise self.fail(
                field,
                f"has the verb '{raw_verb.group(1)}' where it must agree with the person",
                "write {is}, {was}, {has} or {does} instead",
            )
        if predicate and (text.endswith(".") or text[0].isupper()):
            raise self.fail(
                field,
                "is written as a sentence",
                "write a predicate without subject or final full stop, e.g. '{has} lost interest in ...'",
            )
        starts_well = text[0].isupper() or text.startswith(("{Subj}", "{Pos}"))
        if not predicate and not (text.endswith(".") and starts_well):
            raise self.fail(
                field, "is not a full sentence", "start with a capital or {Subj}/{Pos} and end with a full stop"
            )
