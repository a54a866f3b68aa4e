"""Goals and facts with the real default model (SmolLM2-135M): rules first, the model checked."""

from __future__ import annotations

import pytest

from assistant.graph.goals import track
from memory.extract import extract, grounded

pytestmark = pytest.mark.slow


def test_the_model_adds_no_phantom_goal_and_keeps_the_deadline(real_engine) -> None:
    update, goals, _ = track("What can you help me with today?", [], "", llm=real_engine)
    assert update.event == "none" and goals == []

    said = "Help me plan my thesis deadlines; I need to submit to ACL by Feb 15."
    update, goals, goal = track(said, [], "", llm=real_engine)
    assert update.event == "new" and goal is not None
    assert goal["statement"] == "plan my thesis deadlines"
    assert any("Feb 15" in k for k in goal["known"])
    assert not any("deadline" in m or "date" in m for m in goal["missing"])
    assert "Lisbon" not in str(goals)  # the tracker prompt's old example never becomes a goal


def test_model_extraction_keeps_the_rules_facts_and_adds_only_grounded_ones(real_engine) -> None:
    said = "I'm Dana, a PhD student in NLP. I moved from Boston to Berlin last month."
    found = extract(said, real_engine)
    texts = {c.text for c in found}
    assert {"User's name is Dana", "User works as a PhD student", "User lives in Berlin"} <= texts
    assert all(grounded(c, said) for c in found)
    assert not any("Boston" in t and "Berlin" not in t for t in texts)
