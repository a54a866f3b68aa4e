"""Relative dates in questions resolve against the asking time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from memory.dates import asks_when, mentions_time, resolve

# a Wednesday
NOW = datetime(2024, 3, 13, 15, 30, tzinfo=UTC)


def day(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("what did I say yesterday?", day(2024, 3, 12), day(2024, 3, 13)),
        ("anything today", day(2024, 3, 13), day(2024, 3, 14)),
        ("what did we plan last week", day(2024, 3, 4), day(2024, 3, 11)),
        ("this week's notes", day(2024, 3, 11), day(2024, 3, 18)),
        ("what happened last month", day(2024, 2, 1), day(2024, 3, 1)),
        ("what did I do in May", day(2023, 5, 1), day(2023, 6, 1)),  # latest May begun by now
        ("in March", day(2024, 3, 1), day(2024, 4, 1)),
        ("last March", day(2023, 3, 1), day(2023, 4, 1)),
        ("trip in July 2022", day(2022, 7, 1), day(2022, 8, 1)),
        ("on 8 May 2023", day(2023, 5, 8), day(2023, 5, 9)),
        ("on May 8th", day(2023, 5, 8), day(2023, 5, 9)),
        ("two weeks ago", day(2024, 2, 26), day(2024, 3, 4)),
        ("3 days ago", day(2024, 3, 10), day(2024, 3, 11)),
        ("last Friday", day(2024, 3, 8), day(2024, 3, 9)),
        ("on Wednesday", day(2024, 3, 6), day(2024, 3, 7)),  # today is Wednesday: the one before
        ("what did I read in 2023", day(2023, 1, 1), day(2024, 1, 1)),
        ("last year", day(2023, 1, 1), day(2024, 1, 1)),
    ],
)
def test_relative_dates_resolve_against_the_asking_time(
    text: str, start: datetime, end: datetime
) -> None:
    span = resolve(text, NOW)
    assert span is not None, text
    assert (span.start, span.end) == (start, end)


def test_past_n_days_ends_now() -> None:
    span = resolve("what did I say in the past 3 days?", NOW)
    assert span is not None
    assert span.start == datetime(2024, 3, 10, 15, 30, tzinfo=UTC)
    assert span.contains(NOW.timestamp())


@pytest.mark.parametrize(
    "text",
    ["may I ask you something", "what is my favourite colour", "I march on", "how are you"],
)
def test_no_date_named(text: str) -> None:
    assert resolve(text, NOW) is None


def test_unix_seconds_accepted_as_now() -> None:
    span = resolve("yesterday", NOW.timestamp())
    assert span is not None and span.start == day(2024, 3, 12)


def test_when_questions_and_time_mentions() -> None:
    assert asks_when("When did Caroline go to the support group?")
    assert asks_when("What year did she move?")
    assert not asks_when("What did Caroline research?")
    assert mentions_time("I went there yesterday")
    assert mentions_time("back in August 2022")
    assert not mentions_time("you may like it")


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("what did I cook the day before yesterday?", day(2024, 3, 11), day(2024, 3, 12)),
        ("the talk a month ago", day(2024, 2, 1), day(2024, 3, 1)),
        ("what did we watch last weekend", day(2024, 3, 9), day(2024, 3, 11)),
        ("what did I say last night", day(2024, 3, 12), day(2024, 3, 13)),
        ("anything from this morning?", day(2024, 3, 13), day(2024, 3, 14)),
        ("what did I note on Monday", day(2024, 3, 11), day(2024, 3, 12)),
    ],
)
def test_more_phrasings_come_from_dateparser(text: str, start: datetime, end: datetime) -> None:
    span = resolve(text, NOW)
    assert span is not None, text
    assert (span.start, span.end) == (start, end)


def test_dates_are_days_in_the_users_time_zone() -> None:
    # 15:30 UTC on Wednesday 13 March is already Thursday 14 March in Tokyo
    from zoneinfo import ZoneInfo

    tokyo = ZoneInfo("Asia/Tokyo")
    span = resolve("what did I say yesterday?", NOW.astimezone(tokyo))
    assert span is not None
    assert span.start == datetime(2024, 3, 13, tzinfo=tokyo)
    assert span.end == datetime(2024, 3, 14, tzinfo=tokyo)


def test_a_weekday_with_its_day_of_the_month_is_that_day_not_the_weekday_or_a_month() -> None:
    from memory.understand import parse, when

    # "9th" alone reads as September to the date library, "Saturday" alone as last Saturday
    moved = "Change of plan: the market stall is now Saturday the 16th instead."
    assert parse(moved).dates() == ["Saturday the 16th"]
    # a question's date is the latest one by now: 16 March 2024 is a Saturday, still to come
    assert resolve(moved, NOW) == resolve("on 16 December 2023", NOW)
    assert resolve("what did we do on Friday the 9th", NOW).start == day(2024, 2, 9)
    assert when("Friday 9th", NOW) == datetime(2024, 8, 9, tzinfo=UTC)  # the coming one
    assert when("sat 16th", NOW) == datetime(2024, 3, 16, tzinfo=UTC)


def test_a_length_of_time_names_a_day_only_when_said_ahead_or_ago() -> None:
    # "within 72 hours" is no day; "in six weeks" is six weeks ahead, "six weeks ago" behind
    assert resolve("I promised the photos within 72 hours", NOW) is None
    ahead = resolve("the full gallery comes in six weeks", NOW)
    assert ahead is not None and ahead.start > NOW
    assert resolve("what did I do six weeks ago", NOW).start < NOW


def test_same_day_is_no_date_of_its_own() -> None:
    from memory.understand import parse

    # "we're doing the party in the garden instead. Same day.": the date said before is kept
    assert parse("Same day. Can you help me send an update to everyone?").dates() == []
