"""Stored runs: reading run directories back, the SQLite leaderboard database that indexes them,
and the baselines promoted from them.

The database (``reports/leaderboard.db``, or ``$MINDGATE_DB``) is an index that can always be
rebuilt from the run directories; gate verdicts are also kept as files in the candidate's run
directory (``verdicts/``), so a rebuild restores them too.
"""

from harness.store._baselines import PROVENANCE_NAME, BaselineError, promote_baseline
from harness.store._board import (
    BoardEntry,
    format_estimate,
    leaderboard_pivot_table,
    pivot_leaderboard,
    print_leaderboard,
)
from harness.store._db import DB_ENV, DbPath, StoreError, default_db_path, migrate, open_db, schema_version, utc_now
from harness.store._index import (
    VERDICTS,
    VERDICTS_DIR,
    RebuildReport,
    Verdict,
    index_run,
    rebuild,
    record_verdict,
    run_rows,
    save_verdict,
)
from harness.store._leaderboard import LeaderboardRow, leaderboard, leaderboard_csv, leaderboard_json
from harness.store._rundir import ITEM_ID_FIELDS, RunRecordError, StoredRun, is_number, item_key, read_run
from harness.store._schema import LATEST_VERSION, MIGRATIONS

__all__ = [
    "DB_ENV",
    "ITEM_ID_FIELDS",
    "LATEST_VERSION",
    "MIGRATIONS",
    "PROVENANCE_NAME",
    "VERDICTS",
    "VERDICTS_DIR",
    "BaselineError",
    "BoardEntry",
    "DbPath",
    "LeaderboardRow",
    "RebuildReport",
    "RunRecordError",
    "StoreError",
    "StoredRun",
    "Verdict",
    "default_db_path",
    "format_estimate",
    "index_run",
    "is_number",
    "item_key",
    "leaderboard",
    "leaderboard_csv",
    "leaderboard_json",
    "leaderboard_pivot_table",
    "migrate",
    "open_db",
    "pivot_leaderboard",
    "print_leaderboard",
    "promote_baseline",
    "read_run",
    "rebuild",
    "record_verdict",
    "run_rows",
    "save_verdict",
    "schema_version",
    "utc_now",
]
