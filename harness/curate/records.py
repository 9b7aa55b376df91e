"""Reading the data to curate: JSONL or CSV with named columns, in one of three shapes.

- ``sft``: a prompt column and a response column (CounselChat's ``questionText``/``answerText``).
- ``preference``: a prompt column, a chosen column and a rejected column (DPO pairs).
- ``chat``: a column holding a list of ``{"role": ..., "content": ...}`` messages (JSONL only).

Every row becomes a list of text segments with a role: ``prompt`` (what the user says), ``target``
(what a model would be trained to say: responses, chosen replies, assistant turns) and
``rejected`` (a preference pair's rejected side: never a training target, so the safety filters
do not remove a pair for it). Every error names the file, the row (1-based data row; for JSONL
also the line) and the column, and says what to do.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import DataFormatError

KINDS: tuple[str, ...] = ("sft", "preference", "chat")
DEFAULT_COLUMNS: dict[str, dict[str, str]] = {
    "sft": {"prompt": "prompt", "response": "response"},
    "preference": {"prompt": "prompt", "chosen": "chosen", "rejected": "rejected"},
    "chat": {"messages": "messages"},
}
_TARGET_ROLES = {"assistant"}
_PROMPT_ROLES = {"user", "system"}


@dataclass(frozen=True)
class ColumnSpec:
    """Which columns hold what, for one input shape."""

    kind: str = "sft"
    prompt: str | None = None
    response: str | None = None
    chosen: str | None = None
    rejected: str | None = None
    messages: str | None = None
    id: str | None = None  # optional: a column whose value names each row in reports

    def resolved(self) -> ColumnSpec:
        if self.kind not in KINDS:
            raise DataFormatError(f"unknown data kind {self.kind!r}; choose one of {', '.join(KINDS)}")
        defaults = DEFAULT_COLUMNS[self.kind]
        values = {
            name: getattr(self, name) or defaults.get(name)
            for name in ("prompt", "response", "chosen", "rejected", "messages")
        }
        return ColumnSpec(kind=self.kind, id=self.id, **values)

    def required(self) -> list[str]:
        names = {"sft": ("prompt", "response"), "preference": ("prompt", "chosen", "rejected"), "chat": ("messages",)}
        return [str(getattr(self, name)) for name in names[self.kind]]

    def as_record(self) -> dict[str, Any]:
        return {name: value for name, value in vars(self).items() if value is not None}


@dataclass(frozen=True)
class Segment:
    role: str  # prompt | target | rejected
    text: str
    where: str  # the column (and message index) it came from, e.g. "answerText" or "messages[3]"


@dataclass
class Row:
    number: int  # 1-based data row
    line: int  # 1-based line of the file where the row starts
    name: str  # the id column's value, or "row N"
    raw: dict[str, Any]
    segments: list[Segment] = field(default_factory=list)

    def texts(self, role: str) -> list[str]:
        return [segment.text for segment in self.segments if segment.role == role]

    def target_pairs(self) -> list[tuple[str, str]]:
        """(message, reply) for every target: the prompt text before it in the row."""
        pairs: list[tuple[str, str]] = []
        last_prompt = ""
        for segment in self.segments:
            if segment.role == "prompt":
                last_prompt = segment.text
            elif segment.role == "target":
                pairs.append((last_prompt, segment.text))
        return pairs


def read_rows(path: Path, spec: ColumnSpec) -> list[Row]:
    """All rows of ``path`` as segments; raises DataFormatError naming the file, row and column."""
    spec = spec.resolved()
    if spec.kind == "chat" and path.suffix.lower() in (".csv", ".tsv"):
        raise DataFormatError(f"{path}: chat data (a list of messages per row) must be JSONL, not CSV")
    raw_rows = _raw_rows(path)
    _check_columns(path, spec, raw_rows)
    return [_to_row(path, spec, number, line, raw) for number, (line, raw) in enumerate(raw_rows, start=1)]


def _raw_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line, row) of a JSONL, CSV or TSV file; an error names a missing, unknown or empty file."""
    if not path.is_file():
        raise DataFormatError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        raw_rows = list(_jsonl_rows(path))
    elif suffix in (".csv", ".tsv"):
        raw_rows = list(_csv_rows(path, delimiter="\t" if suffix == ".tsv" else ","))
    else:
        raise DataFormatError(f"{path}: unknown file type {suffix!r}; give a .jsonl, .csv or .tsv file")
    if not raw_rows:
        raise DataFormatError(f"{path}: the file holds no rows")
    return raw_rows


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataFormatError(
                    f"{path}, line {line_number}: not valid JSON ({error.msg}); fix or remove the line"
                ) from error
            if not isinstance(value, dict):
                raise DataFormatError(f"{path}, line {line_number}: expected a JSON object with named columns")
            yield line_number, value


def _csv_rows(path: Path, delimiter: str) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        if not reader.fieldnames:
            raise DataFormatError(f"{path}: no header row; the first row must name the columns")
        for row in reader:
            if None in row:
                raise DataFormatError(
                    f"{path}, line {reader.line_num}: more fields than the header names; check the quoting of that row"
                )
            yield reader.line_num, dict(row)


