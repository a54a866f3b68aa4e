"""The Postgres checkpointer through the project's own opener, on the suite's own server."""

from __future__ import annotations

from assistant.config import Settings
from assistant.graph.session import ChatSession, open_checkpointer
from tests.fakes import ScriptedChatModel
from tests.memfake import FakeMemory


def test_a_thread_saved_on_postgres_resumes_in_a_new_checkpointer(pg_url: str, home) -> None:
    settings = Settings.model_validate({"chat": {"checkpointer": "postgres"}})
    with open_checkpointer(settings, pg_url) as saver:
        session = ChatSession(settings, ScriptedChatModel(["Lisbon it is."]), FakeMemory(), saver, "u1", "t")
        assert session.send("Plan a trip to Lisbon") == "Lisbon it is."
    with open_checkpointer(settings, pg_url) as saver:
        again = ChatSession(settings, ScriptedChatModel(), FakeMemory(), saver, "u1", "t")
        assert [m["content"] for m in again.history()] == ["Plan a trip to Lisbon", "Lisbon it is."]
