"""Slack event claims in Postgres: a retry or replay that reaches any replica replies once.

The same contract as the single-user `assistant.slack.events.EventLog` (claim, done,
status, close), on a table every replica shares. A claim is a row inserted with
``ON CONFLICT DO NOTHING``: of two replicas that get the same event at once, exactly one
inserts it. A claim still pending after `claim_s` belonged to a replica that died between
ack and reply; a later delivery may take it over, so that reply is not lost either.
Rows hold keys and times only (never user ids or text), as the single-user log does.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable
from typing import Any

from assistant.errors import AssistantError

KEEP_DAYS = 7  # Slack stops retrying within hours; a week covers replays too
TABLE = "assistant_slack_events"


class PgEventLog:
    """Claims on Slack event keys in the shared Postgres."""

    def __init__(self, url: str, claim_s: float = 600.0) -> None:
        import psycopg

        self.owner = uuid.uuid4().hex  # this process's claims
        self.claim_s = claim_s
        self._lock = threading.Lock()
        try:
            self._db: Any = psycopg.connect(url, autocommit=True)
            self._db.execute(
                f"CREATE TABLE IF NOT EXISTS {TABLE} ("
                " key TEXT PRIMARY KEY, status TEXT NOT NULL, owner TEXT NOT NULL,"
                " at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            self._db.execute(f"DELETE FROM {TABLE} WHERE at < now() - interval '{KEEP_DAYS} days'")
        except psycopg.Error as exc:
            raise AssistantError(
                f"cannot open the Slack event table in Postgres: {exc}; check the URL in the "
                "variable named by chat.postgres_url_env"
            ) from None

    def claim(self, keys: Iterable[str]) -> bool:
        """Take every key at once; False when any is done, or pending on a live claim."""
        import psycopg

        wanted = [k for k in keys if k]
        if not wanted:
            return True
        with self._lock:
            try:
                with self._db.transaction():
                    taken = {
                        row[0]
                        for k in wanted
                        for row in self._db.execute(
                            f"INSERT INTO {TABLE} (key, status, owner) VALUES (%s, 'pending', %s)"
                            " ON CONFLICT (key) DO NOTHING RETURNING key",
                            (k, self.owner),
                        ).fetchall()
                    }
                    others = [k for k in wanted if k not in taken]
                    if others:
                        stale = self._db.execute(
                            f"UPDATE {TABLE} SET owner = %s, at = now() WHERE key = ANY(%s)"
                            " AND status = 'pending' AND owner <> %s"
                            f" AND at < now() - make_interval(secs => %s) RETURNING key",
                            (self.owner, others, self.owner, self.claim_s),
                        ).fetchall()
                        if len(stale) != len(others):
                            raise _Taken
            except _Taken:
                return False
            except psycopg.Error as exc:
                raise AssistantError(f"cannot record the Slack event in Postgres: {exc}") from None
        return True

    def done(self, keys: Iterable[str]) -> None:
        """Mark keys finished: later deliveries of them are ignored by every replica."""
        wanted = [k for k in keys if k]
        with self._lock:
            self._db.execute(
                f"UPDATE {TABLE} SET status = 'done', at = now() WHERE key = ANY(%s)", (wanted,)
            )

    def status(self, key: str) -> str | None:
        """'pending', 'done' or None."""
        with self._lock:
            row = self._db.execute(f"SELECT status FROM {TABLE} WHERE key = %s", (key,)).fetchone()
        return str(row[0]) if row else None

    def close(self) -> None:
        with self._lock:
            self._db.close()


class _Taken(Exception):
    """Some key is claimed by a live replica or done: roll the whole claim back."""
