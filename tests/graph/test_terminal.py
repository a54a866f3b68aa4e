"""`assistant chat`, `assistant goals` and `assistant graph` from the command line."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from assistant.cli import cli
from tests.graph.conftest import scripted
from tests.memfake import FakeMemory


@pytest.fixture
def wired(home, monkeypatch):
    """The chat command on a scripted model and an in-memory store (one per test)."""
    monkeypatch.setenv("COLUMNS", "200")  # tables on one line each
    store = FakeMemory()
    llm = scripted(replies=lambda m: "Happy to help.")

    monkeypatch.setattr("assistant.app.load_llm", lambda settings: llm)
    monkeypatch.setattr("assistant.app.open_memory", lambda settings, llm, token="": store)
    return store, llm


def _chat(*args, input):
    return CliRunner().invoke(cli, ["chat", *args], input=input, catch_exceptions=False)


def test_chat_streams_replies_and_exits_on_eof(wired):
    result = _chat(input="Hello\n")
    assert result.exit_code == 0
    assert "ada> Happy to help." in result.output
    assert "thread main" in result.output


def test_chat_resumes_a_thread_in_a_new_run(wired):
    _chat("--thread", "lisbon", input="Help me plan a trip to Lisbon.\n")
    result = _chat("--thread", "lisbon", input="/goals\n/quit\n")
    assert "resuming 1 earlier turn(s)" in result.output
    assert "plan a trip to Lisbon" in result.output and "waiting" in result.output


def test_slash_commands(wired):
    store, _llm = wired
    script = "\n".join(
        [
            "/help",
            "Remember that I prefer window seats",
            "/profile",
            "/forget window seats",
            "/profile",
            "/thread work",
            "/new",
            "/bogus",
            "/quit",
            "never read",
        ]
    )
    result = _chat(input=script + "\n")
    out = result.output
    assert "/forget TEXT" in out  # help
    assert "Noted: I prefer window seats" in out
    assert "- [other] I prefer window seats" in out
    assert "Forgotten: I prefer window seats" in out
    assert "I don't know anything about you yet." in out
    assert "thread work" in out and "thread t-" in out
    assert "unknown command /bogus" in out
    assert "never read" not in out
    assert store.profile.facts("local") == []


def test_user_option_scopes_memory(wired):
    store, _llm = wired
    _chat("--user", "bob", input="Help me plan a birthday party.\n")
    assert [g.user_id for g in store.goals.list("bob")] == ["bob"]
    assert store.goals.list("local") == []


def test_goals_command_lists_a_table(wired, monkeypatch):
    store, _llm = wired
    _chat(input="Help me plan a trip to Lisbon.\n")
    result = CliRunner().invoke(cli, ["goals"], catch_exceptions=False)
    assert result.exit_code == 0
    assert "plan a trip to Lisbon" in result.output and "waiting" in result.output
    empty = CliRunner().invoke(cli, ["goals", "--user", "nobody"], catch_exceptions=False)
    assert "No goals for user nobody" in empty.output


def test_graph_mermaid_shows_every_node():
    result = CliRunner().invoke(cli, ["graph", "--mermaid"], catch_exceptions=False)
    for node in ("recall", "track_goals", "ask", "use_tool", "respond", "remember", "fold"):
        assert node in result.output
    assert "track_goals -.-> ask" in result.output  # the decide router's branches
