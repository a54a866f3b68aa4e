"""The engine takes any text: lone surrogates and control bytes never reach the tokenizer raw."""

from __future__ import annotations

from typing import Any

from assistant.llm.chat_format import build_prompt
from assistant.llm.engine import Engine

HOSTILE = "hi \udcff\udcfe \x00\x1b[31m \ud800 \u202e done"


def test_prompt_with_surrogates_is_built_by_the_real_tokenizer(smol_tokenizer: Any) -> None:
    messages = [
        {"role": "system", "content": "You are Ada."},
        {"role": "user", "content": HOSTILE},
    ]
    prompt = build_prompt(smol_tokenizer, messages, budget_tokens=512)
    shown = smol_tokenizer.decode(prompt.ids)
    assert "hi" in shown and "done" in shown and "\ufffd" in shown


def test_engine_counts_and_answers_hostile_text(tiny_engine: Engine) -> None:
    assert tiny_engine.count_tokens(HOSTILE) > 0
    result = tiny_engine.chat([{"role": "user", "content": HOSTILE}], max_new_tokens=3, seed=1)
    assert isinstance(result.text, str)
