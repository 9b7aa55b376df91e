"""The SQLite leaderboard store: migrations, indexing, rebuild, leaderboard, concurrent writers."""

import csv
import hashlib
import io
import json
import multiprocessing
import shutil
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from harness.compare import leaderboard_table
from harness.run import _record
from harness.store import (
    DB_ENV,
    LATEST_VERSION,
    StoreError,
    default_db_path,
    format_estimate,
    index_run,
    leaderboard,
    leaderboard_csv,
    leaderboard_json,
    open_db,
    pivot_leaderboard,
    print_leaderboard,
    rebuild,
    record_verdict,
    save_verdict,
    schema_version,
)

MODEL_HASH = "5f33d2e0" + "0" * 56
TASKS = {"quiz": ("acc", True), "crisis": ("harmful", False)}  # task -> (main metric, higher is better)


def write_run(
    root: Path,
    run_id: str,
    correct: int = 5,
    n: int = 10,
    started: float = 1_790_000_000.0,
    model: str = "tiny",
    adapter: str | None = None,
    tasks: Sequence[str] = ("quiz",),
    limit: float | None = None,
    status: str = "completed",
    lineage: list[str] | None = None,
) -> Path:
    """A run directory with the real writer: ``correct`` of ``n`` items right on each task, plus a
    None-valued metric and a record-valued one that the samples table must leave out."""
    rows = {
        task: [
            {
                "doc_id": i,
                "doc": {"id": f"{task}-{i}"},
                "doc_hash": hashlib.sha256(f"{task}-{i}".encode()).hexdigest(),
                "metrics": [TASKS[task][0], "tier_only", "sensitivity"],
                TASKS[task][0]: float(i < correct),
                "tier_only": None,
                "sensitivity": {"meets_criteria": True, "predicted_meets": i < correct},
            }
            for i in range(n)
        ]
        for task in tasks
    }
    record = {
        "run_id": run_id,
        "status": status,
        "started_at_unix": started,
        "wall_time_s": 12.5,
        "backend": "hf",
        "config": {"model": model, "limit": limit},
        "model": {"name": model, "content_hash": hashlib.sha256(model.encode()).hexdigest()},
        "adapter": None
        if adapter is None
        else {
            "name": adapter,
            "content_hash": hashlib.sha256(adapter.encode()).hexdigest() if lineage else "cd" * 32,
            "training": None if lineage is None else {"trainer": lineage[-1], "lineage": lineage},
        },
        "tasks": {task: {"version": 1.0, "n_evaluated": n} for task in tasks},
        "metrics": _record.leaf_metrics(rows, seed=0),
        "group_metrics": {},
        "lm_eval": {"higher_is_better": {task: {TASKS[task][0]: TASKS[task][1]} for task in tasks}},
    }
    return _record.write_run(root, run_id, record, rows)


def count(db: Path, table: str, run_id: str | None = None) -> int:
    with sqlite3.connect(db) as conn:
        if run_id is None:
            return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
        return int(conn.execute(f"SELECT COUNT(*) FROM {table} WHERE run_id = ?", (run_id,)).fetchone()[0])


