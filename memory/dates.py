"""Dates in what people ask: "last week", "in May", "yesterday", resolved against the asking time.

Day dates ("8 May 2023", "the 31st of January") are found by the turn's parse and read by
dateparser (`memory.understand.when`); spans it has no notion of ("last week", "in May",
"two weeks ago" as a whole week) are computed here.

`resolve(text, now)` returns the span of time a question is about (start inclusive, end
exclusive, both aware datetimes in now's time zone) or None when it names none. Months
and weekdays without a year mean the latest one that has begun by `now` ("in May" asked
in March 2024 is May 2023). `asks_when` and `mentions_time` let a search favour turns
that carry a date when the question asks for one.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from memory.understand import WEEKDAY_DAY, is_duration, parse, weekday_and_day

MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
MONTHS.update({m.lower(): i for i, m in enumerate(calendar.month_abbr) if m})
MONTHS["sept"] = 9
WEEKDAYS = {d.lower(): i for i, d in enumerate(calendar.day_name)}
UNITS = {"day": 1, "week": 7, "month": 30, "year": 365}
NUMBERS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "couple of": 2, "few": 3,
}  # fmt: skip

_BEFORE_LENGTH = re.compile(r"\b(in|next|last|past|previous|this)\s+(?:the\s+)?$")


def _ahead(phrase: str, text: str) -> str:
    """A date phrase as read: a length of time said with "in" as "in <length>" (a day that
    far ahead), with "next"/"last" as it is, and "" for a length alone ("within 72 hours")."""
    if not is_duration(phrase):
        return phrase
    before = _BEFORE_LENGTH.search(text.lower().split(phrase.lower())[0])
    if before is None:
        return ""
    return f"in {phrase}" if before.group(1) == "in" else phrase


_MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
_NUM = r"\d+|" + "|".join(sorted(NUMBERS, key=len, reverse=True))
_F = re.IGNORECASE


@dataclass(frozen=True)
class TimeRange:
    """A span of time: start inclusive, end exclusive."""

    start: datetime
    end: datetime

    def contains(self, when: datetime | float) -> bool:
        t = when if isinstance(when, datetime) else datetime.fromtimestamp(when, self.start.tzinfo)
        return self.start <= t < self.end

    @property
    def since(self) -> float:
        return self.start.timestamp()

    @property
    def until(self) -> float:
        return self.end.timestamp()


def _day(d: datetime) -> datetime:
    return d.replace(hour=0, minute=0, second=0, microsecond=0)


def _month(year: int, month: int, tz: object) -> TimeRange:
    start = datetime(year, month, 1, tzinfo=tz)  # type: ignore[arg-type]
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=tz)  # type: ignore[arg-type]
    return TimeRange(start, end)


def _days(start: datetime, n: int) -> TimeRange:
    return TimeRange(start, start + timedelta(days=n))


def _number(word: str) -> int:
    word = word.lower()
    return int(word) if word.isdigit() else NUMBERS.get(word, 1)


def _as_datetime(now: datetime | float | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if isinstance(now, datetime):
        return now if now.tzinfo else now.replace(tzinfo=UTC)
    return datetime.fromtimestamp(float(now), UTC)


def resolve(text: str, now: datetime | float | None = None) -> TimeRange | None:
    """The time span a question names, relative to `now` (default: the current time).

    The parse finds the date phrases (spaCy DATE / TIME entities); dateparser reads each
    against `now` in now's time zone, preferring the past, and says how fine it is (day,
    week, month, year); the span is that unit around the date it read. Thin rules stay only
    for what dateparser has no notion of: trailing windows ("in the past 3 days"), parts of
    a day ("this morning", "last night"), weekends, "last <month>" and "recently".
    """
    ref = _as_datetime(now)
    today = _day(ref)
    t = text.lower()
    # a window that ends now: "in the past 3 days", "over the last month"
    m = re.search(
        rf"\b(?:in|over|during|within)\s+the\s+(?:last|past)\s+(?:({_NUM})\s+)?(day|week|month|year)s?\b", t
    )
    if m:
        n = _number(m.group(1)) if m.group(1) else 1
        return TimeRange(ref - timedelta(days=n * UNITS[m.group(2)]), ref + timedelta(seconds=1))
    turn = parse(text)
    # "this week's notes": the small model's entity is "week"; its determiner belongs to it
    phrases = [
        str(turn.doc[e.start - 1 : e.end].text)
        if e.start > 0 and turn.doc[e.start - 1].lower_ in ("this", "last", "next", "past", "previous")
        else str(e.text)
        for e in turn.ents("DATE", "TIME")
    ]
    # "sneak peeks within 72 hours", "for two weeks": a length of time names no day; "in six
    # weeks" names the day that far ahead ("two weeks ago" and "next week" are no lengths)
    phrases = [_ahead(p, text) for p in phrases]
    phrases = [p for p in phrases if p]
    for said in turn.dates():
        if WEEKDAY_DAY.fullmatch(said):  # "Saturday the 21st" where the tagger saw "Saturday"
            phrases = [q for q in phrases if q not in said]
        if not any(said in q or q in said for q in phrases):
            phrases.append(said)
    for phrase in phrases:
        span = _span(phrase, ref, today)
        if span is not None:
            return span
    if re.search(r"\brecently\b|\blately\b|\bthese days\b", t):
        return TimeRange(ref - timedelta(days=30), ref + timedelta(seconds=1))
    return None


def _span(phrase: str, ref: datetime, today: datetime) -> TimeRange | None:
    """The span one date phrase names (see `resolve`)."""
    tz = ref.tzinfo
    p = phrase.lower()
    if not (p.startswith("in ") and is_duration(p[3:])):  # "in six weeks" is ahead, "six weeks" ago
        p = re.sub(r"^(?:the\s+|on\s+|in\s+|during\s+|since\s+)", "", p)
    p = p.strip(" .,?!")
    p = re.sub(r"['’]s$", "", p)  # "this week's notes"
    if re.fullmatch(r"(?:this\s+)?(?:morning|afternoon|evening)|tonight|today", p):
        return _days(today, 1)
    if p == "last night":
        return _days(today - timedelta(days=1), 1)
    m = re.fullmatch(r"(this|last|past|previous)\s+weekend", p)
    if m:
        monday = today - timedelta(days=today.weekday() + (0 if m.group(1) == "this" else 7))
        return _days(monday + timedelta(days=5), 2)
    m = re.fullmatch(rf"last\s+({_MONTH})", p)
    if m:  # "last March" asked in March is a year ago; dateparser does not read "last <month>"
        month = MONTHS[m.group(1)]
        return _month(ref.year - (month >= ref.month), month, tz)
    fixed = weekday_and_day(p, ref, future=False)
    if fixed is not None:
        return _days(fixed, 1)
    got = _read(p, ref)
    if got is None:
        return None
    point, period = got
    if period == "year":
        return TimeRange(datetime(point.year, 1, 1, tzinfo=tz), datetime(point.year + 1, 1, 1, tzinfo=tz))
    if period == "month":
        return _month(point.year, point.month, tz)
    if period == "week":
        return _days(_day(point) - timedelta(days=point.weekday()), 7)
    day = _day(point)
    if day >= today and re.fullmatch("|".join(WEEKDAYS), p):
        day -= timedelta(days=7)  # "on Wednesday" asked on a Wednesday: the one before
    return _days(day, 1)


def _read(phrase: str, ref: datetime) -> tuple[datetime, str] | None:
    """dateparser's reading of a phrase: the date (in ref's zone) and its period."""
    data = _reader(ref.replace(tzinfo=None)).get_date_data(phrase)
    if data is None or data.date_obj is None:
        return None
    return data.date_obj.replace(tzinfo=ref.tzinfo), str(data.period or "day")


def _reader(base: datetime) -> Any:
    from dateparser.date import DateDataParser

    # dateparser reads wall-clock time; the zone is attached after (see understand.when)
    settings = {"RELATIVE_BASE": base, "PREFER_DATES_FROM": "past", "RETURN_AS_TIMEZONE_AWARE": False}
    return DateDataParser(languages=["en"], settings=settings)


_WHEN = re.compile(
    r"^\s*(?:(?:and|so|ok|also|but|oh)\s+)?(?:when|by when|what (?:date|days?|time|year|month)|which (?:year|month|days?)|how long ago)\b", _F
)
_TIME_WORDS = re.compile(
    rf"\b(?:yesterday|today|tonight|tomorrow|last (?:night|week|weekend|month|year|friday|saturday|sunday|"
    rf"monday|tuesday|wednesday|thursday)|this (?:week|weekend|month|morning)|next (?:week|month|year)|"
    rf"(?:{_NUM}) (?:days?|weeks?|months?|years?) ago|ago|since|recently|(?:19|20)\d{{2}}|"
    rf"{_MONTH.replace('|may|', '|')}|" + "|".join(WEEKDAYS) + r")\b",
    _F,
)


def asks_when(question: str) -> bool:
    """True for questions that ask for a time ("When did...", "What year...")."""
    return bool(_WHEN.search(question))


def mentions_time(text: str) -> bool:
    """True when a text carries a time expression ("yesterday", "last week", "in May 2023")."""
    return bool(_TIME_WORDS.search(text))
