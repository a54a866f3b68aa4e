"""Chat turns are stored as episodes and a later turn, in another thread, recalls them."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.graph.session import ChatSession, open_checkpointer
from tests.graph.test_real_model import OVERRIDES, Recording


@pytest.mark.slow
def test_a_turn_is_stored_and_recalled_by_a_later_turn(real_engine: object, home: Path) -> None:
    from memory.store import open_store

    # grounding off: this is about the recalled turn reaching the model's context (with it
    # on, the question is answered from memory without the model; test_grounding_real_model)
    settings = Settings.model_validate({"chat": {**OVERRIDES["chat"], "grounded": False}})
    llm = Recording(real_engine)
    with open_store(settings) as store, open_checkpointer(settings) as saver:
        first = ChatSession(settings, llm, store, saver, user_id="local", thread_id="monday")
        first.send("My new bicycle is a red Bianchi that I keep in the basement.")
        stored = store.episodes.list("local")
        assert [(e.speaker, e.thread, e.kind) for e in stored] == [
            ("user", "monday", "turn"),
            ("assistant", "monday", "turn"),
        ]
        assert "red Bianchi" in stored[0].text and stored[1].text  # the reply is stored too
        assert store.episodes.list("someone-else") == []

        later = ChatSession(settings, llm, store, saver, user_id="local", thread_id="friday")
        later.send("Where do I keep my bicycle?")
        context = llm.prompts[-1][1]["content"]  # the context system turn of that reply
        assert "From earlier conversations with this user" in context
        assert "red Bianchi that I keep in the basement" in context
        assert "<external" in context  # fenced as quoted data
        # another user asking the same thing sees nothing of it
        ChatSession(settings, llm, store, saver, user_id="bob", thread_id="x").send(
            "Where do I keep my bicycle?"
        )
        assert "Bianchi" not in llm.prompts[-1][1]["content"]
