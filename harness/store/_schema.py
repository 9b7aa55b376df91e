"""The leaderboard database schema, as forward migrations.

``MIGRATIONS[i]`` takes a database from version ``i`` to ``i + 1``. Steps are only ever appended:
a released step is never edited, so every database, however old, reaches the same schema by
replaying the steps it has not applied yet. A step is SQL, or a function of the connection for
data that SQL cannot compute (it runs inside the same transaction).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

Step = str | Callable[[sqlite3.Connection], None]


def _backfill_item_limit(conn: sqlite3.Connection) -> None:
    """Runs indexed before version 3: read ``config.limit`` back from each run's ``run.json``.
    A run whose record is gone or unreadable keeps NULL (a full run): ``mindgate leaderboard
    --rebuild`` re-reads every run directory."""
    for run_id, run_dir in conn.execute("SELECT run_id, run_dir FROM runs").fetchall():
        try:
            record = json.loads((Path(run_dir) / "run.json").read_text(encoding="utf-8"))
            limit = (record.get("config") or {}).get("limit")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(limit, int | float) and not isinstance(limit, bool):
            conn.execute("UPDATE runs SET item_limit = ? WHERE run_id = ?", (float(limit), run_id))


def _backfill_adapter_lineage(conn: sqlite3.Connection) -> None:
    """Runs indexed before version 4: read ``adapter.training.lineage`` back from each ``run.json``
    (runs of adapters without a training record, or of no adapter, keep NULL)."""
    for run_id, run_dir in conn.execute("SELECT run_id, run_dir FROM runs WHERE adapter_hash IS NOT NULL").fetchall():
        try:
            record = json.loads((Path(run_dir) / "run.json").read_text(encoding="utf-8"))
            lineage = ((record.get("adapter") or {}).get("training") or {}).get("lineage")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(lineage, list):
            conn.execute("UPDATE runs SET adapter_lineage = ? WHERE run_id = ?", (json.dumps(lineage), run_id))


MIGRATIONS: tuple[tuple[Step, ...], ...] = (
    # 1: runs, their task metrics and their per-item numeric scores.
    (
        """
        CREATE TABLE runs (
            run_id        TEXT PRIMARY KEY,
            created       TEXT NOT NULL,      -- ISO 8601 UTC, when the run started
            model_name    TEXT NOT NULL,
            model_hash    TEXT NOT NULL,
            adapter_name  TEXT,
            adapter_hash  TEXT,
            backend       TEXT NOT NULL,
            status        TEXT NOT NULL,
            wall_time_s   REAL,
            run_dir       TEXT NOT NULL,
            indexed_at    TEXT NOT NULL
        )
        """,
        """
        CREATE TABLE task_metrics (
            run_id            TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
            task              TEXT NOT NULL,
            metric            TEXT NOT NULL,
            position          INTEGER NOT NULL,  -- order in the task's metric list; 0 is the main metric
            is_group          INTEGER NOT NULL,  -- 1 for a group's pooled metric
            higher_is_better  INTEGER,           -- NULL when the task does not say
            value             REAL,
            n                 INTEGER NOT NULL,
            ci_low            REAL,
            ci_high           REAL,
            ci_method         TEXT,
            PRIMARY KEY (run_id, task, metric)
        )
        """,
        """
        CREATE TABLE samples (
            run_id    TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
            task      TEXT NOT NULL,
            item_key  TEXT NOT NULL,
            metric    TEXT NOT NULL,
            value     REAL NOT NULL,
            PRIMARY KEY (run_id, task, item_key, metric)
        )
        """,
    ),
    # 2: gate verdicts, and an index for "latest run of this model + adapter".
    # Verdicts do not reference runs: a verdict outlives a rebuild that drops its run's rows.
    (
        """
        CREATE TABLE verdicts (
            id               INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id           TEXT NOT NULL,
            baseline_run_id  TEXT NOT NULL,
            rules_hash       TEXT NOT NULL,
            verdict          TEXT NOT NULL,
            details          TEXT NOT NULL,  -- JSON
            created          TEXT NOT NULL
        )
        """,
        "CREATE INDEX verdicts_by_run ON verdicts(run_id, created)",
        "CREATE INDEX runs_by_model ON runs(model_hash, adapter_hash, created)",
    ),
    # 3: the run's --limit (items per task; a fraction below 1), NULL for a run of every item.
    # The leaderboard prefers full runs: a later smoke run with --limit must not hide a full one.
    (
        "ALTER TABLE runs ADD COLUMN item_limit REAL",
        _backfill_item_limit,
    ),
    # 4: where an adapter came from: the trainer kinds from its first ancestor to it, as a JSON
    # list ('["sft", "dpo"]'), from the training record the bundled trainers leave in the adapter
    # directory; NULL for a base model or an adapter without that record.
    (
        "ALTER TABLE runs ADD COLUMN adapter_lineage TEXT",
        _backfill_adapter_lineage,
    ),
    # 5: people's labels of run items (`mindgate annotate import`). An item is a (run_id, task,
    # item_key) under an opaque annotation id; its reference tier and scorer outputs come from the
    # export's manifest and are kept here for comparing scorers with people, never shown to raters.
    # Raw labels only, one per item, rater and field; no reference to runs, so a rebuild keeps them.
    (
        """
        CREATE TABLE annotation_items (
            annotation_id     TEXT PRIMARY KEY,
            package_id        TEXT NOT NULL,     -- the export that first carried the item
            run_id            TEXT NOT NULL,
            task              TEXT NOT NULL,
            item_key          TEXT NOT NULL,
            rubric            TEXT NOT NULL,
            message_sha256    TEXT NOT NULL,     -- of the scrubbed text the raters saw
            reply_sha256      TEXT NOT NULL,
            protocol_version  INTEGER NOT NULL,
            reference_tier    TEXT,
            scorers           TEXT NOT NULL,     -- JSON {scorer: {field: label}}
            details           TEXT NOT NULL      -- JSON: verdict, layer disagreements, scores
        )
        """,
        "CREATE INDEX annotation_items_by_run_item ON annotation_items(run_id, task, item_key)",
        """
        CREATE TABLE annotation_labels (
            annotation_id     TEXT NOT NULL REFERENCES annotation_items(annotation_id),
            rater_id          TEXT NOT NULL,
            field             TEXT NOT NULL,
            value             TEXT NOT NULL,
            protocol_version  INTEGER NOT NULL,
            source            TEXT NOT NULL,     -- format and file name it was imported from
            imported_at       TEXT NOT NULL,
            PRIMARY KEY (annotation_id, rater_id, field)
        )
        """,
    ),
)

LATEST_VERSION = len(MIGRATIONS)
