"""People's labels in the leaderboard database: storing an import, and reading labels and scorer
outputs back in the shapes ``harness.annotate.agreement`` takes.

Stable interface for reports (``mindgate annotate report`` builds on these two):

- ``read_labels(db)`` -> ``{field: {rater_id: {annotation_id: label}}}``: raw labels, never
  adjudicated ones. Labels are strings ("0"/"1", "none".."imminent", "0".."2"); pass
  ``load_schema().order(field)`` as ``order`` for ordinal fields. The note is left out unless asked.
- ``read_scorer_outputs(db)`` -> ``{annotation_id: ScorerOutputs}``: the run item, the reference
  tier and each scorer's labels mapped onto the same fields (``scorers["crisis_classifier"]["harm_method"]
  == "1"``), as the export's manifest recorded them. ``scorer_ratings`` turns one scorer's field
  into one more rater for the agreement functions.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.annotate.fields import AnnotationError
from harness.store import DbPath, open_db, utc_now
from harness.store._db import transaction

if TYPE_CHECKING:
    from harness.annotate.importer import ImportReport, Label, Manifest

Labels = dict[str, dict[str, dict[str, str]]]  # field -> rater -> annotation id -> label
REFERENCE = "reference"  # the rater name ``scorer_ratings`` gives the reference tier


@dataclass(frozen=True)
class ScorerOutputs:
    run_id: str
    task: str
    item_key: str
    rubric: str
    reference_tier: str | None
    scorers: Mapping[str, Mapping[str, str]]  # scorer -> {field: label}
    details: Mapping[str, Any]  # crisis verdict and layer disagreements, empathy margin, score


class ConflictingLabelsError(AnnotationError):
    """A re-import whose labels differ from the ones already stored; nothing was stored."""


def store_labels(labels: Sequence[Label], manifest: Manifest, db: DbPath = None) -> ImportReport:
    """Items (from the manifest) and labels in one transaction. The same labels again change
    nothing; a different label for a stored (item, rater, field) is refused: raw labels are never
    overwritten (PROTOCOL.md section 9)."""
    from harness.annotate.importer import ImportReport

    stored = unchanged = 0
    now = utc_now()
    with open_db(db) as conn, transaction(conn):
        for annotation_id in sorted({label.annotation_id for label in labels}):
            _store_item(conn, annotation_id, manifest)
        conflicts = []
        for label in labels:
            found = conn.execute(
                "SELECT value, source FROM annotation_labels WHERE annotation_id = ? AND rater_id = ? AND field = ?",
                (label.annotation_id, label.rater_id, label.field),
            ).fetchone()
            if found is None:
                conn.execute(
                    "INSERT INTO annotation_labels VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        label.annotation_id,
                        label.rater_id,
                        label.field,
                        label.value,
                        manifest.protocol_version,
                        label.source,
                        now,
                    ),
                )
                stored += 1
            elif found[0] == label.value:
                unchanged += 1
            else:
                conflicts.append(
                    f"{label.where}: field {label.field!r}: rater {label.rater_id}'s label of {label.annotation_id} "
                    f"is stored as {found[0]!r} (from {found[1]}), this file says {label.value!r}"
                )
        if conflicts:
            shown = "\n  ".join(conflicts[:30])
            raise ConflictingLabelsError(
                f"{len(conflicts)} label(s) differ from the stored ones; nothing was stored. Raw labels are never "
                f"overwritten: record a correction as an adjudication (PROTOCOL.md section 9), or import into "
                f"another database with --db:\n  {shown}"
            )
    return ImportReport(
        stored, unchanged, len({lab.annotation_id for lab in labels}), tuple(sorted({lab.rater_id for lab in labels}))
    )


def _store_item(conn: sqlite3.Connection, annotation_id: str, manifest: Manifest) -> None:
    item = manifest.items[annotation_id]
    row = (
        annotation_id,
        manifest.package_id,
        item["run_id"],
        item["task"],
        item["item_key"],
        item["rubric"],
        item["message_sha256"],
        item["reply_sha256"],
        manifest.protocol_version,
        item.get("reference_tier"),
        json.dumps(item.get("scorers") or {}, sort_keys=True),
        json.dumps(item.get("details") or {}, sort_keys=True),
    )
    found = conn.execute(
        "SELECT message_sha256, reply_sha256, package_id FROM annotation_items WHERE annotation_id = ?",
        (annotation_id,),
    ).fetchone()
    if found is None:
        conn.execute("INSERT INTO annotation_items VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
    elif tuple(found[:2]) != (item["message_sha256"], item["reply_sha256"]):
        raise ConflictingLabelsError(
            f"{annotation_id}: stored from package {found[2]} with other message/reply text than package "
            f"{manifest.package_id} shows (a different scrubber?); labels of different texts cannot be pooled. "
            "Import into another database with --db"
        )


def read_labels(
    db: DbPath = None,
    fields: Iterable[str] | None = None,
    tasks: Iterable[str] | None = None,
    protocol_version: int | None = None,
    include_text: bool = False,
) -> Labels:
    """Raw labels as ``{field: {rater: {annotation_id: label}}}``, optionally only some fields or
    tasks, or one protocol version (agreement is computed within a version)."""
    query = (
        "SELECT l.field, l.rater_id, l.annotation_id, l.value FROM annotation_labels l "
        "JOIN annotation_items i USING (annotation_id) WHERE 1 = 1"
    )
    query, params = _filtered(query, fields, tasks)
    if protocol_version is not None:
        query += " AND l.protocol_version = ?"
        params.append(protocol_version)
    if not include_text:
        query += " AND l.field != 'note'"
    out: Labels = {}
    with open_db(db) as conn:
        for field, rater, annotation_id, value in conn.execute(query + " ORDER BY 1, 2, 3", params):
            out.setdefault(field, {}).setdefault(rater, {})[annotation_id] = value
    return out


def read_scorer_outputs(db: DbPath = None, tasks: Iterable[str] | None = None) -> dict[str, ScorerOutputs]:
    """Per labelled item: its run item, reference tier and scorer outputs, from the manifest."""
    query, params = _filtered(
        "SELECT annotation_id, run_id, task, item_key, rubric, reference_tier, scorers, details "
        "FROM annotation_items i WHERE 1 = 1",
        None,
        tasks,
    )
    with open_db(db) as conn:
        return {
            row[0]: ScorerOutputs(row[1], row[2], row[3], row[4], row[5], json.loads(row[6]), json.loads(row[7]))
            for row in conn.execute(query + " ORDER BY annotation_id", params)
        }


def scorer_ratings(outputs: Mapping[str, ScorerOutputs], scorer: str, field: str) -> dict[str, str]:
    """One scorer's labels of one field as a rater's ``{annotation_id: label}``; ``scorer ==
    "reference"`` with ``field == "tier"`` gives the reference tiers."""
    if scorer == REFERENCE and field == "tier":
        return {aid: out.reference_tier for aid, out in outputs.items() if out.reference_tier is not None}
    return {aid: out.scorers[scorer][field] for aid, out in outputs.items() if field in out.scorers.get(scorer, {})}


def _filtered(query: str, fields: Iterable[str] | None, tasks: Iterable[str] | None) -> tuple[str, list[Any]]:
    params: list[Any] = []
    for column, values in (("l.field", fields), ("i.task", tasks)):
        if values is not None:
            chosen = list(values)
            query += f" AND {column} IN ({', '.join('?' * len(chosen))})"
            params.extend(chosen)
    return query, params
