"""A structured clinical case: what a vignette states, in criteria terms."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.dsm5._schema import Duration


@dataclass(frozen=True)
class Case:
    """The facts of one presentation, checked against one disorder's criteria.

    ``present`` are the item ids the presentation shows; anything else counts as absent.
    ``stated_absent`` are items the vignette explicitly says are absent (rendering only).
    ``duration`` is the length of the disturbance; ``group_durations`` the length of a
    sub-episode that has its own minimum (the depressive episode of bipolar II, the active
    phase of schizophrenia). ``onset_after_event`` is the delay from a stressor to onset.
    """

    disorder_id: str
    present: frozenset[str]
    age: int
    duration: Duration | None = None
    group_durations: Mapping[str, Duration] = field(default_factory=dict)
    onset_age: int | None = None
    onset_after_event: Duration | None = None
    episodes_per_week: float | None = None
    impairment: bool = False
    exclusions_present: frozenset[str] = frozenset()
    stated_absent: frozenset[str] = frozenset()

    def as_record(self) -> dict[str, Any]:
        """A JSON-ready dict with sorted lists and durations written as text."""
        return {
            "disorder_id": self.disorder_id,
            "present": sorted(self.present),
            "age": self.age,
            "duration": None if self.duration is None else str(self.duration),
            "group_durations": {key: str(value) for key, value in sorted(self.group_durations.items())},
            "onset_age": self.onset_age,
            "onset_after_event": (None if self.onset_after_event is None else str(self.onset_after_event)),
            "episodes_per_week": self.episodes_per_week,
            "impairment": self.impairment,
            "exclusions_present": sorted(self.exclusions_present),
            "stated_absent": sorted(self.stated_absent),
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Case:
        """Inverse of :meth:`as_record`."""
        return cls(
            disorder_id=str(record["disorder_id"]),
            present=frozenset(record["present"]),
            age=int(record["age"]),
            duration=_duration_or_none(record.get("duration")),
            group_durations={
                key: parse_duration_text(value) for key, value in record.get("group_durations", {}).items()
            },
            onset_age=record.get("onset_age"),
            onset_after_event=_duration_or_none(record.get("onset_after_event")),
            episodes_per_week=record.get("episodes_per_week"),
            impairment=bool(record.get("impairment", False)),
            exclusions_present=frozenset(record.get("exclusions_present", ())),
            stated_absent=frozenset(record.get("stated_absent", ())),
        )


def parse_duration_text(text: str) -> Duration:
    """Parse the text form written by :meth:`Case.as_record` ("3 weeks", "1 month")."""
    value, unit = text.split()
    return Duration(int(value), unit.removesuffix("s"))


def _duration_or_none(text: str | None) -> Duration | None:
    return None if text is None else parse_duration_text(text)
