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

from memory.understand import parse, when

MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
MONTHS.update({m.lower(): i for i, m in enumerate(calendar.month_abbr) if m})
MONTHS["sept"] = 9
WEEKDAYS = {d.lower(): i for i, d in enumerate(calendar.day_name)}
UNITS = {"day": 1, "week": 7, "month": 30, "year": 365}
NUMBERS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "couple of": 2, "few": 3,
}  # fmt: skip

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
    """The time span a question names, relative to `now` (default: the current time)."""
    ref = _as_datetime(now)
    tz = ref.tzinfo
    today = _day(ref)
    t = text.lower()

    # a full date: "8 May 2023", "May 8, 2023", "on 8 May", "May 8th", "the 31st of January":
    # the parse finds the phrase, dateparser reads it (the latest such day by `now`)
    for phrase in parse(text).dates():
        has_day = re.search(r"(?<![\d-])\d{1,2}(?:st|nd|rd|th)?\b(?!-)", phrase)
        if has_day and re.search(rf"\b(?:{_MONTH})\b", phrase.lower()):
            day = when(phrase, ref, tz, future=False)
            if day is not None:
                return _days(_day(day.astimezone(tz)), 1)
    m: re.Match[str] | None
    # a month, with or without a year: "in May", "May 2023", "last May". "may", "march" and
    # three-letter abbreviations are also ordinary words: they count only after a preposition
    # or before a year
    for m in re.finditer(
        rf"\b((?:in|during|last|this|since|of|for)\s+)?({_MONTH})\b\.?(?:,?\s+(\d{{4}}))?", t
    ):
        prep, name, year = m.group(1), m.group(2), m.group(3)
        if not (prep or year or (len(name) > 3 and name != "march")):
            continue
        month = MONTHS[name]
        if year:
            return _month(int(year), month, tz)
        y = ref.year if month <= ref.month else ref.year - 1
        if prep and prep.strip() == "last" and month == ref.month:
            y -= 1
        return _month(y, month, tz)
    if re.search(r"\btoday\b|\bthis (?:morning|afternoon|evening)\b|\btonight\b", t):
        return _days(today, 1)
    if re.search(r"\byesterday\b|\blast night\b", t):
        return _days(today - timedelta(days=1), 1)
    if re.search(r"\bday before yesterday\b", t):
        return _days(today - timedelta(days=2), 1)
    m = re.search(rf"\b({_NUM})\s+(day|week|month|year)s?\s+ago\b", t)
    if m:
        n, unit = _number(m.group(1)), m.group(2)
        if unit == "day":
            return _days(today - timedelta(days=n), 1)
        if unit == "week":
            monday = today - timedelta(days=today.weekday() + 7 * n)
            return _days(monday, 7)
        if unit == "month":
            y, mo = divmod(ref.year * 12 + ref.month - 1 - n, 12)
            return _month(y, mo + 1, tz)
        return TimeRange(
            datetime(ref.year - n, 1, 1, tzinfo=tz), datetime(ref.year - n + 1, 1, 1, tzinfo=tz)
        )
    m = re.search(
        rf"\b(?:in|over|during|within)\s+the\s+(?:last|past)\s+(?:({_NUM})\s+)?(day|week|month|year)s?\b",
        t,
    )
    if m:
        n = _number(m.group(1)) if m.group(1) else 1
        return TimeRange(ref - timedelta(days=n * UNITS[m.group(2)]), ref + timedelta(seconds=1))
    m = re.search(r"\b(this|last|past|previous)\s+(week|month|year|weekend)\b", t)
    if m:
        last = m.group(1) != "this"
        unit = m.group(2)
        if unit in ("week", "weekend"):
            monday = today - timedelta(days=today.weekday() + (7 if last else 0))
            return _days(monday + timedelta(days=5), 2) if unit == "weekend" else _days(monday, 7)
        if unit == "month":
            y, mo = divmod(ref.year * 12 + ref.month - 1 - (1 if last else 0), 12)
            return _month(y, mo + 1, tz)
        year = ref.year - (1 if last else 0)
        return TimeRange(datetime(year, 1, 1, tzinfo=tz), datetime(year + 1, 1, 1, tzinfo=tz))
    m = re.search(r"\b(?:on|last|this past)\s+(" + "|".join(WEEKDAYS) + r")\b", t)
    if m:
        back = (today.weekday() - WEEKDAYS[m.group(1)]) % 7 or 7
        return _days(today - timedelta(days=back), 1)
    m = re.search(r"\b(?:in|during|of|since)\s+((?:19|20)\d{2})\b", t)
    if m:
        y = int(m.group(1))
        return TimeRange(datetime(y, 1, 1, tzinfo=tz), datetime(y + 1, 1, 1, tzinfo=tz))
    if re.search(r"\brecently\b|\blately\b|\bthese days\b", t):
        return TimeRange(ref - timedelta(days=30), ref + timedelta(seconds=1))
    return None


_WHEN = re.compile(
    r"^\s*(?:when|what (?:date|day|time|year|month)|which (?:year|month|day)|how long ago)\b", _F
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
