"""``mindgate annotate import``: people's labels back from Label Studio or a CSV sheet.

Every file is read and every row checked against the manifest (which items exist) and the fields
file (which fields and labels are allowed, which must be filled) before anything is stored; any
problem refuses the whole import, with each problem naming the file, the row or task, the field
and what to do. The labels are then stored in one transaction (``labels.store_labels``).

Label Studio's JSON export is a list of tasks, each with ``data`` (the fields the export wrote)
and ``annotations``, whose ``result`` holds one region per control: ``{"from_name": "tier",
"type": "choices", "value": {"choices": ["high"]}}`` or ``{"type": "textarea", "value": {"text":
[...]}}``. A cancelled annotation (``was_cancelled``) is a skipped item and is left out.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.annotate._package import RATER_KEYS
from harness.annotate.fields import AnnotationError, LabelSchema, load_schema
from harness.store import DbPath

MAX_PROBLEMS_SHOWN = 30


class LabelImportError(AnnotationError):
    """Labels files with invalid rows; nothing was stored."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        shown = "\n  ".join(self.problems[:MAX_PROBLEMS_SHOWN])
        more = len(self.problems) - MAX_PROBLEMS_SHOWN
        tail = f"\n  ... and {more} more" if more > 0 else ""
        super().__init__(f"{len(self.problems)} problem(s) in the labels; nothing was stored:\n  {shown}{tail}")


@dataclass(frozen=True)
class Label:
    annotation_id: str
    rater_id: str
    field: str
    value: str
    source: str  # "label-studio:<file name>" or "csv:<file name>"
    where: str  # file and row or task, for messages


@dataclass(frozen=True)
class Manifest:
    package_id: str
    protocol_version: int
    items: Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class ImportReport:
    stored: int  # labels written now
    unchanged: int  # labels already stored with the same value (a re-import)
    items: int
    raters: tuple[str, ...]


def read_manifest(path: Path) -> Manifest:
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise AnnotationError(
            f"{path}: cannot read the manifest ({error.strerror}); pass --manifest DIR/manifest.json"
        ) from None
    except json.JSONDecodeError as error:
        raise AnnotationError(f"{path}: not valid JSON ({error}); use the manifest.json the export wrote") from None
    if not isinstance(payload, dict) or not {"package_id", "protocol_version", "items"} <= set(payload):
        raise AnnotationError(f"{path}: not an annotation manifest (package_id, protocol_version and items expected)")
    return Manifest(str(payload["package_id"]), int(payload["protocol_version"]), payload["items"])


def import_labels(
    files: Sequence[Path], manifest_path: Path, db: DbPath = None, schema: LabelSchema | None = None
) -> ImportReport:
    """Check every file, then store all labels at once (or nothing)."""
    from harness.annotate.labels import store_labels

    schema = schema or load_schema()
    manifest = read_manifest(manifest_path)
    if manifest.protocol_version != schema.version:
        raise AnnotationError(
            f"{manifest_path}: exported under protocol version {manifest.protocol_version}, but the fields file is "
            f"version {schema.version}; labels are compared within one version (PROTOCOL.md section 12)"
        )
    labels, problems = read_label_files(files, manifest, schema)
    if problems:
        raise LabelImportError(problems)
    return store_labels(labels, manifest, db)


def read_label_files(files: Sequence[Path], manifest: Manifest, schema: LabelSchema) -> tuple[list[Label], list[str]]:
    labels: list[Label] = []
    problems: list[str] = []
    for path in files:
        reader = _read_label_studio if path.suffix.lower() == ".json" else _read_csv
        if path.suffix.lower() not in (".json", ".csv"):
            problems.append(f"{path.name}: not a .json (Label Studio export) or .csv (filled rater sheet) file")
            continue
        found, wrong = reader(path, manifest, schema)
        labels.extend(found)
        problems.extend(wrong)
    problems.extend(_twice_labelled(labels))
    return labels, problems


def _twice_labelled(labels: Iterable[Label]) -> list[str]:
    seen: dict[tuple[str, str, str], Label] = {}
    problems = []
    for label in labels:
        key = (label.annotation_id, label.rater_id, label.field)
        first = seen.setdefault(key, label)
        if first.value != label.value:
            problems.append(
                f"{label.where}: field {label.field!r}: rater {label.rater_id} labelled {label.annotation_id} twice, "
                f"{first.value!r} in {first.where} and {label.value!r} here; keep one and remove the other"
            )
    return problems


def _check(
    label_values: Mapping[str, str],
    annotation_id: str,
    rater: str,
    where: str,
    manifest: Manifest,
    schema: LabelSchema,
    source: str,
) -> tuple[list[Label], list[str]]:
    """One rater's labels of one item: known item, rater id, known fields, allowed labels, no blanks."""
    item = manifest.items.get(annotation_id)
    if item is None:
        return [], [
            f"{where}: annotation id {annotation_id!r} is not in the manifest; check the id, or pass the "
            "manifest of the package this file came from"
        ]
    if not rater:
        return [], [f"{where}: rater id missing; write the rater's id (e.g. r1) in the rater_id column or task data"]
    rubric = schema.rubrics[str(item["rubric"])]
    labels, problems = [], []
    for name, raw in label_values.items():
        field = rubric.field(name)
        if field is None:
            problems.append(
                f"{where}: field {name!r} is not a field of rubric {rubric.name!r} "
                f"({', '.join(f.name for f in rubric.fields)}); remove it"
            )
            continue
        if not raw.strip():
            continue  # a blank: refused below when the field is required
        value = field.normalise(raw)
        if value is None:
            problems.append(
                f"{where}: field {name!r}: label {raw!r} is not allowed; use one of {', '.join(field.values)}"
            )
        elif value:
            labels.append(Label(annotation_id, rater, name, value, source, where))
    for field in rubric.fields:
        if field.required and not str(label_values.get(field.name, "")).strip():
            problems.append(
                f"{where}: field {field.name!r} is blank; the protocol never leaves it blank "
                "(label it, or skip the whole item)"
            )
    return labels, problems


