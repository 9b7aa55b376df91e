"""Writing runs and verdicts into the leaderboard database.

A run directory is the source of truth; the database is an index of it. Indexing a run again
replaces its rows, and ``rebuild`` makes the database mirror a runs folder exactly. Gate verdicts
are written twice: into the database and as a file in the candidate's run directory
(``verdicts/*.json``), from which ``rebuild`` restores any the database lacks. Nothing here
deletes a verdict.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from harness.metrics import EVIDENCE_METRICS
from harness.run import RECORD_NAME
from harness.store._db import DbPath, StoreError, open_db, transaction, utc_now
from harness.store._rundir import RunRecordError, StoredRun, is_number, read_run

Verdict = Literal["accept", "reject"]
VERDICTS: tuple[Verdict, ...] = ("accept", "reject")
VERDICTS_DIR = "verdicts"  # in a candidate's run directory: one JSON file per gate decision
_VERDICT_FIELDS = ("run_id", "baseline_run_id", "rules_hash", "verdict", "created", "details")


@dataclass(frozen=True)
class RunRows:
    """What one run contributes to the database, without the prompts and responses."""

    run: tuple[Any, ...]
    metrics: list[tuple[Any, ...]]
    samples: list[tuple[Any, ...]]

    @property
    def run_id(self) -> str:
        return str(self.run[0])


@dataclass
class RebuildReport:
    indexed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    verdicts_restored: int = 0  # verdict files whose decision the database did not hold


def index_run(db: DbPath, run_dir: Path | str) -> str:
    """Add or replace one run's rows (run, task metrics, numeric per-item scores); returns its id."""
    rows = run_rows(read_run(run_dir))
    with open_db(db) as conn, transaction(conn):
        _write(conn, rows)
    return rows.run_id


def rebuild(db: DbPath, runs_root: Path | str) -> RebuildReport:
    """Index every run directory under ``runs_root`` and drop runs that are no longer there,
    in one transaction. Unreadable directories are skipped and reported, not fatal: one damaged
    run should not hide every other run from the leaderboard."""
    runs_root = Path(runs_root)
    if not runs_root.is_dir():
        raise StoreError(f"{runs_root}: no such runs folder; set MINDGATE_RUNS_DIR or pass the folder runs are in")
    report = RebuildReport()
    collected: list[RunRows] = []
    for run_dir in _run_dirs(runs_root):
        try:
            collected.append(run_rows(read_run(run_dir)))
        except RunRecordError as error:
            report.skipped.append((run_dir, str(error)))
    saved: list[dict[str, Any]] = []
    for run_dir in _run_dirs(runs_root):
        for path in sorted((run_dir / VERDICTS_DIR).glob("*.json")):
            try:
                saved.append(_read_verdict_file(path))
            except StoreError as error:
                report.skipped.append((path, str(error)))
    with open_db(db) as conn, transaction(conn):
        keep = {rows.run_id for rows in collected}
        stale = [row[0] for row in conn.execute("SELECT run_id FROM runs") if row[0] not in keep]
        conn.executemany("DELETE FROM runs WHERE run_id = ?", [(run_id,) for run_id in stale])
        for rows in collected:
            _write(conn, rows)
        report.verdicts_restored = sum(_insert_verdict(conn, verdict, only_if_new=True) > 0 for verdict in saved)
    report.indexed = sorted(keep)
    report.removed = sorted(stale)
    return report


def record_verdict(
    db: DbPath,
    run_id: str,
    baseline_run_id: str,
    rules_hash: str,
    verdict: Verdict,
    details: Mapping[str, Any],
    created: str | None = None,
) -> int:
    """Store a gate decision about ``run_id`` against ``baseline_run_id``; returns its row id."""
    record = {
        "run_id": run_id,
        "baseline_run_id": baseline_run_id,
        "rules_hash": rules_hash,
        "verdict": verdict,
        "details": details,
        "created": created or utc_now(),
    }
    with open_db(db) as conn, transaction(conn):
        return _insert_verdict(conn, _verdict_record(record, "record_verdict"))


def save_verdict(run_dir: Path | str, record: Mapping[str, Any]) -> Path:
    """Write a gate decision (the fields ``record_verdict`` takes, ``created`` included) into the
    candidate's run directory as ``verdicts/<when>-vs-<baseline>-<rules>.json``, through a
    temporary name and a rename: the durable copy that ``rebuild`` reads back."""
    payload = _verdict_record(record, "save_verdict")
    folder = Path(run_dir) / VERDICTS_DIR
    folder.mkdir(exist_ok=True)
    stamp = str(payload["created"]).replace("-", "").replace(":", "")
    baseline = re.sub(r"[^A-Za-z0-9._-]", "_", str(payload["baseline_run_id"]))  # a run id is only text
    path = folder / f"{stamp}-vs-{baseline}-{str(payload['rules_hash'])[:8]}.json"
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str, allow_nan=False) + "\n")
    os.replace(temporary, path)
    return path


def _read_verdict_file(path: Path) -> dict[str, Any]:
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise StoreError(f"{path}: not a readable verdict file ({error})") from None
    return _verdict_record(payload, str(path))


def _verdict_record(record: Any, where: str) -> dict[str, Any]:
    """The six fields of a verdict, checked; ``where`` names the file or call in errors."""
    missing = [name for name in _VERDICT_FIELDS if not isinstance(record, Mapping) or name not in record]
    if missing:
        raise StoreError(f"{where}: verdict lacks {', '.join(missing)}")
    _check_verdict(record["verdict"], where)
    return {name: record[name] for name in _VERDICT_FIELDS}


