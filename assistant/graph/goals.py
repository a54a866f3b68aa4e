"""Goal tracking: rules that read the user's own words, and the model's structured proposal.

The model proposes a `GoalUpdate` as JSON; it is validated against the schema (retried
when invalid) and then checked against the rules, which always produce a valid update
on their own. Only the user's message is read here: recalled feed items and memory
never reach the tracker, so external text cannot create, finish or drop a goal.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from assistant.graph import prompts
from assistant.graph.answer_span import day_after, is_said_day, ruled_out, said_day, shifted_date
from assistant.graph.attribute_question import asked_attribute
from assistant.graph.state import OPEN_STATUSES, GoalState, now
from assistant.llm.base import ChatModel, Message
from assistant.llm.constrain import constrained_chat
from memory.understand import Request, parse


def _word_set(words: str) -> frozenset[str]:
    """A set of words written as one string (easier to read and extend than a list)."""
    return frozenset(words.split())

log = logging.getLogger(__name__)

Event = Literal["new", "progress", "done", "dropped", "none"]


class GoalUpdate(BaseModel):
    """What happened to the user's goals in one message (the model's JSON schema)."""

    event: Event = "none"
    goal_id: str = ""
    statement: str = Field(default="", max_length=200)
    success_criteria: str = Field(default="", max_length=200)
    known: list[str] = Field(default_factory=list, max_length=8)
    missing: list[str] = Field(default_factory=list, max_length=3)


_FLAGS = re.IGNORECASE
# "I need to know ..." is a question, not a goal; "help me with today" has no object.
NOT_A_GOAL = re.compile(
    r"^(?:know|ask|say|tell|check whether|understand what|with|about|on|for|out|me|you|it|that|"
    r"this)\b",
    _FLAGS,
)
# "What can you help me with?", "How would you help me plan a trip?": asking about help.
ASKS_ABOUT_HELP = re.compile(
    r"^\W*(?:what|how|which|who|why|when|where)\b.*\?\s*$", _FLAGS | re.DOTALL
)
# "Can you ...": a request when stated, a question about us after a wh-word ("What can you do?").
ASKS_US = re.compile(r"\b(?:can|could|would|will) you\b", _FLAGS)
DONE = re.compile(
    r"\b(?:i(?:'ve| have)? (?:just |finally |already )?(?:booked|finished|completed|submitted|"
    r"bought|sent|sorted|done|did) (?:it|that|the|my|everything|all)?|booked it|"
    r"that'?s all i needed|all set now|it'?s done|that'?s done|goal (?:is )?(?:done|achieved|complete)|"
    r"mark (?:it|that|the goal) (?:as )?(?:done|complete)|problem solved|got it sorted)",
    _FLAGS,
)
DROPPED = re.compile(
    r"\b(?:never ?mind|forget (?:about )?(?:it|that|the \w+)\b|forget about|"
    r"i (?:no longer|don'?t|do not) (?:need|want) (?:it|that|this)(?: anymore)?\b|"
    r"i no longer (?:need|want) to|"
    r"(?:cancel|drop|abandon|scrap) (?:it|that|the|my|this)\b|give up on|"
    r"not (?:doing|going to do) (?:it|that|this) anymore|changed my mind|"
    r"(?:no|not) longer (?:planning|going|interested))",
    _FLAGS,
)

# What kind of thing a request is for, so a second request of the same kind continues the
# goal ("find a restaurant", then "book a table there") and one of another kind opens a new
# one ("... and I need a cab"). Keyed by the lemma of what is asked for, or its verb.
_KINDS: dict[str, tuple[str, ...]] = {
    "food": ("restaurant", "table", "food", "dinner", "lunch", "breakfast", "brunch", "meal",
             "eat", "pizza", "sushi", "cuisine", "reservation", "place to eat", "cafe", "bar"),
    "event": ("event", "concert", "game", "show", "match", "festival", "gig", "ticket",
              "something to do", "thing to do", "activity", "play", "musical"),
    "lodging": ("hotel", "room", "hostel", "motel", "place to stay", "stay", "accommodation",
                "airbnb"),
    "ride": ("ride", "cab", "taxi", "uber", "lyft", "driver", "pickup"),
    "car": ("car", "rental", "vehicle", "suv", "sedan"),
    "bus": ("bus", "coach"),
    "train": ("train", "rail"),
    "flight": ("flight", "plane", "airline", "fly"),
    "home": ("apartment", "flat", "house", "home", "place to live", "condo", "bedroom"),
    "care": ("doctor", "dentist", "salon", "stylist", "hairdresser", "barber", "dermatologist",
             "therapist", "physician", "appointment", "checkup", "haircut", "gynecologist",
             "ophthalmologist", "psychiatrist", "optometrist", "pediatrician", "doc"),
    "money": ("money", "payment", "transfer", "pay"),
    "sights": ("attraction", "museum", "sight", "park", "place to visit", "landmark", "tour",
               "something to see"),
    "movie": ("movie", "film", "cinema"),
}  # fmt: skip
KIND_OF: dict[str, str] = {w: kind for kind, words in _KINDS.items() for w in words}


def _kind_of_words(words: list[str]) -> str:
    words = [w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in words]
    for n in (3, 2, 1):  # "place to eat" before "place"
        for i in range(len(words) - n + 1):
            gram = " ".join(words[i : i + n])
            kind = KIND_OF.get(gram)
            if kind:
                return kind
    return ""


_BARE_WISHES = _word_set("want wants wanted need needs needed like love wish require")
# Objects that ask for a piece of information, not for something to be done.
INFO_HEADS = _word_set("balance number address phone rating weather forecast time times date dates price cost fare "
    "detail details info information review reviews hour hours duration direction directions "
    "name genre email website menu")
# Words that refine whatever is being looked for ("something cheaper", "another one").
VAGUE_HEADS = _word_set("something anything somewhere anywhere place one other else")
# Going somewhere or leaving: a detail of the plan in hand when one is open.
DETAIL_VERBS = _word_set("go leave travel come return fly stay try keep move")
# What the assistant writes for the work in hand ("can you make a weekly plan?"): with a goal
# open, asking for one of these is help with that goal, not a goal of its own.
WORK_AIDS = _word_set("plan schedule timeline outline checklist list routine roadmap step steps "
    "tip tips idea ideas")


def request_kind(req: Request) -> str:
    """What a request is for ("food", "ride"), else its own head word ("rust", "book")."""
    heads = [req.head, *req.extra]
    if req.head in ("something", "thing", "place", "somewhere") and req.extra:
        heads = [f"{req.head} to {x}" for x in req.extra] + list(req.extra)
    for word in heads:
        kind = KIND_OF.get(word)
        if kind:
            return kind
    return KIND_OF.get(req.verb) or req.head or req.verb


def goal_kind(statement: str) -> str:
    """The kind of an existing goal, from the words of its statement."""
    return _kind_of_words(re.findall(r"[a-z0-9]+", statement.lower()))


# Words of wanting: a model-proposed goal needs one of them in the user's message.
WISH = re.compile(
    r"\b(?:want|wish|need|plan|planning|goal|trying|going to|would like|'d like|hope|hoping|"
    r"have to|must|should|let'?s|organi[sz]e|prepare|keep an eye|remind|looking to|aim|"
    r"(?:can|could|would|will) you|please|sort out)\b",
    _FLAGS,
)

# Replies that answer nothing ("not sure", "let me think").
HEDGE = re.compile(
    r"^\W*(?:ok(?:ay)?|hmm+|um+|not sure|no idea|i don'?t know|let me think|maybe|later|dunno)\b",
    _FLAGS,
)

# What a goal of each kind needs before a useful answer (the rule fallback).
NEEDS: list[tuple[re.Pattern[str], list[str]]] = [
    (re.compile(r"\bkeep an eye on|monitor|watch|track\b", _FLAGS), []),
    (re.compile(r"\btrip|travel|holiday|vacation|flight|visit\b", _FLAGS), ["dates", "budget"]),
    (re.compile(r"\bparty|wedding|dinner|event|birthday\b", _FLAGS), ["date", "number of guests"]),
    (re.compile(r"\blearn|study|practi[cs]e\b", _FLAGS), ["current level", "time per week"]),
    (
        re.compile(r"\bwrite|essay|report|talk|presentation|paper\b", _FLAGS),
        ["audience", "deadline"],
    ),
    (re.compile(r"\bjob|apply|interview\b", _FLAGS), ["role", "deadline"]),
    (re.compile(r"\bbuy|choose|pick|purchase\b", _FLAGS), ["budget"]),
]
DEFAULT_NEEDS = ["deadline"]

SLOT_KINDS = ("date", "budget", "guests")


# A period rather than a day ("next year", "this summer"): a day said beside it is the date
_VAGUE_DATE = re.compile(r"\b(?:year|month|summer|winter|spring|autumn|fall|season)\b", re.IGNORECASE)


def slot_value(kind: str, text: str) -> str | None:
    """The words of `text` that give a slot of this kind ("by Feb 15." -> "Feb 15"), if any."""
    turn = parse(text)
    found = {"date": turn.dates, "budget": turn.prices, "guests": turn.party_sizes}.get(kind)
    values = found() if found is not None else []
    if kind == "date":  # "next year, my target date is march 20": the day, not the year
        kept = [v for v in (_not_ruled_out(v, text) for v in values) if v]
        if values and not kept and (day := said_day(text)):
            kept = [day]  # "can't do the 12th, we moved it to the 19th": the day not ruled out
        values = sorted(kept, key=lambda v: bool(_VAGUE_DATE.search(v)) and not re.search(r"\d", v))
    return values[0] if values else None


def _not_ruled_out(value: str, text: str) -> str:
    """A date as said, less what the text rules out: "" for "can't do the 12th", the new end
    of "moved from the 12th to the 19th"."""
    at = text.find(value)
    if at < 0 or not ruled_out(text[:at]):
        return value
    moved_to = re.split(r"\s+to\s+", value, maxsplit=1)
    return moved_to[1] if len(moved_to) == 2 else ""


def _in_month_of(value: str, known: list[str], text: str) -> str:
    """A date slot said as a bare day ("the 19th") put in the month of the date it replaces
    ("Saturday 12 July" -> "19 July"); other values as they are."""
    name, _, said = value.partition(":")
    old = next((k.split(":", 1)[1].strip() for k in known if _known_kind(k) == "date"), "")
    if _slot_kind(name) != "date" or not old or not is_said_day(said.strip()):
        return value
    day = day_after(said, old) or day_after(text, old)
    return f"{name}: {day}" if day else value


def _moved_date(known: list[str], said: list[str], text: str) -> list[str]:
    """The goal's date moved by the span of time the message says, when it writes no date of
    its own ("they've moved Giulia's jabs a week later" of "date: 9 January" is "date: 16
    January"); [] otherwise."""
    old = next((k for k in known if _known_kind(k) == "date"), "")
    if not old or any(_known_kind(k) == "date" for k in said):
        return []
    name, _, value = old.partition(":")
    moved = shifted_date(text, value.strip())
    return [f"{name}: {moved}"] if moved else []


def _gives(kind: str, text: str) -> bool:
    return slot_value(kind, text) is not None or (kind == "budget" and "budget" in text.lower())


def _said(kind: str, text: str) -> str:
    # A message that only names the slot ("the budget is tight") is kept as the user said it:
    # the sentence that names it ("same budget", not the "change - ..." the message opens with)
    value = slot_value(kind, text)
    if value:
        return value
    named = [p for p in re.split(r"(?<=[.!?;])\s+|\n", text) if kind in p.lower()]
    return _clean_statement(named[0] if named else text)


def _slot_kind(need: str) -> str | None:
    lowered = need.lower()
    if "date" in lowered or "deadline" in lowered or "when" in lowered:
        return "date"
    if "budget" in lowered or "cost" in lowered or "price" in lowered:
        return "budget"
    if "guest" in lowered or "people" in lowered:
        return "guests"
    return None


def _clean_statement(text: str) -> str:
    first = re.split(r"(?<=[.!?;])\s|\n|\s[-–]\s", text.strip(), maxsplit=1)[0]
    return first.strip().rstrip(".!?,;: ")[:160]


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]{4,}", text.lower())}