def _read_label_studio(path: Path, manifest: Manifest, schema: LabelSchema) -> tuple[list[Label], list[str]]:
    try:
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        return [], [
            f"{path.name}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg}); "
            "export again from Label Studio with the JSON format"
        ]
    if not isinstance(tasks, list):
        return [], [f"{path.name}: a Label Studio JSON export is a list of tasks; export with the JSON format"]
    labels: list[Label] = []
    problems: list[str] = []
    for index, task in enumerate(tasks, start=1):
        data = task.get("data") if isinstance(task, dict) else None
        if not isinstance(data, dict) or not data.get("annotation_id"):
            problems.append(f"{path.name} task {index}: no data.annotation_id; import the tasks the export wrote")
            continue
        for number, annotation in enumerate(task.get("annotations") or [], start=1):
            if not isinstance(annotation, dict) or annotation.get("was_cancelled"):
                continue  # a skipped item (PROTOCOL.md 2.2)
            where = f"{path.name} task {index} annotation {number}"
            values, wrong = _result_values(annotation.get("result") or [], where)
            problems.extend(wrong)
            rater = _rater(data, annotation)
            found, bad = _check(
                values, str(data["annotation_id"]), rater, where, manifest, schema, f"label-studio:{path.name}"
            )
            labels.extend(found)
            problems.extend(bad)
    return labels, problems


def _result_values(results: list[Any], where: str) -> tuple[dict[str, str], list[str]]:
    values: dict[str, str] = {}
    problems: list[str] = []
    for region in results:
        name = str(region.get("from_name", "")) if isinstance(region, dict) else ""
        value = region.get("value") if isinstance(region, dict) else None
        kind = region.get("type") if isinstance(region, dict) else None
        if kind == "choices" and isinstance(value, dict) and isinstance(value.get("choices"), list):
            if len(value["choices"]) != 1:
                problems.append(f"{where}: field {name!r}: {len(value['choices'])} choices; choose exactly one")
                continue
            values[name] = str(value["choices"][0])
        elif kind == "textarea" and isinstance(value, dict) and isinstance(value.get("text"), list):
            values[name] = "\n".join(str(text) for text in value["text"])
        else:
            problems.append(
                f"{where}: field {name!r}: a {kind!r} result; only choices and textarea are expected "
                "(use the labelling configuration the export wrote)"
            )
    return values, problems


def _rater(data: Mapping[str, Any], annotation: Mapping[str, Any]) -> str:
    """The rater id the export put in the task; else Label Studio's user (``completed_by``, a
    number, or an object with an id in some versions), as ``ls-<id>``: never an e-mail or a name."""
    if str(data.get("rater_id") or "").strip():
        return str(data["rater_id"]).strip()
    who = annotation.get("completed_by")
    if isinstance(who, dict):
        who = who.get("id")
    return f"ls-{who}" if who not in (None, "") else ""


def _read_csv(path: Path, manifest: Manifest, schema: LabelSchema) -> tuple[list[Label], list[str]]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        return [], [f"{path.name}: cannot be read as a UTF-8 CSV ({error}); save it as CSV UTF-8"]
    if not rows:
        return [], []
    columns = list(rows[0])
    missing = [c for c in ("annotation_id", "rater_id") if c not in columns]
    unknown = [c for c in columns if c not in RATER_KEYS and c not in schema.fields]
    if missing or unknown:
        what = f"columns {missing} are missing" if missing else f"columns {unknown} are not label fields"
        return [], [f"{path.name} row 1 (header): {what}; keep the columns the export wrote"]
    fields = [c for c in columns if c in schema.fields]
    labels: list[Label] = []
    problems: list[str] = []
    for number, row in enumerate(rows, start=2):  # row 1 is the header, as a spreadsheet counts
        values = {name: str(row.get(name) or "") for name in fields}
        if not any(value.strip() for value in values.values()):
            continue  # not labelled (or skipped)
        filled = {
            name: value for name, value in values.items() if value.strip() or _in_rubric(row, name, manifest, schema)
        }
        found, bad = _check(
            filled,
            str(row.get("annotation_id") or "").strip(),
            str(row.get("rater_id") or "").strip(),
            f"{path.name} row {number}",
            manifest,
            schema,
            f"csv:{path.name}",
        )
        labels.extend(found)
        problems.extend(bad)
    return labels, problems


def _in_rubric(row: Mapping[str, Any], name: str, manifest: Manifest, schema: LabelSchema) -> bool:
    item = manifest.items.get(str(row.get("annotation_id") or "").strip())
    return item is not None and schema.rubrics[str(item["rubric"])].field(name) is not None
