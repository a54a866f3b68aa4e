"""Checks of one chat reply that a user would notice: loops, impossible dates, format, name.

The respond node uses `drop_repeated_lines` to cut a reply that starts looping; the quality
bench uses every check here as a judge of scripted conversations.
"""

from __future__ import annotations

import re

_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
_DAYS_IN = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}
_MONTH = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_MONTH_DAY = re.compile(rf"\b{_MONTH}\s+(\d{{1,2}})(?:st|nd|rd|th)?\b", re.IGNORECASE)
_DAY_MONTH = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}", re.IGNORECASE)
_BULLET = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+\S")
MIN_LINE_CHARS = 12  # shorter lines ("Thanks!", "1.") repeat legitimately
_SELF_NAME = re.compile(
    r"\b(?i:my name is|i'?m called|i am called|call me|i am|i'm)\s+([A-Z][a-z]+)\b"
)
_NOT_NAMES = frozenset(
    [
        "Here",
        "Happy",
        "Glad",
        "Sorry",
        "Not",
        "Just",
        "Always",
        "Still",
        "Afraid",
        "Able",
        "Sure",
        "Ready",
        "Unable",
        "Going",
        "Trying",
        "Very",
        "Really",
        "An",
        "A",
        "The",
        "So",
        "Also",
        "Your",
        "Now",
    ]
)


def _norm(line: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", line.lower()))


def _lines(text: str) -> list[str]:
    # A reply's "lines" are its sentences as well: a loop often stays on one line.
    parts = re.split(r"\n+|(?<=[.!?])\s+", text)
    return [p.strip() for p in parts if len(_norm(p)) >= MIN_LINE_CHARS]


def repeated_lines(text: str, earlier: list[str] | None = None) -> list[str]:
    """Lines (or sentences) said twice in this reply, or already said in an earlier reply."""
    seen = {_norm(line) for reply in earlier or [] for line in _lines(reply)}
    out = []
    for line in _lines(text):
        key = _norm(line)
        if key in seen:
            out.append(line)
        seen.add(key)
    return out


def drop_repeated_lines(text: str) -> str:
    """The reply up to its first line or sentence that repeats an earlier one of the same reply."""
    seen: set[str] = set()
    for match in re.finditer(r"[^\n.!?]*(?:[.!?]+|\n|$)", text):
        key = _norm(match.group(0))
        if len(key) >= MIN_LINE_CHARS and key in seen:
            return text[: match.start()].rstrip()
        if key:
            seen.add(key)
    return text


def impossible_dates(text: str) -> list[str]:
    """Calendar dates that do not exist ("Feb 30", "31 April")."""
    found = []
    for match in _MONTH_DAY.finditer(text):
        month, day = _MONTHS[match.group(1).lower()[:3]], int(match.group(2))
        if not 1 <= day <= _DAYS_IN[month]:
            found.append(match.group(0).rstrip("."))
    for match in _DAY_MONTH.finditer(text):
        day, month = int(match.group(1)), _MONTHS[match.group(2).lower()[:3]]
        if not 1 <= day <= _DAYS_IN[month]:
            found.append(match.group(0).rstrip("."))
    return found


def is_short(text: str, max_words: int = 60) -> bool:
    """True for a reply a user asking for "short" would accept."""
    return len(text.split()) <= max_words


def has_bullets(text: str, minimum: int = 2) -> bool:
    """True when the reply holds at least `minimum` bullet or numbered lines."""
    return sum(bool(_BULLET.match(line)) for line in text.splitlines()) >= minimum


def other_self_names(text: str, persona: str) -> list[str]:
    """Names other than the persona's that the reply gives itself ("I'm Ember")."""
    names = {m.group(1) for m in _SELF_NAME.finditer(text)}
    return sorted(n for n in names if n != persona and n not in _NOT_NAMES)


def keeps_persona(text: str, persona: str) -> bool:
    """True when a reply to "what is your name?" says the persona's name and no other."""
    return persona.lower() in text.lower() and not other_self_names(text, persona)


class LoopGuard:
    """Streams a reply, leaving out sentences already said (in this reply or the last ones).

    `push` returns the text that is safe to show and whether to stop. A sentence is held
    back while it could still become a repeat; a repeat is never shown, and a second
    repeat ends the reply (a small model otherwise loops up to its token limit).
    """

    MAX_REPEATS = 2

    def __init__(self, earlier: list[str] | None = None) -> None:
        self.said: set[str] = {_norm(line) for reply in earlier or [] for line in _lines(reply)}
        self.buffer = ""  # the sentence being written
        self.buffer_shown = 0  # characters of it already shown
        self.shown: list[str] = []
        self.repeats = 0
        self.stopped = False

    def _is_repeat(self, key: str) -> bool:
        return len(key) >= MIN_LINE_CHARS and key in self.said

    def _show(self, text: str) -> str:
        if text:
            self.shown.append(text)
        return text

    def push(self, piece: str) -> tuple[str, bool]:
        if self.stopped:
            return "", True
        self.buffer += piece
        out = ""
        while match := re.search(r"[.!?]+(?=\s)|\n", self.buffer):
            sentence, self.buffer = self.buffer[: match.end()], self.buffer[match.end() :]
            done, self.buffer_shown = self.buffer_shown, 0
            key = _norm(sentence)
            if self._is_repeat(key):
                self.repeats += 1
                if self.repeats >= self.MAX_REPEATS:
                    self.stopped = True
                    return self._show(out), True
                self.buffer = self.buffer.lstrip(" \t")  # its trailing space goes with it
                continue
            if key:
                self.said.add(key)
            out += sentence[done:]
        key = _norm(self.buffer)
        if not key or not any(s.startswith(key) for s in self.said):
            out += self.buffer[self.buffer_shown :]
            self.buffer_shown = len(self.buffer)
        return self._show(out), False

    def flush(self) -> str:
        """What is still held back once the reply ended (left out when it is a repeat)."""
        if self.stopped:
            return ""
        key = _norm(self.buffer)
        held = self.buffer[self.buffer_shown :]
        self.buffer, self.buffer_shown = "", 0
        if key and any(s.startswith(key) for s in self.said) and len(key) >= MIN_LINE_CHARS:
            return ""  # a repeat cut off by the token limit
        return self._show(held)

    @property
    def reply(self) -> str:
        """Everything shown so far."""
        return "".join(self.shown)
