"""Pronouns that point back to the message before: "she's on a renal diet now" after
"Mochi, 12 yo, just diagnosed with kidney disease"; "his name is Raj Patel" after "my new
boss starts monday".

A message is read together with the one its opening pronoun refers to, within the same
session, and the pronoun is replaced by whom it means, from the parse of the message before:
a person's name or noun for "she", "his"; the subject for "it", "they". What answers a
question about the cat or the boss is then in one text (grounding.py scores and reads it).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from assistant.graph.answer_span import ASKING_VERBS, GENERAL_NOUNS, LIGHT_VERBS
from memory.extract import RELATION_NOUNS
from memory.understand import parse

if TYPE_CHECKING:
    from memory.types import Episode

# A message that goes on about someone or something of the one before: "she's on a renal
# diet now, Royal Canin Renal" after "Mochi, 12 yo, just diagnosed with kidney disease"
_BACK_REFERENCE = re.compile(
    r"^\W*(?:(?:and|also|oh|btw|ok|so|update)\W+)?(?:she|he|it|they|his|her|its|their)\b", re.IGNORECASE
)
SAME_SESSION_S = 3600.0  # a message this soon after another is read with it


def with_referent(told: str, turn_id: str, turns: list[Episode], told_of: Callable[[str], str]) -> str:
    """The user's message read with the one it refers back to (before it), or with the next
    one when that refers back to it, its pronoun replaced by whom it means: "his name is
    Raj Patel" after "my new boss starts monday" is "my new boss's name is Raj Patel".
    `told_of` reads what a message tells (without its questions)."""
    at = next((n for n, e in enumerate(turns) if e.id == turn_id), None)
    if at is None:
        return told
    if _BACK_REFERENCE.match(told) and at > 0 and turns[at].time - turns[at - 1].time < SAME_SESSION_S:
        before = told_of(turns[at - 1].text)
        return f"{_ended(before)} {_resolved(told, before)}" if before else told
    if at + 1 < len(turns) and turns[at + 1].time - turns[at].time < SAME_SESSION_S:
        after = turns[at + 1].text
        if _BACK_REFERENCE.match(after) and (rest := told_of(after)):
            return f"{_ended(told)} {_resolved(rest, told)}"
    return told


def _ended(text: str) -> str:
    """The text with a full stop at its end, so that the next one starts a sentence."""
    return text if text.rstrip().endswith((".", "!", "?")) else text.rstrip() + "."


def _referent(text: str, personal: bool) -> str:
    """Whom or what a message is about, for a pronoun of the next one to mean: for "she",
    "his" ... the person it names ("maya" of "my daughter maya (grade 3) ..."), else its
    noun for a person as subject ("my new boss"); for "it", "they" the subject of its last
    clause that has one. "" when it names none that fits."""
    doc = parse(text).doc
    subjects = [t for t in doc if t.dep_ in ("nsubj", "nsubjpass") and t.pos_ in ("NOUN", "PROPN")]
    if personal:
        names = [t for t in doc if t.pos_ == "PROPN" and t.ent_type_ not in _NOT_PEOPLE]
        named = [t for t in names if t.head.lemma_.lower() in RELATION_NOUNS or t.ent_type_ == "PERSON"]
        if named or names:
            return str((named or names)[0].text)
        subjects = [t for t in subjects if t.lemma_.lower() in RELATION_NOUNS]
    if subjects:
        t = subjects[-1]
        return str(doc[t.left_edge.i : t.i + 1].text)
    return "" if personal else next((str(t.text) for t in doc if t.pos_ == "PROPN"), "")


_NOT_PEOPLE = frozenset(["GPE", "LOC", "ORG", "FAC", "DATE", "TIME", "NORP", "PRODUCT", "EVENT"])


# the pronoun's form for whom it means (brackets would read clearer in a quote, but the
# parser then takes "]" for the name)
_PRONOUN_FORMS = {"his": "{}'s", "her": "{}'s", "its": "{}'s", "their": "{}'s"}


def _resolved(text: str, before: str) -> str:
    """The message with its opening pronoun replaced by whom it means in the one before."""
    m = _BACK_REFERENCE.match(text)
    if m is None:
        return text
    word = text[m.start(0) : m.end(0)].split()[-1].strip("',.").lower()
    who = _referent(before, personal=word not in ("it", "its", "they", "their"))
    if not who:
        return text
    form = _PRONOUN_FORMS.get(word, "{}").format(who)
    return text[: m.end(0) - len(word)] + form + text[m.end(0) :]


# A question that points back to the one before: "date?", "and who's selling it?", "what
# time do I have to be there?" after "which race am I doing?"
# ("he", "she" are left out: they point to someone memory knows, whom grounding finds by
# the question's other words)
_POINTER = re.compile(r"\b(?:it|that|there|this|them|those)\b", re.IGNORECASE)
FOLLOW_UP_WORDS = 10  # a longer question says what it is about
POINTING_WORDS = 1  # ... and so does one that points back but names more words than this
# Nouns that name the kind of value asked, not the thing it belongs to ("date?", "the time")
_VALUE_WORDS = frozenset(
    ["date", "time", "day", "name", "place", "where", "when", "who", "much", "many", "price",
     "cost", "amount", "number", "address", "month", "year", "week", "hour", "again", "now"]
)  # fmt: skip


def follow_up_topic(question: str, before: str, is_question: Callable[[str], bool]) -> str:
    """What an elliptical question asks about, from the user's question just before it:
    "date?" after "which race am i doing" asks the date of the race, so it is read as
    "date? which race am i doing". "" when the question stands on its own or the message
    before asked nothing. `is_question` tells whether a message asks."""
    if not before or not is_question(before) or len(question.split()) > FOLLOW_UP_WORDS:
        return ""
    words = {t.lemma_.lower() for t in parse(question).doc if t.pos_ in ("NOUN", "PROPN", "VERB", "ADJ")}
    own = words - _VALUE_WORDS - GENERAL_NOUNS - LIGHT_VERBS - ASKING_VERBS
    # "who's selling it?" names one word of its own at most; "which master program am I
    # applying to there?" says what it asks, whatever "there" points to
    pointing = bool(_POINTER.search(question)) and len(own) <= POINTING_WORDS
    return before if not own or pointing else ""
