"""Through the real goal graph and store: users never see each other's memory, and the
real default model answers end to end over HTTP mode."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.llm.base import Message
from tests.fakes import ScriptedChatModel
from tests.slack.conftest import dm, mention


@pytest.fixture
def store(home: Path):
    import memory.store as store_mod

    with store_mod.open_store(Settings()) as opened:
        yield opened


def _shown(calls: Sequence[Sequence[Message]]) -> str:
    return "\n".join(m["content"] for call in calls for m in call)


def test_two_users_in_one_channel_thread_keep_separate_memories(make_bot, store) -> None:
    llm = ScriptedChatModel(lambda messages: "Noted.")
    settings = Settings()
    settings = settings.model_copy(update={"chat": settings.chat.model_copy(update={"goal_model": False})})
    bot = make_bot(llm=llm, store=store, settings=settings)
    root = bot.next_ts()

    bot.send_event(mention("UALICE", "My name is Alice and I love playing chess.", root, channel="C1"))
    bot.api.wait_for(lambda: [m for m in bot.replies(root) if m["text"] == "Noted."], timeout=60)
    bot.handle.bot.wait_idle()
    assert any("Alice" in f.text for f in store.profile.facts("UALICE"))  # memory was really written

    # Bob asks about himself: his memory is empty, so the answer from memory is "I don't know"
    bot.send_event(mention("UBOB", "What is my name and what do I like?", bot.next_ts(), channel="C1",
                           thread_ts=root))
    bot.api.wait_for(lambda: len(bot.replies(root)) == 2, timeout=60)
    bot.handle.bot.wait_idle()
    bob_reply = bot.replies(root)[-1]["text"]
    assert bob_reply.startswith("I don't know")
    assert "Alice" not in bob_reply and "chess" not in bob_reply
    assert not any("Alice" in f.text or "chess" in f.text for f in store.profile.facts("UBOB"))
    assert store.goals.open_goals("UBOB") == [] or all(
        "chess" not in g.statement for g in store.goals.open_goals("UBOB")
    )

    # Alice, back in the same Slack thread, is answered from her own memory
    bot.send_event(mention("UALICE", "What do I like?", bot.next_ts(), channel="C1", thread_ts=root))
    bot.api.wait_for(lambda: len(bot.replies(root)) == 3, timeout=60)
    bot.handle.bot.wait_idle()
    alice_reply = bot.replies(root)[-1]["text"]
    assert "chess" in alice_reply
    assert "What is my name and what do I like" not in alice_reply


@pytest.mark.slow
def test_real_model_answers_a_dm_end_to_end(make_bot, store, real_engine) -> None:
    settings = Settings()
    chat = settings.chat.model_copy(update={"reply_tokens": 32, "goal_model": False})
    settings = settings.model_copy(update={"chat": chat})
    bot = make_bot(llm=real_engine, store=store, settings=settings)
    ts = bot.next_ts()

    status, took = bot.send_event(dm("U1", "Hi! Please introduce yourself in one sentence.", ts))

    assert status == 200 and took < 3.0
    reply = bot.final_reply(ts, timeout=300)
    bot.handle.bot.wait_idle(timeout=300)
    reply = bot.replies(ts)[0]
    assert reply["thread_ts"] == ts and reply["channel"] == "D1"
    assert len(reply["text"].split()) >= 2 and "thinking" not in reply["text"]
    assert "Sorry" not in reply["text"][:6]  # not the error line
    assert len(bot.api.ok_calls("chat.postMessage")) == 1
