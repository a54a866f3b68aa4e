"""One leader among the replicas, elected with a lease row in Postgres.

The holder renews its lease every third of `lease_s`; a replica that dies stops renewing,
and the first other replica to find the lease lapsed takes it over, so a dead leader is
replaced within `lease_s` plus one renewal interval. Times are the database's (`now()`),
so replicas' clocks do not matter. A leader that cannot renew in time (database down, the
process paused) steps down on its own before anyone else may take over.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

TABLE = "assistant_leader"


class LeaderLease:
    """Campaign for `name` in the background; call `on_elected`/`on_deposed` on changes."""

    def __init__(
        self,
        url: str,
        name: str,
        lease_s: float,
        *,
        on_elected: Callable[[], None],
        on_deposed: Callable[[], None],
    ) -> None:
        self.url = url
        self.name = name
        self.lease_s = lease_s
        self.holder = uuid.uuid4().hex
        self._on_elected = on_elected
        self._on_deposed = on_deposed
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._leading = False
        self._renewed_at = 0.0  # monotonic time of the last successful renewal
        self._db: Any = None

    @property
    def leading(self) -> bool:
        """This replica holds the lease now."""
        return self._leading

    def start(self) -> None:
        import psycopg

        self._db = psycopg.connect(self.url, autocommit=True)
        self._db.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} ("
            " name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at TIMESTAMPTZ NOT NULL)"
        )
        self._campaign_once()
        self._thread = threading.Thread(target=self._loop, name="leader-lease", daemon=True)
        self._thread.start()

    def _try(self) -> bool:
        """Take or renew the lease; True when this replica holds it afterwards."""
        rows = self._db.execute(
            f"INSERT INTO {TABLE} (name, holder, expires_at)"
            " VALUES (%s, %s, now() + make_interval(secs => %s))"
            " ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at"
            f" WHERE {TABLE}.holder = EXCLUDED.holder OR {TABLE}.expires_at < now()"
            " RETURNING holder",
            (self.name, self.holder, self.lease_s),
        ).fetchall()
        return bool(rows)

    def _campaign_once(self) -> None:
        asked = time.monotonic()
        try:
            held = self._try()
        except Exception as exc:  # noqa: BLE001 - the database may be briefly away; retry next beat
            log.warning("leader lease %s: cannot reach Postgres (%s)", self.name, exc)
            held = False
            self._reconnect()
        if held:
            self._renewed_at = asked
            if not self._leading:
                self._leading = True
                log.info("leader lease %s: this replica leads now", self.name)
                self._on_elected()
        elif self._leading and time.monotonic() - self._renewed_at > self.lease_s * 0.8:
            self._step_down("its lease could not be renewed in time")

    def _step_down(self, why: str) -> None:
        self._leading = False
        log.warning("leader lease %s: stepping down (%s)", self.name, why)
        self._on_deposed()

    def _reconnect(self) -> None:
        import psycopg

        with contextlib.suppress(Exception):  # else the next beat tries again
            self._db.close()
            self._db = psycopg.connect(self.url, autocommit=True)

    def _loop(self) -> None:
        beat = self.lease_s / 3
        while not self._stop.wait(beat):
            self._campaign_once()

    def stop(self) -> None:
        """Stop campaigning; a leader steps down and frees the lease for the others at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.lease_s)
        if self._leading:
            self._step_down("the replica is stopping")
            with contextlib.suppress(Exception):  # else the lease lapses by itself
                self._db.execute(
                    f"DELETE FROM {TABLE} WHERE name = %s AND holder = %s", (self.name, self.holder)
                )
        if self._db is not None:
            self._db.close()
