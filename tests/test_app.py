"""The composition root: secrets from the environment only, parts opened once and lazily,
and the memory wired with the model so chat, Slack and the service extract facts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from assistant.app import App, command_app, read_secrets, serve_commands_with
from assistant.config import Settings
from assistant.llm.base import Message
from tests.fakes import ScriptedChatModel


def test_secrets_come_from_the_environment_only(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "ASSISTANT_CHROMA_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    empty = read_secrets()
    assert not empty.slack_configured and empty.slack_bot_status()[0] is False
    assert "SLACK_BOT_TOKEN is not set" in empty.slack_bot_status()[1]
    monkeypatch.setenv("SLACK_BOT_TOKEN", " xoxb-1 ")
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1")
    got = read_secrets()
    assert got.slack_bot_token == "xoxb-1" and got.slack_bot_status() == (
        True,
        "Slack bot: on (Socket Mode, SLACK_APP_TOKEN)",
    )
    assert App(Settings()).slack is not None  # one client, built by the app


def test_the_app_hands_the_postgres_url_from_the_environment_to_the_checkpointer(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys
    import types
    from contextlib import contextmanager

    opened: list[str] = []

    class Rows:
        def fetchone(self) -> tuple[bool]:
            return (True,)  # pg_try_advisory_lock: taken at once

    class Conn:  # the setup lock's statements go here
        def execute(self, *args: object) -> Rows:
            return Rows()

    class Saver:
        conn = Conn()

        @classmethod
        @contextmanager
        def from_conn_string(cls, url: str):  # type: ignore[no-untyped-def]
            opened.append(url)
            yield cls()

        def setup(self) -> None:
            pass

    monkeypatch.setitem(
        sys.modules, "langgraph.checkpoint.postgres", types.SimpleNamespace(PostgresSaver=Saver)
    )
    settings = Settings.model_validate({"chat": {"checkpointer": "postgres", "postgres_url_env": "PG_URL_T"}})
    monkeypatch.delenv("PG_URL_T", raising=False)
    with pytest.raises(Exception, match=r"\$PG_URL_T is not set"):
        App(settings).checkpointer  # noqa: B018 - opening is the point
    monkeypatch.setenv("PG_URL_T", "postgresql://u@127.0.0.1/db")
    assert isinstance(App(settings).checkpointer, Saver)
    assert opened == ["postgresql://u@127.0.0.1/db"]


def test_no_slack_client_without_a_token(home: Path) -> None:
    app = App(Settings())
    assert app.slack is None and app.alert() is None
    with pytest.raises(Exception, match="SLACK_BOT_TOKEN"):
        app.require_slack()


def test_the_memory_extracts_facts_with_the_model_loaded_only_when_needed(home: Path) -> None:
    loads: list[int] = []

    def facts(messages: Sequence[Message]) -> str:
        return json.dumps({"facts": [{"kind": "preference", "text": "Prefers aisle seats on trains", "confidence": 0.8}]})

    def load() -> ScriptedChatModel:
        loads.append(1)
        return ScriptedChatModel(facts)

    with App(Settings(), llm_factory=load) as app:
        memory = app.memory
        assert memory.profile.facts("local") == [] and loads == []  # reads never load the model
        memory.profile.observe("local", "On trains I always book aisle seats.")
        assert loads == [1]
        assert any("aisle" in f.text for f in memory.profile.facts("local"))
        assert app.memory is memory  # opened once


def test_commands_share_the_services_app_while_it_runs(home: Path) -> None:
    service = App(Settings(), llm_factory=lambda: ScriptedChatModel(["ok"]))
    serve_commands_with(service)
    try:
        with command_app(Settings()) as app:
            assert app is service
    finally:
        serve_commands_with(None)
        service.close()
    with command_app(Settings()) as app:
        assert app is not service
