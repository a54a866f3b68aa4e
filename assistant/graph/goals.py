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
from assistant.graph.state import OPEN_STATUSES, GoalState, now
from assistant.llm.base import ChatModel, Message

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
NEW_GOAL = [
    re.compile(p, _FLAGS)
    for p in (
        r"\bremind me to (?P<g>keep an eye on\b.+)",
        r"\b(?:can|could|would) you help me (?:to )?(?P<g>.+)",
        r"\bhelp me (?:to )?(?P<g>.+)",
        r"\bmy goal is to (?P<g>.+)",
        r"\b(?:i|we)(?: (?:really )?(?:need|want|have|would like|would love|plan|intend|aim|hope|"
        r"mean)|'d (?:really )?(?:like|love)) to (?P<g>.+)",
        r"\b(?:i|we) must (?P<g>.+)",
        r"\blet'?s (?P<g>(?:plan|organi[sz]e|prepare|book|write|find|buy|get|make|start|set up|throw) .+)",
        r"\bi'?m (?:trying|planning|hoping|going) to (?P<g>.+)",
        r"\bi am (?:trying|planning|hoping|going) to (?P<g>.+)",
        r"\b(?:i'?m|i am) planning (?P<g>(?:a|an|my|the) .+)",
        r"\bkeep an eye on (?P<g>.+)",
    )
]
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

# Recognisers that tell which missing slot a user's answer fills.
# Whole month names or their abbreviations ("mar" alone would match "market", "dec" "decide");
# "may" counts only as "May", after "in/on/by/of", or before a day.
_MONTHS = (
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|(?-i:May)|(?<=in |on |by |of )may|"
    r"may(?=\s+\d)|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|"
    r"dec(?:ember)?"
)
SLOTS: dict[str, re.Pattern[str]] = {
    "date": re.compile(
        rf"\b(?:{_MONTHS})\b|\b\d{{1,2}}(?:st|nd|rd|th)?\b.*\b(?:{_MONTHS})\b|"
        r"\bnext (?:week|month|year|weekend|monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b|"
        r"\btomorrow\b|\btonight\b|\bin \d+ (?:days|weeks|months)\b|\b\d{4}-\d{2}-\d{2}\b|\bdays?\b",
        _FLAGS,
    ),
    "budget": re.compile(
        r"[€$£]\s?\d|\d\s?(?:€|\$|£|eur|euros?|usd|dollars?|pounds?|k\b)|\bbudget\b", _FLAGS
    ),
    "guests": re.compile(r"\b\d+\s+(?:people|guests|persons|friends)\b", _FLAGS),
}


# The part of a message that is the slot's value ("Feb 15", "600 euros", "8 people"): what
# the goal records, rather than the whole sentence around it. Most specific first.
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
_MONTH_WORD = rf"(?:{_MONTHS})\b\.?"
_WEEKDAY = r"(?:mon|tues|wednes|thurs|fri|satur|sun)day"
SPANS: dict[str, list[re.Pattern[str]]] = {
    "date": [
        re.compile(p, _FLAGS)
        for p in (
            rf"\b(?:{_WEEKDAY}\s+)?(?:the\s+)?{_DAY}(?:\s+to\s+(?:the\s+)?{_DAY})?\s+(?:of\s+)?"
            rf"{_MONTH_WORD}(?:\s+\d{{4}})?",
            rf"\b{_MONTH_WORD}\s+{_DAY}\b(?:,?\s+\d{{4}})?",
            rf"\b(?:(?:early|mid|late|the end of|end of)\s+)?{_MONTH_WORD}(?:\s+\d{{4}})?(?!\w)",
            r"\bnext (?:week|month|year|weekend|monday|tuesday|wednesday|thursday|friday|saturday|"
            r"sunday)\b",
            r"\bin (?:\d+|a|one|two|three|four|five|six) (?:days?|weeks?|months?)\b",
            r"\b\d{4}-\d{2}-\d{2}\b",
            r"\btomorrow\b|\btonight\b",
        )
    ],
    "budget": [
        re.compile(
            r"[€$£]\s?\d[\d,.]*\s?k?\b|\b\d[\d,.]*\s?(?:k\b|€|\$|£|eur\b|euros?\b|usd\b|"
            r"dollars?\b|pounds?\b)",
            _FLAGS,
        )
    ],
    "guests": [SLOTS["guests"]],
}


def slot_value(kind: str, text: str) -> str | None:
    """The words of `text` that give a slot of this kind ("by Feb 15." -> "Feb 15"), if any."""
    for pattern in SPANS.get(kind, []):
        match = pattern.search(text)
        if match:
            return match.group(0).strip().rstrip(".,")
    return None


def _said(kind: str, text: str) -> str:
    # A message that only names the slot ("the budget is tight") is kept as the user said it.
    return slot_value(kind, text) or _clean_statement(text)


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


