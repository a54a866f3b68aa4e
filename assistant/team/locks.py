"""Postgres advisory locks keyed by text (a thread key, a job name).

A session-level advisory lock lives as long as the connection that took it: a replica
killed mid-turn drops its connection and Postgres releases the lock at once, so the next
turn on that thread goes ahead from the last checkpoint.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from assistant.errors import AssistantError

NAMESPACE = "purposeful-assistant:"  # keeps our keys apart from other users of the database


def advisory_key(text: str) -> int:
    """A stable signed 64-bit key for `text` (Postgres advisory locks take a bigint)."""
    digest = hashlib.blake2b((NAMESPACE + text).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class TurnLockTimeout(AssistantError):
    """Another replica held the thread for longer than deployment.turn_lock_timeout_s."""


class ThreadLocks:
    """Per-thread turn locks on the shared Postgres (one short connection per turn)."""

    def __init__(self, url: str, timeout_s: float) -> None:
        self.url = url
        self.timeout_s = timeout_s

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        """Hold the lock for thread `key` until the block ends (waits up to timeout_s)."""
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            # lock_timeout bounds the wait for an advisory lock as for any other lock
            conn.execute(f"SET lock_timeout = '{int(self.timeout_s * 1000)}ms'")
            try:
                conn.execute("SELECT pg_advisory_lock(%s)", (advisory_key(key),))
            except psycopg.errors.LockNotAvailable:
                raise TurnLockTimeout(
                    f"another replica has been answering on this thread for over "
                    f"{self.timeout_s:.0f} s; try again shortly (deployment.turn_lock_timeout_s)"
                ) from None
            try:
                yield
            finally:
                # a broken connection has released the lock already
                with contextlib.suppress(psycopg.Error):
                    conn.execute("SELECT pg_advisory_unlock(%s)", (advisory_key(key),))


def setup_serialised(saver: Any) -> None:
    """Run a Postgres checkpointer's `setup()` under a database-wide lock: replicas starting
    together otherwise race on its migration table (a duplicate-key error on start)."""
    key = advisory_key("checkpoint-setup")
    # Polled, never waited for inside a statement: the migrations run CREATE INDEX
    # CONCURRENTLY, which waits for every open transaction, a blocked lock call included
    # (two replicas starting together deadlocked that way).
    while True:
        row = saver.conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
        if row and (row[0] if not isinstance(row, dict) else next(iter(row.values()))):
            break
        time.sleep(0.05)
    try:
        saver.setup()
    finally:
        saver.conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
