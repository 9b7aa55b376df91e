"""The leaderboard: for each model + adapter, its latest result on each task, with its CI and
the latest gate verdict on that run; and its CSV / JSON exports."""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from harness.store._db import DbPath, open_db

# One run per (model weights, adapter weights, task): the latest run of every item, and only where
# there is none, the latest run made with --limit (marked as such). So a later smoke run of one
# task hides neither the model's results on the other tasks nor a full run of that task. The main
# metric is the first in the task's metric list (position 0), so the task's own YAML decides it.
# Identity is by content hash, not name. A run marked incomplete (some task failed) contributes
# the tasks it finished, ranked after complete runs of the same task and marked; a run the gate
# stopped early contributes nothing: it holds part of its tasks only.
_QUERY = """
WITH candidates AS (
    SELECT r.run_id, r.created, r.model_name, r.model_hash, r.adapter_name, r.adapter_hash, r.backend,
           r.item_limit, r.status, r.adapter_lineage,
           m.task, m.metric, m.value, m.n, m.ci_low, m.ci_high, m.higher_is_better,
           ROW_NUMBER() OVER (
               PARTITION BY r.model_hash, COALESCE(r.adapter_hash, ''), m.task
               ORDER BY r.item_limit IS NOT NULL, r.status != 'completed', r.created DESC, r.run_id DESC
           ) AS recency
    FROM task_metrics AS m JOIN runs AS r USING (run_id)
    WHERE m.position = 0
      AND r.status IN ('completed', 'incomplete')
      AND (:task IS NULL AND m.is_group = 0 OR m.task = :task)
      AND (:base IS NULL OR r.model_name = :base OR r.model_hash = :base
           OR (length(:base) >= 8 AND r.model_hash LIKE :base || '%'))
),
latest_verdicts AS (
    SELECT run_id, verdict, baseline_run_id, created,
           ROW_NUMBER() OVER (PARTITION BY run_id ORDER BY created DESC, id DESC) AS recency
    FROM verdicts
)
SELECT c.task, c.metric, c.value, c.n, c.ci_low, c.ci_high, c.higher_is_better,
       c.model_name, c.model_hash, c.adapter_name, c.adapter_hash, c.backend, c.run_id, c.created,
       c.item_limit, c.status, v.verdict, v.baseline_run_id, v.created, c.adapter_lineage
FROM candidates AS c
LEFT JOIN latest_verdicts AS v ON v.run_id = c.run_id AND v.recency = 1
WHERE c.recency = 1
"""


@dataclass(frozen=True)
class LeaderboardRow:
    task: str
    metric: str
    value: float | None
    n: int
    ci_low: float | None
    ci_high: float | None
    higher_is_better: bool | None
    model_name: str
    model_hash: str
    adapter_name: str | None
    adapter_hash: str | None
    backend: str
    run_id: str
    created: str
    item_limit: float | None  # the run's --limit; None for a run of every item
    run_status: str  # "completed", or "incomplete" when another task of the run failed
    verdict: str | None
    verdict_baseline_run_id: str | None
    verdict_created: str | None
    adapter_lineage: str | None = None  # JSON list of trainer kinds, e.g. '["sft", "dpo"]'; None: base or unknown


def leaderboard(db: DbPath = None, base: str | None = None, task: str | None = None) -> list[LeaderboardRow]:
    """Rows ranked within each task, best first. ``base`` keeps one base model (name or content
    hash, or a hash prefix of 8+ characters); ``task`` keeps one task or group."""
    with open_db(db) as conn:
        raw = conn.execute(_QUERY, {"base": base, "task": task}).fetchall()
    rows = [_row(values) for values in raw]
    return sorted(rows, key=_rank_key)


def leaderboard_csv(rows: list[LeaderboardRow]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[f.name for f in fields(LeaderboardRow)], lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: "" if value is None else value for key, value in asdict(row).items()})
    return buffer.getvalue()


def leaderboard_json(rows: list[LeaderboardRow]) -> str:
    return json.dumps([asdict(row) for row in rows], indent=2) + "\n"


def _row(values: tuple[Any, ...]) -> LeaderboardRow:
    row = LeaderboardRow(*values)
    direction = row.higher_is_better
    return LeaderboardRow(**{**asdict(row), "higher_is_better": None if direction is None else bool(direction)})


def _rank_key(row: LeaderboardRow) -> tuple[str, int, float, str]:
    if row.value is None or math.isnan(row.value):
        return (row.task, 1, 0.0, row.run_id)  # no value: after every ranked row
    better_first = -row.value if row.higher_is_better is not False else row.value
    return (row.task, 0, better_first, row.run_id)
