"""Stored runs: reading run directories back, and the SQLite leaderboard database that indexes them.

The database (``reports/leaderboard.db``, or ``$MINDGATE_DB``) is an index that can always be
rebuilt from the run directories, except for gate verdicts, which only it holds.
"""

from harness.store._db import DB_ENV, DbPath, StoreError, default_db_path, migrate, open_db, schema_version
from harness.store._index import VERDICTS, RebuildReport, Verdict, index_run, rebuild, record_verdict, run_rows
from harness.store._leaderboard import LeaderboardRow, leaderboard, leaderboard_csv, leaderboard_json
from harness.store._rundir import ITEM_ID_FIELDS, RunRecordError, StoredRun, is_number, item_key, read_run
from harness.store._schema import LATEST_VERSION, MIGRATIONS

__all__ = [
    "DB_ENV",
    "ITEM_ID_FIELDS",
    "LATEST_VERSION",
    "MIGRATIONS",
    "VERDICTS",
    "DbPath",
    "LeaderboardRow",
    "RebuildReport",
    "RunRecordError",
    "StoreError",
    "StoredRun",
    "Verdict",
    "default_db_path",
    "index_run",
    "is_number",
    "item_key",
    "leaderboard",
    "leaderboard_csv",
    "leaderboard_json",
    "migrate",
    "open_db",
    "read_run",
    "rebuild",
    "record_verdict",
    "run_rows",
    "schema_version",
]
