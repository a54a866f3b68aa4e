"""Alerts fire for a broken persona (round 0 included), a mean at the threshold and a drop
below the trailing week, with a scripted model; and an alert reaches a fake Slack API."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from assistant.app import App
from assistant.config import DigestSettings, ProbesSettings, Settings, SlackSettings
from assistant.llm.base import Message
from assistant.probes.alerts import check_alerts
from assistant.probes.history import list_runs, runs_dir
from assistant.probes.nightly import run_nightly
from tests.fakes import ScriptedChatModel
from tests.slack.fakeapi import FakeSlackAPI

NAME_QUESTION = "What is your name?"  # the default persona's own probe (judge: contains "Ada")


def _asked(messages: Sequence[Message]) -> str:
    return str(messages[-1]["content"])


def emily(messages: Sequence[Message]) -> str:
    """A persona that is broken from the start: it never says it is Ada."""
    return "I'm Emily, nice to meet you!"


def ada_then_nothing(messages: Sequence[Message]) -> str:
    """Knows its name, follows nothing else."""
    return "I'm Ada." if _asked(messages) == NAME_QUESTION else "Hmm, let me think about that."


def ada_forgets_after_chat(messages: Sequence[Message]) -> str:
    """Knows its name before any chat (2 messages), forgets it once the conversation has grown."""
    if _asked(messages) == NAME_QUESTION:
        return "I'm Ada." if len(messages) <= 2 else "I'm Emily."
    return "Hmm, let me think about that."


def _settings(**probes: Any) -> Settings:
    return Settings(probes=ProbesSettings(**{"rounds": 2, "cases": 4, **probes}))


def test_broken_persona_alerts_at_round_zero(home: Path) -> None:
    sent: list[str] = []
    record = run_nightly(_settings(alert_threshold=0.0), ScriptedChatModel(emily), alert=sent.append)
    persona = [a for a in record["alerts"] if "persona check failed" in a]
    assert len(persona) == 1
    assert "before any chat (round 0)" in persona[0] and "I'm Emily" in persona[0]
    assert "rounds 0, 1, 2" in persona[0] and "config.toml" in persona[0]
    assert len(sent) == 1 and "I'm Emily" in sent[0]


def test_persona_that_forgets_later_alerts_at_that_round(home: Path) -> None:
    record = run_nightly(_settings(alert_threshold=0.0), ScriptedChatModel(ada_forgets_after_chat))
    persona = [a for a in record["alerts"] if "persona check failed" in a]
    assert len(persona) == 1 and "after 1 round:" in persona[0] and "rounds 1, 2" in persona[0]


def test_healthy_persona_does_not_alert(home: Path) -> None:
    record = run_nightly(_settings(alert_threshold=0.0), ScriptedChatModel(ada_then_nothing))
    assert not any("persona" in a for a in record["alerts"])


def test_mean_at_the_threshold_alerts_and_just_above_does_not(home: Path) -> None:
    first = run_nightly(_settings(alert_threshold=0.0), ScriptedChatModel(ada_then_nothing))
    head = next(c for c in first["controls"] if c["label"] == first["headline"])
    lowest = min(p["mean"] for p in head["curve"])
    assert 0.0 < lowest < 1.0
    sent: list[str] = []
    at = run_nightly(_settings(alert_threshold=lowest), ScriptedChatModel(ada_then_nothing), alert=sent.append)
    assert len(at["alerts"]) == 1 and "at or below the alert level" in at["alerts"][0]
    assert len(sent) == 1
    below = run_nightly(_settings(alert_threshold=max(lowest - 0.01, 0.0)), ScriptedChatModel(ada_then_nothing))
    assert below["alerts"] == []  # identical reruns: no trend alert either


def _history(label: str, mean: float, days_ago: float, rounds: int = 2) -> dict[str, Any]:
    when = datetime.now(UTC) - timedelta(days=days_ago)
    record = {
        "id": f"old-{days_ago}", "date": when.isoformat(timespec="seconds"), "kind": "nightly", "cases": [],
        "controls": [{"label": label, "curve": [{"round": r, "mean": mean, "lo": mean, "hi": mean}
                                                 for r in range(rounds + 1)]}],
    }  # fmt: skip
    folder = runs_dir()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{record['id']}.json").write_text(json.dumps(record), encoding="utf-8")
    return record


def test_drop_below_the_trailing_week_alerts(home: Path) -> None:
    settings = _settings(alert_threshold=0.0)
    for days in (1, 2, 3):
        _history("ss k=0.50 text", 0.95, days)
    record = run_nightly(settings, ScriptedChatModel(ada_then_nothing))
    trend = [a for a in record["alerts"] if "fell below the last 7 days" in a]
    assert len(trend) == 1 and "rounds 0, 1, 2" in trend[0] and "95% on average" in trend[0]


def test_drop_within_the_margin_of_error_does_not_alert(home: Path) -> None:
    first = run_nightly(_settings(alert_threshold=0.0), ScriptedChatModel(ada_then_nothing))
    head = next(c for c in first["controls"] if c["label"] == first["headline"])
    for p in head["curve"]:
        assert p["lo"] < p["mean"] < p["hi"]
    # a week whose mean sits inside today's interval: a small dip, not an alert
    inside = min(p["hi"] for p in head["curve"]) - 0.01
    for days in (1, 2):
        _history(head["label"], inside, days + 0.5)
    history = list_runs(kind="nightly")
    assert len(history) == 3
    assert not any("last 7 days" in a for a in check_alerts(first, threshold=0.0, trailing_days=7, history=history))
    above = _history(head["label"], max(p["hi"] for p in head["curve"]) + 0.01, 3)  # above the interval
    assert any("last 7 days" in a for a in check_alerts(first, threshold=0.0, trailing_days=7, history=[above]))


def test_stock_attention_alone_does_not_alert_when_the_live_control_is_fine() -> None:
    record = {
        "id": "r", "date": "2026-11-25T02:30:00+00:00", "headline": "ss k=0.50 text", "cases": [],
        "controls": [{"label": "none", "curve": [{"round": 0, "mean": 0.1}]},
                     {"label": "ss k=0.50 text", "curve": [{"round": 0, "mean": 0.6}]}],
    }  # fmt: skip
    assert check_alerts(record, threshold=0.2, trailing_days=7, history=[]) == []


@pytest.fixture
def fake_slack() -> Any:
    api = FakeSlackAPI().start()
    yield api
    api.stop()


def test_alert_reaches_slack(home: Path, fake_slack: FakeSlackAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    settings = Settings(
        probes=ProbesSettings(rounds=1, cases=2, alert_threshold=0.0),
        slack=SlackSettings(base_url=fake_slack.base_url),
        digest=DigestSettings(slack_target="C0ALERTS"),
    )
    alert = App(settings).alert()
    assert alert is not None
    record = run_nightly(settings, ScriptedChatModel(emily), alert=alert)
    posted = fake_slack.messages()
    assert len(posted) == 1 and posted[0]["channel"] == "C0ALERTS"
    assert posted[0]["text"].startswith(f":warning: Self-probe alert ({record['day']}): {record['verdict']} Details: ")
    assert record["verdict"].startswith("Not following its own persona") and "I'm Emily" in posted[0]["text"]
    assert record["files"]["md"] in posted[0]["text"]


def test_no_slack_alert_without_a_target_or_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    assert App(Settings(digest=DigestSettings(slack_target="C1"))).alert() is None
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    assert App(Settings()).alert() is None
