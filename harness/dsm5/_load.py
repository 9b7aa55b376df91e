"""Read criteria YAML files into the typed schema.

Structural problems (missing or mistyped fields, unknown keys, bad durations) are reported here;
consistency between fields is checked by ``_validate``. Both raise :class:`CriteriaError`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from harness.dsm5._schema import (
    AgeThreshold,
    CriteriaError,
    Disorder,
    Duration,
    DurationRule,
    Exclusion,
    FrequencyRule,
    ImpairmentRule,
    OnsetRule,
    RaisedThreshold,
    SymptomGroup,
    SymptomItem,
)
from harness.dsm5._validate import validate_disorder
from harness.paths import RUBRICS_DIR

_UNITS = {
    "day": "day",
    "days": "day",
    "week": "week",
    "weeks": "week",
    "month": "month",
    "months": "month",
    "year": "year",
    "years": "year",
}
_DURATION_TEXT = re.compile(r"^(\d+) ([a-z]+)$")


def default_criteria_dir() -> Path:
    """The criteria set shipped with the project: ``<repo>/rubrics/dsm5``."""
    return RUBRICS_DIR / "dsm5"


def load_criteria(directory: Path | None = None) -> dict[str, Disorder]:
    """Load and validate every ``*.yaml`` file in ``directory``; keys are disorder ids."""
    folder = directory if directory is not None else default_criteria_dir()
    paths = sorted(folder.glob("*.yaml"))
    if not paths:
        raise CriteriaError(
            str(folder),
            "<directory>",
            "no *.yaml criteria files found",
            "point to the folder holding one YAML file per disorder",
        )
    return {disorder.id: disorder for disorder in (load_disorder(path) for path in paths)}


def load_disorder(path: Path) -> Disorder:
    """Load one criteria file and check it; raises :class:`CriteriaError` naming the field."""
    file = str(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CriteriaError(file, "<document>", f"not valid YAML ({exc})", "fix the YAML syntax") from exc
    if not isinstance(data, Mapping):
        raise CriteriaError(
            file,
            "<document>",
            "top level is not a mapping",
            "write the disorder as a mapping of fields (id, name, items, ...)",
        )
    disorder = _build_disorder(_Fields(file, "", data, _DISORDER_KEYS))
    if disorder.id != path.stem:
        raise CriteriaError(
            file,
            "id",
            f"id '{disorder.id}' differs from the file name",
            f"rename the file to '{disorder.id}.yaml' or change the id",
        )
    validate_disorder(disorder)
    return disorder


_DISORDER_KEYS = {
    "id",
    "name",
    "section",
    "icd10cm",
    "icd10cm_note",
    "age_range",
    "notes",
    "items",
    "groups",
    "threshold_group",
    "duration",
    "onset",
    "frequency",
    "impairment",
    "exclusions",
}


class _Fields:
    """Typed access to one YAML mapping; every error names the file and the field path."""

    def __init__(self, file: str, path: str, data: Any, allowed: set[str]) -> None:
        self.file = file
        self.path = path
        if not isinstance(data, Mapping):
            raise CriteriaError(
                file, path or "<document>", "expected a mapping", "write this entry as 'key: value' lines"
            )
        self.data: Mapping[str, Any] = data
        unknown = sorted(str(key) for key in data if key not in allowed)
        if unknown:
            raise CriteriaError(file, self.name(unknown[0]), "unknown field", f"use only: {', '.join(sorted(allowed))}")

    def name(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, problem: str, fix: str) -> CriteriaError:
        return CriteriaError(self.file, self.name(key), problem, fix)

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def text(self, key: str) -> str:
        value = self.data.get(key)
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, "missing or empty", "give a non-empty text")
        return value.strip()

    def opt_text(self, key: str) -> str:
        return self.text(key) if self.has(key) else ""

    def integer(self, key: str) -> int:
        value = self.data.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"expected a whole number, got {value!r}", "write an integer")
        return value

    def number(self, key: str) -> float:
        value = self.data.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(key, f"expected a number, got {value!r}", "write a number")
        return float(value)

    def flag(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {value!r}", "write true or false")
        return value

    def texts(self, key: str, required: bool = True) -> tuple[str, ...]:
        value = self.data.get(key)
        if value is None and not required:
            return ()
        if not isinstance(value, list) or not value:
            raise self.error(key, "missing or not a non-empty list", "give a list of texts")
        if not all(isinstance(entry, str) and entry.strip() for entry in value):
            raise self.error(key, "contains an empty or non-text entry", "give texts only")
        return tuple(entry.strip() for entry in value)

    def children(self, key: str, allowed: set[str], required: bool = True) -> list[_Fields]:
        value = self.data.get(key)
        if value is None and not required:
            return []
        if not isinstance(value, list) or (required and not value):
            raise self.error(key, "missing or not a non-empty list", "give a list of entries")
        return [_Fields(self.file, f"{self.name(key)}[{index}]", entry, allowed) for index, entry in enumerate(value)]

    def child(self, key: str, allowed: set[str]) -> _Fields | None:
        return _Fields(self.file, self.name(key), self.data[key], allowed) if self.has(key) else None

    def duration(self, key: str) -> Duration:
        return _parse_duration(self.data.get(key), self.error, key)

    def opt_duration(self, key: str) -> Duration | None:
        return self.duration(key) if self.has(key) else None

    def duration_range(self, key: str) -> tuple[Duration, Duration] | None:
        if not self.has(key):
            return None
        value = self.data[key]
        if not isinstance(value, list) or len(value) != 2:
            raise self.error(key, "expected a list of two durations", "write e.g. [2 weeks, 8 weeks]")
        return (_parse_duration(value[0], self.error, key), _parse_duration(value[1], self.error, key))

    def int_range(self, key: str) -> tuple[int, int] | None:
        if not self.has(key):
            return None
        value = self.data[key]
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        ):
            raise self.error(key, "expected a list of two whole numbers", "write e.g. [18, 65]")
        return (value[0], value[1])


def _parse_duration(value: Any, error: Any, key: str) -> Duration:
    match = _DURATION_TEXT.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise error(key, f"duration {value!r} is not '<number> <unit>'", "write e.g. '2 weeks'")
    unit = _UNITS.get(match.group(2))
    if unit is None:
        raise error(key, f"unknown duration unit '{match.group(2)}'", "use days, weeks, months or years")
    return Duration(int(match.group(1)), unit)


def _build_disorder(fields: _Fields) -> Disorder:
    icd = fields.data.get("icd10cm")
    codes = (icd,) if isinstance(icd, str) else fields.texts("icd10cm")
    age_range = fields.int_range("age_range")
    if age_range is None:
        raise fields.error("age_range", "missing", "give the vignette age range, e.g. [18, 65]")
    return Disorder(
        id=fields.text("id"),
        name=fields.text("name"),
        section=fields.text("section"),
        icd10cm=tuple(codes),
        icd10cm_note=fields.opt_text("icd10cm_note"),
        age_range=age_range,
        notes=fields.opt_text("notes"),
        items=tuple(_build_item(entry) for entry in fields.children("items", _ITEM_KEYS)),
        groups=tuple(_build_group(entry) for entry in fields.children("groups", _GROUP_KEYS)),
        threshold_group=fields.opt_text("threshold_group") or None,
        duration=_build_duration(fields.child("duration", _DURATION_KEYS)),
        onset=_build_onset(fields.child("onset", _ONSET_KEYS)),
        frequency=_build_frequency(fields.child("frequency", _FREQUENCY_KEYS)),
        impairment=_build_impairment(fields.child("impairment", _IMPAIRMENT_KEYS), fields),
        exclusions=tuple(
            _build_exclusion(entry) for entry in fields.children("exclusions", _EXCLUSION_KEYS, required=False)
        ),
        source_file=fields.file,
    )


_ITEM_KEYS = {"id", "text", "source", "lay", "absent_lay"}
_GROUP_KEYS = {
    "id",
    "label",
    "items",
    "min_count",
    "source",
    "required_any",
    "alternative_set",
    "age_threshold",
    "raised_threshold",
    "duration",
    "max_present",
    "keep_order",
    "intro",
}
_DURATION_KEYS = {"min", "max", "min_exclusive", "flexible", "typical", "too_short", "source", "lay"}
_ONSET_KEYS = {"before_age", "typical_onset_age", "within_after_event", "typical_delay", "source", "lay"}
_FREQUENCY_KEYS = {"min_per_week", "typical", "source", "lay"}
_IMPAIRMENT_KEYS = {"required", "source", "lay"}
_EXCLUSION_KEYS = {"id", "kind", "text", "source", "lay"}


def _build_item(fields: _Fields) -> SymptomItem:
    return SymptomItem(
        id=fields.text("id"),
        text=fields.text("text"),
        source=fields.text("source"),
        lay=fields.texts("lay"),
        absent_lay=fields.texts("absent_lay", required=False),
    )


def _build_group(fields: _Fields) -> SymptomGroup:
    age = fields.child("age_threshold", {"from_age", "min_count"})
    raised = fields.child("raised_threshold", {"min_count", "unless_present"})
    return SymptomGroup(
        id=fields.text("id"),
        label=fields.text("label"),
        items=fields.texts("items"),
        min_count=fields.integer("min_count"),
        source=fields.text("source"),
        required_any=fields.texts("required_any", required=False),
        alternative_set=fields.opt_text("alternative_set") or None,
        age_threshold=None if age is None else AgeThreshold(age.integer("from_age"), age.integer("min_count")),
        raised_threshold=None
        if raised is None
        else RaisedThreshold(raised.integer("min_count"), raised.texts("unless_present")),
        duration=_build_duration(fields.child("duration", _DURATION_KEYS)),
        max_present=fields.integer("max_present") if fields.has("max_present") else None,
        keep_order=fields.flag("keep_order", False),
        intro=fields.texts("intro", required=False),
    )


def _build_duration(fields: _Fields | None) -> DurationRule | None:
    if fields is None:
        return None
    return DurationRule(
        min=fields.duration("min"),
        max=fields.opt_duration("max"),
        min_exclusive=fields.flag("min_exclusive", False),
        flexible=fields.flag("flexible", False),
        typical=fields.duration_range("typical"),
        too_short=fields.duration_range("too_short"),
        source=fields.text("source"),
        lay=fields.texts("lay"),
    )


def _build_onset(fields: _Fields | None) -> OnsetRule | None:
    if fields is None:
        return None
    return OnsetRule(
        before_age=fields.integer("before_age") if fields.has("before_age") else None,
        typical_onset_age=fields.int_range("typical_onset_age"),
        within_after_event=fields.opt_duration("within_after_event"),
        typical_delay=fields.duration_range("typical_delay"),
        source=fields.text("source"),
        lay=fields.texts("lay"),
    )


def _build_frequency(fields: _Fields | None) -> FrequencyRule | None:
    if fields is None:
        return None
    typical = fields.int_range("typical")
    if typical is None:
        raise fields.error("typical", "missing", "give the vignette range, e.g. [1, 5]")
    return FrequencyRule(
        min_per_week=fields.number("min_per_week"),
        typical=typical,
        source=fields.text("source"),
        lay=fields.texts("lay"),
    )


def _build_impairment(fields: _Fields | None, parent: _Fields) -> ImpairmentRule:
    if fields is None or "required" not in fields.data:
        raise parent.error(
            "impairment.required", "missing", "state 'required: true' (with source and lay) or 'required: false'"
        )
    if not fields.flag("required", False):
        return ImpairmentRule(required=False, source=fields.opt_text("source"), lay=fields.texts("lay", required=False))
    return ImpairmentRule(required=True, source=fields.text("source"), lay=fields.texts("lay"))


def _build_exclusion(fields: _Fields) -> Exclusion:
    return Exclusion(
        id=fields.text("id"),
        kind=fields.text("kind"),
        text=fields.text("text"),
        source=fields.text("source"),
        lay=fields.texts("lay", required=False),
    )