def _needs(statement: str) -> list[str]:
    for pattern, wanted in NEEDS:
        if pattern.search(statement):
            return list(wanted)
    return list(DEFAULT_NEEDS)


def needs_for(statement: str) -> list[str]:
    """What a new goal still needs, minus what its statement already says."""
    return [n for n in _needs(statement) if not ((kind := _slot_kind(n)) and _gives(kind, statement))]


def detect_new_goal(text: str, goals: list[GoalState] | None = None) -> str | None:
    """The goal statement in a user message ("help me plan X" -> "plan X"), if any.

    A request opens a goal unless it refers back ("book it"), is negated, or asks for more
    of what an open goal is already about (`goals`): a second request of the same kind
    continues that goal.
    """
    if ASKS_ABOUT_HELP.match(text.strip()) and not ASKS_US.search(text):
        return None
    if asked_attribute(text) is not None:
        return None  # "Help me with my LinkedIn - which company do I work at now?" asks for a fact
    open_kinds = {goal_kind(g["statement"]) for g in open_goals(goals or [])} - {""}
    open_words = set().union(*(_words(g["statement"]) for g in open_goals(goals or [])))
    for req in parse(text).requests():
        if req.negated or req.pronoun or req.head in INFO_HEADS:
            continue
        if req.question and req.frame == "wish":
            continue  # "I need a special tent?": asks whether, wants nothing yet
        kind = request_kind(req)
        if open_kinds and kind not in KIND_OF.values() and (
            req.head in VAGUE_HEADS or req.verb in DETAIL_VERBS or not req.head
        ):
            continue  # "something cheaper", "I'd like to leave on the 7th": refines the open goal
        if kind in open_kinds or (req.head and req.head in open_words):
            continue  # more about a goal already open
        if req.head in WORK_AIDS and open_goals(goals or []):
            continue  # "can you make a weekly plan?" for the goal already open
        if req.head_proper and open_kinds and not req.also:
            continue  # "look for Captain Marvel": a name from the results, not a new aim
        if req.frame == "switch" and kind not in KIND_OF.values():
            continue  # "how about Tuesday?" changes a detail
        statement = _clean_statement(req.phrase)
        first = statement.split()[0].lower() if statement else ""
        if req.verb == "get" and (req.frame == "switch" or first in _BARE_WISHES):
            # "I need a cab" -> "get a cab"; "I'm planning a party" keeps the user's verb
            rest = statement.split()[1:] if req.frame == "wish" else statement.split()
            statement = "get " + " ".join(rest)
        if statement and not NOT_A_GOAL.match(statement) and len(statement.split()) >= 2:
            return statement
    return None


