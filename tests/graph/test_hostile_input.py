"""Hostile chat input: control bytes, undecodable bytes, odd Unicode, 1 MB lines.

Every turn ends in a reply, and the thread stays readable afterwards. The model here is
scripted but tokenizes its prompt with a real fast tokenizer, which is where such text
used to crash the `respond` node (TypeError: TextEncodeInput must be Union[...]).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from langgraph.checkpoint.memory import InMemorySaver

from assistant.config import Settings
from assistant.graph.session import MAX_MESSAGE_CHARS, ChatSession
from assistant.graph.state import thread_key
from assistant.graph.tools import requested_tool
from tests.hostile import TokenizingModel, byte_tokenizer, hostile_text, long_line
from tests.memfake import FakeMemory as FakeStore


def _session(user: str = "ana", thread: str = "t1", saver=None, store=None) -> ChatSession:
    llm = TokenizingModel(lambda messages: "Noted.")
    return ChatSession(
        Settings(),
        llm,
        store or FakeStore(),
        saver or InMemorySaver(),
        user_id=user,
        thread_id=thread,
    )


def test_tokenizer_stand_in_rejects_surrogates_like_the_real_one():

    with pytest.raises(TypeError):
        byte_tokenizer()("\udcff", add_special_tokens=False)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=hostile_text())
def test_any_chat_text_gets_a_reply_and_keeps_the_thread(text):
    # a command ("SUMMARISE 00": Hypothesis also draws strings from the code's own
    # literals) is answered by its tool, not the model
    assume(requested_tool(text) is None)
    session = _session()
    session.send("hello")
    reply = session.send(text)
    assert reply == "Noted."
    history = session.history()
    assert [m["role"] for m in history] == ["user", "assistant", "user", "assistant"]
    stored = history[2]["content"]
    byte_tokenizer()(stored, add_special_tokens=False)  # what is kept is tokenizable text
    assert "\x1b" not in stored and "\x00" not in stored


def test_a_one_megabyte_line_is_cut_and_answered():
    session = _session()
    reply = session.send(long_line())
    assert reply == "Noted."
    kept = session.history()[0]["content"]
    assert len(kept) <= MAX_MESSAGE_CHARS + 10 and kept.endswith("[…]")


def test_user_and_thread_ids_with_slashes_never_share_a_thread():
    saver, store = InMemorySaver(), FakeStore()
    mine = _session("alice", "x/main", saver, store)
    mine.send("my secret plan")
    other = _session("alice/x", "main", saver, store)
    assert other.history() == []  # used to read alice's thread "x/main"
    assert thread_key("alice/x", "main") != thread_key("alice", "x/main")


def test_plain_ids_keep_the_key_earlier_releases_wrote():
    assert thread_key("U123", "slack:C1:1712.5") == "U123/slack:C1:1712.5"


# --- the terminal -------------------------------------------------------------------


@pytest.fixture
def terminal(home, monkeypatch):
    """`assistant chat` on a tokenizing scripted model and an in-memory store."""
    store = FakeStore()
    llm = TokenizingModel(lambda messages: "Noted.")
    monkeypatch.setattr("assistant.app.load_llm", lambda settings: llm)
    monkeypatch.setattr("assistant.app.open_memory", lambda settings, llm, token="": store)
    return llm


def _chat(data: bytes):
    from click.testing import CliRunner

    from assistant.cli import cli

    return CliRunner().invoke(cli, ["chat"], input=data, catch_exceptions=False)


def test_undecodable_stdin_and_escapes_get_replies_not_a_traceback(terminal):
    result = _chat(b"hi \xff\xfe there\n\x1b]0;owned\x07\x1b[2J hello\n/profile\n")
    assert result.exit_code == 0
    assert "not UTF-8" in result.output
    assert result.output.count("ada> Noted.") == 2
    assert "\x1b" not in result.output and "\x07" not in result.output  # echoed escaped


def test_a_failing_turn_prints_one_line_and_the_chat_goes_on(terminal, monkeypatch):
    calls = {"n": 0}
    real = terminal._next

    def flaky(messages):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("boom")
        return real(messages)

    monkeypatch.setattr(terminal, "_next", flaky)
    result = _chat(b"first\nsecond\n")
    assert result.exit_code == 0
    assert "error: this turn failed (RuntimeError: boom)" in result.output
    assert "ada> Noted." in result.output


def test_a_second_chat_on_a_locked_data_directory_fails_before_loading_the_model(home, monkeypatch):
    import time

    from click.testing import CliRunner

    from assistant.cli import cli
    from memory.lock import StoreLock

    folder = home / "chroma"
    folder.mkdir(parents=True)
    owner = StoreLock(folder)
    owner.acquire()  # flock: a second open file conflicts even inside one process
    monkeypatch.setattr("assistant.app.load_llm", lambda settings: pytest.fail("model loaded first"))
    try:
        started = time.monotonic()
        result = CliRunner().invoke(cli, ["chat"], input=b"hi\n")
        assert time.monotonic() - started < 10
    finally:
        owner.release()
    from assistant.errors import StoreLockedError

    assert isinstance(result.exception, StoreLockedError), result.exception
