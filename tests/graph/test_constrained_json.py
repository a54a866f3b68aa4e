"""The model path, constrained: the real default model's goal and fact proposals are always
schema-valid JSON, because decoding is masked by the schema's grammar."""

from __future__ import annotations

import pytest

from assistant.graph import prompts
from assistant.graph.goals import GOAL_SCHEMA, parse_update
from assistant.llm.constrain import constrained_chat, supports_hooks
from memory.extract import EXTRACT_SYSTEM, FACTS_SCHEMA, parse_model_json

SAID = [
    "My goal this year is to read 30 books.",
    "I quit GitLab last week and started at Datadog.",
    "Hi!",
    "Can you keep track of my goal to lose 5 kilos by summer?",
]


@pytest.mark.slow
@pytest.mark.parametrize("said", SAID)
def test_goal_proposals_are_always_valid(real_engine: object, said: str) -> None:
    assert supports_hooks(real_engine)
    messages = [
        {"role": "system", "content": prompts.GOAL_TRACKER_SYSTEM},
        {"role": "user", "content": prompts.GOAL_TRACKER_USER.format(goals="(none)", message=said)},
    ]
    raw = constrained_chat(real_engine, messages, GOAL_SCHEMA, max_new_tokens=160).text
    parse_update(raw)  # raises when the reply is not a valid GoalUpdate


@pytest.mark.slow
@pytest.mark.parametrize("said", SAID)
def test_fact_proposals_are_always_valid(real_engine: object, said: str) -> None:
    messages = [
        {"role": "system", "content": EXTRACT_SYSTEM},
        {"role": "user", "content": f"<user_message>\n{said}\n</user_message>"},
    ]
    result = constrained_chat(real_engine, messages, FACTS_SCHEMA, max_new_tokens=240)
    parse_model_json(result.text)  # raises when the reply is not valid
    # once the JSON closes the grammar allows only end-of-sequence: no budget left to burn
    assert result.finish_reason == "stop", result.text
