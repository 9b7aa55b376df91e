"""Trainer configs: one typed dataclass per trainer is the YAML schema, the CLI and the record.

A YAML file gives any subset of the fields; flags on the command line override it; what is left
keeps the dataclass default. Unknown keys, wrong types and impossible values are refused with the
file, the field and what to do, before anything is loaded.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from harness.errors import MindgateError

T = TypeVar("T")


class TrainConfigError(MindgateError):
    """A trainer config that cannot be used (the message names the file and the field)."""


def field_help(cls: type, name: str) -> str:
    return str(next(f for f in dataclasses.fields(cls) if f.name == name).metadata.get("help", ""))


def add_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """Every field of ``cls`` becomes ``--field-name``, with the field's help text and default."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        flag = "--" + f.name.replace("_", "-")
        kind, is_list = _base_type(hints[f.name])
        default = f.default if f.default is not dataclasses.MISSING else None
        shown = f" (default: {default})" if default not in (None, (), []) else ""
        help_text = str(f.metadata.get("help", "")) + shown
        if kind is bool:
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        elif is_list:
            parser.add_argument(flag, dest=f.name, default=None, help=help_text + " (comma-separated)")
        else:
            parser.add_argument(flag, dest=f.name, type=kind, default=None, help=help_text)


def _base_type(hint: Any) -> tuple[type, bool]:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    origin = typing.get_origin(hint)
    if origin in (list, tuple):
        return str, True
    return hint, False


def load_config(cls: type[T], path: Path | None, overrides: Mapping[str, Any] | None = None) -> T:
    """``cls`` from a YAML file (optional) and CLI overrides (None values are ignored)."""
    values: dict[str, Any] = {}
    where = str(path) if path else "the command line"
    if path is not None:
        if not path.is_file():
            raise TrainConfigError(f"{path}: no such config file")
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as error:
            raise TrainConfigError(f"{path}: not valid YAML ({error})") from error
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise TrainConfigError(f"{path}: expected a mapping of field: value at the top level")
        values.update(loaded)
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = value
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key in values:
        if key not in names:
            close = difflib.get_close_matches(str(key), sorted(names), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f"; fields: {', '.join(sorted(names))}"
            raise TrainConfigError(f"{where}: unknown field {key!r}{hint}")
    hints = typing.get_type_hints(cls)
    coerced = {key: _coerce(where, key, value, hints[key]) for key, value in values.items()}
    try:
        config = cls(**coerced)
    except TypeError as error:
        raise TrainConfigError(f"{where}: {error}") from error
    check = getattr(config, "check", None)
    if callable(check):
        try:
            check()
        except ValueError as error:
            raise TrainConfigError(f"{where}: {error}") from error
    return config


def _coerce(where: str, key: str, value: Any, hint: Any) -> Any:
    optional = isinstance(hint, types.UnionType) and type(None) in typing.get_args(hint)
    if value is None:
        if optional:
            return None
        raise TrainConfigError(f"{where}: field {key!r} may not be empty")
    kind, is_list = _base_type(hint)
    if is_list:
        items = [part.strip() for part in value.split(",")] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(item, str) and item for item in items):
            raise TrainConfigError(f"{where}: field {key!r} must be a list of names, got {value!r}")
        return tuple(items)
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise TrainConfigError(f"{where}: field {key!r} must be true or false, got {value!r}")
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TrainConfigError(f"{where}: field {key!r} must be a whole number, got {value!r}")
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TrainConfigError(f"{where}: field {key!r} must be a number, got {value!r}")
        return float(value)
    if kind is str:
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise TrainConfigError(f"{where}: field {key!r} must be text, got {value!r}")
        return str(value)
    return value


def as_record(config: Any) -> dict[str, Any]:
    return {
        key: list(value) if isinstance(value, tuple) else value for key, value in dataclasses.asdict(config).items()
    }
