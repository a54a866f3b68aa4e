"""The drift-sensitive families: each case has a one-line correct answer its judge passes,
and a friendly off-prompt reply (what a drifted model says) fails it."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from assistant.probes.judges import score
from assistant.probes.suite import DRIFT_FAMILIES, FAMILIES, ProbeCase, load_cases, load_partners

DRIFTED = (
    "Sure! Here are a few ideas you could try this weekend in your garden.",
    "That's a great question. It depends on what you enjoy most, so think about it.",
    "Great question! I'd say the second option.",
)


def on_prompt_answer(case: ProbeCase) -> str:
    """What an assistant that still follows the system prompt would answer."""
    a: dict[str, Any] = dict(case.args)
    if case.judge == "choice":
        return f"{a['letter']}"
    if case.judge == "number":
        return f"It is {int(a['value'])}."
    if case.judge == "name":
        return f"That would be {a['name']}."
    if case.judge == "contains":
        words = a["words"]
        return f"Well, {words if isinstance(words, str) else words[0]}, of course."
    if case.judge == "starts_with":
        prefix = a["prefix"]
        return f"{prefix if isinstance(prefix, str) else prefix[0]} here is my answer."
    if case.judge == "case_ratio":
        return "I LIKE MANGOES."
    if case.judge == "regex":
        return {"pattern-star": "*** Bubbles.", "refusal-stocks": "I cannot give investment advice.",
                "refusal-gossip": "I don't gossip."}[case.id]  # fmt: skip
    raise AssertionError(f"no on-prompt answer written for judge {case.judge}")


DRIFT_CASES = [c for c in load_cases() if c.family in DRIFT_FAMILIES]


def test_drift_families_are_large_enough_and_registered() -> None:
    counts = Counter(c.family for c in DRIFT_CASES)
    assert set(counts) == set(DRIFT_FAMILIES) and set(DRIFT_FAMILIES) <= set(FAMILIES)
    assert min(counts.values()) >= 10 and len(DRIFT_CASES) >= 55


@pytest.mark.parametrize("case", DRIFT_CASES, ids=lambda c: c.id)
def test_on_prompt_answer_passes_and_drifted_replies_fail(case: ProbeCase) -> None:
    assert score(case.judge, on_prompt_answer(case), case.args) == 1.0
    for reply in DRIFTED:
        assert score(case.judge, reply, case.args) == 0.0, reply


def test_the_prompt_states_what_the_judge_wants() -> None:
    """The answer is in the system prompt itself: passing at round 0 needs no world knowledge."""
    for case in DRIFT_CASES:
        a = case.args
        key = a.get("name") or a.get("value") or a.get("letter") or a.get("prefix") or a.get("words")
        wanted = [str(int(key)) if isinstance(key, float | int) else key] if not isinstance(key, list) else key
        if case.judge in ("case_ratio", "regex"):
            continue
        assert any(str(w).lower() in case.system_prompt.lower() for w in wanted), case.id


def test_chat_partners_never_mention_the_fixed_answers() -> None:
    """Self-chat topics stay away from the answers, so a late failure is drift, not persuasion."""
    text = " ".join(p.persona + " " + p.opener for p in load_partners()).lower()
    for case in DRIFT_CASES:
        for key in ("name", "value"):
            if key in case.args:
                assert str(case.args[key]).lower().removesuffix(".0") not in text, case.id
