"""What people say about themselves in passing, and how changes replace the old fact."""

from __future__ import annotations

import pytest

from memory.extract import extract_rules
from memory.store import MemoryStore


def facts(said: str) -> set[str]:
    return {c.text for c in extract_rules(said)}


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        (
            "I'm Dana, a PhD student in NLP.",
            {"User's name is Dana", "User works as a PhD student", "User works in NLP"},
        ),
        ("Hi, I'm Tom.", {"User's name is Tom"}),
        (
            "I'm Sofia, a nurse from Porto.",
            {"User's name is Sofia", "User works as a nurse", "User is from Porto"},
        ),
        ("I moved from Boston to Berlin last month.", {"User lives in Berlin"}),
        ("I left Deloitte and now work at KPMG.", {"User works at KPMG"}),
        (
            "I work at the Office for National Statistics.",
            {"User works at Office for National Statistics"},
        ),
        ("My thesis defense is planned for June 12.", {"User's thesis defense is on June 12"}),
        ("I need to submit to ACL by Feb 15.", {"User's deadline: submit to ACL by Feb 15"}),
        (
            "I live in Madrid with my partner Carmen.",
            {"User lives in Madrid", "User's partner is Carmen"},
        ),
        ("I prefer bullet points.", {"User prefers bullet points"}),
        ("These days I'm living in Lisbon.", {"User lives in Lisbon"}),
        ("I resigned from Shopify and started at Stripe.", {"User works at Stripe"}),
        ("I like replies with code samples.", {"User prefers replies with code samples"}),
        ("I left the house and joined the party.", set()),
    ],
)
def test_facts_said_in_passing_are_caught(said: str, expected: set[str]) -> None:
    assert facts(said) == expected


@pytest.mark.parametrize(
    "said",
    ["I'm Sorry, I forgot.", "I'm Happy to help.", "What can you help me with today?", "Thanks!"],
)
def test_no_fact_from_small_talk(said: str) -> None:
    assert facts(said) == set()


@pytest.mark.parametrize(
    ("before", "after", "old", "new"),
    [
        ("I live in Boston.", "I moved from Boston to Berlin last month.", "Boston", "Berlin"),
        (
            "I work as an accountant at Deloitte.",
            "I left Deloitte and now work at KPMG.",
            "Deloitte",
            "KPMG",
        ),
        ("My paper deadline is March 1.", "The deadline moved to March 8.", "March 1", "March 8"),
        (
            "I work night shifts.",
            "I don't work night shifts anymore, I'm on days now.",
            "night shifts",
            "days",
        ),
        ("My name is Eva.", "Actually it's Eva Novak, with a k.", "Eva", "Eva Novak"),
        ("I live in York.", "I'm living in Leeds now.", "York", "Leeds"),
        (
            "I'm an architect at Alibaba.",
            "I quit Alibaba and joined Tencent.",
            "Alibaba",
            "Tencent",
        ),
        (
            "I like answers with examples.",
            "Actually, I prefer answers without examples.",
            "with examples",
            "without examples",
        ),
        ("I'd like detailed answers.", "I'd rather have short answers.", "detailed", "short"),
    ],
)
def test_an_update_supersedes_the_old_fact_and_keeps_it_as_history(
    store: MemoryStore, before: str, after: str, old: str, new: str
) -> None:
    store.profile.observe("ann", before)
    store.profile.observe("ann", after)
    current = [f.text for f in store.profile.facts("ann")]
    history = [
        f.text for f in store.profile.facts("ann", include_superseded=True) if f.superseded_by
    ]
    assert any(new in t for t in current)
    assert not any(old in t and new not in t for t in current)
    assert any(old in t for t in history)
