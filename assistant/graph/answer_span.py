"""The answer inside a stored text: what a question asks for, cut from what memory holds.

A question's form says what kind of answer it wants ("when" a date, "where" a place,
"who" a person, "how many" a number); `span` finds that in a stored sentence, or returns
the sentence that best matches the question. Nothing here is generated: the span is
always a piece of the stored text (or, for a date said relatively, "yesterday", that
date worked out from when it was said).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from memory.dates import asks_when, resolve

Wanted = Literal["date", "place", "person", "number", "any"]

# Words of a question that say what kind of answer it wants, not what it is about.
QUESTION_WORDS = frozenset(
    [
        "go",
        "going",
        "get",
        "got",
        "doing",
        "who",
        "whom",
        "whose",
        "what",
        "which",
        "when",
        "where",
        "why",
        "how",
        "is",
        "are",
        "was",
        "were",
        "do",
        "does",
        "did",
        "have",
        "has",
        "had",
        "can",
        "could",
        "would",
        "will",
        "should",
        "shall",
        "the",
        "a",
        "an",
        "of",
        "to",
        "in",
        "on",
        "at",
        "for",
        "about",
        "with",
        "my",
        "your",
        "me",
        "i",
        "you",
        "we",
        "our",
        "us",
        "it",
        "its",
        "this",
        "that",
        "there",
        "their",
        "they",
        "them",
        "he",
        "she",
        "his",
        "her",
        "be",
        "been",
        "being",
        "and",
        "or",
        "as",
        "by",
        "from",
        "into",
        "any",
        "some",
        "say",
        "said",
        "tell",
        "told",
        "mention",
        "mentioned",
        "remember",
        "remind",
        "again",
        "now",
        "still",
        "ever",
    ]
)
_ABBREV = r"(?<!\bDr\.)(?<!\bMr\.)(?<!\bMrs\.)(?<!\bMs\.)(?<!\bProf\.)(?<!\bSt\.)(?<!\bvs\.)"
_SENTENCE_END = re.compile(r"(?<=[.!?])" + _ABBREV + r"\s+|\s*\n+\s*")
_MONTH_NAMES = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
# A date written out ("14 March", "March 14th, 2024"): said as written, not worked out.
_WRITTEN_DATE = re.compile(
    rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH_NAMES}(?:,?\s+\d{{4}})?\b|"
    rf"\b{_MONTH_NAMES}\s+\d{{1,2}}(?:st|nd|rd|th)?\b(?:,?\s+\d{{4}})?",
    re.IGNORECASE,
)
_TITLE = r"(?:Dr|Mr|Mrs|Ms|Prof|Professor|Sir|Dame)\.?"
_NAME = re.compile(rf"\b(?:{_TITLE}\s+)?[A-Z][a-z]+(?:[ -](?:[A-Z][a-z]+|[A-Z]\.))*")
_PLACE = re.compile(
    r"\b(?:in|at|to|from|near|into|around)\s+((?:the\s+)?[A-Z][\w'-]+(?:\s+[A-Z][\w'-]+)*)"
)
_NUMBER = re.compile(
    r"\b(?:\d+(?:[.,]\d+)?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
    r"twenty|thirty|forty|fifty|hundred|a few|several)\b(?:\s+[a-z]+)?",
    re.IGNORECASE,
)
_WEEKDAY = re.compile(
    r"\b(?:mon|tues|wednes|thurs|fri|satur|sun)days?(?:\s+(?:morning|afternoon|evening|night)s?)?\b",
    re.IGNORECASE,
)
_ASKING = re.compile(
    r"\b(?:when|where|who|whom|whose|how (?:many|much|long|old|often)|"
    r"what (?:date|day|time|year|month|city|town|country)|which (?:year|month|day)|name|called)\b",
    re.IGNORECASE,
)
# Sentence openers that carry no content ("Hey Mel!", "Wow,") and are left off an answer.
_FILLER = re.compile(
    r"^(?:(?:hey|hi|hello|wow|oh|yeah|yes|thanks|thank you|haha|omg)\b[^.!?]*?[,!.]\s+)+",
    re.IGNORECASE,
)
MAX_ANSWER_WORDS = 30  # a best sentence longer than this is cut (an answer, not a speech)


@dataclass(frozen=True)
class Span:
    """The part of a stored text that answers a question, and the sentence it came from."""

    text: str
    sentence: str
    typed: bool  # True when the span is the date, place, person or number asked for


def wanted(question: str) -> Wanted:
    """The kind of answer a question's form asks for (its first asking word decides, so
    "Do you remember where I work?" asks for a place)."""
    if asks_when(question):
        return "date"
    m = _ASKING.search(question)
    if m is None:
        return "any"
    word = m.group(0).lower()
    if word == "when" or word.startswith(("what date", "what day", "what time", "which")):
        return "date"
    if word == "where" or word.startswith(("what city", "what town", "what country")):
        return "place"
    if word.startswith("how"):
        return "number"
    return "person"  # who, whom, whose, "name", "called"


def stem(word: str) -> str:
    """A word without its commonest endings ("lives", "living" -> "liv"), at most six letters."""
    for end in ("ing", "ed", "es", "s", "ly", "e"):
        if word.endswith(end) and len(word) - len(end) >= 3:
            word = word[: -len(end)]
            if end in ("ing", "ed") and word[-1] == word[-2] and word[-1] not in "aeiousl":
                word = word[:-1]  # "swimming" -> "swim"
            break
    return word[:6]


def content_words(text: str) -> set[str]:
    """The stems of a text's words that say what it is about (question words left out)."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    return {stem(w) for w in words if w not in QUESTION_WORDS and len(w) > 2}


