"""The one parse of a user turn: sentences, request frames, slots and dates in the user's zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from memory.understand import parse, when

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 3, 4, 23, 30, tzinfo=BERLIN)  # a Wednesday, late evening in Berlin


def test_a_title_does_not_end_the_sentence() -> None:
    turn = parse("My supervisor is Dr. Helen Ward. She is strict.")
    assert [s.text for s in turn.sentences] == ["My supervisor is Dr. Helen Ward.", "She is strict."]


def test_the_same_turn_is_parsed_once() -> None:
    assert parse("I need a cab to the airport.") is parse("I need a cab to the airport.")


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("next Tuesday", (2026, 3, 10)),
        ("the 31st of January", (2027, 1, 31)),  # a plan: the coming one
        ("in six months", (2026, 9, 4)),
        ("Tuesday next week", (2026, 3, 10)),
        ("the 9th", (2026, 3, 9)),  # a day of this month, not September
        ("tomorrow", (2026, 3, 5)),
    ],
)
def test_date_phrases_resolve_in_the_users_time_zone(phrase: str, expected: tuple[int, int, int]) -> None:
    got = when(phrase, NOW, "Europe/Berlin")
    assert got is not None and (got.year, got.month, got.day) == expected
    assert got.tzinfo == BERLIN


def test_tomorrow_depends_on_the_users_zone_not_utc() -> None:
    # 23:30 in Berlin is 22:30 UTC on the same day; in Tokyo it is already the 5th
    tokyo = when("tomorrow", NOW, "Asia/Tokyo")
    assert tokyo is not None and tokyo.day == 6


@pytest.mark.parametrize(
    ("said", "dates", "party", "prices"),
    [
        ("Yes, I want a table for 4 on 14th of March", ["14th of March"], ["4"], []),
        ("A cab for 2 people later today, something cheap.", ["later today"], ["2 people"], ["cheap"]),
        ("I'd like a reasonably priced hotel from 3 to 7 May.", ["3 to 7 May"], [], ["reasonably priced"]),
        ("My budget is about 800 euros.", [], [], ["800 euros"]),
    ],
)
def test_slots_are_the_spans_the_user_said(
    said: str, dates: list[str], party: list[str], prices: list[str]
) -> None:
    turn = parse(said)
    assert (turn.dates(), turn.party_sizes(), turn.prices()) == (dates, party, prices)


@pytest.mark.parametrize(
    ("said", "phrase"),
    [
        ("My goal this year is to read 30 books", "read 30 books"),
        ("Can you keep track of my goal to lose 5 kilos by summer?", "lose 5 kilos by summer"),
        ("I am going to need a ride to the station.", "need a ride to the station"),
        ("Can you find me a hotel?", "find me a hotel"),
    ],
)
def test_requests_are_read_from_the_parse(said: str, phrase: str) -> None:
    assert [r.phrase for r in parse(said).requests()][:1] == [phrase]


@pytest.mark.parametrize(
    "said",
    ["Do I need a special tent?", "I need to know the opening hours.", "Find out if they open on Sundays."],
)
def test_questions_and_look_ups_are_not_requests(said: str) -> None:
    assert parse(said).requests() == []
