"""Standing requests read from the parse: answer form and language, rules said as
imperatives, informal names, and retractions followed by a new preference. The wordings
here are in no bench file."""

from __future__ import annotations

import pytest

from memory.extract import extract_rules
from memory.store import MemoryStore


def _read(said: str) -> set[tuple[str, str]]:
    return {(c.attribute, c.value) for c in extract_rules(said)}


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("Evening all, Tomasz here.", ("name", "Tomasz")),
        ("hello, it's Greta!", ("name", "Greta")),
        ("The name's Ruairi.", ("name", "Ruairi")),
        ("My friends call me Jojo.", ("name", "Jojo")),
        ("Please respond to me in Portuguese.", ("preference", "Portuguese")),
        ("Keep the replies concise, thanks.", ("preference", "concise answers")),
        ("Could you explain things in plain language?", ("preference", "plain language")),
        ("Stop booking me into 8am meetings.", ("other", "8am")),
        ("Avoid sending me anything on Friday evenings.", ("other", "Friday evenings")),
        ("I'm vegan.", ("other", "vegan")),
        ("I can't drink coffee.", ("other", "coffee")),
    ],
)
def test_standing_requests_are_read(said: str, expected: tuple[str, str]) -> None:
    assert expected in _read(said)


@pytest.mark.parametrize(
    "said",
    [
        "Never mind.",
        "No worries, thanks!",
        "Do you answer in German?",
        "It's Tuesday already.",
        "Berlin here is cold.",
    ],
)
def test_no_standing_request_from_small_talk(said: str) -> None:
    assert not any(a in ("name", "preference", "other") for a, _ in _read(said))


@pytest.mark.parametrize(
    ("before", "after", "old", "new"),
    [
        (
            "Write to me in Dutch.",
            "Scratch that, Dutch is hard for me, English is better.",
            "Dutch",
            "English",
        ),
        (
            "Keep your replies short.",
            "Forget that, thorough answers are fine.",
            "short",
            "thorough",
        ),
        ("Hi, Marguerite here.", "Everybody calls me Maggie, use that.", "Marguerite", "Maggie"),
    ],
)
def test_a_retraction_with_a_new_preference_supersedes(
    store: MemoryStore, before: str, after: str, old: str, new: str
) -> None:
    store.profile.observe("ann", before)
    store.profile.observe("ann", after)
    current = [f.text for f in store.profile.facts("ann")]
    assert any(new in t for t in current)
    assert not any(old in t and new not in t for t in current)