def overlap(question: str, text: str) -> float:
    """Share of the question's content words that the text also holds."""
    asked = content_words(question)
    return len(asked & content_words(text)) / len(asked) if asked else 0.0


def sentences(text: str) -> list[str]:
    """A stored text's sentences (titles like "Dr." do not end one)."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def best_sentence(question: str, text: str) -> str:
    """The sentence of text sharing most content words with the question (the first on ties)."""
    parts = sentences(text) or [text.strip()]
    return max(parts, key=lambda s: (overlap(question, s), -parts.index(s)))


def day_text(when: float) -> str:
    """A unix time as "8 May 2023"."""
    d = datetime.fromtimestamp(when, UTC)
    return f"{d.day} {d:%B %Y}"


def date_in(sentence: str, said: float) -> str:
    """A date the sentence names, worked out from when it was said ("" when it names none)."""
    written = _WRITTEN_DATE.search(sentence)
    if written:
        return written.group(0).rstrip(".,")
    span = resolve(sentence, said) if said else None
    if span is None:
        weekday = _WEEKDAY.search(sentence)  # "on Wednesdays": a day of the week, as written
        return weekday.group(0) if weekday else ""
    days = (span.end - span.start).days
    start = span.start
    if days <= 1:
        return f"{start.day} {start:%B %Y}"
    if days <= 7:
        return f"the week of {start.day} {start:%B %Y}"
    if days <= 31 and start.day == 1:
        return f"{start:%B %Y}"
    if days >= 365 and start.month == 1 and start.day == 1:
        return str(start.year)
    return f"{start.day} {start:%B %Y} to {span.end.day} {span.end:%B %Y}"


def _clip(sentence: str) -> str:
    words = _FILLER.sub("", sentence).split()
    if not words:
        words = sentence.split()
    out = " ".join(words[:MAX_ANSWER_WORDS])
    return out if len(words) <= MAX_ANSWER_WORDS else out.rstrip(",;:") + "…"


def _typed(kind: Wanted, question: str, sentence: str, said: float) -> str:
    if kind == "date":
        return date_in(sentence, said)
    asked = content_words(question)
    if kind == "place":
        places = [m.group(1) for m in _PLACE.finditer(sentence)]
        places = [p for p in places if content_words(p) - asked]
        return places[0] if places else ""
    if kind == "person":
        names = [m.group(0) for m in _NAME.finditer(sentence) if m.start() > 0 or " " in m.group(0)]
        names = [n for n in names if content_words(n) - asked and n.split()[0] not in ("I", "The")]
        named = [n for n in names if re.fullmatch(rf"{_TITLE}", n) is None]
        return named[0] if named else ""
    if kind == "number":
        undated = _WRITTEN_DATE.sub(" ", sentence)  # "18 March" is a date, not a count
        found = sorted(
            (m.group(0) for m in _NUMBER.finditer(undated)), key=lambda f: not f[0].isdigit()
        )  # "6000 pounds" before the "one" of "the one I want"
        named = [f for f in found if content_words(f) & asked]  # "40 guests" for "how many guests"
        return (named or found or [""])[0]
    return ""


def span(question: str, text: str, said: float = 0.0) -> Span:
    """What in `text` answers `question`; `said` (unix seconds) dates relative expressions."""
    sentence = best_sentence(question, text)
    kind = wanted(question)
    if kind != "any":
        found = _typed(kind, question, sentence, said)
        if not found:  # another sentence of the same text may hold it
            for other in sentences(text):
                found = _typed(kind, question, other, said)
                if found:
                    sentence = other
                    break
        if found:
            return Span(found, _clip(sentence), True)
    return Span(_clip(sentence), _clip(sentence), False)
