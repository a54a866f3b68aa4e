"""The real bundled model (SmolLM2-135M-Instruct), loaded offline once per session."""

from __future__ import annotations

from typing import Any

import pytest

from assistant.config import Settings


@pytest.mark.slow
def test_default_model_knows_the_capital_of_france(real_engine: Any) -> None:
    messages = [
        {"role": "system", "content": Settings().persona.system_prompt},
        {"role": "user", "content": "What is the capital of France?"},
    ]
    result = real_engine.chat(messages, temperature=0.0, max_new_tokens=24)
    assert "Paris" in result.text
    assert result.completion_tokens <= 24 and result.prompt_tokens > 50


@pytest.mark.slow
def test_default_model_streams_the_same_answer(real_engine: Any) -> None:
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    text = "".join(real_engine.stream(messages, temperature=0.0, max_new_tokens=16))
    assert text == real_engine.chat(messages, temperature=0.0, max_new_tokens=16).text
    assert "Paris" in text