def open_goals(goals: list[GoalState]) -> list[GoalState]:
    """Goals still being worked on (active or waiting on the user)."""
    return [g for g in goals if g["status"] in OPEN_STATUSES]


def _named_goal(goals: list[GoalState], text: str) -> GoalState | None:
    """The open goal a message names by its words ("the thesis deadline is now 15 May")."""
    words = _words(text)
    scored = [(len(words & _words(g["statement"])), g["updated"], g) for g in open_goals(goals)]
    best = max(scored, key=lambda s: (s[0], s[1]), default=None)
    return best[2] if best is not None and best[0] > 0 else None


def target_goal(goals: list[GoalState], text: str, active: str) -> GoalState | None:
    """The open goal a message talks about: by shared words, else the active one, else the newest."""
    candidates = open_goals(goals)
    if not candidates:
        return None
    named = _named_goal(goals, text)
    if named is not None:
        return named
    for goal in candidates:
        if goal["id"] == active:
            return goal
    return max(candidates, key=lambda g: g["updated"])


def slots_in(text: str) -> list[str]:
    """What a message already says about the slot kinds the rules know ("budget: ...")."""
    return [f"{kind}: {_said(kind, text)}" for kind in SLOT_KINDS if _gives(kind, text)]


def _not_an_answer(text: str) -> bool:
    """Thanks, a goodbye, an order to us or nothing named ("Thanks, that helps.", "Tell me your
    name.", "Sounds good."): said after our question, it still answers nothing."""
    doc = parse(text).doc
    if not any(t.pos_ in ("NOUN", "PROPN", "NUM") for t in doc):
        return True  # "Sounds good.", "Yes!": nothing named
    for sent in doc.sents:
        root = sent.root
        if root.tag_ == "VB" and not any(c.dep_ in ("nsubj", "expl") for c in root.children):
            return True  # a bare command
        if any(t.dep_ == "intj" for t in sent) and len([t for t in sent if t.is_alpha]) <= 5:
            return True  # "Thanks, that helps", "Great, bye for now"
    return False


