"""Answers from memory: when a question asks for something the user told us, say it back.

A 135M model does not reliably copy a fact from its context, so a question about what
memory holds is not left to it. `ground` decides from the question's form and how well
stored things match it:

- the message is a question about the user's own life, about someone memory has heard
  from, about what was said (`asks_memory`), or names a thing the user told us about
  (`about_told`: "how many kids are coming?"), and is not a request for advice;
- each stored fact, goal slot and past turn is scored by its cosine similarity to the
  question plus the share of the question's words it holds (`relevance`); the best one
  at or above `MIN_RELEVANCE` answers, with the span the question asks for cut from it
  (`answer_span`), and the reply names where it came from;
- a newer value of the same thing replaces an older one ("Submission is now 15 September"
  after "my thesis submission deadline is 30 June"); "my wife" is also read as her name;
- when none reaches it, the reply says plainly that memory holds nothing on it.

A question that names a person is answered only from what that person said (or what
mentions them): a turn of someone else is not their answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal, NamedTuple

from assistant.graph import prompts
from assistant.graph.answer_span import (
    ASKING_VERBS,
    GENERAL_NOUNS,
    INSTITUTIONS,
    LIGHT_VERBS,
    TITLES,
    Span,
    anyone_by_what,
    asked_noun,
    asked_role,
    asks_money,
    asks_named_detail,
    asks_price,
    asks_weekly,
    content_words,
    date_in,
    day_after,
    day_text,
    is_money,
    is_person_noun,
    is_said_day,
    lemmas,
    named_institution,
    names_weekday,
    nearest_day,
    overlap,
    role_phrases,
    role_words,
    same_institution,
    sentences,
    shifted_date,
    span,
    wanted,
)
from assistant.graph.attribute_question import Attribute, asked_attribute, says_attribute
from assistant.graph.fencing import looks_like_instructions
from assistant.graph.referents import follow_up_topic, with_referent
from assistant.graph.role_as_told import LONGEST as INITIALS_LONGEST
from assistant.graph.role_as_told import doer_as_told, spelled_as_told
from assistant.graph.state import GoalState, Grounded
from assistant.graph.updates import (
    LEFT,
    NEW_VALUE,
    REPLACED,
    as_it_is_now,
    changed,
    changed_here,
    clauses,
    dropped,
    instead_of,
    negated,
    still_holds,
)
from memory.understand import parse

if TYPE_CHECKING:
    from spacy.tokens import Doc

    from memory.interface import Memory
    from memory.types import Episode, Fact

# Chosen on development data (LoCoMo conv-26..43 questions and bench/data/quality/memory.jsonl):
# below it the best stored text is usually not the answer.
MIN_RELEVANCE = 0.45
# A question that names neither the user nor anyone memory heard from may be general
# knowledge: memory answers it only on a clear match, else the model does.
MIN_RELEVANCE_OPEN = 0.5
# Between this and MIN_RELEVANCE the best stored thing is offered as the closest, not as the answer.
GRAY_RELEVANCE = 0.2
# A text that does not name what is asked, as asked, is quoted as the closest from this close
UNNAMED_RELEVANCE = 0.3
NOW_RELEVANCE = 0.1  # asked "now", a later change this close is read as about the same thing
QUOTE_WORDS = 40  # a guess quotes a told text whole up to this length ...
QUOTE_SENTENCES = 3  # ... and this many sentences ("Budget change. ... Now 25 million yen.")
LIKELY_MARGIN = 0.15  # below the floor, a text this close to the best that holds the asked kind
UNTYPED_MARGIN = 0.3  # ... or this close, when the texts above the floor hold no such value
LIKELY_OPEN = 0.25  # ... and, for a question not plainly about the user, at least this close
SIMILARITY_WEIGHT = 0.7  # the rest is word overlap: a rare word the question names counts
SEARCH_TURNS = 8  # past turns scored per question
TIE = 0.05  # within this of the best, a fact or goal (current, curated) beats a turn
NEWER_MARGIN = 0.05  # within this of the chosen answer, a newer one of the same kind replaces it
UPDATE_MARGIN = 0.3  # ... and within this, when it says it changed ("the deadline is now 15 May")
UPDATE_SHARED_WORDS = 2  # a later change shares this many words with a text to be about its thing
LATER_TURN_S = 1.0  # "newer" means said in a later turn: a goal and its turn are stored together
GOAL_EXCHANGE_S = 120.0  # a goal saved this soon after a turn was changed by that turn
WORKED_OUT_MARGIN = (
    0.1  # a date written in a turn this close to the best beats "the day it was said"
)

# A word a chat question may open with before its asking word ("and what's the date ...")
_OPENER = r"(?:(?:and|n|nd|an|&|so|ok|okay|also|but|oh|wait|hey|hmm|um|lol|haha|hehe|btw|right|well|anyway)(?!\w),?\s*)?"
_QUESTION_START = re.compile(
    # "in what city my mom lives", "at which hospital is she": a question word after its preposition
    rf"^\s*{_OPENER}(?:(?:in|at|for|from|to|with|on|by)\s+(?=wh))?(?:(?:who|whom|whose|what|what's|which|when|by when|where|why|how|"
    r"whats|wats|wat|whos|wheres|whens|hows)\b"  # as typed in a chat, without the apostrophe
    # a verb first asks only with its subject after it: "had ACL reconstruction on my knee"
    # tells (the subject left out, as in a chat), "had I told you" asks
    r"|(?:is|are|was|were|do|does|did|have|has|had|can|could|would|will)\s+"
    r"(?:i|u|you|ya|we|he|she|they|it|my|your|our|his|her|their|the|this|that|there|any|[a-z]+'s|(?-i:[A-Z][a-z]+))\b)",
    re.IGNORECASE,
)
# Asking for help, a plan or an opinion, not for something said: the model answers those.
_ADVICE = re.compile(
    r"\b(?:should|could|can|shall|would|will|might|must|ought to)\s+(?:i|we|you)\b|"
    r"\bhow (?:do|can|could|should|would|to)\b|\bwhat if\b|\bhelp me\b|"
    r"\b(?:i|we) (?:need|have) to\b|\bdo (?:i|we) need\b|\bany (?:tips|ideas|advice)\b",
    re.IGNORECASE,
)
# "When do I have to submit my thesis?", "what time do i need to be there?" ask for the date
# or time memory holds, not for advice
_DEADLINE_ASK = re.compile(
    r"^\s*(?:in |on |at |by )?(?:when|by when|how early|what (?:date|day|time)|which (?:date|day|month|year))\b.*"
    r"\b(?:(?:i|we) (?:need|have|got) to|must (?:i|we)|will (?:i|we))\b",
    re.IGNORECASE,
)
# "How much can I spend on the trip?" asks for the budget memory holds, not for advice
_AMOUNT_ASK = re.compile(
    r"^\s*how (?:much|many)\b[^?]*\b(?:(?:can|could|do|did) (?:i|we) (?!need to\b)|(?:i|we) (?:need|have|had|got)\b(?! to\b))",
    re.IGNORECASE,
)
# "what ielts score do i need?", "which level do I need to reach?": a value memory may hold
_VALUE_ASK = re.compile(
    rf"^\s*{_OPENER}(?:what|which)\s+(?:\w+\s+)?(?:score|grade|band|level|mark|budget|deadline)s?\b",
    re.IGNORECASE,
)
_NOW_ASK = re.compile(
    r"\b(?:now|these days|currently|at the moment|atm|rn|nowadays|any ?more|in the end|end(?:ed)? up|final)\b",
    re.IGNORECASE,
)
_RECALL = re.compile(
    # "can you tell me the postcode of the new house": a value asked for, not advice
    r"\b(?:can|could|would|will) you (?:tell|give) me (?:the|my|our|his|her|their)\b|"
    r"\b(?:remind me|remember|recall|(?:did|have) i (?:say|said|tell|told|mention)|"
    r"i (?:said|told you|mentioned)|you told me|what do you know about)\b",
    re.IGNORECASE,
)
# Where a sentence turns from telling to asking: ", could you help me ...?", "- any tips?"
_ASKED_AFTER = re.compile(
    r"(?:[,;]|\s[-\u2013\u2014]+)\s*(?:and |but |so )?(?=(?:could|can|would|will|should|do|does|"
    r"is|are|any|what|how|which|who|where|when|why|pls|please|help me|draft|write me)\b)",
    re.IGNORECASE,
)
_HOW_MUCH = re.compile(rf"^\s*{_OPENER}how (?:much|many|far|long|often)\b", re.IGNORECASE)
# "when's race day again?": the user says they told it before
_AGAIN = re.compile(
    rf"^\s*{_OPENER}(?:wh\w*|how)\b[^.!]*\bagain\W*$|"
    # ... or with the asking word last: "first day is when again"
    r"^[^.!]*\b(?:is|was|are|were|'s)\s+(?:what|when|where|who|which)\s+again\W*$",
    re.IGNORECASE,
)
# The marks by which a grounded reply names its source (prompts.GROUNDED_*)
_PROVENANCE = re.compile(
    r" \((?:you told me|from your goal: [^)]*|[A-Z][\w ]* said)\)|"
    r"\b(?:(?:the closest thing )?[Yy]ou told me(?: on \d{1,2} \w+ \d{4})?|"
    r"[Ff]rom your goal: [^:]*|[Ff]rom what you told me): "
)
_GROUNDED_STARTS = tuple(
    template.split("{")[0]
    for template in (
        prompts.GROUNDED_NOTHING,
        prompts.GROUNDED_NOTHING_ABOUT,
        prompts.GROUNDED_NOTHING_AGAIN,
        prompts.GROUNDED_NOTHING_NAMED,
        prompts.GROUNDED_CLOSEST,
        prompts.GROUNDED_LIKELY,
        prompts.GROUNDED_AGAIN,
        prompts.GROUNDED_LIKELY_AGAIN,
        prompts.GROUNDED_IN_QUOTE,
    )
)
# "remind me what my new job is" asks; "remind me to call Ana" is an order
_REMIND = re.compile(
    r"^\s*(?:please\s+)?(?:(?:can|could) you\s+)?(?:remind me|tell me again|"
    # "tell me my wife's name", "tell me what my budget was"; not "tell me what you think"
    r"tell me (?=(?:my|our)\b|(?:what|who|whom|whose|where|when|which|how (?:much|many|old|long))"
    r"\s+(?:(?!you\b)\w+\s+){0,3}?(?:my|our|i|we)\b))"
    r"(?!\s+to\b)",
    re.IGNORECASE,
)
# "Could you remind me?" after the sentence saying what: that sentence is the question
_BARE_REMIND = re.compile(
    r"^\s*(?:(?:can|could|would) you\s+)?(?:please\s+)?(?:remind me|tell me|remember)(?:\s+(?:please|again))?\s*\?",
    re.IGNORECASE,
)
# a request to be reminded after something else the user typed first
_REMIND_LATER = re.compile(r"[,.!;:-]\s*(?:wait\s+)?(?:first\s*,?\s*)?((?:please\s+)?(?:remind me|tell me again)\b)", re.IGNORECASE)
# A request to be reminded said after what: "the date of the wedding, remind me"
_REMIND_AFTER = re.compile(r"\w[^.!?]*[,:-]\s*(?:please\s+)?remind me(?:\s+(?:again|please))?\W*$", re.IGNORECASE)
# A question word left for last, as typed in a chat: "and the wedding budget was what"
_WH_LAST = re.compile(
    r"\b(?:is|was|are|were|'s|to|for|from|with|at|in|on|by)\s+(?:what|when|where|who|whom|which)(?:\s+again)?\s*[?!.]*$",
    re.IGNORECASE,
)
# "their account lead, whats his name": the question after the thing it is about
_WH_AFTER_COMMA = re.compile(
    r",\s*(?:so\s+|and\s+|but\s+)?(?:what|whats|what's|what is|who|whos|who's|when|whens|when's|where|wheres|where's|which)"
    r"\s+(?!a\b|an\b)[^,]*$",
    re.IGNORECASE,
)
# A question asked as a bare noun phrase, as people type in a chat: "partner's name, for the
# business filing", "truck budget?", "cat's name lol vet form". The noun names a value.
_VALUE_NOUNS = frozenset(
    ["name", "budget", "date", "deadline", "address", "number", "birthday", "age", "price",
     "cost", "rent", "salary", "breed", "score", "email", "phone"]
)  # fmt: skip
FRAGMENT_WORDS = 8  # a longer verbless message is a note, not a question
_FIRST_PERSON = re.compile(
    r"\b(?:i|my|me|mine|i'm|i've|i'd|myself|we|our|us|we're)\b", re.IGNORECASE
)
_CAPITAL = re.compile(r"\b[A-Z][a-z]+\b")
# The goal slots that answer a question asking for a date or an amount.
_SLOT_ANSWERS: dict[str, frozenset[str]] = {
    "date": frozenset(["date", "deadline", "time", "when"]),
    "time": frozenset(["time"]),
    "number": frozenset(["budget", "guests"]),
}
_INDEFINITE = frozenset(["a", "an", "any", "some", "every", "each", "another"])
# Nouns too general to show that a question is about something the user told us.
_GENERAL_NOUNS = GENERAL_NOUNS
# A question about one of the user's typed attributes is answered from these slots, in
# order: "Where do I work?" with no employer stored is answered by the role ("you work as").
ATTRIBUTE_SLOTS: dict[Attribute, tuple[str, ...]] = {
    "name": ("name",),
    "place": ("place",),
    "origin": ("origin",),
    "employer": ("employer", "role"),
    "role": ("role", "employer"),
}
# With no typed fact, or a newer sentence than it, the user's own sentence that states the
# attribute (by its parse, `says_attribute`) answers: the newest one. The probe finds them.
ATTRIBUTE_PROBES: dict[Attribute, str] = {
    "name": "My name is",
    "place": "I live in this town.",
    "origin": "I am from this town, I grew up there.",
    "employer": "I work for a company.",
    "role": "My job is, I work as.",
}
Source = Literal["fact", "goal", "turn"]


@dataclass(frozen=True)
class Candidate:
    """A stored thing that may answer the question."""

    source: Source
    text: str  # what is scored against the question
    said: float  # when it was said (unix seconds), 0 when unknown
    speaker: str = ""  # turns: "user" or a name
    fact: Fact | None = None
    goal: str = ""  # goals: the statement
    slot: str = ""  # goals: the known slot ("date: 14 March")
    asking: bool = False  # turns: a request that tells in passing (read, but never the newest word on a role)


def is_question(text: str) -> bool:
    """A question by its mark or first word, a request to be reminded ("remind me what my
    new job is", "please tell me my wife's name") or a bare noun phrase asking for a value."""
    return (
        text.strip().endswith("?")
        or bool(_QUESTION_START.match(text) or _REMIND.match(text) or _WH_LAST.search(text))
        # (short, and asking: ", who is also my supervisor." in a long message is no question)
        or (bool(_WH_AFTER_COMMA.search(text)) and len(text.split()) <= FRAGMENT_WORDS + 4 and not text.rstrip().endswith("."))
        or _value_asked(text)
        or _wh_in_place(text)
    )


# a question word inside one of these clauses is no question: "I don't know what to do",
# "call me when you're done", "the guy who fixed it", "I wonder which one is better"
_EMBEDDING = frozenset(["relcl", "advcl", "acl", "ccomp", "xcomp", "csubj", "pcomp", "mark"])
IN_PLACE_WORDS = 14  # a longer message with a question word inside is telling, not asking


def _wh_in_place(text: str) -> bool:
    """True for a question whose question word stays where its answer goes, as the parse
    reads it: "parents evening is when now", "imogen's hamster is called what", "doors open
    at what time". A question word in a clause of the sentence does not ask."""
    doc = parse(text).doc
    if len(doc) > IN_PLACE_WORDS:
        return False
    for tok in doc:
        if tok.tag_ not in ("WDT", "WP", "WP$", "WRB") or tok.i == 0:
            continue
        if any(t.pos_ in ("VERB", "AUX") for t in doc[tok.i + 1 :]):
            continue  # a verb after it opens a clause: "depends on what time we finish"
        if tok.i + 1 < len(doc) and doc[tok.i + 1].lower_ in ("a", "an"):
            continue  # "thanks, what a day" exclaims
        node, embedded = tok, False
        while node.head.i != node.i:  # up to the root, which heads itself
            # (a clause is headed by a verb: "at what time" read as a clause is a misparse)
            if node.dep_ in _EMBEDDING and (node.pos_ in ("VERB", "AUX") or node.dep_ == "mark"):
                embedded = True
                break
            node = node.head
        if not embedded:
            return True
    return False


def _value_asked(text: str) -> bool:
    """True for a verbless fragment naming someone's or something's value: "partner's name,
    for the business filing", "cat's name lol vet form", "reno budget". Not a statement of the
    value ("budget 60k", "my sister's name, Priya": a number or a name in it)."""
    first = re.split(r"[,.;:!]\s", text.strip(), maxsplit=1)[0]
    first = re.sub(r"^\s*(?:and|also|plus|oh|so)\s+", "", first, flags=re.IGNORECASE)
    doc = parse(first).doc
    if len(doc) > FRAGMENT_WORDS:
        return False
    if any(t.pos_ in ("VERB", "AUX") for t in doc):
        # a verb only in a clause that says which ("the date we fly home", "name of the guy
        # who helps me coach"): still the value's noun phrase
        return _value_with_clause(doc)
    if any(  # the value itself is in the message: it tells, not asks ("Daughter's name":
        # a capital that starts the message is no name)
        # (a person only as a proper noun: the small tagger calls "per mug" a person)
        (t.like_num or t.ent_type_ == "MONEY" or (t.ent_type_ == "PERSON" and t.pos_ == "PROPN")
         or (t.pos_ == "PROPN" and t.is_title and t.i > 0))
        and not is_person_noun(t.lower_)  # "landlord name": the tagger calls "landlord" a person
        for t in parse(text).doc
    ):
        return False
    for tok in doc:
        opens = tok.lemma_.lower() in _VALUE_NOUNS and all(t.pos_ in ("ADJ", "DET") for t in doc[: tok.i])
        after = doc[tok.i + 1] if tok.i + 1 < len(doc) else None
        if opens and after is not None and after.lower_ in ("of", "for", "per", "on"):
            return True  # "name of his coach", "total price of the braces again"
        if tok.lemma_.lower() in _VALUE_NOUNS and tok.i > 0:
            # the words just before the noun, past an adjective ("my manager full name pls")
            before = [t for t in doc[max(0, tok.i - 3) : tok.i] if t.pos_ != "ADJ"]
            owned = any(t.tag_ == "POS" or t.lower_ in ("my", "our", "his", "her", "their") for t in before)
            near = before[-1] if before else doc[tok.i - 1]
            compound = near.pos_ in ("NOUN", "PROPN") and near.dep_ in ("compound", "nmod")
            if owned or compound or (near.pos_ == "NOUN" and near.i == 0):
                return True
            # "total budget cap for everything?": the fragment opens with the value's noun
            if all(t.pos_ in ("ADJ", "DET") for t in doc[: tok.i]) and text.rstrip().endswith("?"):
                return True
    return False


VALUE_NOUN_AT = 3  # the noun comes this early in the phrase: "the flight home date we booked"
_VALUE_CLAUSE_NOUNS = _VALUE_NOUNS | {"time", "day", "venue", "rate", "fee"}


def _value_with_clause(doc: Doc) -> bool:
    """True for a value's noun phrase whose verbs all sit in a clause that says which one:
    "the date we fly home", "the time the doors open", "name of the guy who helps me coach"."""
    root = next((t for t in doc if t.dep_ == "ROOT"), None)
    if root is None or root.pos_ != "NOUN" or root.lemma_.lower() not in _VALUE_CLAUSE_NOUNS:
        return False
    if root.i > VALUE_NOUN_AT:
        return False  # (a longer opening before the noun is no fragment)
    relative = [t for t in doc if t.dep_ in ("relcl", "acl")]
    inside = {t.i for c in relative for t in c.subtree}
    return bool(relative) and all(t.i in inside for t in doc if t.pos_ in ("VERB", "AUX"))


_AND_THEN = re.compile(r"^\s*(?:and|&|also|plus|what about|how about)\b", re.IGNORECASE)
AND_THEN_WORDS = 5


def _and_then(text: str) -> bool:
    """True for a short verbless message that goes on from the last one: "and the date",
    "also the venue". Alone it tells nothing; after a question it asks the same of more."""
    doc = parse(text).doc
    return (
        bool(_AND_THEN.match(text))
        and len(doc) <= AND_THEN_WORDS
        and not any(t.pos_ in ("VERB", "AUX") or t.like_num for t in doc)
        and any(t.pos_ in ("NOUN", "PROPN") for t in doc)
    )


def named_people(text: str, speakers: set[str]) -> list[str]:
    """Speakers memory has heard from that the question names."""
    return [w for w in dict.fromkeys(_CAPITAL.findall(text)) if w in speakers]


def question_part(text: str) -> str:
    """The question itself, without what the user adds after it: "Who is my supervisor? I
    need to write her name in a form" -> "Who is my supervisor?"; "what is the name of my
    accountant, i need to send him the invoices" -> "what is the name of my accountant"."""
    mark = text.find("?")
    if mark > 0:
        # the sentence the mark ends, not what the user told before it ("also my cat Biscuit
        # keeps yowling at 2pm and wakes me up. ideas??" asks for ideas, not about a cat)
        told = max(text.rfind(". ", 0, mark), text.rfind("! ", 0, mark), text.rfind("\n", 0, mark))
        asked = text[told + 1 : mark + 1].strip() if told >= 0 else text[: mark + 1]
        if told >= 0 and _BARE_REMIND.match(asked):
            # "The pharmacist asked which blood thinner I take. Could you remind me?"
            return text[: mark + 1].strip()
        return asked
    # "can u write me a checklist... wait first, remind me where my new job is"
    later = _REMIND_LATER.search(text)
    if later and not _REMIND.match(text) and len(text[later.end(1) :].split()) >= 2:
        return text[later.start(1) :]
    if _QUESTION_START.match(text) or _REMIND.match(text) or _WH_LAST.search(text) or _value_asked(text):
        return re.split(r",\s+|\.\s+", text, maxsplit=1)[0]
    # "right, few things i've forgotten. what's my cat called again": with no mark, the
    # last sentence that asks, after what the user said first
    parts = sentences(text)
    if len(parts) > 1:
        return next((p for p in reversed(parts[1:]) if is_question(p)), text)
    return text


def spelled_out(text: str) -> str:
    """A chat question spelled out so the parse reads it: a question word typed short ("wat",
    "wen"), or run into "is" without its apostrophe ("whens race day" -> "when is race day"),
    and words typed without their final g ("movin" -> "moving"; a word that is one itself,
    "cousin", stays)."""
    from memory.embeddings import is_dictionary_word  # the embedding model's vocabulary

    def put_back(m: re.Match[str]) -> str:
        word = m.group(0).rstrip("'")
        full = word + "g"
        return full if is_dictionary_word(full.lower()) and not is_dictionary_word(word.lower()) else m.group(0)

    # question words as chats type them ("wat time is it", "wht time", "wen do we fly")
    text = re.sub(r"\b(?:wat|wot|wut|wht)\b", "what", text, flags=re.IGNORECASE)
    text = re.sub(r"\bwen\b", "when", text, flags=re.IGNORECASE)
    text = re.sub(r"\bwhr\b", "where", text, flags=re.IGNORECASE)
    text = re.sub(r"\b(wh(?:en|o|ere|at)|how)s\b", r"\1 is", text, flags=re.IGNORECASE)
    return re.sub(r"\b[A-Za-z]{2,}in'?(?![\w'])", put_back, text)


def asks_advice(text: str) -> bool:
    """True for a request for help or an opinion; "When do I have to submit?" and "How much
    can I spend?" ask for a value memory may hold, not for advice."""
    return bool(_ADVICE.search(text)) and not (
        _DEADLINE_ASK.search(text) or _AMOUNT_ASK.search(text) or _VALUE_ASK.search(text)
    )


def asks_memory(text: str, speakers: set[str] | None = None) -> bool:
    """True for a question about what memory holds, not a request for advice or for a list."""
    text = question_part(text)
    if not is_question(text):
        return False
    recall = bool(_RECALL.search(text) or (_AGAIN.search(text) and not asks_advice(text)))
    if asks_advice(text) and not recall and asked_attribute(text) is None:
        return False  # but "Help me with my LinkedIn - which company do I work at now?" asks
    return recall or bool(_FIRST_PERSON.search(text)) or bool(named_people(text, speakers or set()))


def about_told(question: str, candidates: list[Candidate], asked: Sequence[str] = ()) -> bool:
    """True when the question names a thing the user told us about, with or without "my":
    "how many kids are coming?" after "planning for 15 kids", "when is Adaeze's wedding?"
    after "my sister Adaeze is getting married". Such a question is answered from memory, or
    declined, never left to the model to invent. `asked` are the user's messages that only
    asked: "until the wedding?" says there is a wedding of theirs too."""
    doc = parse(question).doc
    named = {
        t.lemma_.lower() if t.pos_ != "VERB" else t.lower_  # "closing day": "closing" as written
        for chunk in doc.noun_chunks
        if chunk[0].lower_ not in _INDEFINITE  # "a good pace for a beginner" asks in general
        for t in chunk
        if (t.pos_ in ("NOUN", "PROPN") or t.tag_ == "VBG") and len(t.text) > 2
    } - _GENERAL_NOUNS
    # "When is closing day?": a thing named by its -ing word (no noun chunk to the parse)
    named |= {t.lower_ for t in doc if t.tag_ == "VBG" and t.lemma_.lower() not in LIGHT_VERBS | ASKING_VERBS}
    # what is said of the subject counts too: "due" of "when's the baby due?"
    named |= {
        t.lemma_.lower() for t in doc if t.dep_ == "acomp" and t.pos_ == "ADJ" and len(t.text) > 2
    }
    if not named:
        return False
    told = [c.text for c in candidates if c.speaker in ("user", "")] + list(asked)
    return any(named & content_words(text) for text in told)


def _about_someone_known(question: str, candidates: list[Candidate]) -> bool:
    """True for a question about "he" or "she" when memory knows people in the user's life
    ("what is the name of the school he is joining", after "my son Baraka is 12"): it asks
    about one of them, not about the world."""
    if wanted(question) == "any" or not re.search(r"\b(?:he|she|his|her|him)\b", question, re.IGNORECASE):
        return False  # "is she too young for a phone?" asks for advice, not a stored value
    return any(c.fact is not None and c.fact.attribute == "person" for c in candidates)


def _names_something_told(question: str, candidates: list[Candidate]) -> bool:
    """True for a question asking for a value ("how much", "when", "who") of a thing by the
    name the user gave it ("How much does Oakdene charge a week?" after "respite care at
    Oakdene Lodge"): a name only the user's memory knows, not a place in the world."""
    if wanted(question) == "any":
        return False
    names = [
        t.text
        for t in parse(question).doc
        # a word written with a capital inside the question (the tagger may call it a verb)
        if t.i > 0 and t.is_title and t.is_alpha and len(t.text) > 2 and t.lower_ not in ("i'm", "i've")
        and t.ent_type_ not in ("GPE", "LOC", "NORP", "DATE", "TIME", "LANGUAGE")
    ]
    told = [c.text for c in candidates if c.source in ("turn", "fact")]
    return any(re.search(rf"\b{re.escape(n)}\b", text) for n in names for text in told)


def names_someones_role(question: str) -> bool:
    """True for a question asking the name of someone's doctor, manager, fiancé ("new
    manager's name?", "what's Adaeze's fiancé called?"): only memory can know it. Not "who
    is the president of France?", which names no one's."""
    role = asked_role(question) if wanted(question) == "person" else ""
    return bool(role) and any(
        t.lemma_.lower() == role and (t.dep_ == "poss" or any(c.dep_ == "poss" for c in t.children))
        for t in parse(question).doc
    )


def relevance(store: Memory, question: str, texts: list[str]) -> list[float]:
    """How well each stored text answers the question: similarity and shared words, mixed."""
    sims = store.similarity(question, texts)
    w = SIMILARITY_WEIGHT
    return [w * s + (1 - w) * overlap(question, t) for s, t in zip(sims, texts, strict=True)]


def second_person(text: str) -> str:
    """A fact stored about "User" ("User lives in York") said to the user ("you live in York")."""
    out = re.sub(r"^User's\b", "your", text.strip())
    m = re.match(r"^User\s+(\w+)(.*)$", out)
    if m:
        verb, rest = m.group(1), m.group(2)
        verb = {"is": "are", "was": "were", "has": "have"}.get(verb, re.sub(r"(?<!s)s$", "", verb))
        out = f"you {verb}{rest}"
    swaps = {  # "I'm" before "I", or it becomes "you'm"
        r"\bI'm\b": "you're",
        r"\bI\b": "you",
        r"\bmy\b": "your",
        r"\bour\b": "your",
        r"(?<!\d )\bam\b": "are",  # not "10 am"
        r"\bme\b": "you",
    }
    for mine, yours in swaps.items():
        out = re.sub(mine, yours, out)
    return out.rstrip(".")


def _fact_text(fact: Fact) -> str:
    """A fact as a sentence: the stored text when it holds the typed value (its wording,
    "User likes playing chess", matches questions better than "User's interest is ..."),
    else the typed slot, else the stored text."""
    if fact.value and fact.value.lower() not in fact.text.lower():
        what = fact.relation or fact.attribute
        return f"User's {what} is {fact.value}" if what and what != "other" else fact.value
    return fact.text


def _candidates(
    store: Memory,
    user_id: str,
    question: str,
    goals: list[GoalState],
    now: float,
    asked: list[str] | None = None,
) -> list[Candidate]:
    """Facts, goals and the past turns that best match the question; `asked` collects the
    user's past messages that only asked (see _turns)."""
    out = [
        Candidate("fact", _fact_text(f), f.source.time or f.updated, "user", fact=f)
        for f in store.profile.facts(user_id)
        if not looks_like_instructions(f.text)  # an order stored as a fact is never said back
    ]
    for g in goals:
        out.append(Candidate("goal", g["statement"], g["updated"], "user", goal=g["statement"]))
        for slot in g["known"]:
            out.append(
                Candidate("goal", f"{g['statement']} ({slot})", g["updated"], "user", goal=g["statement"], slot=slot)
            )  # fmt: skip
    return out + _turns(store, user_id, question, now, asked)


def _turns(
    store: Memory, user_id: str, question: str, now: float, asked: list[str] | None = None
) -> list[Candidate]:
    """The past turns that best match the question, as candidates (what they tell). The
    user's messages among them that only asked ("a timeline until the wedding?") tell no
    answer, but say what the user has spoken of: they go to `asked`, when given."""
    if not store.episodes.count(user_id):
        return []
    out: list[Candidate] = []
    threads: dict[str, list[Episode]] = {}
    # the assistant's replies are searched too (they answer the same words): twice as many
    # hits, so that SEARCH_TURNS of the user's own are left
    for h in store.search(user_id, question, kinds=("episodes",), k=2 * SEARCH_TURNS, now=now):
        speaker = str(h.metadata.get("speaker", ""))
        if speaker == "assistant":
            continue  # the assistant's words are not what the user told us
        if len(out) >= SEARCH_TURNS:
            break
        # a sentence that reads as an order to an assistant is never said back; the rest of
        # its turn still tells ("Also committee put the rent up, it's £55" beside it)
        text = _without_orders(h.text)
        if not text:
            continue
        # "how do I get over being afraid of the dentist" asks, tells nothing; but "The
        # surgeon is Mr. Declan Fahy. What should I get ready?" tells in its first sentence
        told = _told(text)
        # a request that tells in passing ("Can you help me write a polite email to Gwen
        # Hallett, the committee secretary, asking ...?"): a text of its own, so that it does
        # not blur how close the rest of its turn is to the question
        out += [
            Candidate("turn", s, h.time, speaker, asking=True)
            for s in sentences(text)
            if is_question(s) and s not in told and _names_a_value(s)
        ]
        if not told and asked is not None:
            asked.append(h.text)
        if told:
            thread = str(h.metadata.get("thread", ""))
            if thread and thread not in threads:
                threads[thread] = [e for e in store.episodes.list(user_id, thread) if e.speaker == "user"]
            told = with_referent(told, h.id, threads.get(thread, []), _told)
            out.append(Candidate("turn", told, h.time, speaker))
    return out


def _without_orders(text: str) -> str:
    """A text without its sentences that read as orders to an assistant ("" when all do)."""
    if not looks_like_instructions(text):
        return text
    kept = [s for s in sentences(text) if not looks_like_instructions(s)]
    rest = " ".join(kept)
    return rest if kept and not looks_like_instructions(rest) else ""


def _by_name(question: str, facts: list[Fact]) -> str:
    """The question with "my <relation>" said as that person's name, when memory holds it
    ("What is my wife allergic to?" -> "What is Denise allergic to?")."""
    out = question
    if wanted(question) == "person":
        return out  # "What's my wife's name?" asks for the name itself
    for f in facts:
        if f.attribute == "person" and f.relation and f.value:
            mine = rf"\b(?:my|our)\s+{re.escape(f.relation)}\b"
            out = re.sub(mine, f.value, out, flags=re.IGNORECASE)
    return out


def _same_thing(newer: Candidate, older: Candidate) -> bool:
    """True when `newer` is a dated fact that says the date of `older`'s thing changed: the
    things share a word ("submission" of "thesis submission deadline")."""
    a = newer.fact
    if a is None or a.attribute != "date" or not changed(a.text):
        return False
    return bool(content_words(a.relation) & content_words(_dated_thing(older)))


def _dated_thing(c: Candidate) -> str:
    """What a dated fact or a goal's date slot is the date of ("" for anything else)."""
    if c.fact is not None and c.fact.attribute == "date":
        return (
            f"{c.fact.relation} {c.fact.text}"  # "deadline" alone, of "thesis submission deadline"
        )
    if c.source == "goal" and c.slot.partition(":")[0].strip() in _SLOT_ANSWERS["date"]:
        return c.goal
    return ""


def _names_asked(question: str, text: str) -> bool:
    """True when a text names a thing the question asks about ("budget" of "What's my laptop
    budget?" in "I'm bumping the laptop budget up to 120,000 taka")."""
    nouns = {t.lemma_.lower() for t in parse(question).doc if t.pos_ == "NOUN"} - _GENERAL_NOUNS
    return bool(nouns & content_words(text))


def _other_relation(question: str, c: Candidate) -> bool:
    """True when the question asks whose name ("my wife's name") and c is a fact about
    someone else, or about the user: it neither answers nor comes close."""
    role = asked_role(question) if wanted(question) == "person" else ""
    return (
        bool(role)
        and c.fact is not None
        and not role_words(role) & set(c.fact.relation.split())
    )


def _told(text: str) -> str:
    """A turn without its questions: what it tells ("" when it only asks). A sentence that
    tells and then asks ("The budget is £250 and I can't split it, could you help me?")
    keeps what it tells."""
    if not (text.strip().endswith("?") or is_question(text)):
        return text
    kept = []
    for s in sentences(text):
        if not is_question(s):
            kept.append(s)
        elif not is_question(lead := _ASKED_AFTER.split(s, maxsplit=1)[0]) and lead != s:
            kept.append(lead.rstrip(" ,;-") + ".")
    return " ".join(kept) if any(content_words(s) for s in kept) else ""


_WRITTEN_DAY = re.compile(
    r"\d{1,2}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)"
    r"|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{1,2}\b",
    re.IGNORECASE,
)


def _names_a_value(sentence: str) -> bool:
    """True when a sentence that asks also tells something of the user's life: an amount
    ("bought a banding wheel for £46, was that daft?"), a date written out, a full name, or
    who someone is ("an email to Gwen Hallett, the committee secretary", "a note to my
    pottery teacher Marguerite"). A first name alone is not enough: "a thank-you note to
    Kavya" says nothing of her."""
    doc = parse(sentence).doc
    for e in doc.ents:
        if e.label_ in ("MONEY", "QUANTITY", "PERCENT") or (e.label_ == "DATE" and _WRITTEN_DAY.search(e.text)):
            return True  # (a day of a month, not "a 7 year old")
        if e.label_ == "PERSON" and len(e) > 1:  # "a thank-you note to Rabbi Levene"
            return True
    # (by the parse, not the tagger's labels: it calls "Marguerite Okafor" a town)
    return any(
        tok.pos_ == "PROPN"
        and (
            tok.dep_ == "appos"
            or any(c.dep_ == "appos" for c in tok.children)
            or (tok.i > 0 and is_person_noun(doc[tok.i - 1].lemma_.lower()))
        )
        for tok in doc
    )


def _goal_span(question: str, c: Candidate) -> Span | None:
    if not c.slot:  # the goal itself: what the user is working on, not a date or a name
        return Span(c.goal, c.goal, False) if wanted(question) == "any" else None
    kind, _, value = c.slot.partition(":")
    value = value.strip() or c.slot
    asked = wanted(question)
    if asked != "any" and kind.strip() not in _SLOT_ANSWERS.get(asked, frozenset()):
        return None  # "how much budget?" is not answered by the goal's date, nor "who?"
    if asked == "number" and not re.search(r"\d", value):
        return None  # "budget: expensive" (a price range) is no amount
    if asked == "date" and asks_weekly(question) and not names_weekday(value):
        return None  # "what night do i teach?" is not answered by the goal's "20 November"
    # a question that asks no kind of value is answered by a slot only when it names it
    # ("what's the audience?"; not "which master program am I applying to?" by the date)
    named = asked != "any" or kind.strip().lower() in lemmas(question)
    return Span(value, c.slot, named)


def _source(c: Candidate) -> str:
    when = day_text(c.said) if c.said else ""
    if c.source == "goal":
        return prompts.GROUNDED_FROM_GOAL.format(goal=c.goal)
    if c.speaker in ("user", ""):
        return prompts.GROUNDED_FROM_USER.format(when=when) if when else "you told me"
    return prompts.GROUNDED_FROM_NAMED.format(name=c.speaker)


class Answer(NamedTuple):
    """One candidate's answer to the question."""

    reply: str  # what the user is told
    span: str  # the value itself
    in_text: bool  # the span is in the candidate's text (not worked out from when it was said)
    typed: bool  # the span is the kind of value asked for (a date, an amount, a name, a place)


def _reply(question: str, c: Candidate) -> Answer | None:
    """The reply stating the answer from c; None when c holds no answer."""
    in_text = True
    kind = wanted(question)
    if c.source == "goal":
        found = _goal_span(question, c)
    elif c.source == "fact":
        found = Span(second_person(c.text), c.text, False)
        if kind == "number" and c.fact is not None and c.fact.attribute == "date":
            return None  # "how much budget?" is not answered by a date ("22 feb")
        if _other_relation(question, c):
            return None  # "the name I gave my shop" is not the user's name or their boss's
        fact = c.fact
        if (
            kind == "person"
            and fact is not None
            and fact.attribute == "person"
            and fact.value
            and role_words(asked_role(question)) & set(fact.relation.split())
        ):
            # "whats my cat called again" of "User's cat is Biscuit": the name the fact holds,
            # whatever the tagger makes of it
            return Answer(
                prompts.GROUNDED_TYPED.format(span=fact.value, source=_source(c).split(" on ")[0]),
                fact.value,
                True,
                True,
            )
        if kind != "any":
            typed = span(question, c.fact.value if c.fact and c.fact.value else c.text, c.said)
            if not typed.typed:
                return None  # asked for a place, a person or a date this fact does not hold
            found = typed
    else:
        found = as_it_is_now(question, c.text, c.said, span(question, c.text, c.said))
        if kind == "person" and not found.typed:
            return None  # a turn that names nobody does not say who
        if kind == "date" and not found.typed:
            if not (c.said and _asks_past(question)):
                return None  # "when is Baraka's birthday?" is not answered by a text with no date
            found = Span(day_text(c.said), found.sentence, True)  # said that day
            in_text = False
    if found is None or not found.text.strip():
        return None
    source = _source(c)
    if c.source == "fact" and not found.typed:
        text = prompts.GROUNDED_FACT.format(fact=found.text)
    elif found.typed:
        short = source.split(" on ")[0]  # the value first; when it was said is in the quote form
        # "our backyard" said back as "your backyard"
        text = prompts.GROUNDED_TYPED.format(span=second_person(found.text), source=short)
    else:
        text = prompts.GROUNDED_SAID.format(source=source[0].upper() + source[1:], quote=found.text)
    return Answer(text, found.text, in_text, found.typed)


def ground(
    store: Memory,
    user_id: str,
    question: str,
    goals: list[GoalState],
    now: float,
    recent: tuple[str, ...] = (),
    before: str = "",
) -> Grounded | None:
    """The grounded answer to a question about memory (or a plain "I don't know"); None for
    a message that is not such a question, or an open one memory does not clearly answer.
    `recent` are the replies just given: a quote is not said whole twice in a row. `before`
    is the user's message just before in this chat: "date?" asks about what it asked."""
    original = question
    question = question_part(question)  # "I need to write her name in a form" is no advice asked
    question = re.sub(rf"^\s*{_OPENER}", "", question)  # "and where am i working these days"
    question = spelled_out(question)  # "where am i movin to again?", "n whens race day"
    attribute = asked_attribute(question)
    advice = asks_advice(question) and not _RECALL.search(question) and attribute is None
    # "How far should I walk every day?" asks for advice, unless memory holds the amount
    # ("the physio said 3 km a day"): then it answers, and it never declines
    asked_back = bool(_REMIND_AFTER.search(original))  # "the date of the wedding, remind me"
    # "and the date" right after a question: asked of the same thing, though it has no verb
    asked_back = asked_back or (bool(before) and is_question(question_part(before)) and _and_then(original))
    if not (is_question(question) or asked_back) or (advice and not _HOW_MUCH.match(question)):
        return None
    # "and who's selling it?" after "whats my car budget again": asked of the same thing
    # (its words join the question's where texts are scored, not where the kind of answer is
    # read: "who" stays a person, though the question before asked for a budget)
    topic = follow_up_topic(question, question_part(before), is_question) if before else ""
    typed = _attribute_answer(store, user_id, attribute, now)
    if typed is not None:
        return typed
    if attribute == "name":
        # the user's own name, never told: any name in memory is someone else's
        return Grounded(reply=_nothing([], question), span="", source="none", score=0.0)
    only_asked: list[str] = []
    followed = _with_topic(question, topic)
    candidates = _candidates(store, user_id, followed, goals, now, only_asked)
    speakers = {c.speaker for c in candidates if c.speaker not in ("", "user", "assistant")}
    personal = not advice and (
        asks_memory(question, speakers)
        or about_told(followed, candidates, only_asked)
        # "the date of the wedding, remind me": the request to be reminded says so too
        or asked_back
        or bool(_RECALL.search(original))
        or _value_asked(question)  # "roomates name?", "truck budget?": a value of the user's
        # "how many ppl coming now": a value asked as it is now is of something going on
        # in the user's life (memory holds it, or nobody does)
        or (wanted(question) != "any" and bool(_NOW_ASK.search(question)))
        or names_someones_role(question)
        or _about_someone_known(question, candidates)
        or _names_something_told(question, candidates)
        # "date?" after "which race am i doing": a question about memory too
        or (bool(topic) and asks_memory(topic, speakers))
    )
    people = named_people(question, speakers)
    asked = question
    # "my hod's name?" after "My head of department, Mrs Adebayo", "who's curating" after
    # "The curator is Fenella Marsh": the role as it was told
    role = asked_role(question) if wanted(question) == "person" else ""
    told_as = doer_as_told(question, [c.text for c in candidates])
    told_as = spelled_as_told(told_as, role, [c.text for c in candidates])
    if role and len(role) <= INITIALS_LONGEST and told_as == question:
        # ... told in a turn the question's words did not find
        users = [e.summary for e in store.episodes.list(user_id) if e.speaker == "user"]
        told_as = spelled_as_told(question, role, users)
    if told_as != question:
        asked = question = told_as
        found = _turns(store, user_id, told_as, now)
        candidates = list({(c.source, c.text): c for c in candidates + found}.values())
    if people:  # about someone: only what they said can answer, and their name is not the topic
        candidates = [c for c in candidates if c.speaker in people]
        asked = re.sub(r"\b(?:{})(?:'s)?\b".format("|".join(map(re.escape, people))), " ", question)
    # "my wife" asked about, where the user told us about her by name ("Denise is allergic to
    # penicillin"): the question is also read with her name
    named_as = _by_name(asked, [c.fact for c in candidates if c.fact is not None])
    if named_as != asked:
        candidates = (
            [  # the fact that she is his wife is not what is asked, and turns about her are
                c for c in candidates if not (c.fact is not None and c.fact.attribute == "person")
            ]
            + _turns(store, user_id, named_as, now)
        )
        candidates = list({(c.source, c.text): c for c in candidates}.values())
    floor = MIN_RELEVANCE if personal else MIN_RELEVANCE_OPEN
    # "and by when has it got to be finished?": names nothing; it is the goal being worked on
    on_goal = _current_goal_value(asked, candidates)
    if on_goal is not None:
        return on_goal
    # "when are we going?" names nothing, but asks for a date: closeness in meaning decides
    if not candidates or (not content_words(asked) and wanted(asked) == "any"):
        return (
            Grounded(reply=_nothing(people, question), span="", source="none", score=0.0)
            if personal
            else None
        )
    scored = _with_topic(asked, topic)  # what the texts are scored against
    scores = relevance(store, scored, [c.text for c in candidates])
    if named_as != asked:
        alias = relevance(store, named_as, [c.text for c in candidates])
        scores = [max(a, b) for a, b in zip(scores, alias, strict=True)]
        asked = named_as
        scored = _with_topic(asked, topic)
    # a fact is also scored as said to the user ("you work as ..."), the way questions ask;
    # a turn also by its best sentence: "Submission is now 15 September." is lost in a turn
    # that opens "Bad news / good news: I got an extension."
    for i, c in enumerate(candidates):
        if c.source == "fact":
            scores[i] = max(scores[i], relevance(store, scored, [second_person(c.text)])[0])
        elif c.source == "turn" and len(parts := sentences(c.text)) > 1:
            scores[i] = max(scores[i], *relevance(store, scored, parts))
    # a fact or goal close to the best turn wins: it is current and was kept on purpose
    ranked = sorted(
        range(len(candidates)),
        key=lambda i: -(scores[i] + (TIE if candidates[i].source != "turn" else 0.0)),
    )
    own = _own_names(candidates)
    person = wanted(asked) == "person"
    made: list[tuple[int, Answer]] = []
    for i in ranked:
        if scores[i] < floor:
            break
        one = _reply(asked, candidates[i])
        if one is not None and person and (
            one.span.lower() in own  # "who handles my books?" is never the user themselves
            or re.search(rf"\b{re.escape(one.span)}\b", asked, re.IGNORECASE)  # "who's ivy seeing now?"
            or _known_as_place(one.span, candidates)  # "Lakeside have agreed ...": the hospital
        ):
            continue
        if one is not None and (one.typed or not advice):  # advice asked: only the amount
            made.append((i, one))
    if not made and not people:
        by_role = _named_by_role(store, user_id, asked, candidates, now) or _named_institution(
            asked, candidates
        )
        if by_role is not None:
            return by_role
    if made and wanted(asked) != "any" and not any(m[1].typed for m in made):
        # a date, a place, an amount asked, and the texts above the floor hold none: a text
        # just below it that holds one is the likelier answer ("the hospital in Erlangen")
        likely = _likely(asked, candidates, scores, margin=UNTYPED_MARGIN)
        if likely is not None and not people:
            return likely
    if made:
        # a value of the asked kind found in the text beats one worked out (the day a turn
        # was said) or a sentence that holds none, when close
        close = [m for m in made if scores[m[0]] >= scores[made[0][0]] - WORKED_OUT_MARGIN]
        # ... and a value in a sentence that shares the question's words beats one from
        # another sentence of its text ("the hospital in Erlangen" over "our daughter comes
        # from Hamburg", told beside "hospital called today")
        i, chosen = next(
            (
                m
                for m in close
                if m[1].in_text and m[1].typed and _on_topic(asked, m[1].span, candidates[m[0]].text)
            ),
            next(
                (m for m in close if m[1].in_text and m[1].typed),
                next((m for m in close if m[1].in_text), made[0]),
            ),
        )
        # the same person named in full elsewhere ("gary still my area manager" after "area
        # manager is gary whitfield"): the full name
        fuller = [m for m in made if m[1].typed and _fuller_name(m[1].span, chosen.span)]
        if wanted(asked) == "person" and fuller:
            # ... said from the newer text, so that what changed after it is read from there
            # ("Kwame is stepping up as my primary supervisor" after "Dr Kwame Asante")
            i, chosen = (i, fuller[0][1]) if _later(candidates[i], candidates[fuller[0][0]]) else fuller[0]
        # the same thing told twice ("dinner on 14 June", later "the dinner is now on 21
        # June"): the newer one, when about as close, is the current value; the more so when
        # the question itself asks for the value as it is now
        current = changed(question)
        first_span = chosen.span
        role_asked = asked_role(asked) if wanted(asked) == "person" else ""
        newer = [
            m
            for m in made
            if _replaces(m[1], chosen)
            and scores[m[0]]
            >= scores[i]
            - (UPDATE_MARGIN if changed(candidates[m[0]].text) or current else NEWER_MARGIN)
            and _later(candidates[m[0]], candidates[i])
            and not still_holds(chosen.span, candidates[m[0]].text)
            # a person asked by role: a newer text that never names the role is about
            # someone else ("Gareth's left Salon Direct" is no new landlord)
            and not (role_asked and not role_phrases(role_asked) & lemmas(candidates[m[0]].text))
        ]
        if newer:
            i, chosen = max(newer, key=lambda m: candidates[m[0]].said)
        # "Submission is now 15 September" after "my thesis submission deadline is 30 June":
        # the new date of the same thing, however far its wording is from the question's
        # ... and a later text that says it changed ("It is now on the 2nd of April"), within
        # UPDATE_MARGIN, even when it is below the floor itself: it is scored as the update
        # ... measured against the sentence holding the old value, not its whole message
        # ("goal is under 3:45" of a long introduction scores as its own sentence)
        # (scored only when some later text says a value changed: the bar serves no other)
        held = [p for p in sentences(candidates[i].text) if chosen.span in p]
        changes = any(_later(c, candidates[i]) and changed(c.text) for c in candidates)
        bar = min(scores[i], *relevance(store, scored, held)) if held and chosen.in_text and changes else scores[i]
        shared_thing = (content_words(asked) | content_words(candidates[i].text)) - GENERAL_NOUNS
        moved = [
            (j, one)
            for j, c in enumerate(candidates)
            if _later(c, candidates[i])
            and (
                _same_thing(c, candidates[i])
                or (
                    (wanted(asked) != "any" or _names_asked(asked, c.text))
                    and changed(c.text)
                    and scores[j] >= bar - UPDATE_MARGIN
                    # a goal moves a value only of its own thing: "do the fixation Thursday
                    # night now" does not move "on the confocal Friday 1pm instead" (a turn
                    # may say it in other words: "moved my target to 3:30" of "goal time")
                    and (c.source != "goal" or bool(shared_thing & content_words(c.text)))
                )
            )
            and (one := _reply(asked, c)) is not None
            and _replaces(one, chosen)
            and not (wanted(asked) == "person" and _known_as_place(one.span, candidates))
            and not (role_asked and not _same_thing(c, candidates[i]) and not role_phrases(role_asked) & lemmas(c.text))
            and not still_holds(chosen.span, c.text)
            and not dropped(one.span, c.text)  # "we cancelled Gion Hotel Sakura": the old one
            and (_same_thing(c, candidates[i]) or changed_here(one.span, c.text))
        ]  # fmt: skip
        if moved:
            # one that names the value it replaces is about it ("Agnieszka's replacement is
            # Rafał"), before a later change of something else ("Dr Wiśniewski had to
            # reschedule ... now 19 May", for "who's my manager now?")
            old_value = chosen.span.lower()
            i, chosen = max(
                moved, key=lambda m: (old_value in candidates[m[0]].text.lower(), candidates[m[0]].said)
            )
        # "where's mum's party going to be now?": any later change near the question is read
        near = frozenset(j for j, v in enumerate(scores) if v >= NOW_RELEVANCE) if current else frozenset()
        follow = _followed_by_update(asked, i, chosen, candidates, near)
        if follow is not None:
            i, chosen = follow
        if wanted(asked) == "person" and chosen.typed and chosen.in_text:
            took_over = _successor(store, user_id, asked, candidates[i], chosen, own, now)
            if took_over is not None:
                candidates.append(took_over[0])
                scores.append(scores[i])
                i, chosen = len(candidates) - 1, took_over[1]
        c = candidates[i]
        if is_said_day(chosen.span) and (full := _in_month_told(c, chosen.span, first_span, candidates, scores)):
            # "not leaving till the 18th now" of a flight home on 16 August: 18 August
            # ("Sunday the 15th" of Saturday 14 June: Sunday 15 June)
            full = f"{chosen.span.split()[0]} {full}" if len(chosen.span.split()) == 3 else full
            chosen = chosen._replace(
                span=full, reply=prompts.GROUNDED_TYPED.format(span=full, source=_source(c).split(" on ")[0])
            )
        if not chosen.typed and c.source != "goal" and _asks_what_it_lacks(asked, c.text):
            # "which hospital do I work at?" of "a nurse in a hospital in Porto Alegre", "what
            # shoes do I run in?" of "I'm on my feet all day": the text does not say it; shown
            # as the closest thing told, not as the answer
            return _closest(store, asked, question, c, recent, people, scores[i])
        if c.source == "turn" and not chosen.typed:
            said = _source(c)
            quote = _quote(store, asked, c.text, recent)
            chosen = chosen._replace(
                reply=prompts.GROUNDED_SAID.format(source=said[0].upper() + said[1:], quote=quote), span=quote
            )
        source = candidates[i].source
        return Grounded(reply=chosen.reply, span=chosen.span, source=source, score=round(scores[i], 3))
    if not personal:
        # an open question memory does not answer: the model takes it; but "which month is
        # the race?" asks for a kind of value that a told text near it holds
        return _likely(asked, candidates, scores, least=LIKELY_OPEN)
    likely = _likely(asked, candidates, scores)
    if likely is not None and not people:
        return likely
    owned = _owned_words(asked)
    told = [
        i
        for i, c in enumerate(candidates)
        if c.source != "goal"
        and not _other_relation(asked, c)
        # "what's my mom's name?": a text that never names a mom is no guess at it
        and all(
            any(re.search(rf"\b{re.escape(v)}", c.text, re.IGNORECASE) for v in role_phrases(w))
            for w in owned
        )
    ]
    # (a request that tells in passing is the guess only when nothing else told names it)
    told = [i for i in told if not candidates[i].asking] or told
    best = first = max(told or range(len(scores)), key=lambda i: scores[i])
    # "Budget change. ... Now 25 million yen total." after "Budget 18 million yen.": the
    # closest guess is the newer value of the same thing
    updates = [
        j
        for j in told
        if candidates[j].said > candidates[best].said + LATER_TURN_S
        and changed(candidates[j].text)
        and scores[j] >= scores[best] - UPDATE_MARGIN
        and (
            content_words(asked) & content_words(candidates[j].text)
            # "skip nairobi. switching to kigali instead" of "a marathon. nairobi, october 27"
            or (REPLACED.search(candidates[j].text) and content_words(candidates[best].text) & content_words(candidates[j].text))
        )
    ]
    if updates:
        best = max(updates, key=lambda j: candidates[j].said)
    # (a text that names whose value is asked is about it, however low it scores: "I report
    # to Hollis Grange now" for "who's my boss these days?")
    least = NOW_RELEVANCE if owned and told else GRAY_RELEVANCE
    if told and not people and scores[first] >= least:  # (an update may score lower)
        # not clearly the answer, but the user may see that it is: said as a guess, never as fact
        return _closest(store, asked, question, candidates[best], recent, people, scores[best])
    if owned and not told and not people and candidates[first].source == "turn" and scores[first] >= UNNAMED_RELEVANCE:
        # no text names the thing as asked, but one close to the question may in other words
        # ("I paid AUD 680 for the OSHC health cover" of "my health insurance", "our accompanist
        # Yuki" of "our pianist"): quoted as the closest thing told, after "I don't know"
        return _closest(store, asked, question, candidates[first], recent, people, scores[first])
    return Grounded(
        reply=_nothing(people, question), span="", source="none", score=round(scores[best], 3)
    )


def _in_month_told(c: Candidate, day: str, old: str, candidates: list[Candidate], scores: list[float]) -> str:
    """The day c says alone (`day`, "the 18th") in the month of the date it replaces: `old`, or
    the date written in the closest earlier text ("back on 16 August"); with none, for a thing
    done, the date with that day nearest to when c was said ("met the team on the 15th",
    said 16 August); "" when none of these."""
    if full := day_after(c.text, old):
        return full
    earlier = [
        (scores[j], written)
        for j, o in enumerate(candidates)
        if o.said < c.said and scores[j] >= GRAY_RELEVANCE and (written := date_in(o.text, 0.0, written_only=True))
    ]
    if earlier and (full := day_after(c.text, max(earlier)[1])):
        return full
    # a done thing ("I met the team on the 15th"): the nearest such day before it was said;
    # a plan with no month ("not leaving till the 18th now") stays as written
    told = next((s for s in sentences(c.text) if day in s), "")
    done = bool(told) and any(s.root.tag_ == "VBD" for s in parse(told).doc.sents)
    return nearest_day(day, c.said) if done else ""


def _closest(
    store: Memory,
    asked: str,
    question: str,
    c: Candidate,
    recent: tuple[str, ...],
    people: list[str],
    score: float,
) -> Grounded:
    """A text near the question, said as the closest thing the user told, never as the
    answer; the same message quoted again, for another question, is a plain "I don't know"."""
    if c.source == "fact":
        closest = second_person(c.text) + "."
    else:
        quote = _quote(store, asked, c.text, recent)
        if any(quote in r for r in recent):
            return Grounded(reply=_nothing(people, question), span="", source="none", score=round(score, 3))
        closest = f'"{quote}"'
    reply = prompts.GROUNDED_CLOSEST.format(closest=closest)
    return Grounded(reply=reply, span="", source="closest", score=round(score, 3))


def _asks_what_it_lacks(question: str, text: str) -> bool:
    """True when the question asks for a kind of value (a date, a place, a name, an amount)
    or names the thing it asks about ("what shoes", "the title of my thesis"), and the text
    neither holds that value nor names that thing: it is near the question, not its answer."""
    if wanted(question) != "any":
        return True
    noun = asked_noun(question)
    if not noun or noun in _GENERAL_NOUNS or noun in ASKING_VERBS:
        return False
    return noun not in lemmas(text) and not re.search(rf"\b{re.escape(noun)}", text, re.IGNORECASE)


def _with_topic(question: str, topic: str) -> str:
    """The question as scored against memory: with the question before it that it follows
    up, when it names its thing only by pointing back ("date?", "who's selling it?")."""
    if not topic:
        return question
    bare = re.sub(rf"^\s*{_OPENER}", "", topic)  # "and which race am i doing" -> "which race ..."
    return f"{question} ({bare})"


def _owned_words(question: str) -> set[str]:
    """The words naming whose or what value a question asks for, all of which a text must
    hold to be a guess at it: "my mom's name" -> {mom}; "my office room number" -> {office,
    room}; "my student ID" -> {student}. Empty for any other question: a text may name the
    thing in other words ("my research topic" of "My thesis is on microplastics")."""
    role = asked_role(question) if wanted(question) == "person" else ""
    if role:
        return {role}  # "my mom's name", "name of Sabine's husband"
    for tok in parse(question).doc:
        if tok.lemma_.lower() not in _VALUE_NOUNS | {"id"}:
            continue
        if any(c.dep_ == "poss" and c.lower_ in ("my", "our") for c in tok.children):
            return {
                str(c.lemma_.lower())
                for c in tok.subtree
                if c.dep_ == "compound" and c.lemma_.lower() != "id"
            }
    return set()


def _quote(store: Memory, question: str, text: str, recent: tuple[str, ...] = ()) -> str:
    """What is quoted of a told text: all of it when short (the value asked for may sit in
    the sentence beside the one closest to the question), else the sentence closest in
    meaning and the ones sharing most words with the question ("what is it mom can't eat?"
    of "... she is diabetic and also cant have dairy ...": no word shared, the meaning is)."""
    parts = sentences(text)
    short = len(parts) <= QUOTE_SENTENCES and len(text.split()) <= QUOTE_WORDS
    # quoted whole just before (another question about the same message): this time only the
    # part that answers, or the same long quote twice reads as a loop
    if short and (len(parts) == 1 or not any(text in r for r in recent)):
        return text
    sims = store.similarity(question, parts)
    closest = parts[max(range(len(parts)), key=lambda n: sims[n])]
    shared = span(question, text).sentence
    picked = [p for p in parts if p == closest or p in shared]
    if recent and any(text in r for r in recent):
        picked = [closest]
    return " ".join(picked) if picked else shared


def is_grounded_reply(reply: str) -> bool:
    """True for a reply said from memory (a value with its source, a guess, a decline).
    The model does not read these exchanges: a small model copies their form onto answers
    of its own ("He lost 20 pounds (you told me).", a made-up "quote") and so claims a
    source it never had; what they said is in the memory context anyway."""
    return bool(_PROVENANCE.search(reply)) or reply.startswith(_GROUNDED_STARTS)


def _likely(
    question: str,
    candidates: list[Candidate],
    scores: list[float],
    least: float = GRAY_RELEVANCE,
    margin: float = LIKELY_MARGIN,
) -> Grounded | None:
    """A question asking for a kind of value (a date, an amount, a name, a place) that no
    text answers above the floor: the closest text that holds a value of that kind, said as
    a likely answer with the sentence it comes from, so the user can judge it ("How much is
    the ceiling we set for the caravan?" of "... a caravan and tour Namibia. Budget R350 000
    absolute max."). A later text that says it changed wins, as above the floor."""
    kind = wanted(question)
    if (kind == "any" and not asks_named_detail(question)) or not scores:
        return None
    if asked_attribute(question) in ("employer", "role"):
        return None  # "where do I work?" is not answered by a town ("Probably berlin")
    low = max(least, max(scores) - margin)
    # "what's Adaeze's fiancé called?": only a text that names a fiancé may hold his name
    role = asked_role(question) if kind == "person" else ""
    # "the sound guy's name": only a text that says "sound" may hold it
    of_what = anyone_by_what(question) if kind == "person" else ""
    own = _own_names(candidates)
    found: list[tuple[int, str, str]] = []  # candidate, value, the sentence holding it
    for i in sorted(range(len(candidates)), key=lambda i: -scores[i]):
        c = candidates[i]
        if scores[i] < low:
            break
        if _other_relation(question, c) or (c.source == "goal" and not c.slot):
            continue
        if (role and not role_words(role) & lemmas(c.text)) or (of_what and of_what not in lemmas(c.text)):
            continue
        if c.source == "goal":
            one = _goal_span(question, c)
            quote = c.slot
        else:
            held = c.fact.value if c.fact and c.fact.value else c.text
            one = as_it_is_now(question, held, c.said, span(question, held, c.said))
            quote = second_person(c.text) if c.source == "fact" else one.sentence
        # never the asked thing itself ("Lauren" for "who is Lauren marrying?"), nor the user
        if (
            one is not None
            and one.typed
            and one.text.lower() not in question.lower()
            and not (kind == "person" and one.text.lower() in own)
            and not (kind == "person" and not _written_as_name(one.text))
        ):
            found.append((i, one.text, quote))
    # "how much did I say I could spend?": money, where some text holds money, before the
    # age in "she turns seven" that scored higher
    # ... and a price asked ("what does the roaster charge per kilo?") only by money, never
    # by "55 litres" (where no text holds money, "how much" may still take an amount written
    # any way: "R350 000")
    money = [f for f in found if is_money(f[1])]
    how_much = re.search(r"\bhow much\b", question, re.IGNORECASE) is not None
    if (money and how_much) or (asks_money(question) and not how_much) or asks_price(question):
        found = money
    if not found:
        return None
    i, value, quote = found[0]
    # (a later change of another thing is no update of this one: "Solberg has accepted a
    # chair in Oslo" does not move "a conference in Lisbon"; "Budget change. Now 25 million
    # yen total." names the budget of "Budget 18 million yen")
    # (and the words the question shares with the old sentence: "due" of "when's the baby
    # due now" and "due 19 November", for "they've moved the due date to the 11th")
    shared_words = {w for w in _words(question) & _words(quote) if len(w) > 2}
    about = _nouns(quote) | content_words(question) | shared_words
    later = [
        f
        for f in found
        if candidates[f[0]].said > candidates[i].said + LATER_TURN_S
        and changed(candidates[f[0]].text)
        # (or one that names the old value: "left lisbon, we're in Porto now")
        and bool((content_words(candidates[f[0]].text) | _words(candidates[f[0]].text)) & about or _names_value(value, candidates[f[0]].text))
    ]
    if later:
        first = value
        i, value, quote = max(later, key=lambda f: candidates[f[0]].said)
        if is_said_day(value) and (full := day_after(candidates[i].text, first)):
            value = full  # "he's coming on the 23rd" after "booked for 19 May": 23 May
    else:
        guess = Answer("", value, True, True)
        follow = _followed_by_update(question, i, guess, candidates)
        if follow is not None:
            i, value = follow[0], follow[1].span
            told = sentences(candidates[i].text)
            quote = next((x for x in told if value.lower() in x.lower()), candidates[i].text)
    reply = prompts.GROUNDED_LIKELY.format(span=value, source=_source(candidates[i]), quote=quote)
    return Grounded(reply=reply, span=value, source="likely", score=round(scores[i], 3))


# the small words a name or a name with its place may hold in lower case ("Mr Okafor at
# Riverside Dental", "Van der Berg", "Ibn al-Haytham")
_NAME_PARTICLES = frozenset(["at", "of", "from", "the", "and", "van", "von", "der", "de", "da", "del", "du", "la", "le", "bin", "al"])


def _written_as_name(value: str) -> bool:
    """False for a guessed name that mixes capitals with a common word in lower case ("Burns
    kibble", "Green Spaces fund": a dog food and a fund the tagger called a person); a name
    typed all in lower case ("mr daniel cho") is still one."""
    words = [w for w in re.findall(r"[^\W\d_][\w'.-]*", value) if w.lower().split("-")[0] not in _NAME_PARTICLES]
    upper = [w for w in words if w[0].isupper()]
    return not upper or len(upper) == len(words)


def _words(text: str) -> set[str]:
    """The text's words in lower case, function words too ("due" of "due 19 November")."""
    return {w.lower() for w in re.findall(r"[A-Za-z]+", text)}


def _names_value(value: str, text: str) -> bool:
    """True when the text names the value, or the first word of it ("lisbon" of "lisbon, names Inês")."""
    first = re.split(r"[,;]", value, maxsplit=1)[0].strip()
    return bool(first) and re.search(rf"\b{re.escape(first)}\b", text, re.IGNORECASE) is not None


def _nouns(text: str) -> set[str]:
    """The lemmas of a text's nouns and names, but for the general ones: what it is about."""
    return {t.lemma_.lower() for t in parse(text).doc if t.pos_ in ("NOUN", "PROPN") and len(t.text) > 2} - GENERAL_NOUNS


def _followed_by_update(
    question: str,
    i: int,
    chosen: Answer,
    candidates: list[Candidate],
    linked: frozenset[int] = frozenset(),
) -> tuple[int, Answer] | None:
    """A later turn that says the chosen value's thing changed, and its new value: "pulled
    out of the Great North Run ... doing the Leeds 10K instead, that's on 13 July" after
    "the Great North Run! it's on 7 September"; "dave pulled out. new builder is Sharon Liu"
    after "builder is Dave Pryce". The update need not share the question's words, only the
    thing: two content words, or a name, of the text it replaces. Its value is the one that
    text did not hold (the old value is named in the update too: "Zakopane instead of
    Kraków"). `linked` are texts taken as about the same thing anyway (for a question that
    asks for the value as it is now, the texts near enough to it)."""
    old = candidates[i]
    if not (chosen.typed and chosen.in_text) or (old.source == "goal" and not old.slot):
        return None
    mine = content_words(old.text)
    names = {t.lemma_.lower() for t in parse(old.text).doc if t.pos_ == "PROPN"}
    # the old value as a phrase ("4 May": "11 May" keeps its month), a name by its words too
    # ("dave pulled out" of "Dave Pryce")
    kind = wanted(question)
    old_words = [re.escape(chosen.span)]
    if kind == "person":
        old_words += [re.escape(w) for w in re.findall(r"\w+", chosen.span) if len(w) > 2]
    elif kind == "number":  # an amount by its number too ("6200 euro not 5000" of "5000 euro")
        old_words += [re.escape(n) for n in re.findall(r"\d[\d,. ]*\d", chosen.span)]
    elif kind == "date" and (day := re.search(r"\b(\d{1,2})(?:st|nd|rd|th)?\b(?!\d|:)", chosen.span)):
        # a date by its day said alone too ("a clash on the 9th" of "Monday 9 June")
        old_words += [rf"the {day.group(1)}(?:st|nd|rd|th)"]
    held = [p for p in sentences(old.text) if chosen.span.lower() in p.lower()]
    held_nouns = {t.lemma_.lower() for p in held for t in parse(p).doc if t.pos_ == "NOUN"} - _GENERAL_NOUNS
    found: list[tuple[int, Answer]] = []
    for j, c in enumerate(candidates):
        if c.source != "turn" or not _later(c, old) or not changed(c.text):
            continue
        if still_holds(chosen.span, c.text) and not _another_now(question, chosen.span, c.text):
            continue
        shared = mine & content_words(c.text)
        if kind == "date" and (moved := _moved_by_span(question, chosen.span, c, held, shared, j in linked)):
            reply = prompts.GROUNDED_TYPED.format(span=moved, source=_source(c).split(" on ")[0])
            found.append((j, Answer(reply, moved, True, True)))
            continue
        # one shared word will do when it is the thing asked about, said of no other one
        # ("exam moved ... new date 3 june" of "theory exam is 15 may"; not "physics exam")
        # ... and so will a noun of the sentence that held the old value ("budget's come down
        # to £120 a head" of "budget is about £150 per person")
        asked_thing = {
            w
            for w in shared & (content_words(question) | held_nouns)
            if not _another_of(w, c.text, old.text)
        }
        # a change that names the value it drops is about it ("skip nairobi. switching to
        # kigali instead", "quit chipotle ... a job at the campus library now")
        names_old = re.compile(r"\b(?:{})\b".format("|".join(old_words)), re.IGNORECASE)
        drops_old = bool(names_old.search(c.text))
        if kind == "person" and drops_old:
            # ... for a person, in a clause that says they left or were replaced: not
            # "Pemberton's putting the rent up ... And Gareth's left Salon Direct"
            drops_old = any(names_old.search(p) and (LEFT.search(p) or REPLACED.search(p)) for p in clauses(c.text))
        # ... and so is one that says the old thing was replaced and shares a word with it
        # (a thing shared, not only a verb: "We hired an accountant" is not replaced by "I've
        # hired Carmen instead" of the sous-chef)
        things = {t.lemma_.lower() for t in parse(c.text).doc if t.pos_ in ("NOUN", "PROPN", "NUM")}
        # ("renting a chair" shares no thing with "putting the rent up": a verb is no thing)
        drops_old = drops_old or bool(_nouns(old.text) & things and REPLACED.search(c.text))
        if (
            # (two shared things, not verbs: "Solberg has accepted a chair in Oslo" is no
            # update of "a paper accepted at a conference in Lisbon")
            len(_nouns(old.text) & _nouns(c.text)) < UPDATE_SHARED_WORDS
            and not shared & names
            and j not in linked
            and not asked_thing
            and not drops_old
        ):
            continue
        swapped = instead_of(c.text, chosen.span)
        if kind == "date" and not date_in(c.text, 0.0, written_only=True):
            # "they had a clash on the 9th so they'll come Tuesday the 17th instead"
            swapped = swapped or day_after(c.text, chosen.span)
        if swapped:  # "so I think Zakopane instead of Kraków": whatever the tagger calls it
            source = _source(c).split(" on ")[0]
            reply = prompts.GROUNDED_TYPED.format(span=swapped, source=source)
            found.append((j, Answer(reply, swapped, True, True)))
            continue
        # the update read without the old value, so only the new one is left to find
        rest = re.sub(r"\b(?:{})\b".format("|".join(old_words)), " ", c.text, flags=re.IGNORECASE)
        # the clause that says what it is now ("we've now booked Hotel Pod Dębem instead"),
        # before the one that says what fell through ("Lipowa cancelled on us")
        parts = [p for p in re.split(r"(?<=[.!?;])\s+|,\s+|[()]", rest) if p.strip()]
        saying_new = [p for p in parts if NEW_VALUE.search(p)]
        # ... then the other clauses: the first value of the asked kind the old text did not
        # hold ("Rosa's on weekends now. And Dev moved up to Seattle, Marcus took over his
        # bench full time": Rosa was told before, Marcus is new)
        one = None
        for part in [*saying_new, *(p for p in parts if p not in saying_new), rest]:
            one = _reply(question, replace(c, text=part))
            if one is not None and one.typed and one.in_text and one.span.lower() not in old.text.lower():
                break
        if one is None or not one.typed or one.span.lower() in old.text.lower():
            continue
        if negated(one.span, c.text) or dropped(one.span, c.text):
            continue  # "now it is 15 January, not 1 February anymore": the old one, said as such
        if not changed_here(one.span, c.text) and not _after_a_drop(question, one.span, c.text, " ".join(held)):
            continue  # "moved to 3 December. Also Sabine comes from Hamburg": not the new place
        if _replaces(one, chosen):
            found.append((j, one))
    # one that names the value it replaces is about it ("Agnieszka's replacement is Rafał"),
    # before a later change of something else near the question ("Dr Wiśniewski had to
    # reschedule ... now 19 May", for "who's my manager now?")
    named = re.compile(r"\b(?:{})\b".format("|".join(old_words)), re.IGNORECASE)
    return max(found, key=lambda m: (bool(named.search(candidates[m[0]].text)), candidates[m[0]].said)) if found else None


def _moved_by_span(question: str, old: str, c: Candidate, held: list[str], shared: set[str], linked: bool) -> str:
    """The new date when the text moves a date by a span of time and writes none ("they've
    pushed the defence back a fortnight" of "13 June" is "27 June"), and it is about the asked
    thing: the clause that moves it names something of the question or of the sentence that held
    the old date, or the question asks for the date as it is now and the text shares a word with
    the old one (or is near enough to the question); "" otherwise."""
    # (the span's pattern first: most later texts move nothing, and it needs no parse)
    if not (moved := shifted_date(c.text, old)) or date_in(c.text, 0.0, written_only=True):
        return ""
    asked = _nouns(question) | _nouns(" ".join(held))
    if _nouns(c.text) & asked:
        return moved
    return moved if _NOW_ASK.search(question) and (shared or linked) else ""


def _after_a_drop(question: str, value: str, text: str, held: str) -> bool:
    """True when the sentence before the one holding the value says the old one is gone, names
    something of the sentence that `held` the old value, and holds no value of its own
    ("Clearview have gone bust. Lee will do it for £600 cash" after "a clearance company,
    Clearview, who quoted £900"; not "the test center cancel my date" of the score asked)."""
    said = sentences(text)
    at = next((i for i, p in enumerate(said) if value in p), 0)
    if at == 0 or not REPLACED.search(said[at - 1]):
        return False
    drop = said[at - 1]
    return bool(content_words(drop) & content_words(held)) and not span(question, drop).typed


def _another_now(question: str, old: str, text: str) -> bool:
    """True when a clause of the text says what the asked thing is now without naming the old
    value ("Darren hurt his back so his nephew Kieran is doing our job now, Darren only comes
    to check"; "the Red Lion's way too small. We've moved it to the cricket pavilion"): the
    old value is still named, but no longer holds."""
    kind = wanted(question)
    if kind == "any" or not _NOW_ASK.search(question):
        return False  # asked as it is now: "which surgeon is doing it?" keeps Dr Albers
    words = [w for w in re.findall(r"\w+", old) if len(w) > 2 and w.lower() != "the"]
    if not words:
        return False
    naming = re.compile(r"\b(?:{})\b".format("|".join(map(re.escape, words))), re.IGNORECASE)
    return any(
        NEW_VALUE.search(p) and not naming.search(p) and (one := span(question, p)).typed
        and one.text.lower() not in old.lower()
        # someone named, not "Mum's operation has been moved"
        and (kind != "person" or any(e.label_ == "PERSON" for e in parse(p).doc.ents))
        for p in clauses(text)
    )


def _named_institution(question: str, candidates: list[Candidate]) -> Grounded | None:
    """ "what is the name of the school he is joining?" after "... starting at Riverside
    Academy in January": a told name holding a word for that kind of place, said as a likely
    answer with its sentence, however far the rest of the text is from the question."""
    noun = asked_role(question) or asked_noun(question)
    if wanted(question) != "place" or noun not in INSTITUTIONS:
        return None
    kinds = same_institution(noun)
    for c in sorted(candidates, key=lambda c: -c.said):
        if c.source != "turn":
            continue
        for sentence in sentences(c.text):
            value = named_institution(parse(sentence).doc, kinds)
            if value:
                reply = prompts.GROUNDED_LIKELY.format(span=value, source=_source(c), quote=sentence)
                return Grounded(reply=reply, span=value, source="likely", score=0.0)
    return None


def _current_goal_value(question: str, candidates: list[Candidate]) -> Grounded | None:
    """A date or amount asked of "it" ("by when has it got to be finished?", "how much can we
    spend on it?"), naming no thing: the slot of that kind of the goal changed last."""
    kind = wanted(question)
    if kind not in ("date", "number"):
        return None
    doc = parse(question).doc
    if any(t.pos_ in ("NOUN", "PROPN") and t.lemma_.lower() not in _GENERAL_NOUNS for t in doc):
        return None
    if not any(t.lower_ in ("it", "this", "that") for t in doc):
        return None  # "What day do we begin walking?" names its thing by the verb
    slots = [c for c in candidates if c.source == "goal" and c.slot]
    for c in sorted(slots, key=lambda c: -c.said):
        one = _reply(question, c)
        if one is None or not one.typed:
            continue
        # "we go in October now instead" after the goal took April: a later change of "it"
        i = candidates.index(c)
        follow = _followed_by_update(question, i, one, candidates, frozenset(range(len(candidates))))
        if follow is not None:
            return Grounded(reply=follow[1].reply, span=follow[1].span, source="turn", score=0.0)
        return Grounded(reply=one.reply, span=one.span, source="goal", score=0.0)
    return None


def _named_by_role(
    store: Memory, user_id: str, question: str, candidates: list[Candidate], now: float
) -> Grounded | None:
    """ "what's our dog called?" after "our beagle Biscuit gets carsick": a told text that ties
    a name to the role asked about (or another word for it) answers, however far its other
    words are from the question's. The turns holding those words are searched for too."""
    role = asked_role(question) if wanted(question) == "person" else ""
    if not role:
        return None
    words = role_words(role)
    found = candidates + _turns(store, user_id, " ".join(sorted(words)), now)
    own = _own_names(candidates)
    for c in sorted(found, key=lambda c: -c.said):  # the newest first: names change
        # (a request's "my manager, Dana Whitfield" is not the newest word on who it is now)
        if c.source == "goal" or c.asking or not words & lemmas(c.text):
            continue
        one = _reply(question, c)
        if one is not None and one.typed and one.in_text and one.span.lower() not in own:
            # "Joy retired ..., and her replacement, Callum Reid, started": who holds it now
            took_over = _successor(store, user_id, question, c, one, own, now)
            if took_over is not None:
                c, one = took_over
            return Grounded(reply=one.reply, span=one.span, source=c.source, score=0.0)
    return None


def _asks_past(question: str) -> bool:
    """True for a question about something done ("when did I ...", "when was ..."): the day a
    turn was said may answer it; "when is Baraka's birthday?" it never does."""
    # "when did i say that job kicks off": the saying is past, the job is not; but "when did I
    # tell you about the dentist?" asks when it was said
    doc = parse(question).doc
    past = [(t.head if t.dep_ == "aux" else t) for t in doc if t.tag_ in ("VBD", "VBN")]
    if any(v.lemma_.lower() not in ASKING_VERBS for v in past):
        return True
    others = [t for t in doc if t.pos_ == "VERB" and t.lemma_.lower() not in ASKING_VERBS]
    return bool(past) and not others


_CALLED = re.compile(r"\b(?:called|named)\s+([a-z][\w'-]{2,})\b", re.IGNORECASE)
_TITLED = re.compile(r"\b(?i:{})\.?\s+([A-Z][\w'-]+)".format("|".join(sorted(TITLES))))


def _successor(
    store: Memory,
    user_id: str,
    asked: str,
    c: Candidate,
    chosen: Answer,
    own: set[str],
    now: float,
) -> tuple[Candidate, Answer] | None:
    """Who took over from the person `chosen` names, as a later message tells it: one that
    names them, says they left or were replaced, and names someone else
    ("Brigitte goes back to Norway, so new coach is Tomasz Wrona"; "Denise has moved on, an
    email signed by a Priya Nair who's running the place now"). The newest such; followed
    on, for a chain of hand-overs. None when no later message does.

    The link is the old holder's name, not the role's wording: the later message need not
    say "coach" or "care home manager" at all.
    """
    seen = {chosen.span.lower()}
    found: tuple[Candidate, Answer] | None = None
    for _ in range(3):  # a chain: Siobhan, then Gwen, then whoever covers for Gwen
        name = (found[1] if found else chosen).span
        since = (found[0] if found else c).said
        first = next((w for w in name.split() if w.lower().strip(".") not in TITLES), "")
        if len(first) < 3:
            return found
        mentions = re.compile(rf"\b{re.escape(first)}\b", re.IGNORECASE)
        later = sorted(
            (t for t in _turns(store, user_id, first, now) if t.said > since + LATER_TURN_S and mentions.search(t.text)),
            key=lambda t: t.said,
            reverse=True,
        )
        step = None
        for t in later:
            # said of them: "Paz and I pushed the start" beside "we moved to La Serena" is not
            if not any(mentions.search(p) and (LEFT.search(p) or REPLACED.search(p)) for p in sentences(t.text)):
                continue
            # the old holder's name joins the question's words: the reader skips it
            one = _reply(f"{asked} {name}", t)
            if one is not None and mentions.search(one.span):
                one = None  # "Mr Okafor's off on paternity leave": the one who left
            if one is None or not one.typed:  # the one other person the message names
                ents = [e for e in parse(t.text).doc.ents if e[-1].pos_ == "PROPN" and not mentions.search(e.text)]
                others = {e.text for e in ents if e.label_ == "PERSON"}
                # "Deepa from next door has stepped in": a name alone the tagger calls a firm
                others = others or {e.text for e in ents if e.label_ == "ORG" and len(e) == 1}
                # "a new hv called gwen": a name typed in lower case, given with "called"; "I'm
                # seeing a Ms Lindqvist instead": a name after its title, unknown to the tagger
                others = others or {
                    m.group(1)
                    for m in (*_CALLED.finditer(t.text), *_TITLED.finditer(t.text))
                    if not mentions.search(m.group(1))
                }
                if len(others) == 1:
                    other = others.pop()
                    source = _source(t).split(" on ")[0]
                    one = Answer(prompts.GROUNDED_TYPED.format(span=other, source=source), other, True, True)
            if (
                one is not None
                and one.typed
                and one.span.lower() not in seen | own
                and not mentions.search(one.span)
            ):
                step = (t, one)
                break
        if step is None:
            return found
        found = step
        seen.add(step[1].span.lower())
    return found


def _known_as_place(name: str, candidates: list[Candidate]) -> bool:
    """True when the texts name `name` as a place or an organisation: part of a longer name
    of one ("Lakeside Private Hospital") or where someone is ("my start date at Lakeside")."""
    words = name.split()
    if len(words) != 1:
        return False
    for c in candidates:
        if c.source != "turn" or not re.search(rf"\b{re.escape(name)}\b", c.text):
            continue
        doc = parse(c.text).doc
        for tok in doc:
            if tok.text != name or tok.ent_type_ == "PERSON":
                continue
            ent = next((e for e in doc.ents if e.start <= tok.i < e.end), None)
            if ent is not None and ent.label_ in ("ORG", "FAC", "GPE", "LOC") and len(ent) > 1:
                return True
            if tok.dep_ == "pobj" and tok.head.lower_ in ("at", "in"):
                return True
    return False


def _own_names(candidates: list[Candidate]) -> set[str]:
    """The user's own name as memory holds it, whole and by its parts, lower case."""
    out: set[str] = set()
    for c in candidates:
        if c.fact is not None and c.fact.attribute == "name" and c.fact.value:
            out.add(c.fact.value.lower())
            out |= {w.lower() for w in c.fact.value.split() if len(w) > 2}
    return out


def _fuller_name(name: str, short: str) -> bool:
    """True when name holds every word of short and more ("gary whitfield" of "gary")."""
    words, few = name.lower().split(), short.lower().split()
    return len(words) > len(few) and all(w in words for w in few)


def _another_of(word: str, text: str, old: str) -> bool:
    """True when text says the word of another one than old does: "physics exam" of "my
    math exam is 3 May" (a modifier old does not have)."""
    before = content_words(old)
    return any(
        c.dep_ in ("compound", "amod") and c.lemma_.lower() not in before
        for t in parse(text).doc
        if t.lemma_.lower() == word
        for c in t.children
    )


def _later(c: Candidate, than: Candidate) -> bool:
    """True when c was said after `than`. A goal's time is its last change, which may be the
    very turn that changed one slot and not the other ("we go in October now ... my budget
    is now 2500 euro" moved the date; the budget slot still holds 3000): a turn from that
    exchange on that says it changed counts as later than the goal."""
    if c.said > than.said + LATER_TURN_S:
        return True
    in_exchange = c.said >= than.said - GOAL_EXCHANGE_S
    return than.source == "goal" and c.source == "turn" and in_exchange and changed(c.text)


def _on_topic(question: str, value: str, text: str) -> bool:
    """True when the sentence of text holding the value shares a word with the question."""
    return any(value.lower() in s.lower() and overlap(question, s) > 0 for s in sentences(text))


def _replaces(newer: Answer, older: Answer) -> bool:
    """True when a later text's answer can stand for an older one: a different value found
    the same way, and a value of the asked kind when the older one was ("Change of plan."
    does not replace "1,200,000 yen")."""
    words = {w for w in older.span.lower().replace(".", "").split()}
    shorter = set(newer.span.lower().replace(".", "").split()) <= words
    return (
        newer.in_text == older.in_text
        and newer.span != older.span
        and (newer.typed or not older.typed)
        and not shorter  # "Dr. Raman" later is still "Dr. Priya Raman"
        # a sum of money is replaced by a sum, or a plain number ("it's gone up to 900"):
        # "the men's 1s" does not replace "subs are £185"
        and (
            not (newer.typed and older.typed)  # (a quote holds more than its value)
            or is_money(newer.span)
            or not is_money(older.span)
            or bool(_PLAIN_NUMBER.match(newer.span))
        )
        # ... and a count or a measure by no sum: "subs up to £15" does not replace "38
        # members", "$5,900 a month" does not replace "donepezil 5mg"
        and not (
            newer.typed
            and older.typed
            and is_money(newer.span)
            and not is_money(older.span)
            and _COUNTED.search(older.span)
        )
    )


_PLAIN_NUMBER = re.compile(r"\d[\d,.]*k?(?:\s|$)", re.IGNORECASE)
# "38 members", "5mg" (a count or a measure), not "12 euros" (a sum: is_money)
_COUNTED = re.compile(r"^\d[\d,.]*(?:\s+[a-z]{3,}|\s?[a-zµ]{2,3}\b)")


def _attribute_answer(
    store: Memory, user_id: str, attribute: Attribute | None, now: float
) -> Grounded | None:
    """ "What is my name?", "Where do I work?" (the `asked_attribute` of the question): the
    typed slot's value, said back; or the user's own sentence that states it, when there is
    no slot or the sentence is newer ("we now live in Tema" after the slot took "Accra");
    None when the question asks for no attribute or memory holds neither (the general
    scoring then decides)."""
    if attribute is None:
        return None
    facts = [
        f for f in store.profile.facts(user_id) if f.value and not looks_like_instructions(f.text)
    ]
    fact = None
    for slot in ATTRIBUTE_SLOTS[attribute]:
        held = [f for f in facts if _fills(f, slot)]
        if held:
            fact = max(held, key=lambda f: f.updated)  # the newest value is the current one
            break
    said = _stated(store, user_id, attribute, now)
    if fact is not None and (said is None or said[1] <= (fact.source.time or fact.updated)):
        told = second_person(_fact_text(fact))
        reply = prompts.GROUNDED_ATTRIBUTE.format(fact=told[0].upper() + told[1:])
        return Grounded(reply=reply, span=fact.value, source="fact", score=1.0)
    if said is None:
        return None
    reply = prompts.GROUNDED_SAID.format(source="You told me", quote=said[0])
    return Grounded(reply=reply, span=said[0], source="turn", score=1.0)


def _fills(fact: Fact, slot: str) -> bool:
    """True when the fact holds the slot's value: a place is where the user lives unless
    it is where they are from ("User is from Kharkiv" is no answer to "where do I live?")."""
    if slot in ("place", "origin"):
        return fact.attribute == "place" and (fact.relation == "origin") == (slot == "origin")
    return fact.attribute == slot


def _stated(
    store: Memory, user_id: str, attribute: Attribute, now: float
) -> tuple[str, float] | None:
    """The user's newest sentence that states the attribute (by its parse), and when it was said."""
    if not store.episodes.count(user_id):
        return None
    probe = ATTRIBUTE_PROBES[attribute]
    mine = [
        (sentence, h.time)
        for h in store.search(user_id, probe, kinds=("episodes",), k=3 * SEARCH_TURNS, now=now)
        if str(h.metadata.get("speaker", "")) in ("user", "")
        for sentence in sentences(_without_orders(h.text))
        if not sentence.endswith("?") and says_attribute(sentence, attribute)
    ]
    return max(mine, key=lambda m: m[1]) if mine else None


def asked_thing(question: str) -> str:
    """What a question asks about, said to the user: "Did I mention the name of my dog?" ->
    "the name of your dog"; "" when it names nothing of the user's."""
    doc = parse(question).doc
    owned = next((c for c in doc.noun_chunks if any(t.lower_ in ("my", "our") for t in c)), None)
    if owned is None:  # "Zosia's teacher": someone's, named
        owned = next(
            (c for c in doc.noun_chunks if any(t.dep_ == "poss" and t.pos_ == "PROPN" for t in c)),
            None,
        )
    if owned is None:
        return ""
    root = owned.root
    # "the name of my dog": up through "of" to the noun it belongs to
    while root.head.lower_ == "of" and root.head.head.pos_ in ("NOUN", "PROPN"):
        root = root.head.head
    span = doc[root.left_edge.i : owned.end]
    return second_person(span.text) if span.text else ""


def declined(question: str) -> Grounded:
    """The plain "I don't know" for a question memory does not answer."""
    return Grounded(reply=_nothing([], question), span="", source="none", score=0.0)


def _nothing(people: list[str], question: str = "") -> str:
    if people:
        return prompts.GROUNDED_NOTHING_NAMED.format(name=" or ".join(people))
    thing = asked_thing(question)
    if thing:
        return prompts.GROUNDED_NOTHING_ABOUT.format(thing=thing)
    return prompts.GROUNDED_NOTHING
