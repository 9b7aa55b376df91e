"""Reading rubric data files (YAML) with errors that name the file and the field at fault."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from harness.errors import MindgateError


class RubricFileError(MindgateError, ValueError):
    """A rubric, lexicon or hotline file is missing, unreadable or has a wrong field."""

    def __init__(self, path: Path | str, field: str, problem: str) -> None:
        self.path = Path(path)
        self.field = field
        self.problem = problem
        super().__init__(f"{self.path}: field '{field}': {problem}")


def load_yaml_mapping(path: Path) -> Mapping[str, Any]:
    """Parse a YAML file whose top level must be a mapping."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RubricFileError(path, "<file>", f"cannot be read ({exc.strerror}); check the path") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RubricFileError(path, "<file>", f"is not valid YAML: {exc}") from exc
    if not isinstance(data, Mapping):
        raise RubricFileError(path, "<top level>", "must be a mapping of fields")
    return data


def require(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], path: Path, where: str) -> Any:
    """Return ``data[key]``, raising a RubricFileError naming ``where.key`` if absent or mistyped."""
    field = f"{where}.{key}" if where else key
    if key not in data:
        raise RubricFileError(path, field, "is missing")
    value = data[key]
    # bool is an int subclass; a YAML 'yes' must not pass as a number.
    if isinstance(value, bool) and bool not in _as_tuple(kind):
        raise RubricFileError(path, field, f"must be {_kind_name(kind)}, got a boolean")
    if not isinstance(value, kind):
        raise RubricFileError(path, field, f"must be {_kind_name(kind)}, got {type(value).__name__}")
    return value


def require_str_list(data: Mapping[str, Any], key: str, path: Path, where: str) -> list[str]:
    """A non-empty list of non-empty strings."""
    values = require(data, key, list, path, where)
    field = f"{where}.{key}" if where else key
    if not values:
        raise RubricFileError(path, field, "must not be empty")
    for index, value in enumerate(values):
        if not isinstance(value, str) or not value.strip():
            raise RubricFileError(path, f"{field}[{index}]", "must be a non-empty string")
    return list(values)


def compile_pattern(pattern: str, path: Path, field: str) -> re.Pattern[str]:
    """Compile a case-insensitive regex, naming the field if it is invalid."""
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise RubricFileError(path, field, f"is not a valid regular expression ({exc}): {pattern!r}") from exc


def check_known(values: Sequence[str], allowed: Sequence[str], path: Path, field: str) -> None:
    for value in values:
        if value not in allowed:
            raise RubricFileError(path, field, f"unknown value {value!r}; allowed: {', '.join(allowed)}")


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    return " or ".join(k.__name__ for k in _as_tuple(kind))
