"""Threads survive: SQLite checkpoints resume, cancelled replies keep the thread, old turns fold."""

from __future__ import annotations

import sqlite3

import pytest

from assistant.config import Settings
from assistant.errors import ConfigError
from assistant.graph.session import ChatSession, ReplyCancelled, open_checkpointer
from tests.fakes import ScriptedChatModel
from tests.graph.conftest import scripted


def test_thread_resumes_from_sqlite_with_a_new_saver(home, store):
    settings = Settings()
    with open_checkpointer(settings) as saver:
        first = ChatSession(settings, scripted(), store, saver, user_id="ana", thread_id="trip")
        first.send("Help me plan a trip to Lisbon.")
        first.send("In May.")
    assert (home / "checkpoints.sqlite").is_file()
    with open_checkpointer(settings) as saver:  # as a new process would
        again = ChatSession(settings, scripted(), store, saver, user_id="ana", thread_id="trip")
        history = again.history()
        assert [m["content"] for m in history if m["role"] == "user"] == [
            "Help me plan a trip to Lisbon.",
            "In May.",
        ]
        again.send("Hmm, let me think.")  # answers nothing: the budget is still missing
        [goal] = again.goals()
        assert goal.missing == ("budget",) and any("May" in k for k in goal.known)
        other = ChatSession(settings, scripted(), store, saver, user_id="bob", thread_id="trip")
        assert other.history() == []  # same thread name, other user: nothing shared


def test_each_step_is_checkpointed_before_the_next(home, store):
    settings = Settings()
    with open_checkpointer(settings) as saver:
        session = ChatSession(settings, scripted(), store, saver, user_id="ana", thread_id="t")
        session.send("Hello")
        steps = list(saver.list(session.config))
    # input + recall, track_goals, respond, remember, fold: every node left a checkpoint
    assert len(steps) >= 6
    conn = sqlite3.connect(home / "checkpoints.sqlite")
    assert conn.execute("select count(*) from checkpoints").fetchone()[0] == len(steps)


class Interrupted(ScriptedChatModel):
    """Streams a few words, then the user presses Ctrl-C."""

    def stream(self, messages, **kwargs):
        self.calls.append(list(messages))
        yield "Lisbon is"
        yield " lovely in"
        raise KeyboardInterrupt


def test_ctrl_c_cancels_the_reply_and_keeps_the_thread(make_session):
    session = make_session(Interrupted())
    tokens: list[str] = []
    with pytest.raises(ReplyCancelled) as info:
        session.send("Tell me about Lisbon", on_token=tokens.append)
    # what the user saw is kept (the loop guard holds the last few words back while streaming)
    partial = info.value.partial
    assert partial.startswith("Lisbon") and "Lisbon is lovely in".startswith(partial)
    assert "".join(tokens).strip() == partial
    history = session.history()
    assert history[-2]["content"] == "Tell me about Lisbon"
    assert history[-1]["content"].startswith(partial) and "cancelled" in history[-1]["content"]
    session.llm = None
    resumed = make_session(scripted(replies=lambda m: "Sure."))
    assert resumed.send("And Porto?") == "Sure."  # the next turn runs normally
    assert [m["role"] for m in resumed.history()] == ["user", "assistant", "user", "assistant"]


def test_old_turns_fold_into_summary_and_system_prompt_stays_first(make_session):
    settings = Settings.model_validate({"chat": {"keep_recent_turns": 2}})
    llm = scripted(replies=lambda m: f"reply to {m[-1]['content']}")
    session = make_session(llm, settings=settings)
    session.send("Help me plan a trip to Lisbon.")  # the active goal
    for i in range(6):
        session.send(f"message number {i}")
    assert len(session.history()) == 4  # two turns kept verbatim
    summary = session.summary()
    assert "- user: Help me plan a trip to Lisbon." in summary and "message number 3" in summary
    prompt = llm.calls[-1]
    assert prompt[0] == {"role": "system", "content": settings.persona.system_prompt}
    assert "plan a trip to Lisbon" in prompt[1]["content"]  # the goal in play stays
    assert "Earlier in this conversation" in prompt[1]["content"]


def test_summary_is_bounded(make_session):
    settings = Settings.model_validate({"chat": {"keep_recent_turns": 2, "summary_chars": 200}})
    session = make_session(scripted(), settings=settings)
    for i in range(12):
        session.send(f"a fairly long message number {i} " + "x" * 60)
    assert len(session.summary()) <= 200
    assert "number 9" in session.summary() and "number 0" not in session.summary()


class Counting(ScriptedChatModel):
    """A scripted model with a token counter (one token per word) like the engine's."""

    def count_tokens(self, text: str) -> int:
        return len(text.split())


def test_context_budget_drops_oldest_turns_not_the_persona(make_session):
    settings = Settings.model_validate(
        {"model": {"context_tokens": 400}, "chat": {"reply_tokens": 100, "keep_recent_turns": 20}}
    )
    llm = Counting(lambda m: "ok")
    session = make_session(llm, settings=settings)
    for i in range(10):
        session.send(f"turn {i} " + "word " * 30)
    prompt = llm.calls[-1]
    assert prompt[0]["content"] == settings.persona.system_prompt
    assert prompt[-1]["content"].startswith("turn 9")
    assert sum(len(m["content"].split()) + 6 for m in prompt) <= 300 + 16
    assert not any(m["content"].startswith("turn 0") for m in prompt)


def test_postgres_without_package_is_a_clear_error(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_pg(name, *args, **kwargs):
        if name.startswith("langgraph.checkpoint.postgres"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pg)
    settings = Settings.model_validate({"chat": {"checkpointer": "postgres"}})
    with (
        pytest.raises(ConfigError, match="langgraph-checkpoint-postgres"),
        open_checkpointer(settings),
    ):
        pass


class Slow(ScriptedChatModel):
    """Streams one word every 50 ms, like a model on a busy CPU."""

    def stream(self, messages, **kwargs):
        import time

        self.calls.append(list(messages))
        for i in range(200):
            time.sleep(0.05)
            yield f" w{i}"


def test_real_sigint_in_the_main_thread_cancels_the_reply(make_session):
    import _thread
    import threading

    session = make_session(Slow())
    tokens: list[str] = []
    timer = threading.Timer(0.5, _thread.interrupt_main)  # what Ctrl-C does
    timer.start()
    with pytest.raises(ReplyCancelled):
        session.send("Tell me a long story", on_token=tokens.append)
    timer.join()
    assert 0 < len(tokens) < 200  # generation stopped early
    assert session.history()[-1]["content"].endswith("[reply cancelled]")
    session.llm = None
    assert (
        make_session(scripted(replies=lambda m: "Short one.")).send("Shorter please")
        == "Short one."
    )


def test_longest_threads_reads_real_conversations_for_the_probes(home, store):
    from assistant.graph.session import longest_threads

    settings = Settings()
    with open_checkpointer(settings) as saver:
        long = ChatSession(settings, scripted(), store, saver, user_id="ana", thread_id="long")
        for i in range(3):
            long.send(f"question {i}")
        ChatSession(settings, scripted(), store, saver, user_id="bob", thread_id="short").send("hi")
        found = longest_threads(saver, limit=1)
    [(key, messages)] = found
    assert key == "ana/long" and len(messages) == 6
    assert messages[-2] == {"role": "user", "content": "question 2"}
