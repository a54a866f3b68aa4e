"""A persistent record of Slack events already taken, so retries and replays reply once.

Slack retries an event it thinks we missed (``X-Slack-Retry-Num``) and an attacker may
replay a signed request within its five minutes; both carry an event id we have seen.
A DM that also mentions the bot, or a mention Slack sends as both ``app_mention`` and
``message``, shares the message's channel and ts: each claim covers both keys.

Rows hold keys and times only: never user ids or text (people outside the allowlist
must leave nothing behind). A claim left ``pending`` by a process that died can be
taken again by the next process, so a crash between ack and reply is not a lost reply.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

from assistant.errors import AssistantError

KEEP_S = 7 * 24 * 3600  # Slack stops retrying within hours; a week covers replays too


class EventLog:
    """Claims on event keys in a small SQLite table (one per data directory)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.owner = uuid.uuid4().hex  # this process's claims; others' pending rows are stale
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), timeout=10, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS slack_events ("
                " key TEXT PRIMARY KEY, status TEXT NOT NULL, owner TEXT NOT NULL, at REAL NOT NULL)"
            )
            self._db.execute("DELETE FROM slack_events WHERE at < ?", (time.time() - KEEP_S,))
            self._db.commit()
        except sqlite3.Error as exc:
            raise AssistantError(
                f"cannot open the Slack event log {path}: {exc}; check that the data directory "
                "is writable (ASSISTANT_HOME)"
            ) from None

    def claim(self, keys: Iterable[str]) -> bool:
        """Take every key at once; False when any was already taken (done, or pending here)."""
        wanted = [k for k in keys if k]
        if not wanted:
            return True
        now = time.time()
        with self._lock, self._db:
            marks = ",".join("?" * len(wanted))
            rows = self._db.execute(
                f"SELECT status, owner FROM slack_events WHERE key IN ({marks})", wanted
            ).fetchall()
            for status, owner in rows:
                if status == "done" or owner == self.owner:
                    return False
            self._db.executemany(
                "INSERT OR REPLACE INTO slack_events (key, status, owner, at) VALUES (?, 'pending', ?, ?)",
                [(k, self.owner, now) for k in wanted],
            )
        return True

    def done(self, keys: Iterable[str]) -> None:
        """Mark keys finished: later deliveries of them are ignored by any process."""
        wanted = [k for k in keys if k]
        with self._lock, self._db:
            self._db.executemany(
                "UPDATE slack_events SET status = 'done', at = ? WHERE key = ?",
                [(time.time(), k) for k in wanted],
            )

    def status(self, key: str) -> str | None:
        """'pending', 'done' or None (for tests and the doctor)."""
        with self._lock:
            row = self._db.execute("SELECT status FROM slack_events WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def close(self) -> None:
        with self._lock:
            self._db.close()
