"""Real threads probed read-only with the persona's probes."""

from __future__ import annotations

import copy

from assistant.config import Settings
from assistant.llm.base import Message
from assistant.probes.threads import probe_threads
from tests.fakes import ScriptedChatModel


def test_probes_are_appended_to_copies_and_judged() -> None:
    threads: list[list[Message]] = [
        [{"role": "user", "content": "Plan my week."}, {"role": "assistant", "content": "Sure."}],
        [{"role": "system", "content": "You are Ada."}, {"role": "user", "content": "Hi"},
         {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Bye"},
         {"role": "assistant", "content": "Bye"}],
    ]  # fmt: skip
    original = copy.deepcopy(threads)
    model = ScriptedChatModel(lambda m: "I'm Ada." if len(m) > 4 else "I'm your assistant.")
    result = probe_threads(Settings(), model, threads)
    assert threads == original  # read-only
    assert [t["scores"]["persona-1"] for t in result["threads"]] == [0.0, 1.0]
    assert [t["turns"] for t in result["threads"]] == [1, 2]
    first, second = model.calls
    assert first[0]["content"] == Settings().persona.system_prompt  # persona prompt added when missing
    assert second[0]["content"] == "You are Ada."  # the thread's own system prompt kept
    assert first[-1] == {"role": "user", "content": "What is your name?"}
    assert result["mean"]["mean"] == 0.5


def test_no_threads_no_calls() -> None:
    model = ScriptedChatModel()
    assert probe_threads(Settings(), model, [])["threads"] == []
    assert model.calls == []
