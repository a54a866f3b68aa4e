"""`/assistant` over HTTP: help, probe, goals, forget, digest; personal answers are ephemeral."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.slack.conftest import scripted


def test_help_lists_every_subcommand(make_bot) -> None:
    bot = make_bot(conversation=scripted())
    status, body = bot.send_command("help", user="U1")
    assert status == 200 and body["response_type"] == "ephemeral"
    for verb in ("goals", "forget", "digest", "probe", "help"):
        assert f"/assistant {verb}" in body["text"]
    assert bot.send_command("", user="U1")[1]["text"] == body["text"]


def test_unknown_subcommand_says_so_and_shows_help(make_bot) -> None:
    bot = make_bot(conversation=scripted())
    _, body = bot.send_command("dance", user="U1")
    assert "/assistant dance" in body["text"] and "/assistant goals" in body["text"]


def test_probe_reports_the_last_nightly_result(make_bot, home: Path) -> None:
    bot = make_bot(conversation=scripted())
    _, empty = bot.send_command("probe", user="U1")
    assert "No self-probe has run yet" in empty["text"]

    runs = home / "probes" / "runs"
    runs.mkdir(parents=True)
    record = {"id": "2026-11-24-nightly", "kind": "nightly", "day": "2026-11-24", "controls": {},
              "stability_last_round": 0.42, "alert": True}
    (runs / "2026-11-24-nightly.json").write_text(json.dumps(record))
    _, body = bot.send_command("probe", user="U1")
    assert "2026-11-24" in body["text"] and "0.42" in body["text"] and "below" in body["text"]
    assert body["response_type"] == "in_channel"  # not personal


@pytest.fixture
def store(home: Path):
    import memory.store as store_mod
    from assistant.config import Settings

    with store_mod.open_store(Settings()) as opened:
        yield opened


def test_goals_and_forget_are_personal_and_ephemeral(make_bot, store) -> None:
    from memory.types import Goal

    store.goals.save(Goal(id="g1", user_id="U1", statement="Run a half marathon in March",
                          missing=("current weekly distance",)))
    store.goals.save(Goal(id="g2", user_id="U2", statement="Learn Portuguese"))
    store.profile.remember("U1", "My dog is called Biscuit", kind="other")
    store.profile.remember("U2", "My dog is called Rex", kind="other")
    bot = make_bot(conversation=scripted(), store=store)

    _, goals1 = bot.send_command("goals", user="U1", channel="C1")
    assert goals1["response_type"] == "ephemeral"
    assert "half marathon" in goals1["text"] and "weekly distance" in goals1["text"]
    assert "Portuguese" not in goals1["text"]
    _, goals3 = bot.send_command("goals", user="U3")
    assert "no open goals" in goals3["text"]

    _, forgot = bot.send_command("forget my dog", user="U1")
    assert forgot["response_type"] == "ephemeral" and "Biscuit" in forgot["text"]
    assert "Rex" not in forgot["text"]
    assert not any("Biscuit" in f.text for f in store.profile.facts("U1"))
    assert any("Rex" in f.text for f in store.profile.facts("U2"))  # U2's memory untouched
    _, again = bot.send_command("forget my dog", user="U1")
    assert "nothing" in again["text"]


def test_digest_acks_fast_then_answers_privately(make_bot, store) -> None:
    bot = make_bot(conversation=scripted(), store=store)
    _, ack = bot.send_command("digest", user="U1")
    assert ack["response_type"] == "ephemeral" and "digest" in ack["text"].lower()
    (call,) = bot.api.wait_for(lambda: [c for c in bot.api.calls if c.method == "respond"], timeout=60)
    assert call.params["response_type"] == "ephemeral"
    assert call.params["text"]


def test_slow_command_is_acked_in_time_and_answered_via_response_url(make_bot, store) -> None:
    """A store that is slow on first use (say, the embedder loading) must not break the 3 s ack."""
    import time as _time
    from types import SimpleNamespace

    from memory.types import Goal

    store.goals.save(Goal(id="g1", user_id="U1", statement="Ship the Slack bot"))

    def slow_open_goals(user_id: str):
        _time.sleep(3.0)
        return store.goals.open_goals(user_id)

    slow = SimpleNamespace(goals=SimpleNamespace(open_goals=slow_open_goals), profile=store.profile)
    bot = make_bot(conversation=scripted(), store=slow)
    started = _time.monotonic()
    _, ack = bot.send_command("goals", user="U1")
    assert _time.monotonic() - started < 3.0
    assert ack["text"] == "Working on it…"
    (call,) = bot.api.wait_for(lambda: [c for c in bot.api.calls if c.method == "respond"], timeout=10)
    assert "Ship the Slack bot" in call.params["text"] and call.params["response_type"] == "ephemeral"


def test_digest_feedback_button_is_acknowledged_privately(make_bot, store) -> None:
    """The owner's feed items belong to the owner's memory scope ("local"); the owner's Slack
    id maps to it, so the button the owner clicks tunes the owner's digest."""
    from urllib.parse import urlencode

    from assistant.config import Settings
    from memory.types import Item
    from tests.slack.conftest import signed_headers

    store.items.upsert([Item(id="arxiv:2401.00001", owner="local", source="arxiv", title="Steering small models",
                             text="We keep small chat models on their system prompt.")])
    settings = Settings.model_validate({"identity": {"owner_slack_ids": ["U1"]}})
    bot = make_bot(conversation=scripted(), store=store, settings=settings)
    payload = {
        "type": "block_actions", "team": {"id": "T1"}, "user": {"id": "U1"}, "channel": {"id": "D1"},
        "trigger_id": "1.2", "response_url": bot.api.response_url("button"), "api_app_id": "A1",
        "container": {"type": "message", "message_ts": "1700000000.000001", "channel_id": "D1"},
        "actions": [{"type": "button", "action_id": "digest_feedback_up", "block_id": "b1",
                     "value": "up|local|arxiv:2401.00001", "action_ts": "1700000001.0"}],
    }
    body = urlencode({"payload": __import__("json").dumps(payload)}).encode()
    status, _ = bot.post(body, signed_headers(body, content_type="application/x-www-form-urlencoded"))
    assert status == 200
    (call,) = bot.api.wait_for(lambda: [c for c in bot.api.calls if c.method == "respond"], timeout=10)
    assert "more" in call.params["text"] and "Steering small models" in call.params["text"]
    assert call.params["response_type"] == "ephemeral"
    # someone else clicking the owner's button changes nothing
    payload["user"] = {"id": "U2"}
    payload["response_url"] = bot.api.response_url("button2")
    body = urlencode({"payload": __import__("json").dumps(payload)}).encode()
    bot.post(body, signed_headers(body, content_type="application/x-www-form-urlencoded"))
    calls = bot.api.wait_for(lambda: [c for c in bot.api.calls if c.method == "respond"][1:] or None, timeout=10)
    assert "Only the owner" in calls[0].params["text"]