def _check_columns(path: Path, spec: ColumnSpec, raw_rows: list[tuple[int, dict[str, Any]]]) -> None:
    seen: set[str] = set()
    for _, raw in raw_rows[:1000]:
        seen.update(raw)
    wanted = spec.required() + ([spec.id] if spec.id else [])
    missing = [name for name in wanted if name not in seen]
    if missing:
        flags = {
            "prompt": "--prompt",
            "response": "--response",
            "chosen": "--chosen",
            "rejected": "--rejected",
            "messages": "--messages",
        }
        hint = ", ".join(
            f"{flags[name]} COLUMN"
            for name in ("prompt", "response", "chosen", "rejected", "messages")
            if getattr(spec, name) in missing
        )
        raise DataFormatError(
            f"{path}: no column named {', '.join(repr(m) for m in missing)} (columns: {', '.join(sorted(seen))}); "
            f"name the right ones with {hint or '--id COLUMN'}"
        )


def _text(path: Path, number: int, line: int, raw: dict[str, Any], column: str) -> str:
    value = raw.get(column)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DataFormatError(
            f"{path}, row {number} (line {line}), column {column!r}: expected text, got {type(value).__name__}"
        )
    return value


def _to_row(path: Path, spec: ColumnSpec, number: int, line: int, raw: dict[str, Any]) -> Row:
    name = str(raw.get(spec.id)) if spec.id and raw.get(spec.id) not in (None, "") else f"row {number}"
    row = Row(number=number, line=line, name=name, raw=raw)
    if spec.kind == "sft":
        assert spec.prompt and spec.response
        row.segments = [
            Segment("prompt", _text(path, number, line, raw, spec.prompt), spec.prompt),
            Segment("target", _text(path, number, line, raw, spec.response), spec.response),
        ]
    elif spec.kind == "preference":
        assert spec.prompt and spec.chosen and spec.rejected
        row.segments = [
            Segment("prompt", _text(path, number, line, raw, spec.prompt), spec.prompt),
            Segment("target", _text(path, number, line, raw, spec.chosen), spec.chosen),
            Segment("rejected", _text(path, number, line, raw, spec.rejected), spec.rejected),
        ]
    else:
        assert spec.messages
        messages = raw.get(spec.messages)
        if not isinstance(messages, list):
            raise DataFormatError(
                f"{path}, row {number} (line {line}), column {spec.messages!r}: expected a list of messages"
            )
        for index, message in enumerate(messages):
            where = f"{spec.messages}[{index}]"
            if not isinstance(message, dict) or not isinstance(message.get("content"), str):
                raise DataFormatError(
                    f"{path}, row {number} (line {line}), {where}: expected {{'role': ..., 'content': text}}"
                )
            role = message.get("role")
            if role in _TARGET_ROLES:
                row.segments.append(Segment("target", message["content"], where))
            elif role in _PROMPT_ROLES:
                row.segments.append(Segment("prompt", message["content"], where))
            else:
                raise DataFormatError(
                    f"{path}, row {number} (line {line}), {where}: unknown role {role!r}; "
                    "expected user, system or assistant"
                )
    return row


def replace_texts(row: Row, spec: ColumnSpec, texts: list[str]) -> dict[str, Any]:
    """The row's original record with its segments' texts replaced (in segment order)."""
    spec = spec.resolved()
    out = json.loads(json.dumps(row.raw))
    if spec.kind == "chat":
        assert spec.messages
        for message, text in zip(out[spec.messages], texts, strict=True):
            message["content"] = text
        return out
    for segment, text in zip(row.segments, texts, strict=True):
        out[segment.where] = text
    return out


def read_prompts(path: Path, column: str, id_column: str | None = None) -> list[tuple[str, str]]:
    """(name, prompt) per row of a JSONL or CSV file: the prompts to ask a model about.

    Rows are named by ``id_column`` when given (its values must be unique), else ``row N``; an
    empty prompt is an error naming the row."""
    raw_rows = _raw_rows(path)
    seen: set[str] = set()
    for _, raw in raw_rows[:1000]:
        seen.update(raw)
    for wanted, flag in ((column, "--prompt"), (id_column, "--id")):
        if wanted and wanted not in seen:
            raise DataFormatError(
                f"{path}: no column named {wanted!r} (columns: {', '.join(sorted(seen))}); "
                f"name the right one with {flag}"
            )
    prompts: list[tuple[str, str]] = []
    names: set[str] = set()
    for number, (line, raw) in enumerate(raw_rows, start=1):
        text = _text(path, number, line, raw, column).strip()
        if not text:
            raise DataFormatError(f"{path}, row {number} (line {line}), column {column!r}: the prompt is empty")
        name = str(raw.get(id_column)) if id_column and raw.get(id_column) not in (None, "") else f"row {number}"
        if name in names:
            raise DataFormatError(f"{path}, row {number} (line {line}): id {name!r} is used by an earlier row")
        names.add(name)
        prompts.append((name, text))
    return prompts
