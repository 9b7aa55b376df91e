"""The label fields of the labelling protocol, read from ``rubrics/annotation/fields.yaml``.

One place says which fields exist, which values each allows, which are ordered and which must be
filled; the export (Label Studio configuration, CSV columns), the import (validation) and the
agreement figures (ordinal order) all read it from here. A rubric is a named set of fields plus
the tasks whose items are labelled with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import MindgateError
from harness.paths import RUBRICS_DIR
from harness.scoring._rubric_files import RubricFileError, load_yaml_mapping, require, require_str_list

FIELDS_FILE = RUBRICS_DIR / "annotation" / "fields.yaml"
SCALES: tuple[str, ...] = ("nominal", "ordinal", "text")
TARGETS: tuple[str, ...] = ("message", "reply")


class AnnotationError(MindgateError):
    """An annotation package, labels file or label that cannot be used; the message says where."""


@dataclass(frozen=True)
class LabelField:
    name: str
    scale: str  # nominal | ordinal | text
    values: tuple[str, ...]  # allowed labels, lowest first when ordinal; empty for text
    target: str  # message | reply: the text the field judges
    required: bool
    question: str

    @property
    def compared(self) -> bool:
        """Free text (the note) is stored but never enters an agreement figure."""
        return self.scale != "text"

    def normalise(self, raw: str) -> str | None:
        """The stored form of a label, or None when ``raw`` is not allowed for this field."""
        value = raw.strip()
        if self.scale == "text":
            return value
        if value in self.values:
            return value
        # Spreadsheets turn "1" into "1.0"; people type "Moderate".
        for allowed in self.values:
            if value.lower() == allowed.lower() or (value.endswith(".0") and value[:-2] == allowed):
                return allowed
        return None


@dataclass(frozen=True)
class Rubric:
    name: str
    fields: tuple[LabelField, ...]
    tasks: tuple[str, ...]

    def field(self, name: str) -> LabelField | None:
        return next((f for f in self.fields if f.name == name), None)


@dataclass(frozen=True)
class LabelSchema:
    version: int
    fields: Mapping[str, LabelField]
    rubrics: Mapping[str, Rubric]

    def rubric_for_task(self, task: str) -> Rubric:
        for rubric in self.rubrics.values():
            if task in rubric.tasks:
                return rubric
        raise AnnotationError(
            f"task {task!r} has no annotation rubric; add it to a rubric's `tasks` in "
            f"rubrics/annotation/fields.yaml (rubrics: {', '.join(self.rubrics)})"
        )

    def order(self, field: str) -> tuple[str, ...] | None:
        """The labels of an ordinal field, lowest first (for ``agreement``); None otherwise."""
        found = self.fields[field]
        return found.values if found.scale == "ordinal" else None


def load_schema(path: Path = FIELDS_FILE) -> LabelSchema:
    """Read and check the fields file; every problem names the file and the field."""
    data = load_yaml_mapping(path)
    version = require(data, "version", int, path, "")
    raw_fields = require(data, "fields", dict, path, "")
    fields = {str(name): _field(str(name), raw, path) for name, raw in raw_fields.items()}
    raw_rubrics = require(data, "rubrics", dict, path, "")
    rubrics: dict[str, Rubric] = {}
    owner: dict[str, str] = {}
    for name, raw in raw_rubrics.items():
        where = f"rubrics.{name}"
        if not isinstance(raw, dict):
            raise RubricFileError(path, where, "must be a mapping with `tasks` and `fields`")
        names = require_str_list(raw, "fields", path, where)
        unknown = [n for n in names if n not in fields]
        if unknown:
            raise RubricFileError(path, f"{where}.fields", f"unknown fields {unknown}; define them under `fields`")
        tasks = require_str_list(raw, "tasks", path, where)
        for task in tasks:
            if task in owner:
                raise RubricFileError(path, f"{where}.tasks", f"task {task!r} is already in rubric {owner[task]!r}")
            owner[task] = str(name)
        rubrics[str(name)] = Rubric(str(name), tuple(fields[n] for n in names), tuple(tasks))
    return LabelSchema(version=version, fields=fields, rubrics=rubrics)


def _field(name: str, raw: Any, path: Path) -> LabelField:
    where = f"fields.{name}"
    if not isinstance(raw, dict):
        raise RubricFileError(path, where, "must be a mapping with scale, target, required and question")
    scale = require(raw, "scale", str, path, where)
    if scale not in SCALES:
        raise RubricFileError(path, f"{where}.scale", f"must be one of {', '.join(SCALES)}")
    target = require(raw, "target", str, path, where)
    if target not in TARGETS:
        raise RubricFileError(path, f"{where}.target", f"must be one of {', '.join(TARGETS)}")
    values: tuple[str, ...] = ()
    if scale != "text":
        values = tuple(require_str_list(raw, "values", path, where))
        if len(set(values)) != len(values) or len(values) < 2:
            raise RubricFileError(path, f"{where}.values", "needs at least two distinct values")
    required = require(raw, "required", bool, path, where)
    question = require(raw, "question", str, path, where)
    return LabelField(name, scale, values, target, required, question)
