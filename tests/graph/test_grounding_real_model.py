"""End to end with the real default model and store: a fact told in one session is answered
in a later one ("What is my name?" from the typed slot), and no reply of the first session
takes the user's name, role or home as its own or apologises twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.graph.reply_checks import (
    claims_user_self,
    names_self_as_user,
    repeated_lines,
    user_self_words,
)
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
        name = later.send("What is my name?")
    assert name.startswith("Your name is Farid")
    assert "Helen Ward" in who
    assert "14 March" in when
    assert unknown.startswith("I don't know")
    for reply in replies:
        assert names_self_as_user(reply, settings.persona.name, ["Farid"]) == [], reply
        assert repeated_lines(reply) == [], reply  # a second apology included
        assert not claims_user_self(reply, user_self_words(list(told))), reply
