"""The goal tracker asks the model only when its answer could change the update.

The model's structured call costs seconds (160 constrained tokens, twice when the answer is
invalid); on a new user's first message ("Hi! What can you help me with?") it was most of
the wait for the first reply, and `reconcile` threw its answer away.
"""

from __future__ import annotations

import pytest

from assistant.graph.goals import (
    GoalUpdate,
    apply_update,
    proposal_can_count,
    reconcile,
    rule_update,
    track,
)
from assistant.graph.state import GoalState
from tests.graph.conftest import is_tracker, scripted


def _goals(*statements: str) -> list[GoalState]:
    goals: list[GoalState] = []
    for statement in statements:
        update = GoalUpdate(event="new", statement=statement, missing=["budget"])
        goals, _ = apply_update(update, goals, thread="t")
    return goals


def _proposals(text: str, goals: list[GoalState]) -> list[GoalUpdate]:
    """Proposals built to win: the user's own words as the statement, every goal ended or filled."""
    words = text.rstrip("?!.")
    out = [
        GoalUpdate(event="new", statement=words, success_criteria="done", missing=["date"]),
        GoalUpdate(event="new", statement=words, known=[f"topic: {words}"]),
    ]
    for goal in goals:
        out += [
            GoalUpdate(event="done", goal_id=goal["id"]),
            GoalUpdate(event="dropped", goal_id=goal["id"]),
            GoalUpdate(event="progress", goal_id=goal["id"], known=[f"budget: {words}"]),
        ]
    return out


SKIPPED = [
    ("Hi! What can you help me with?", ()),
    ("What can you do?", ()),
    ("What's the capital of France?", ()),
    ("Do I need a special tent for the Alps?", ("plan a hiking trip",)),
    ("Hello there", ()),
    ("Never mind, forget about the report.", ("write a report for the board",)),
]


@pytest.mark.parametrize(("text", "open_statements"), SKIPPED)
def test_no_proposal_changes_the_update_where_the_call_is_skipped(text, open_statements):
    goals = _goals(*open_statements)
    active = goals[0]["id"] if goals else ""
    rules = rule_update(text, goals, active)
    assert not proposal_can_count(rules, text, goals)
    for proposal in _proposals(text, goals):
        assert reconcile(proposal, rules, text, goals) == rules


ASKED = [
    ("Help me plan a trip to Lisbon.", ()),  # the rules see a new goal: the model adds detail
    ("Could you sort out Lisbon for me, a weekend trip?", ()),  # a request the rules miss
    ("Sounds good, thanks.", ("plan a trip to Lisbon",)),  # an ending the rules may miss
]


@pytest.mark.parametrize(("text", "open_statements"), ASKED)
def test_the_model_is_asked_where_its_answer_can_count(text, open_statements):
    goals = _goals(*open_statements)
    rules = rule_update(text, goals, goals[0]["id"] if goals else "")
    assert proposal_can_count(rules, text, goals)
    llm = scripted(tracker=lambda m: {"event": "none"})
    track(text, goals, "", llm=llm, retries=0)
    assert sum(is_tracker(c) for c in llm.calls) == 1


def test_a_first_greeting_reaches_the_reply_without_a_tracker_call(make_session):
    llm = scripted(replies=lambda m: "I can plan trips, track goals and summarise papers.")
    session = make_session(llm)
    reply = session.send("Hi! What can you help me with?")
    assert reply == "I can plan trips, track goals and summarise papers."
    assert not any(is_tracker(c) for c in llm.calls)
    assert session.goals() == []