def fill_missing(missing: list[str], text: str) -> tuple[list[str], list[str]]:
    """Split a user's answer over the missing slots it fills: (newly known, still missing)."""
    known: list[str] = []
    left: list[str] = []
    for need in missing:
        kind = _slot_kind(need)
        if kind and _gives(kind, text):
            known.append(f"{need}: {_said(kind, text)}")
        else:
            left.append(need)
    if (
        not known
        and missing
        and _slot_kind(missing[0]) is None
        and not HEDGE.search(text)
        and not _not_an_answer(text)
    ):
        # A free-form slot ("audience") is filled by whatever the user answers to our question.
        known.append(f"{missing[0]}: {_clean_statement(text)}")
        left = missing[1:]
    if known:  # a date, party size or price said in the same answer is kept too
        filled = {_slot_kind(k.split(":", 1)[0]) for k in known}
        known += [s for s in slots_in(text) if _slot_kind(s.split(":", 1)[0]) not in filled]
    return known, left


def rule_update(text: str, goals: list[GoalState], active: str) -> GoalUpdate:
    """The rules' reading of one user message; always a valid update."""
    target = target_goal(goals, text, active)
    if target is not None and DROPPED.search(text):
        return GoalUpdate(event="dropped", goal_id=target["id"])
    if target is not None and DONE.search(text):
        return GoalUpdate(event="done", goal_id=target["id"])
    current = next((g for g in open_goals(goals) if g["id"] == active), None)
    if current is not None and current["status"] == "waiting" and current["missing"]:
        # An answer to our question may use goal-like words ("I want to go in May").
        claimed = [n for n in current["missing"] if (k := _slot_kind(n)) and _gives(k, text)]
        if claimed:
            known, left = fill_missing(current["missing"], text)
            return GoalUpdate(event="progress", goal_id=current["id"], known=known, missing=left)
    statement = detect_new_goal(text, goals)
    if statement:
        # what the whole message already says is known, and never asked for again
        known = slots_in(text)
        given = {k.split(":", 1)[0] for k in known}
        return GoalUpdate(
            event="new",
            statement=statement,
            success_criteria=f"the user confirms: {statement}",
            known=known,
            # the statement is part of the message: what the message gives is already known
            missing=[n for n in _needs(statement) if _slot_kind(n) not in given],
        )
    if current is not None and current["missing"] and not text.rstrip().endswith("?"):
        known, left = fill_missing(current["missing"], text)
        if known:
            return GoalUpdate(event="progress", goal_id=current["id"], known=known, missing=left)
    if current is None and not text.rstrip().endswith("?"):
        current = _named_goal(goals, text)  # a new thread: the goal the message names
    if current is not None:
        # a date, party size or price said along the way belongs to the goal being worked on
        # and replaces one of its kind; a question only adds what the goal lacks ("Any tips
        # for the last week?" leaves the trip's dates as they were)
        said = [_in_month_of(s, current["known"], text) for s in slots_in(text)]
        if text.rstrip().endswith("?"):
            have = {_known_kind(k) for k in current["known"]}
            said = [k for k in said if _known_kind(k) not in have]
        said += _moved_date(current["known"], said, text)
        if said:
            kinds = {k.split(":", 1)[0] for k in said}
            left = [m for m in current["missing"] if _slot_kind(m) not in kinds]
            return GoalUpdate(event="progress", goal_id=current["id"], known=said, missing=left)
    return GoalUpdate()


