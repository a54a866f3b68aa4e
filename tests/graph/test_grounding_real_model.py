"""End to end with the real default model and store: a fact told in one session is answered
in a later one, and no reply of the first session takes the user's name as its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.graph.reply_checks import names_self_as_user, repeated_lines
from assistant.graph.session import ChatSession, open_checkpointer
from tests.graph.test_real_model import OVERRIDES


@pytest.mark.slow
def test_a_fact_from_an_earlier_session_is_answered(real_engine: object, home: Path) -> None:
    from memory.store import open_store

    settings = Settings.model_validate(OVERRIDES)
    told = (  # two turns: the model writes a reply to each (the questions need none)
        "Hi, I'm Farid, a pharmacist in Leeds. My supervisor is Dr. Helen Ward.",
        "The portfolio for my prescriber certificate is due on 14 March.",
    )
    with open_store(settings) as store, open_checkpointer(settings) as saver:
        first = ChatSession(settings, real_engine, store, saver, user_id="farid", thread_id="mon")  # type: ignore[arg-type]
        replies = [first.send(text) for text in told]
        later = ChatSession(settings, real_engine, store, saver, user_id="farid", thread_id="fri")  # type: ignore[arg-type]
        who = later.send("Who is my supervisor?")
        when = later.send("When is my portfolio due?")
        unknown = later.send("What is my salary?")
    assert "Helen Ward" in who
    assert "14 March" in when
    assert unknown.startswith("I don't know")
    for reply in replies:
        assert names_self_as_user(reply, settings.persona.name, ["Farid"]) == [], reply
        assert repeated_lines(reply) == [], reply
