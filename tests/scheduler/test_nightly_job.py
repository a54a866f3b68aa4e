"""The scheduled nightly probe, wired by the app: real chat threads in, a Slack alert out."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.background import jobs
from assistant.background.jobs import Runtime, installed, last_runs
from assistant.config import Settings
from assistant.graph.session import ChatSession, open_checkpointer
from assistant.probes.history import list_runs
from tests.fakes import ScriptedChatModel
from tests.memfake import FakeMemory
from tests.slack.fakeapi import FakeSlackAPI


def forgetful(messages: object) -> str:
    return "Hello! How can I help?"


def _settings(fake_slack: FakeSlackAPI, **probes: object) -> Settings:
    return Settings.model_validate(
        {
            "probes": {"rounds": 2, "cases": 2, "alert_threshold": 0.9, **probes},
            "digest": {"slack_target": "C0ALERTS"},
            "slack": {"base_url": fake_slack.base_url},
        }
    )


def test_the_nightly_job_probes_real_threads_and_alerts_in_slack(
    home: Path, fake_slack: FakeSlackAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    settings = _settings(fake_slack, real_threads=1)
    store = FakeMemory()
    chat = ScriptedChatModel(["Sure, Lisbon in May sounds lovely."])
    with open_checkpointer(settings) as saver:
        ChatSession(settings, chat, store, saver, user_id="local", thread_id="trip").send(
            "Help me plan a trip to Lisbon in May."
        )
    runtime = Runtime(
        settings, store_factory=lambda: store, llm_factory=lambda: ScriptedChatModel(forgetful)
    )
    with installed(runtime):
        jobs.nightly_probe()
    assert last_runs()["nightly_probe"]["ok"], last_runs()
    posts = fake_slack.posts
    assert len(posts) == 1
    assert posts[0]["channel"] == "C0ALERTS" and "Self-probe alert" in posts[0]["text"]
    (record,) = list_runs(kind="nightly")
    assert record.get("real_threads"), "the longest chat thread was not probed"


def test_no_alert_is_posted_without_a_bot_token(
    home: Path, fake_slack: FakeSlackAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    runtime = Runtime(
        _settings(fake_slack, real_threads=0),
        store_factory=FakeMemory,
        llm_factory=lambda: ScriptedChatModel(forgetful),
    )
    with installed(runtime):
        jobs.nightly_probe()
    assert last_runs()["nightly_probe"]["ok"]
    assert fake_slack.posts == []
