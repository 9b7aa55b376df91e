"""The leaderboard database schema, as forward migrations.

``MIGRATIONS[i]`` takes a database from version ``i`` to ``i + 1``. Steps are only ever appended:
a released step is never edited, so every database, however old, reaches the same schema by
replaying the steps it has not applied yet.
"""

from __future__ import annotations

MIGRATIONS: tuple[tuple[str, ...], ...] = (
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
)

LATEST_VERSION = len(MIGRATIONS)
