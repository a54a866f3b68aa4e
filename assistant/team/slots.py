"""One row per (job, scheduled time) in Postgres: a slot runs once across all replicas.

The leader claims a slot with ``INSERT ... ON CONFLICT DO NOTHING`` before it runs the
job; a second scheduler that believes it leads (a paused leader waking after its lease
lapsed) finds the row and skips the run. Slots nobody ran (the gap while a dead leader's
lease lapses) are written as ``missed`` by the next leader and logged, as the single-user
scheduler reports a missed run.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterable
from datetime import datetime
from typing import Any

TABLE = "assistant_job_runs"

_current: contextvars.ContextVar[datetime | None] = contextvars.ContextVar("job_slot", default=None)


def current_slot() -> datetime | None:
    """The scheduled time the running job was claimed for (None outside a team-run job)."""
    return _current.get()


class SlotBook:
    """Claims and reports of job slots on the shared Postgres."""

    def __init__(self, url: str, holder: str) -> None:
        import psycopg

        self.holder = holder
        self._lock = threading.Lock()
        self._db: Any = psycopg.connect(url, autocommit=True)
        self._db.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} ("
            " job_id TEXT NOT NULL, slot TIMESTAMPTZ NOT NULL, status TEXT NOT NULL,"
            " holder TEXT NOT NULL, at TIMESTAMPTZ NOT NULL DEFAULT now(),"
            " PRIMARY KEY (job_id, slot))"
        )

    def claim(self, job_id: str, slot: datetime) -> bool:
        """Take `slot` of `job_id` for this replica; False when anyone took or missed it."""
        with self._lock:
            rows = self._db.execute(
                f"INSERT INTO {TABLE} (job_id, slot, status, holder) VALUES (%s, %s, 'running', %s)"
                " ON CONFLICT DO NOTHING RETURNING slot",
                (job_id, slot, self.holder),
            ).fetchall()
        return bool(rows)

    def finish(self, job_id: str, slot: datetime, status: str) -> None:
        """Record how a claimed run ended ('done' or 'failed')."""
        with self._lock:
            self._db.execute(
                f"UPDATE {TABLE} SET status = %s, at = now() WHERE job_id = %s AND slot = %s",
                (status, job_id, slot),
            )

    def missed(self, job_id: str, slots: Iterable[datetime]) -> int:
        """Record slots nobody ran; returns how many were new."""
        count = 0
        with self._lock:
            for slot in slots:
                count += len(
                    self._db.execute(
                        f"INSERT INTO {TABLE} (job_id, slot, status, holder) VALUES (%s, %s, 'missed', %s)"
                        " ON CONFLICT DO NOTHING RETURNING slot",
                        (job_id, slot, self.holder),
                    ).fetchall()
                )
        return count

    def last(self, job_id: str, before: datetime | None = None) -> datetime | None:
        """The latest slot of `job_id` anyone claimed or recorded (before `before`, if given)."""
        with self._lock:
            row = self._db.execute(
                f"SELECT max(slot) FROM {TABLE} WHERE job_id = %s AND (%s::timestamptz IS NULL OR slot < %s)",
                (job_id, before, before),
            ).fetchone()
        return row[0] if row and row[0] is not None else None

    def runs(self, job_id: str) -> list[tuple[datetime, str, str]]:
        """(slot, status, holder) of `job_id`, oldest first (for `assistant jobs` and tests)."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT slot, status, holder FROM {TABLE} WHERE job_id = %s ORDER BY slot", (job_id,)
            ).fetchall()
        return [(r[0], str(r[1]), str(r[2])) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def bind(self, slot: datetime) -> contextvars.Token[datetime | None]:
        """Make `slot` the running job's `current_slot()` on this thread."""
        return _current.set(slot)

    def unbind(self, token: contextvars.Token[datetime | None]) -> None:
        _current.reset(token)
