"""The same signed Slack event delivered to two replicas, and retried: acknowledged at
once by each, answered once (the claim lives in the shared Postgres, not in either
replica's data directory)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from assistant.app import App
from assistant.config import Settings
from assistant.slack.bot import SlackHandle, start_slack
from assistant.team.events import PgEventLog
from tests.memfake import FakeMemory
from tests.slack.conftest import SECRET, Bot, dm, free_port, scripted
from tests.slack.fakeapi import FakeSlackAPI


@pytest.fixture
def two_replicas(
    pg_url: str, home: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Bot, Bot, FakeSlackAPI]]:
    api = FakeSlackAPI().start()
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test-token")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SECRET)
    monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)
    monkeypatch.setenv("ASSISTANT_POSTGRES_URL", pg_url)
    handles: list[SlackHandle] = []
    apps: list[App] = []
    bots: list[Bot] = []
    for name in ("replica-1", "replica-2"):
        monkeypatch.setenv("ASSISTANT_HOME", str(home / name))  # nothing shared on disk
        settings = Settings.model_validate({
            "deployment": {"profile": "team"}, "chat": {"checkpointer": "postgres"},
            "memory": {"backend": "http"},
            "slack": {"base_url": api.base_url, "http_port": free_port(), "stream_interval_s": 0.2},
        })  # fmt: skip
        app = App(settings, store_factory=FakeMemory)
        handle = start_slack(app, conversation=scripted(("Noted, one reply.",), delay_s=1.0))
        handles.append(handle)
        apps.append(app)
        bots.append(Bot(handle=handle, api=api, settings=settings))
    yield bots[0], bots[1], api
    for handle in handles:
        handle.stop()
    for app in apps:
        app.close()
    api.stop()


def test_one_event_sent_to_two_replicas_and_retried_is_acked_fast_and_answered_once(
    two_replicas: tuple[Bot, Bot, FakeSlackAPI],
) -> None:
    first, second, api = two_replicas
    ts = "1712345678.000100"
    event = dm("U1", "remind me to call the bank", ts)
    with ThreadPoolExecutor(2) as pool:
        acks = list(pool.map(lambda bot: bot.send_event(event, event_id="EvSame1"), (first, second)))
    time.sleep(0.3)
    acks.append(second.send_event(event, event_id="EvSame1", retry=1))
    acks.append(first.send_event(event, event_id="EvSame1", retry=2))
    assert [status for status, _ in acks] == [200, 200, 200, 200]
    assert max(seconds for _, seconds in acks) < 3.0
    reply = first.final_reply(ts)
    assert reply["text"] == "Noted, one reply."
    time.sleep(1.5)  # a second answer, if any replica started one, would be posted by now
    assert len(first.replies(ts)) == 1, first.replies(ts)
    assert len(api.ok_calls("chat.postMessage")) == 1
    assert isinstance(first.handle.bot.events, PgEventLog)


def test_a_claim_left_by_a_dead_replica_is_taken_over_after_the_claim_time(pg_url: str) -> None:
    dead = PgEventLog(pg_url, claim_s=1.0)
    alive = PgEventLog(pg_url, claim_s=1.0)
    try:
        assert dead.claim(["event:Ev7", "msg:D1:7.0"])
        assert not alive.claim(["event:Ev7"])  # the other replica is on it
        time.sleep(1.2)
        assert alive.claim(["msg:D1:7.0", "event:Ev7"])  # it died between ack and reply
        alive.done(["event:Ev7", "msg:D1:7.0"])
        assert not dead.claim(["event:Ev7"]) and alive.status("event:Ev7") == "done"
    finally:
        dead.close()
        alive.close()
