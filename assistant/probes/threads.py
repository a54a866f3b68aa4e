"""Probing real threads: the persona's probes appended, read-only, to real conversations.

A pure function of the messages it is given: the caller (the scheduler, reading the
graph's checkpointer) picks the threads; nothing here reads or writes any store, and the
given lists are never modified.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from assistant.config import Settings
from assistant.llm.base import ChatModel, Message
from assistant.probes.controls import Control, default_control
from assistant.probes.runner import ANSWER_CHARS, judge_answer
from assistant.probes.stats import mean_ci
from assistant.probes.suite import persona_cases


def _with_persona(messages: Sequence[Message], system_prompt: str) -> list[Message]:
    """A copy of the thread with the persona's system prompt first (the live one, if present)."""
    body = [dict(m) for m in messages if m.get("role") in ("user", "assistant")]
    system = next((m["content"] for m in messages if m.get("role") == "system"), system_prompt)
    return [{"role": "system", "content": system}, *body]  # type: ignore[list-item]


def probe_threads(
    settings: Settings,
    engine: ChatModel,
    conversations: Sequence[Sequence[Message]],
    *,
    control: Control | None = None,
) -> dict[str, Any]:
    """Judge the persona's probes asked at the end of each conversation."""
    cases = persona_cases(settings)
    control = control or default_control(settings)
    p = settings.probes
    threads = [_with_persona(c, settings.persona.system_prompt) for c in conversations]
    branches: list[list[Message]] = [
        [*t, {"role": "user", "content": case.probe}] for t in threads for case in cases
    ]
    if not branches:
        return {"control": control.label, "threads": [], "mean": None}
    results = engine.chat_batch(
        branches, max_new_tokens=p.max_new_tokens, temperature=p.temperature, seed=p.seed,
        control=control.drift, priority="background",
    )  # fmt: skip
    out = []
    per_thread = []
    for i, thread in enumerate(threads):
        mine = results[i * len(cases) : (i + 1) * len(cases)]
        scores = {c.id: judge_answer(c, r.text, r.finish_reason == "length") for c, r in zip(cases, mine, strict=True)}
        per_thread.append(sum(scores.values()) / len(scores))
        out.append({
            "index": i,
            "turns": sum(1 for m in thread if m["role"] == "user"),
            "scores": scores,
            "answers": {c.id: r.text.strip()[:ANSWER_CHARS] for c, r in zip(cases, mine, strict=True)},
        })  # fmt: skip
    return {"control": control.label, "threads": out, "mean": mean_ci(per_thread, seed=p.seed).to_dict()}
