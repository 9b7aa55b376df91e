"""Opening the leaderboard database: location, connection settings, migrations, transactions."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from harness.errors import MindgateError
from harness.paths import REPORTS_DIR
from harness.store._schema import LATEST_VERSION, MIGRATIONS

DB_ENV = "MINDGATE_DB"
# Several evaluations may finish at once and index their runs together; a writer waits this
# long for another's transaction rather than failing with "database is locked".
BUSY_TIMEOUT_S = 60.0

DbPath = Path | str | None


class StoreError(MindgateError):
    """A leaderboard database that cannot be opened, migrated or written."""


def default_db_path() -> Path:
    """``$MINDGATE_DB``, else ``reports/leaderboard.db`` in the project."""
    explicit = os.environ.get(DB_ENV)
    return Path(explicit).expanduser().resolve() if explicit else REPORTS_DIR / "leaderboard.db"


@contextmanager
def open_db(path: DbPath = None, migrate_to: int = LATEST_VERSION) -> Iterator[sqlite3.Connection]:
    """A connection to an up-to-date database (created or migrated as needed), closed on exit."""
    db_path = Path(path) if path is not None else default_db_path()
    db_path.parent.mkdir(parents=True, exist_ok=True)
    # isolation_level=None: no implicit transactions; every write goes through `transaction`.
    with closing(sqlite3.connect(db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None)) as conn:
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            _enable_wal(conn)
            conn.execute("PRAGMA foreign_keys = ON")
            migrate(conn, migrate_to)
        except sqlite3.DatabaseError as error:
            raise StoreError(f"{db_path}: cannot open the leaderboard database ({error})") from None
        yield conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction. IMMEDIATE takes the write lock up front, so a second writer waits
    on the busy timeout; a deferred transaction that later upgrades to a write can instead fail
    at once with "database is locked"."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as error:
        raise StoreError(
            f"{_file_of(conn)}: cannot start a write ({error}); another process has held the database "
            f"for more than {BUSY_TIMEOUT_S:.0f} s, retry when it has finished"
        ) from None
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def schema_version(conn: sqlite3.Connection) -> int:
    exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").fetchone()
    if not exists:
        return 0
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def migrate(conn: sqlite3.Connection, target: int = LATEST_VERSION) -> int:
    """Apply the steps between the database's version and ``target``, all in one transaction."""
    current = schema_version(conn)
    if current > LATEST_VERSION:
        raise StoreError(
            f"database schema version {current} is newer than this mindgate understands ({LATEST_VERSION}); "
            "upgrade mindgate or point MINDGATE_DB at another file"
        )
    if current >= target:
        return current
    with transaction(conn):
        # Another process may have migrated between the check above and taking the lock.
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        current = schema_version(conn)
        for version in range(current + 1, target + 1):
            for step in MIGRATIONS[version - 1]:
                if isinstance(step, str):
                    conn.execute(step)
                else:
                    step(conn)
            conn.execute("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)", (version, utc_now()))
    return max(current, target)


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _file_of(conn: sqlite3.Connection) -> str:
    return str(conn.execute("PRAGMA database_list").fetchone()[2])


def _enable_wal(conn: sqlite3.Connection) -> None:
    """WAL lets readers (the leaderboard) work while a run is being indexed. Switching a new file
    to WAL needs a moment of exclusive access, which two processes opening it together contend
    for: retry within the busy timeout instead of failing."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
