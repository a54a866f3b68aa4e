"""Fixtures for the goal-graph tests: a scripted model, an in-memory store, a session factory."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from assistant.config import Settings
from assistant.graph.session import ChatSession
from assistant.llm.base import Message
from tests.fakes import ScriptedChatModel
from tests.memfake import FakeMemory

TRACKER_MARK = "You track the user's goals"


def is_tracker(messages: Sequence[Message]) -> bool:
    """True for the structured goal-tracking call (not a chat reply)."""
    return messages[0]["content"].startswith(TRACKER_MARK)


def scripted(
    replies: Callable[[Sequence[Message]], str] | None = None,
    tracker: Callable[[Sequence[Message]], Any] | None = None,
) -> ScriptedChatModel:
    """A scripted model: `tracker` answers goal-tracking calls (a dict becomes JSON), `replies` the rest."""

    def respond(messages: Sequence[Message]) -> str:
        if is_tracker(messages):
            answer = tracker(messages) if tracker else "I am not sure."
            return json.dumps(answer) if isinstance(answer, dict) else str(answer)
        return replies(messages) if replies else "Here is my answer."

    return ScriptedChatModel(respond)


@pytest.fixture
def store() -> FakeMemory:
    return FakeMemory()


@pytest.fixture
def make_session(store: FakeMemory) -> Callable[..., ChatSession]:
    """Build a session on the fake store with an in-memory checkpointer (override anything)."""
    saver = InMemorySaver()

    def make(
        llm: Any,
        *,
        user: str = "ana",
        thread: str = "t1",
        settings: Settings | None = None,
        **kw: Any,
    ) -> ChatSession:
        return ChatSession(
            settings or Settings(),
            llm,
            kw.get("store", store),
            kw.get("checkpointer", saver),
            user_id=user,
            thread_id=thread,
        )

    return make


@pytest.fixture
def real_store(home: Any) -> Any:
    """The real store (embedded Chroma, bundled embeddings, the typed profile) in a fresh home."""
    from memory.store import open_store

    store = open_store(Settings())
    yield store
    store.close()
