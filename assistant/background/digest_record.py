"""The digest record: one row per (user, day) in ``digests/digests.sqlite``.

It remembers the window a day's digest covers, what it considered, and the state of its
Slack post. Posting is at-most-once: the intent ("posting") is committed before
chat.postMessage and the outcome after it (see digest_post).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from assistant.config import Settings
from assistant.paths import data_dir


def digests_dir() -> Path:
    """Where digest files and the digest record live."""
    return data_dir() / "digests"


@contextmanager
def db() -> Iterator[sqlite3.Connection]:
    """The record, created or upgraded on first use; closed when the block ends."""
    folder = digests_dir()
    folder.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(folder / "digests.sqlite", timeout=30, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")  # the post record must survive a power cut
        conn.execute(
            "CREATE TABLE IF NOT EXISTS digests (user_id TEXT, day TEXT, since REAL, until REAL, "
            "built_at REAL, item_ids TEXT, post_state TEXT DEFAULT '', channel TEXT DEFAULT '', "
            "ts TEXT DEFAULT '', detail TEXT DEFAULT '', slack_me TEXT DEFAULT '', "
            "considered TEXT DEFAULT '', "
            "PRIMARY KEY (user_id, day))"
        )
        columns = {row[1] for row in conn.execute("PRAGMA table_info(digests)")}
        for column in ("slack_me", "considered"):  # records written by an earlier version
            if column not in columns:
                conn.execute(f"ALTER TABLE digests ADD COLUMN {column} TEXT DEFAULT ''")
        yield conn
    finally:
        conn.close()


def record(user_id: str, day: date) -> dict[str, Any] | None:
    """The row of `day`'s digest for `user_id`, if it was built."""
    with db() as conn:
        conn.row_factory = sqlite3.Row
        row = conn.execute(
            "SELECT * FROM digests WHERE user_id=? AND day=?", (user_id, day.isoformat())
        ).fetchone()
    return dict(row) if row else None


def unfinished_posts() -> list[tuple[str, str, str]]:
    """(user, day, channel) of digest posts cut off mid-way; each is marked "unknown" once.

    A post killed between its intent and Slack's answer stayed "posting" silently until
    that day's digest ran again (usually never); the service reports it at start instead.
    """
    if not (digests_dir() / "digests.sqlite").exists():
        return []
    with db() as conn:
        rows = conn.execute(
            "SELECT user_id, day, channel FROM digests WHERE post_state='posting'"
        ).fetchall()
    for user_id, day, _channel in rows:
        set_post_state(user_id, date.fromisoformat(day), "unknown", detail="cut off while posting")
    return [(str(u), str(d), str(c)) for u, d, c in rows]


def set_post_state(user_id: str, day: date, state: str, **cols: str) -> None:
    """Record how the day's Slack post went (and where it went)."""
    sets = ", ".join(["post_state=?"] + [f"{k}=?" for k in cols])
    with db() as conn:
        conn.execute(
            f"UPDATE digests SET {sets} WHERE user_id=? AND day=?",
            (state, *cols.values(), user_id, day.isoformat()),
        )


def claim_post(user_id: str, day: date, channel: str) -> bool:
    """Atomically move the day's post from not-posted (or failed) to "posting"."""
    with db() as conn:
        cur = conn.execute(
            "UPDATE digests SET post_state='posting', channel=? WHERE user_id=? AND day=? "
            "AND post_state IN ('', 'failed')",
            (channel, user_id, day.isoformat()),
        )
        return cur.rowcount == 1


def window(settings: Settings, user_id: str, day: date, tz: Any) -> tuple[float, float]:
    """(since, until) in unix seconds: from the previous digest to the end of `day`."""
    until = datetime.combine(day + timedelta(days=1), datetime.min.time(), tz).timestamp()
    existing = record(user_id, day)
    if existing:
        return float(existing["since"]), max(until, float(existing["until"]))
    with db() as conn:
        prev = conn.execute(
            "SELECT MAX(built_at) FROM digests WHERE user_id=? AND day<?",
            (user_id, day.isoformat()),
        ).fetchone()[0]
    if prev is not None:
        return float(prev), until
    start = datetime.combine(day, datetime.min.time(), tz)
    return (start - timedelta(hours=settings.digest.first_window_hours)).timestamp(), until


def considered_before(user_id: str, day: date) -> set[str] | None:
    """Ids every earlier digest (last 14) looked at; None when there is no earlier digest."""
    with db() as conn:
        rows = conn.execute(
            "SELECT considered FROM digests WHERE user_id=? AND day<? ORDER BY day DESC LIMIT 14",
            (user_id, day.isoformat()),
        ).fetchall()
    if not rows:
        return None
    seen: set[str] = set()
    for (blob,) in rows:
        if blob:
            seen.update(json.loads(blob))
    return seen


def built(user_id: str, day: date) -> bool:
    """Whether `day`'s digest for `user_id` was built already."""
    return record(user_id, day) is not None


def today(settings: Settings) -> date:
    """Today's date in the configured time zone."""
    from assistant.background.clock import zone

    return datetime.now(zone(settings)).date()


def digest_for_message(channel: str, ts: str) -> tuple[str, list[str], str] | None:
    """(owner, item ids, owner's Slack id) of the digest posted as message `ts`, if any."""
    with db() as conn:
        row = conn.execute(
            "SELECT user_id, item_ids, slack_me FROM digests WHERE ts=? AND (channel=? OR ?='')",
            (ts, channel, channel),
        ).fetchone()
    return (str(row[0]), json.loads(row[1]), str(row[2] or "")) if row else None


def owner_slack_ids(owner: str) -> set[str]:
    """The Slack ids (slack.me) recorded with the owner's digests."""
    with db() as conn:
        rows = conn.execute(
            "SELECT DISTINCT slack_me FROM digests WHERE user_id=? AND slack_me!=''", (owner,)
        ).fetchall()
    return {str(r[0]) for r in rows}
