"""Typed schema of the paraphrased DSM-5 criteria set in ``rubrics/dsm5/``.

The dataclasses are plain data: the loader fills and validates them, the criteria checker and
the vignette generator read them independently. See ``rubrics/dsm5/README.md`` for the YAML form.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from harness.errors import MindgateError

# Months and years are averaged over the Gregorian cycle so that "24 months" equals "2 years"
# exactly; the values are exact in binary floating point, so comparisons never drift.
DAYS_PER_UNIT: Mapping[str, float] = {"day": 1.0, "week": 7.0, "month": 30.4375, "year": 365.25}

EXCLUSION_KINDS: tuple[str, ...] = ("substance", "medical", "other_disorder", "specific")

# Tokens a lay phrasing may use so that one phrasing renders in first or third person.
PERSON_TOKENS: frozenset[str] = frozenset(
    {"subj", "Subj", "obj", "pos", "Pos", "refl", "is", "was", "has", "does", "s", "es", "ies"}
)
# Extra tokens allowed in the phrasing of a timing rule, by rule.
DURATION_TOKEN = "duration"
ONSET_AGE_TOKEN = "onset_age"
ONSET_DELAY_TOKEN = "onset_delay"
FREQUENCY_TOKEN = "frequency"


class CriteriaError(MindgateError, ValueError):
    """A criteria file is malformed or inconsistent.

    The message names the file, the field (a dotted path such as ``groups[0].min_count``),
    what is wrong and what to do about it.
    """

    def __init__(self, file: str, field: str, problem: str, fix: str) -> None:
        self.file = file
        self.field = field
        self.problem = problem
        self.fix = fix
        super().__init__(f"{file}: field '{field}': {problem}. Fix: {fix}")


@dataclass(frozen=True)
class Duration:
    """A length of time such as ``2 weeks``; ``unit`` is singular (day, week, month, year)."""

    value: int
    unit: str

    @property
    def days(self) -> float:
        return self.value * DAYS_PER_UNIT[self.unit]

    def __str__(self) -> str:
        return f"{self.value} {self.unit}" + ("" if self.value == 1 else "s")


@dataclass(frozen=True)
class SymptomItem:
    """One criterion item: a paraphrase, the DSM-5 section it paraphrases, and lay phrasings.

    ``lay`` phrasings are predicates without a subject ("{has} lost interest in ..."), rendered
    after "She", "They" or "I". ``absent_lay`` phrasings state that the item is absent; they are
    used where leaving an item out of a vignette would not clearly mean that it is absent.
    """

    id: str
    text: str
    source: str
    lay: tuple[str, ...]
    absent_lay: tuple[str, ...] = ()


@dataclass(frozen=True)
class AgeThreshold:
    """A lower symptom count that applies from a given age (ADHD: 5 instead of 6 from age 17)."""

    from_age: int
    min_count: int


@dataclass(frozen=True)
class RaisedThreshold:
    """A higher symptom count that applies unless one of ``unless_present`` is present.

    Mania and hypomania need four B symptoms instead of three when the mood is only irritable.
    """

    min_count: int
    unless_present: tuple[str, ...]


@dataclass(frozen=True)
class DurationRule:
    """Minimum (and optional maximum) duration of a disturbance.

    ``flexible`` marks durations that DSM-5 gives as typical rather than strict (social anxiety,
    specific phobia); the checker still applies them, the generator makes no negatives from them.
    ``typical`` is the range vignettes draw from; ``too_short`` optionally fixes the range used
    for too-short negatives when the default would turn the case into another listed disorder.
    """

    min: Duration
    source: str
    lay: tuple[str, ...]
    max: Duration | None = None
    min_exclusive: bool = False
    flexible: bool = False
    typical: tuple[Duration, Duration] | None = None
    too_short: tuple[Duration, Duration] | None = None


@dataclass(frozen=True)
class SymptomGroup:
    """A cluster of items of which at least ``min_count`` must be present.

    ``required_any``: at least one of these must be among the present items (core symptoms).
    ``alternative_set``: groups sharing this name are alternatives; one of them being met is
    enough (ADHD inattention or hyperactivity-impulsivity, OCD obsessions or compulsions).
    ``max_present`` only limits how many items a vignette shows (one trauma, not four), and
    ``keep_order`` keeps file order in vignettes where later phrasings refer to earlier ones.
    """

    id: str
    label: str
    items: tuple[str, ...]
    min_count: int
    source: str
    required_any: tuple[str, ...] = ()
    alternative_set: str | None = None
    age_threshold: AgeThreshold | None = None
    raised_threshold: RaisedThreshold | None = None
    duration: DurationRule | None = None
    max_present: int | None = None
    keep_order: bool = False
    intro: tuple[str, ...] = ()


@dataclass(frozen=True)
class OnsetRule:
    """When the symptoms must have begun: before an age, or within a time after an event."""

    source: str
    lay: tuple[str, ...]
    before_age: int | None = None
    typical_onset_age: tuple[int, int] | None = None
    within_after_event: Duration | None = None
    typical_delay: tuple[Duration, Duration] | None = None


@dataclass(frozen=True)
class FrequencyRule:
    """How often episodes must occur, as a minimum number per week."""

    min_per_week: float
    typical: tuple[int, int]
    source: str
    lay: tuple[str, ...]


@dataclass(frozen=True)
class ImpairmentRule:
    """Whether clinically significant distress or impairment is a separate required criterion."""

    required: bool
    source: str = ""
    lay: tuple[str, ...] = ()


@dataclass(frozen=True)
class Exclusion:
    """A condition under which the criteria are not met (substance, medical cause, ...)."""

    id: str
    kind: str
    text: str
    source: str
    lay: tuple[str, ...] = ()


@dataclass(frozen=True)
class Disorder:
    """One disorder's criteria, as loaded from ``rubrics/dsm5/<id>.yaml``."""

    id: str
    name: str
    section: str
    icd10cm: tuple[str, ...]
    age_range: tuple[int, int]
    items: tuple[SymptomItem, ...]
    groups: tuple[SymptomGroup, ...]
    impairment: ImpairmentRule
    exclusions: tuple[Exclusion, ...]
    source_file: str
    threshold_group: str | None = None
    duration: DurationRule | None = None
    onset: OnsetRule | None = None
    frequency: FrequencyRule | None = None
    icd10cm_note: str = ""
    notes: str = ""

    def item(self, item_id: str) -> SymptomItem:
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(f"disorder '{self.id}' has no item '{item_id}'")

    def group(self, group_id: str) -> SymptomGroup:
        for group in self.groups:
            if group.id == group_id:
                return group
        raise KeyError(f"disorder '{self.id}' has no group '{group_id}'")

    def alternative_sets(self) -> dict[str, tuple[SymptomGroup, ...]]:
        """Alternative-set name -> its member groups, in file order."""
        sets: dict[str, list[SymptomGroup]] = {}
        for group in self.groups:
            if group.alternative_set is not None:
                sets.setdefault(group.alternative_set, []).append(group)
        return {name: tuple(members) for name, members in sets.items()}