def parse_update(raw: str) -> GoalUpdate:
    """Validate the model's answer against the schema; raises ValueError when it is not valid."""
    match = re.search(r"\{.*\}", raw, re.DOTALL)
    if not match:
        raise ValueError("no JSON object found")
    try:
        data = json.loads(match.group(0))
        return GoalUpdate.model_validate(data)
    except (json.JSONDecodeError, ValidationError) as exc:
        raise ValueError(str(exc).splitlines()[0]) from None


# What the model is asked to write: GoalUpdate with the lengths a small reply budget fits,
# so decoding constrained to it always ends in valid JSON (assistant.llm.constrain).
GOAL_SCHEMA: dict[str, object] = {
    "type": "object",
    "properties": {
        "event": {"enum": ["new", "progress", "done", "dropped", "none"]},
        "goal_id": {"type": "string", "maxLength": 16},
        "statement": {"type": "string", "maxLength": 80},
        "success_criteria": {"type": "string", "maxLength": 60},
        "known": {"type": "array", "items": {"type": "string", "maxLength": 40}, "maxItems": 3},
        "missing": {"type": "array", "items": {"type": "string", "maxLength": 24}, "maxItems": 3},
    },
    "required": ["event", "goal_id", "statement", "success_criteria", "known", "missing"],
    "additionalProperties": False,
}