def tables(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_an_empty_database_is_created_at_the_latest_schema_in_wal_mode(tmp_path: Path) -> None:
    with open_db(tmp_path / "new" / "lb.db") as conn:
        assert schema_version(conn) == LATEST_VERSION == 5
        assert {"runs", "task_metrics", "samples", "verdicts", "schema_version"} <= tables(conn)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 10_000


def test_a_version_1_database_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    db = tmp_path / "lb.db"
    with open_db(db, migrate_to=1) as conn:
        assert schema_version(conn) == 1
        assert "verdicts" not in tables(conn)
        conn.execute(
            "INSERT INTO runs VALUES ('old', '2026-01-01T00:00:00Z', 'tiny', 'h', NULL, NULL, 'hf', 'completed', "
            "1.0, '/runs/old', '2026-01-01T00:00:00Z')"
        )
    with open_db(db) as conn:
        assert schema_version(conn) == 5
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_version ORDER BY version")]
        assert versions == [1, 2, 3, 4, 5]
        assert "verdicts" in tables(conn)
        assert conn.execute("SELECT run_id, item_limit FROM runs").fetchall() == [("old", None)]


def test_migration_3_reads_each_indexed_runs_limit_back_from_its_run_directory(tmp_path: Path) -> None:
    runs, db = tmp_path / "runs", tmp_path / "lb.db"
    limited = write_run(runs, "smoke", limit=5)
    full = write_run(runs, "full")
    with open_db(db, migrate_to=2) as conn:
        for run_id, run_dir in (("smoke", limited), ("full", full), ("gone", tmp_path / "deleted")):
            conn.execute(
                "INSERT INTO runs VALUES (?, '2026-01-01T00:00:00Z', 'tiny', 'h', NULL, NULL, 'hf', 'completed', "
                "1.0, ?, '2026-01-01T00:00:00Z')",
                (run_id, str(run_dir)),
            )
    with open_db(db) as conn:
        limits = dict(conn.execute("SELECT run_id, item_limit FROM runs").fetchall())
    assert limits == {"smoke": 5.0, "full": None, "gone": None}


def test_a_database_from_a_newer_mindgate_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "lb.db"
    with open_db(db) as conn:
        conn.execute("INSERT INTO schema_version VALUES (99, 'later')")
    with pytest.raises(StoreError, match="newer than this mindgate"), open_db(db):
        pass


def test_indexing_is_idempotent_and_a_reindex_replaces_the_rows(tmp_path: Path) -> None:
    db = tmp_path / "lb.db"
    run_dir = write_run(tmp_path / "runs", "r1", correct=3, n=10)
    assert index_run(db, run_dir) == "r1"
    index_run(db, run_dir)
    # task metrics: acc, tier_only (n=0) and sensitivity; samples: acc only (None and records stay out)
    assert (count(db, "runs"), count(db, "task_metrics"), count(db, "samples")) == (1, 3, 10)
    record = json.loads((run_dir / "run.json").read_text())
    record["metrics"]["quiz"]["acc"]["value"] = 0.9
    (run_dir / "run.json").write_text(json.dumps(record))
    index_run(db, run_dir)
    (row,) = leaderboard(db)
    assert row.value == 0.9 and count(db, "task_metrics") == 3


def test_rebuild_mirrors_the_runs_folder_and_keeps_verdicts(tmp_path: Path) -> None:
    runs, db = tmp_path / "runs", tmp_path / "lb.db"
    for index in range(3):
        write_run(runs, f"r{index}", started=1_790_000_000.0 + index)
    (runs / ".partial-r9").mkdir()  # an evaluation still being written
    (runs / "broken").mkdir()  # no run.json
    report = rebuild(db, runs)
    assert report.indexed == ["r0", "r1", "r2"]
    assert [path.name for path, _ in report.skipped] == ["broken"]
    record_verdict(db, "r2", "r0", rules_hash="x" * 64, verdict="accept", details={"failed": []})
    shutil.rmtree(runs / "r2")
    report = rebuild(db, runs)
    assert report.removed == ["r2"]
    assert count(db, "runs") == 2 and count(db, "samples", "r2") == 0
    assert count(db, "verdicts") == 1


def test_a_rebuild_restores_verdicts_from_the_run_directories_once(tmp_path: Path) -> None:
    runs, db = tmp_path / "runs", tmp_path / "lb.db"
    write_run(runs, "base")
    sft = write_run(runs, "sft", adapter="sft")
    verdict = {"run_id": "sft", "baseline_run_id": "base", "rules_hash": "r" * 64, "verdict": "reject"}
    saved = save_verdict(sft, {**verdict, "details": {"failed": ["quiz"]}, "created": "2026-11-24T06:00:00Z"})
    assert saved.parent == sft / "verdicts" and not list(saved.parent.glob(".*"))  # no temporary file left
    record_verdict(db, **verdict, details={"failed": ["quiz"]}, created="2026-11-24T06:00:00Z")
    assert rebuild(db, runs).verdicts_restored == 0  # the database already holds it
    db.unlink()  # the database is lost: the run directories still hold everything
    (sft / "verdicts" / "junk.json").write_text("{not json")
    report = rebuild(db, runs)
    assert report.verdicts_restored == 1 and count(db, "verdicts") == 1
    assert [(path.name, "not a readable verdict file" in reason) for path, reason in report.skipped] == [
        ("junk.json", True)
    ]
    (row,) = [row for row in leaderboard(db) if row.run_id == "sft"]
    assert (row.verdict, row.verdict_baseline_run_id, row.verdict_created) == ("reject", "base", "2026-11-24T06:00:00Z")
    assert rebuild(db, runs).verdicts_restored == 0 and count(db, "verdicts") == 1
    odd = save_verdict(sft, {**verdict, "baseline_run_id": "../x/y", "details": {}, "created": "2026-11-24T07:00:00Z"})
    with pytest.raises(StoreError, match="save_verdict: verdict lacks created"):
        save_verdict(sft, {**verdict, "details": {}})
    assert odd.parent == sft / "verdicts" and odd.name == "20261124T070000Z-vs-.._x_y-rrrrrrrr.json"


def test_leaderboard_takes_the_latest_run_per_model_and_adapter(tmp_path: Path) -> None:
    runs, db = tmp_path / "runs", tmp_path / "lb.db"
    write_run(runs, "base-old", correct=2, started=1.0e9)
    write_run(runs, "base-new", correct=4, started=2.0e9)
    write_run(runs, "sft", correct=7, started=1.5e9, adapter="sft")
    write_run(runs, "other", correct=6, model="other-model", tasks=("quiz", "crisis"))
    rebuild(db, runs)
    record_verdict(db, "sft", "base-new", rules_hash="r" * 64, verdict="reject", details={"failed": ["quiz"]})
    record_verdict(db, "sft", "base-new", rules_hash="r" * 64, verdict="accept", details={})
    rows = leaderboard(db)
    quiz = [(row.run_id, row.value, row.verdict) for row in rows if row.task == "quiz"]
    assert quiz == [("sft", 0.7, "accept"), ("other", 0.6, None), ("base-new", 0.4, None)]
    (crisis,) = [row for row in rows if row.task == "crisis"]
    assert (crisis.metric, crisis.higher_is_better, crisis.n) == ("harmful", False, 10)
    assert {row.run_id for row in leaderboard(db, base="tiny")} == {"sft", "base-new"}
    assert {row.run_id for row in leaderboard(db, base=hashlib.sha256(b"other-model").hexdigest()[:12])} == {"other"}
    assert [row.task for row in leaderboard(db, task="crisis")] == ["crisis"]


def test_a_later_limit_run_does_not_hide_a_full_run(tmp_path: Path) -> None:
    runs, db = tmp_path / "runs", tmp_path / "lb.db"
    write_run(runs, "full", correct=4, started=1.0e9, tasks=("quiz",))
    write_run(runs, "smoke", correct=9, started=2.0e9, tasks=("quiz", "crisis"), limit=10)
    write_run(runs, "smoke-old", correct=1, started=0.5e9, tasks=("crisis",), limit=3)
    rebuild(db, runs)
    rows = leaderboard(db)
    # quiz: the full run, though the smoke run is newer; crisis: no full run, so the newest limited one
    assert {row.task: (row.run_id, row.item_limit) for row in rows} == {
        "quiz": ("full", None),
        "crisis": ("smoke", 10.0),
    }
    buffer = io.StringIO()
    print_leaderboard(rows, Console(file=buffer, width=200, color_system=None))
    text = buffer.getvalue()
    assert "n=10, limit 10" in text and text.count("limit 10") == 1


def test_incomplete_runs_are_marked_and_runs_stopped_by_the_gate_are_left_out(tmp_path: Path) -> None:
    runs, db = tmp_path / "runs", tmp_path / "lb.db"
    write_run(runs, "full", correct=4, started=1.0e9, tasks=("quiz",))
    write_run(runs, "broken", correct=9, started=2.0e9, tasks=("quiz", "crisis"), status="incomplete")
    write_run(runs, "stopped", correct=1, started=3.0e9, tasks=("crisis",), adapter="bad", status="stopped_by_gate")
    rebuild(db, runs)
    rows = leaderboard(db)
    # quiz: the complete run, though the incomplete one is newer; crisis: only the incomplete run has it
    assert {row.task: (row.run_id, row.run_status) for row in rows} == {
        "quiz": ("full", "completed"),
        "crisis": ("broken", "incomplete"),
    }
    buffer = io.StringIO()
    print_leaderboard(rows, Console(file=buffer, width=200, color_system=None))
    assert buffer.getvalue().count("incomplete run") == 2  # the crisis cell, and the caption


def test_lower_is_better_metrics_rank_ascending(tmp_path: Path) -> None:
    runs, db = tmp_path / "runs", tmp_path / "lb.db"
    write_run(runs, "a", correct=6, model="a", tasks=("crisis",))
    write_run(runs, "b", correct=1, model="b", tasks=("crisis",))
    rebuild(db, runs)
    assert [row.run_id for row in leaderboard(db)] == ["b", "a"]


def test_exports_round_trip(tmp_path: Path) -> None:
    runs, db = tmp_path / "runs", tmp_path / "lb.db"
    write_run(runs, "r1", correct=3)
    rebuild(db, runs)
    rows = leaderboard(db)
    (parsed,) = list(csv.DictReader(io.StringIO(leaderboard_csv(rows))))
    assert (parsed["run_id"], float(parsed["value"]), parsed["adapter_name"]) == ("r1", 0.3, "")
    (loaded,) = json.loads(leaderboard_json(rows))
    assert loaded["value"] == 0.3 and loaded["adapter_name"] is None and loaded["n"] == 10


def test_leaderboard_table_renders_the_numbers(tmp_path: Path) -> None:
    runs, db = tmp_path / "runs", tmp_path / "lb.db"
    write_run(runs, "r1", correct=3, adapter="dpo")
    rebuild(db, runs)
    buffer = io.StringIO()
    Console(file=buffer, width=200, color_system=None).print(leaderboard_table(leaderboard(db)))
    text = buffer.getvalue()
    for expected in ("quiz", "acc", "0.300", "dpo", "r1", "10"):
        assert expected in text


def test_the_leaderboard_pivots_to_one_row_per_model_and_adapter(tmp_path: Path) -> None:
    runs, db = tmp_path / "runs", tmp_path / "lb.db"
    write_run(runs, "base-old", correct=2, started=1.0e9, tasks=("quiz", "crisis"))
    write_run(runs, "base-new", correct=4, started=2.0e9)  # a later run of one task only
    write_run(runs, "sft", correct=7, started=1.5e9, adapter="sft")
    rebuild(db, runs)
    record_verdict(db, "sft", "base-new", rules_hash="r" * 64, verdict="reject", details={})
    record_verdict(db, "sft", "base-new", rules_hash="r" * 64, verdict="accept", details={})
    tasks, entries = pivot_leaderboard(leaderboard(db))
    assert tasks == ["crisis", "quiz"]
    assert [(entry.model_name, entry.adapter_name) for entry in entries] == [("tiny", None), ("tiny", "sft")]
    base, sft = entries
    # the latest run per task: quiz from base-new, crisis still from base-old
    assert {task: (row.run_id, row.value) for task, row in base.cells.items()} == {
        "crisis": ("base-old", 0.2),
        "quiz": ("base-new", 0.4),
    }
    assert base.verdict is None and base.label == f"tiny ({hashlib.sha256(b'tiny').hexdigest()[:8]})"
    assert set(sft.cells) == {"quiz"} and (sft.verdict, sft.verdict_baseline_run_id) == ("accept", "base-new")
    assert sft.label.endswith("+ sft (cdcdcdcd)")


def test_the_leaderboard_shows_each_adapters_lineage(tmp_path: Path) -> None:
    runs, db = tmp_path / "runs", tmp_path / "lb.db"
    write_run(runs, "base", correct=4)
    write_run(runs, "sft", correct=6, adapter="sft-counselchat", lineage=["sft"])
    write_run(runs, "dpo", correct=7, adapter="dpo-counselchat", lineage=["sft", "dpo"])
    write_run(runs, "outside", correct=5, adapter="someone-elses")  # no training record: no lineage shown
    rebuild(db, runs)
    rows = leaderboard(db)
    assert {row.adapter_name: row.adapter_lineage for row in rows} == {
        None: None,
        "sft-counselchat": '["sft"]',
        "dpo-counselchat": '["sft", "dpo"]',
        "someone-elses": None,
    }
    labels = {entry.adapter_name: entry.label for entry in pivot_leaderboard(rows)[1]}
    assert labels["dpo-counselchat"].endswith("base → sft → dpo")
    assert labels["sft-counselchat"].endswith("base → sft")
    assert "→" not in labels["someone-elses"] and "→" not in labels[None]
    buffer = io.StringIO()
    print_leaderboard(rows, Console(file=buffer, width=200, color_system=None))
    assert "base → sft → dpo" in buffer.getvalue()


def test_migration_4_reads_each_adapters_lineage_back_from_its_run_directory(tmp_path: Path) -> None:
    runs, db = tmp_path / "runs", tmp_path / "lb.db"
    dpo = write_run(runs, "dpo", adapter="dpo", lineage=["sft", "dpo"])
    with open_db(db, migrate_to=3) as conn:
        conn.execute(
            "INSERT INTO runs VALUES ('dpo', '2026-01-01T00:00:00Z', 'tiny', 'h', 'dpo', 'a', 'hf', 'completed', "
            "1.0, ?, '2026-01-01T00:00:00Z', NULL)",
            (str(dpo),),
        )
    with open_db(db) as conn:
        assert conn.execute("SELECT adapter_lineage FROM runs").fetchall() == [('["sft", "dpo"]',)]


def test_the_pivot_table_shows_value_ci_n_and_verdict_without_cropping(tmp_path: Path) -> None:
    runs, db = tmp_path / "runs", tmp_path / "lb.db"
    write_run(runs, "base", correct=4, tasks=("quiz", "crisis"))
    write_run(runs, "sft", correct=7, adapter="sft")
    rebuild(db, runs)
    record_verdict(db, "sft", "base", rules_hash="r" * 64, verdict="reject", details={})
    rows = leaderboard(db)
    buffer = io.StringIO()
    print_leaderboard(rows, Console(file=buffer, width=40, color_system=None))
    text = buffer.getvalue()
    sft_quiz = next(row for row in rows if row.run_id == "sft")
    assert format_estimate(sft_quiz.value, sft_quiz.ci_low, sft_quiz.ci_high) in text
    assert text.count("n=10") == 3 and "✗ rejected" in text and "vs base" in text
    assert "crisis" in text and "harmful ↓" in text and "acc ↑" in text  # every column, even when narrow
    assert max(len(line) for line in text.splitlines()) > 40


def test_format_estimate() -> None:
    assert format_estimate(0.2794, 0.2451, 0.3162) == "0.279 [0.245, 0.316]"
    assert format_estimate(None, float("nan"), 1.0) == "- [-, 1.000]"


def test_database_path_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(DB_ENV, str(tmp_path / "elsewhere.db"))
    assert default_db_path() == tmp_path / "elsewhere.db"
    monkeypatch.delenv(DB_ENV)
    assert default_db_path().parts[-2:] == ("reports", "leaderboard.db")


def index_all(db: str, run_dirs: list[str], start: Any) -> None:
    start.wait()  # both writers begin together, on a database neither has created yet
    for run_dir in run_dirs:
        index_run(db, run_dir)


def test_two_processes_index_different_runs_at_once_without_losing_rows(tmp_path: Path) -> None:
    runs, db = tmp_path / "runs", tmp_path / "lb.db"
    batches: Mapping[str, list[str]] = {
        worker: [str(write_run(runs, f"{worker}{index}", correct=index, n=300)) for index in range(8)]
        for worker in ("p", "q")
    }
    context = multiprocessing.get_context("fork")
    start = context.Barrier(2)
    workers = [context.Process(target=index_all, args=(str(db), batch, start)) for batch in batches.values()]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert [worker.exitcode for worker in workers] == [0, 0], "a writer failed; its traceback is in the captured stderr"
    assert count(db, "runs") == 16
    assert count(db, "samples") == 16 * 300
    assert count(db, "task_metrics") == 16 * 3
