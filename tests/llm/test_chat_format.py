"""Prompt building: system spans, repeated system prompt, guidance without system prompt."""

from __future__ import annotations

from typing import Any

import pytest

from assistant.errors import GenerationError
from assistant.llm.base import Message
from assistant.llm.chat_format import build_prompt, with_repeated_system, without_system

SYSTEM = "You are Ada. Always answer in French."


def convo() -> list[Message]:
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Bonjour"},
        {"role": "user", "content": "How are you?"},
    ]


def test_spans_cover_the_system_turn_and_the_system_text(smol_tokenizer: Any) -> None:
    prompt = build_prompt(smol_tokenizer, convo(), 1000)
    turn = smol_tokenizer.decode(prompt.ids[slice(*prompt.turn_span)])
    text = smol_tokenizer.decode(prompt.ids[slice(*prompt.text_span)])
    assert turn == f"<|im_start|>system\n{SYSTEM}<|im_end|>\n"
    assert text.strip() == SYSTEM
    assert prompt.turn_span[0] == 0 < prompt.text_span[0]  # "text" leaves out the first token


def test_no_system_prompt_means_no_span(smol_tokenizer: Any) -> None:
    prompt = build_prompt(smol_tokenizer, convo()[1:], 1000)
    assert prompt.turn_span == prompt.text_span == (0, 0)


def test_repeat_system_puts_the_prompt_before_every_user_turn() -> None:
    msgs = with_repeated_system(convo())
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "system", "user"]
    assert without_system(convo())[0] == {"role": "user", "content": "Hi"}


def test_a_single_message_too_long_is_shortened_not_the_system_prompt(smol_tokenizer: Any) -> None:
    msgs: list[Message] = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "word " * 500},
    ]
    prompt = build_prompt(smol_tokenizer, msgs, 120)
    assert len(prompt.ids) <= 120 and prompt.truncated_tokens > 300
    assert smol_tokenizer.decode(prompt.ids).startswith(f"<|im_start|>system\n{SYSTEM}")
    with pytest.raises(GenerationError, match="system prompt alone"):
        build_prompt(smol_tokenizer, msgs, 10)
