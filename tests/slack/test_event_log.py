"""The persistent event log: once done, never again; a dead process's claim can be retaken."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from assistant.slack.events import EventLog


def test_claims_survive_restarts_and_crashed_claims_are_retaken(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    first = EventLog(path)
    assert first.claim(["event:Ev1", "msg:D1:1.0"])
    assert not first.claim(["event:Ev1"])  # in progress here: a Slack retry is ignored
    assert not first.claim(["msg:D1:1.0", "event:Ev2"])  # same message, other event copy
    first.close()  # the process died before replying: the claim stays pending

    second = EventLog(path)
    assert second.claim(["event:Ev1", "msg:D1:1.0"])  # Slack's retry reaches the new process
    second.done(["event:Ev1", "msg:D1:1.0"])
    second.close()

    third = EventLog(path)
    assert not third.claim(["event:Ev1"])
    assert third.status("msg:D1:1.0") == "done"
    third.close()


def test_rows_hold_no_user_ids_or_text(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events.sqlite3")
    log.claim(["event:Ev9", "msg:C1:2.0"])
    log.close()
    with sqlite3.connect(tmp_path / "events.sqlite3") as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(slack_events)")]
    assert columns == ["key", "status", "owner", "at"]
