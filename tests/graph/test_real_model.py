"""The goal graph with the real default model (SmolLM2-135M): across turns, threads, processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.graph.goals import model_update, reconcile, rule_update
from assistant.graph.session import ChatSession, open_checkpointer

pytestmark = pytest.mark.slow

# Short replies keep the real model affordable on a shared 2-core machine; the goal rules
# (goal_model = false) keep these tests about persistence, not about a 135M model's JSON.
OVERRIDES = {"chat": {"goal_model": False, "reply_tokens": 24}}
ENV = {"ASSISTANT__CHAT__GOAL_MODEL": "false", "ASSISTANT__CHAT__REPLY_TOKENS": "24"}


class Recording:
    """Wraps the real engine and keeps every prompt it was shown."""

    def __init__(self, engine):
        self.engine = engine
        self.prompts = []

    def chat(self, messages, **kw):
        self.prompts.append(list(messages))
        return self.engine.chat(messages, **kw)

    def stream(self, messages, **kw):
        self.prompts.append(list(messages))
        return self.engine.stream(messages, **kw)

    def chat_batch(self, conversations, **kw):
        return self.engine.chat_batch(conversations, **kw)

    def count_tokens(self, text):
        return self.engine.count_tokens(text)


def _share_model_cache(home: Path, model_cache_dir: Path) -> None:
    """Let a child process load the converted model the session already made."""
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "models").exists():
        (home / "models").symlink_to(model_cache_dir, target_is_directory=True)


def test_goal_carries_over_to_a_new_process(real_engine, home, model_cache_dir, monkeypatch):
    from memory.store import open_store

    settings = Settings.model_validate(OVERRIDES)
    transcript = []
    with open_store(settings) as store, open_checkpointer(settings) as saver:
        session = ChatSession(settings, real_engine, store, saver, user_id="local", thread_id="T")
        for text in ("Help me plan a trip to Lisbon.", "From 3 to 7 May.", "About 800 euros."):
            reply = session.send(text)
            transcript += [f"you> {text}", f"ada> {reply}"]
        first, second = transcript[1], transcript[3]
        assert "?" in first and "?" in second  # asked for the missing dates, then the budget
        [goal] = store.goals.open_goals("local")
        assert goal.statement == "plan a trip to Lisbon"
        assert goal.missing == () and len(goal.known) == 2

    _share_model_cache(home, model_cache_dir)
    env = {**os.environ, **ENV, "ASSISTANT_HOME": str(home), "COLUMNS": "200"}
    child = subprocess.run(
        [sys.executable, "-m", "assistant", "chat", "--thread", "T"],
        input="/goals\nWhich day should I fly back?\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert child.returncode == 0, child.stderr[-2000:]
    out = child.stdout
    transcript += ["--- new process: assistant chat --thread T ---", out.strip()]
    (home / "transcript.txt").write_text("\n".join(transcript), encoding="utf-8")
    print("\n".join(transcript))
    assert "resuming 3 earlier turn(s)" in out
    assert "plan a trip to Lisbon" in out and "800 euros" in out
    with open_store(settings) as store, open_checkpointer(settings) as saver:
        again = ChatSession(settings, real_engine, store, saver, user_id="local", thread_id="T")
        users = [m["content"] for m in again.history() if m["role"] == "user"]
        assert users[-1] == "Which day should I fly back?" and len(users) == 4
        assert again.history()[-1]["role"] == "assistant" and again.history()[-1]["content"]


def test_fact_from_one_thread_reaches_another(real_engine, home):
    from memory.store import open_store

    settings = Settings.model_validate(OVERRIDES)
    llm = Recording(real_engine)
    with open_store(settings) as store, open_checkpointer(settings) as saver:
        ChatSession(settings, llm, store, saver, user_id="local", thread_id="a").send(
            "I am vegetarian."
        )
        other = ChatSession(settings, llm, store, saver, user_id="local", thread_id="b")
        reply = other.send("What should I cook tonight?")
    assert reply
    context = llm.prompts[-1][1]["content"]
    assert "vegetarian" in context.lower()
    assert llm.prompts[-1][0]["content"] == settings.persona.system_prompt


def test_structured_goal_update_is_always_valid(real_engine):
    text = "Help me plan a trip to Lisbon."
    # One short try keeps this affordable; whatever comes back, the result is a valid update.
    proposed = model_update(real_engine, text, [], retries=0, max_new_tokens=80)
    update = reconcile(proposed, rule_update(text, [], ""), text, [])
    assert update.event == "new" and "Lisbon" in update.statement
    assert update.missing  # what to ask about next
