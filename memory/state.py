"""A tiny key/value store in SQLite beside the vector store, for cursors and counters.

Connectors keep ETags and last-seen timestamps here, the digest its last date. Each
`set` is one committed transaction with synchronous=FULL, so it returns only once the
value is on disk and a crash never leaves half a value behind.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from assistant.errors import MemoryStoreError

STATE_FILE = "assistant-state.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS feedback (
    user_id TEXT NOT NULL, item_id TEXT NOT NULL, positive INTEGER NOT NULL, time REAL NOT NULL,
    PRIMARY KEY (user_id, item_id)
);
"""


class StateStore:
    """JSON values by string key; thread-safe within the owning process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._db = sqlite3.connect(
                path, check_same_thread=False, isolation_level=None, timeout=5.0
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise MemoryStoreError(
                f"state database {path} cannot be opened ({exc}); check the data directory's "
                "permissions and free space"
            ) from exc
        self._lock = threading.Lock()

    def get(self, key: str, default: Any = None) -> Any:
        """The value stored under key, or default."""
        with self._lock:
            row = self._db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def set(self, key: str, value: Any) -> None:
        """Store a JSON-serialisable value; durable when this returns."""
        try:
            text = json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise MemoryStoreError(
                f"state value for {key!r} is not JSON-serialisable: {exc}"
            ) from None
        self._write(
            "INSERT INTO kv (key, value, updated) VALUES (?, ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated = excluded.updated",
            (key, text, time.time()),
        )

    def delete(self, key: str) -> None:
        """Remove a key (no error when absent)."""
        self._write("DELETE FROM kv WHERE key = ?", (key,))

    def keys(self, prefix: str = "") -> list[str]:
        """Stored keys starting with prefix, sorted."""
        with self._lock:
            rows = self._db.execute(
                "SELECT key FROM kv WHERE substr(key, 1, ?) = ? ORDER BY key", (len(prefix), prefix)
            ).fetchall()
        return [r[0] for r in rows]

    # Feedback on digest items, read by the profile's interest vector.
    def set_feedback(self, user_id: str, item_id: str, positive: bool) -> None:
        self._write(
            "INSERT INTO feedback (user_id, item_id, positive, time) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(user_id, item_id) DO UPDATE SET positive = excluded.positive, time = excluded.time",
            (user_id, item_id, int(positive), time.time()),
        )

    def feedback(self, user_id: str) -> list[tuple[str, bool]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT item_id, positive FROM feedback WHERE user_id = ? ORDER BY time", (user_id,)
            ).fetchall()
        return [(r[0], bool(r[1])) for r in rows]

    def _write(self, sql: str, args: tuple[Any, ...]) -> None:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute(sql, args)
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise MemoryStoreError(
                    f"could not write to {self.path} ({exc}); check free disk space and permissions"
                ) from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()