def model_update(
    llm: ChatModel, text: str, goals: list[GoalState], *, retries: int, max_new_tokens: int = 120
) -> GoalUpdate | None:
    """Ask the model for a structured update; None when it never produced a valid one."""
    listing = (
        "\n".join(
            f"- {g['id']}: {g['statement']} (missing: {', '.join(g['missing']) or 'nothing'})"
            for g in open_goals(goals)
        )
        or "(none)"
    )
    messages: list[Message] = [
        {"role": "system", "content": prompts.GOAL_TRACKER_SYSTEM},
        {"role": "user", "content": prompts.GOAL_TRACKER_USER.format(goals=listing, message=text)},
    ]
    for attempt in range(retries + 1):
        raw = constrained_chat(
            llm, messages, GOAL_SCHEMA, max_new_tokens=max(max_new_tokens, 160)
        ).text
        try:
            return parse_update(raw)
        except ValueError as exc:
            log.debug("goal tracker answer %d invalid: %s", attempt, exc)
            messages = messages + [
                {"role": "assistant", "content": raw},
                {"role": "user", "content": prompts.GOAL_TRACKER_RETRY.format(error=exc)},
            ]
    return None


def _only_asks(text: str) -> bool:
    """Every sentence that could carry a wish is a question ("Hi! What can you help me with?").

    Judged per sentence of the parse, so a greeting in front does not hide the question;
    "Could you book a table?" is a request, "What can you do?" and "Do I need a tent?" ask.
    """
    sentences = [s.text.strip() for s in parse(text).sentences if s.text.strip()]
    wishing = [s for s in sentences if WISH.search(s)] or sentences[-1:]
    if not wishing:
        return False
    for sentence in wishing:
        request = ASKS_US.search(sentence)
        if not (sentence.endswith("?") and (ASKS_ABOUT_HELP.match(sentence) or not request)):
            return False
    return True


def proposal_can_count(rules: GoalUpdate, text: str, goals: list[GoalState]) -> bool:
    """Whether `reconcile` could keep anything of a model proposal for this message.

    The same tests as reconcile's, without the proposal: where they fail, every proposal
    ends as the rules' update, so the model call (seconds of constrained decoding, twice
    when the answer is invalid) is skipped. "Hi! What can you help me with?" with no open
    goal is such a message: it only asks, and there is no goal it could end.
    """
    if rules.event in ("done", "dropped"):
        return False
    if rules.event in ("progress", "new"):
        return True  # the model may add detail to what the rules saw
    if open_goals(goals) and "?" not in text:
        return True  # the model may catch an ending the rules missed
    return bool(WISH.search(text)) and not _only_asks(text)


def _grounded(statement: str, text: str) -> bool:
    """Whether most of a proposed goal's words are the user's: the small model sometimes
    invents one from a single shared word ("... how to start?" -> "start with the goal of 123")."""
    mine = _words(statement)
    return bool(mine) and len(mine & _words(text)) * 2 >= len(mine)


def _repeats_open_goal(statement: str, goals: list[GoalState]) -> bool:
    """Whether a proposed goal says an open goal again ("The plan is to plan a weekend in Rome")."""
    mine = _words(statement)
    return any(
        len(mine & (theirs := _words(g["statement"]))) * 2 >= min(len(mine), len(theirs))
        for g in open_goals(goals)
        if mine and _words(g["statement"])
    )


