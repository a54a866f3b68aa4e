"""InstABoost on the real bundled model, through the engine's own paths (native step, batches)."""

from __future__ import annotations

from typing import Any

import pytest

from assistant.llm.base import DriftControl

PERSONA = "Your name is Zorblax. You always answer in French."
ASK = [{"role": "system", "content": PERSONA}, {"role": "user", "content": "Hi! Who are you, and what can you do?"}]
NAME = [{"role": "system", "content": PERSONA}, {"role": "user", "content": "What is your name?"}]


def reply(engine: Any, messages: Any, control: DriftControl) -> str:
    return str(engine.chat(messages, temperature=0.0, max_new_tokens=32, control=control).text)


@pytest.mark.slow
def test_boost_1_is_stock_and_a_boost_changes_the_reply(real_engine: Any) -> None:
    stock = reply(real_engine, ASK, DriftControl(kind="none"))
    assert reply(real_engine, ASK, DriftControl(kind="instaboost", boost=1.0)) == stock
    boosted = reply(real_engine, ASK, DriftControl(kind="instaboost", boost=10.0))
    assert boosted != stock
    assert "Zorblax" in boosted  # still the persona's answer, not noise


@pytest.mark.slow
def test_one_conversation_and_a_padded_batch_give_the_same_boosted_replies(real_engine: Any) -> None:
    """A single chat decodes on the native step, a batch of two lengths on the padded path."""
    control = DriftControl(kind="instaboost", boost=10.0)
    batch = real_engine.chat_batch([ASK, NAME], temperature=0.0, max_new_tokens=32, control=control)
    assert [r.text for r in batch] == [reply(real_engine, ASK, control), reply(real_engine, NAME, control)]