def _insert_verdict(conn: sqlite3.Connection, record: Mapping[str, Any], only_if_new: bool = False) -> int:
    """Insert one checked verdict record; with ``only_if_new``, skip (returning 0) one already stored."""
    key = (record["run_id"], record["baseline_run_id"], record["rules_hash"], record["created"])
    if only_if_new:
        known = conn.execute(
            "SELECT 1 FROM verdicts WHERE run_id = ? AND baseline_run_id = ? AND rules_hash = ? AND created = ?", key
        ).fetchone()
        if known:
            return 0
    payload = json.dumps(record["details"], sort_keys=True, default=str, allow_nan=False)
    cursor = conn.execute(
        "INSERT INTO verdicts (run_id, baseline_run_id, rules_hash, verdict, details, created) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (*key[:3], record["verdict"], payload, key[3]),
    )
    return int(cursor.lastrowid or 0)


def _check_verdict(verdict: Any, where: str) -> None:
    if verdict not in VERDICTS:
        raise StoreError(f"{where}: verdict {verdict!r} is not one of {', '.join(VERDICTS)}")


def run_rows(run: StoredRun) -> RunRows:
    record = run.record
    model = record.get("model") or {}
    adapter = record.get("adapter") or {}
    for name in ("name", "content_hash"):
        if not model.get(name):
            raise RunRecordError(f"{run.run_dir / RECORD_NAME}: field 'model.{name}' is missing")
    started = record.get("started_at_unix")
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)) if is_number(started) else utc_now()
    run_row = (
        run.run_id,
        created,
        model["name"],
        model["content_hash"],
        adapter.get("name"),
        adapter.get("content_hash"),
        str(record.get("backend", "")),
        str(record.get("status", "unknown")),
        record.get("wall_time_s"),
        str(run.run_dir.resolve()),
        utc_now(),
        _item_limit(record),
        _adapter_lineage(adapter),
    )
    return RunRows(run=run_row, metrics=list(_metric_rows(run)), samples=list(_sample_rows(run)))


def _metric_rows(run: StoredRun) -> Iterator[tuple[Any, ...]]:
    higher_is_better = (run.record.get("lm_eval") or {}).get("higher_is_better") or {}
    for section, is_group in (("metrics", 0), ("group_metrics", 1)):
        for task, metrics in (run.record.get(section) or {}).items():
            for position, (metric, estimate) in enumerate(metrics.items()):
                direction = (higher_is_better.get(task) or {}).get(metric)
                yield (
                    run.run_id,
                    task,
                    metric,
                    position,
                    is_group,
                    None if direction is None else int(bool(direction)),
                    _finite_or_none(estimate.get("value")),
                    int(estimate.get("n") or 0),
                    _finite_or_none(estimate.get("ci_low")),
                    _finite_or_none(estimate.get("ci_high")),
                    estimate.get("ci_method"),
                )


def _sample_rows(run: StoredRun) -> Iterator[tuple[Any, ...]]:
    for task in run.samples:
        for key, row in run.items(task).items():
            for metric in row.get("metrics") or ():
                value = row.get(metric)
                # Records (dicts) and None are not per-item scores; they stay in the run directory.
                if metric not in EVIDENCE_METRICS and is_number(value):
                    yield (run.run_id, task, key, metric, float(value))


def _write(conn: sqlite3.Connection, rows: RunRows) -> None:
    conn.execute(
        """
        INSERT INTO runs (run_id, created, model_name, model_hash, adapter_name, adapter_hash, backend,
                          status, wall_time_s, run_dir, indexed_at, item_limit, adapter_lineage)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (run_id) DO UPDATE SET
            created = excluded.created, model_name = excluded.model_name, model_hash = excluded.model_hash,
            adapter_name = excluded.adapter_name, adapter_hash = excluded.adapter_hash, backend = excluded.backend,
            status = excluded.status, wall_time_s = excluded.wall_time_s, run_dir = excluded.run_dir,
            indexed_at = excluded.indexed_at, item_limit = excluded.item_limit,
            adapter_lineage = excluded.adapter_lineage
        """,
        rows.run,
    )
    conn.execute("DELETE FROM task_metrics WHERE run_id = ?", (rows.run_id,))
    conn.execute("DELETE FROM samples WHERE run_id = ?", (rows.run_id,))
    conn.executemany("INSERT INTO task_metrics VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows.metrics)
    conn.executemany("INSERT INTO samples VALUES (?, ?, ?, ?, ?)", rows.samples)


def _run_dirs(runs_root: Path) -> list[Path]:
    # ".partial-*" folders are evaluations still being written (or abandoned); never index them.
    return sorted(path for path in runs_root.iterdir() if path.is_dir() and not path.name.startswith("."))


def _item_limit(record: Mapping[str, Any]) -> float | None:
    """The run's ``--limit`` (None for a run of every item)."""
    config = record.get("config")
    limit = config.get("limit") if isinstance(config, Mapping) else None
    return _finite_or_none(limit)


def _adapter_lineage(adapter: Mapping[str, Any]) -> str | None:
    """The adapter's lineage as a JSON list, when its run record has one."""
    lineage = (adapter.get("training") or {}).get("lineage") if isinstance(adapter, Mapping) else None
    return json.dumps([str(kind) for kind in lineage]) if isinstance(lineage, list) else None


def _finite_or_none(value: Any) -> float | None:
    return float(value) if is_number(value) else None