def reconcile(
    proposed: GoalUpdate | None, rules: GoalUpdate, text: str, goals: list[GoalState]
) -> GoalUpdate:
    """Keep the model's proposal only where the user's words support it; else the rules'.

    An explicit cue the rules read (done, dropped, an answer to our question) wins; the
    model adds detail to a goal the rules also saw, and may catch what the rules missed:
    a new goal only when the message carries a wish or request in the user's own words,
    an ending only when the message is not a question.
    (`proposal_can_count` repeats these tests without the proposal: change both together.)
    """
    if proposed is None or rules.event in ("done", "dropped"):
        return rules
    if rules.event == "progress":
        same = proposed.event == "progress" and proposed.goal_id == rules.goal_id
        if same and proposed.known and all(_words(k) & _words(text) for k in proposed.known):
            return GoalUpdate(
                event="progress",
                goal_id=rules.goal_id,
                known=proposed.known,
                missing=proposed.missing,
            )
        return rules
    if rules.event == "new":
        if proposed.event != "new":
            return rules
        given = {k.split(":", 1)[0] for k in rules.known}
        return GoalUpdate(
            event="new",
            statement=rules.statement,
            success_criteria=proposed.success_criteria or rules.success_criteria,
            known=list(
                dict.fromkeys(rules.known + [k for k in proposed.known if _words(k) & _words(text)])
            ),
            # never ask again for what the message already gave
            missing=[m for m in proposed.missing or rules.missing if _slot_kind(m) not in given],
        )
    asks = _only_asks(text)
    if (
        proposed.event == "new"
        and not asks  # "Do I need a special tent?" asks; it states no goal
        and _grounded(proposed.statement, text)
        and not _repeats_open_goal(proposed.statement, goals)
        and WISH.search(text)
    ):
        statement = _clean_statement(proposed.statement)
        return GoalUpdate(
            event="new",
            statement=statement,
            success_criteria=proposed.success_criteria,
            known=[k for k in proposed.known if _words(k) & _words(text)],
            missing=proposed.missing or needs_for(statement),
        )
    open_ids = {g["id"] for g in open_goals(goals)}
    if proposed.event in ("done", "dropped") and proposed.goal_id in open_ids and "?" not in text:
        return GoalUpdate(event=proposed.event, goal_id=proposed.goal_id)
    return rules


def _known_kind(known: str) -> str:
    """The slot a known entry fills ("deadline: 15 May" -> "date"), else its own name."""
    name = known.split(":", 1)[0].strip()
    return _slot_kind(name) or name


def apply_update(
    update: GoalUpdate, goals: list[GoalState], *, thread: str
) -> tuple[list[GoalState], GoalState | None]:
    """The goals after an update, and the goal it touched (None when nothing changed)."""
    stamp = now()
    goals = [dict(g) for g in goals]  # type: ignore[misc]
    if update.event == "new":
        goal = GoalState(
            id=f"g-{uuid.uuid4().hex[:10]}",
            statement=update.statement,
            success_criteria=update.success_criteria,
            known=list(update.known),
            missing=list(update.missing),
            status="active",
            thread=thread,
            created=stamp,
            updated=stamp,
        )
        return goals + [goal], goal
    for goal in goals:
        if goal["id"] != update.goal_id or goal["status"] not in OPEN_STATUSES:
            continue
        if update.event in ("done", "dropped"):
            goal["status"] = update.event
        elif update.event == "progress":
            # a new value of a slot replaces the old one ("the deadline is now 15 May")
            kinds = {_known_kind(k) for k in update.known}
            kept = [k for k in goal["known"] if _known_kind(k) not in kinds]
            goal["known"] = list(dict.fromkeys(kept + update.known))
            goal["missing"] = list(update.missing)
            goal["status"] = "active"
        else:
            return goals, None
        goal["updated"] = stamp
        return goals, goal
    return goals, None


def track(
    text: str,
    goals: list[GoalState],
    active: str,
    *,
    llm: ChatModel | None = None,
    retries: int = 1,
    thread: str = "",
) -> tuple[GoalUpdate, list[GoalState], GoalState | None]:
    """One user message through the tracker: rules, the model's proposal (when given), reconcile.

    Returns the update, the goals after it and the goal it touched (None: nothing changed).
    """
    rules = rule_update(text, goals, active)
    proposed = None
    if llm is not None and proposal_can_count(rules, text, goals):
        proposed = model_update(llm, text, goals, retries=retries)
    update = reconcile(proposed, rules, text, goals)
    after, touched = apply_update(update, goals, thread=thread)
    return update, after, touched