def needs_for(statement: str) -> list[str]:
    """What a new goal still needs, minus what its statement already says."""
    needs = DEFAULT_NEEDS
    for pattern, wanted in NEEDS:
        if pattern.search(statement):
            needs = wanted
            break
    return [n for n in needs if not ((kind := _slot_kind(n)) and SLOTS[kind].search(statement))]


def detect_new_goal(text: str) -> str | None:
    """The goal statement in a user message ("help me plan X" -> "plan X"), if any."""
    if ASKS_ABOUT_HELP.match(text.strip()):
        return None
    for pattern in NEW_GOAL:
        match = pattern.search(text)
        if match:
            statement = _clean_statement(match.group("g"))
            if statement and not NOT_A_GOAL.match(statement) and len(statement.split()) >= 2:
                return statement
    return None


def open_goals(goals: list[GoalState]) -> list[GoalState]:
    """Goals still being worked on (active or waiting on the user)."""
    return [g for g in goals if g["status"] in OPEN_STATUSES]


def target_goal(goals: list[GoalState], text: str, active: str) -> GoalState | None:
    """The open goal a message talks about: by shared words, else the active one, else the newest."""
    candidates = open_goals(goals)
    if not candidates:
        return None
    words = _words(text)
    scored = [(len(words & _words(g["statement"])), g["updated"], g) for g in candidates]
    best = max(scored, key=lambda s: (s[0], s[1]))
    if best[0] > 0:
        return best[2]
    for goal in candidates:
        if goal["id"] == active:
            return goal
    return max(candidates, key=lambda g: g["updated"])


def slots_in(text: str) -> list[str]:
    """What a message already says about the slot kinds the rules know ("budget: ...")."""
    return [
        f"{kind}: {_said(kind, text)}" for kind, pattern in SLOTS.items() if pattern.search(text)
    ]


def fill_missing(missing: list[str], text: str) -> tuple[list[str], list[str]]:
    """Split a user's answer over the missing slots it fills: (newly known, still missing)."""
    known: list[str] = []
    left: list[str] = []
    for need in missing:
        kind = _slot_kind(need)
        if kind and SLOTS[kind].search(text):
            known.append(f"{need}: {_said(kind, text)}")
        else:
            left.append(need)
    if not known and missing and _slot_kind(missing[0]) is None and not HEDGE.search(text):
        # A free-form slot ("audience") is filled by whatever the user answers to our question.
        known.append(f"{missing[0]}: {_clean_statement(text)}")
        left = missing[1:]
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
        claimed = [n for n in current["missing"] if (k := _slot_kind(n)) and SLOTS[k].search(text)]
        if claimed:
            known, left = fill_missing(current["missing"], text)
            return GoalUpdate(event="progress", goal_id=current["id"], known=known, missing=left)
    statement = detect_new_goal(text)
    if statement:
        # what the whole message already says is known, and never asked for again
        known = slots_in(text)
        given = {k.split(":", 1)[0] for k in known}
        return GoalUpdate(
            event="new",
            statement=statement,
            success_criteria=f"the user confirms: {statement}",
            known=known,
            missing=[n for n in needs_for(statement) if _slot_kind(n) not in given],
        )
    if current is not None and current["missing"] and not text.rstrip().endswith("?"):
        known, left = fill_missing(current["missing"], text)
        if known:
            return GoalUpdate(event="progress", goal_id=current["id"], known=known, missing=left)
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
        raw = llm.chat(messages, max_new_tokens=max_new_tokens, temperature=0.0).text
        try:
            return parse_update(raw)
        except ValueError as exc:
            log.debug("goal tracker answer %d invalid: %s", attempt, exc)
            messages = messages + [
                {"role": "assistant", "content": raw},
                {"role": "user", "content": prompts.GOAL_TRACKER_RETRY.format(error=exc)},
            ]
    return None


def reconcile(
    proposed: GoalUpdate | None, rules: GoalUpdate, text: str, goals: list[GoalState]
) -> GoalUpdate:
    """Keep the model's proposal only where the user's words support it; else the rules'.

    An explicit cue the rules read (done, dropped, an answer to our question) wins; the
    model adds detail to a goal the rules also saw, and may catch what the rules missed:
    a new goal only when the message carries a wish or request in the user's own words,
    an ending only when the message is not a question.
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
    request = re.search(r"\b(?:can|could|would|will) you\b", text, _FLAGS)
    asks = text.rstrip().endswith("?") and (ASKS_ABOUT_HELP.match(text.strip()) or not request)
    if (
        proposed.event == "new"
        and not asks  # "Do I need a special tent?" asks; it states no goal
        and _words(proposed.statement) & _words(text)
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
            goal["known"] = list(dict.fromkeys(goal["known"] + update.known))
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
    proposed = model_update(llm, text, goals, retries=retries) if llm is not None else None
    update = reconcile(proposed, rules, text, goals)
    after, touched = apply_update(update, goals, thread=thread)
    return update, after, touched
