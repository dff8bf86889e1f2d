"""Server-local visit counts: one SQLite file per instance, shared by its gunicorn workers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS local_visits (
    session_id TEXT PRIMARY KEY,
    visits INTEGER NOT NULL
)
"""


class LocalVisitStore:
    def __init__(self, path: Path) -> None:
        self._path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as connection:
            # WAL lets the instance's workers read while one of them writes.
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self._path, timeout=5.0)

    def record_visit(self, session_id: str) -> int:
        """Count one more visit of this session on this instance and return the new total."""
        connection = self._connect()
        try:
            with connection:
                (visits,) = connection.execute(
                    "INSERT INTO local_visits (session_id, visits) VALUES (?, 1) "
                    "ON CONFLICT (session_id) DO UPDATE SET visits = visits + 1 "
                    "RETURNING visits",
                    (session_id,),
                ).fetchone()
        finally:
            connection.close()
        return int(visits)
