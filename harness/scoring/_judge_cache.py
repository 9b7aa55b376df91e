"""A SQLite cache of LLM-judge answers, safe to share between threads and processes."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from harness.paths import mindgate_home


class JudgeCache:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        with self._connect() as connection:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, text TEXT NOT NULL)")

    @classmethod
    def default(cls) -> JudgeCache:
        return cls(mindgate_home() / "judge-cache.sqlite")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """One short transaction on a connection that is always closed."""
        with closing(sqlite3.connect(self.path, timeout=30)) as connection, connection:
            yield connection

    @staticmethod
    def key(model: str, prompts_sha256: str, item: str, message: str, reply: str) -> str:
        parts = "\x1f".join([model, prompts_sha256, item, message, reply])
        return hashlib.sha256(parts.encode()).hexdigest()

    def get(self, key: str) -> str | None:
        with self._lock, self._connect() as connection:
            row = connection.execute("SELECT text FROM answers WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def put(self, key: str, text: str) -> None:
        with self._lock, self._connect() as connection:
            connection.execute("INSERT OR REPLACE INTO answers (key, text) VALUES (?, ?)", (key, text))
