"""The team profile's checkpointer: LangGraph's PostgresSaver plus the per-thread turn lock.

`ChatSession` asks a checkpointer for `thread_lock(key)` and holds it around a turn; the
single-user SQLite saver has none (one process owns its file), this one does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from assistant.team.locks import ThreadLocks, setup_serialised


def _saver_class() -> Any:
    from langgraph.checkpoint.postgres import PostgresSaver

    class LockingPostgresSaver(PostgresSaver):  # type: ignore[misc]
        """PostgresSaver whose threads are locked per turn across replicas."""

        locks: ThreadLocks

        def thread_lock(self, key: str) -> AbstractContextManager[None]:
            return self.locks.hold(key)

    return LockingPostgresSaver


@contextmanager
def open_team_checkpointer(url: str, lock_timeout_s: float) -> Iterator[Any]:
    """A set-up PostgresSaver on `url` that carries `thread_lock(key)`."""
    import psycopg
    from psycopg.rows import dict_row

    # the connection settings LangGraph's own from_conn_string uses
    with psycopg.connect(url, autocommit=True, prepare_threshold=0, row_factory=dict_row) as conn:
        saver = _saver_class()(conn)
        saver.locks = ThreadLocks(url, lock_timeout_s)
        setup_serialised(saver)
        yield saver
