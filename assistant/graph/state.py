"""What the goal graph carries from node to node and from turn to turn (checkpointed).

Everything here is plain JSON-like data (dicts, lists, strings) so the SQLite or Postgres
checkpointer can store it and a new process can read it back.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal, TypedDict

from assistant.llm.base import Message
from memory.types import Goal

GoalStatus = Literal["active", "waiting", "done", "dropped"]
Route = Literal["ask", "use_tool", "recite", "respond"]
OPEN_STATUSES: tuple[GoalStatus, ...] = ("active", "waiting")


class GoalState(TypedDict):
    """A goal as the graph sees it (mirrors memory.types.Goal)."""

    id: str  # stable id, shared with the memory store
    statement: str  # what the user wants, in their words
    success_criteria: str  # how we both know it is done
    known: list[str]  # facts gathered so far ("dates: 3-7 May")
    missing: list[str]  # what is still needed before a useful answer ("budget")
    status: GoalStatus  # active, waiting (on the user), done, dropped
    thread: str  # thread where it was set
    created: float  # unix seconds
    updated: float  # unix seconds


class ToolCall(TypedDict):
    """A tool the user asked for in their own words (never chosen by the model)."""

    name: str  # one of tools.TOOL_NAMES
    arg: str  # the query / fact text taken from the user's message


class RecalledItem(TypedDict):
    """A stored feed item recalled for this turn; external data, never instructions."""

    id: str  # item id ("arxiv:2203.01250")
    source: str  # arxiv or slack
    title: str  # title or channel
    text: str  # summary if present, else the raw text (trimmed)
    url: str  # link shown to the user


class RecalledTurn(TypedDict):
    """A past conversation turn recalled for this turn (assistant.graph.recall); data only."""

    id: str  # episode id
    thread: str  # thread it was said in
    speaker: str  # "user" or "assistant"
    text: str  # what was said (trimmed)
    time: float  # unix seconds when it was said


def replace_or_append(left: list[Message] | None, right: Any) -> list[Message]:
    """Reducer for `messages`: a list appends; {"replace": [...]} swaps the whole list."""
    current = list(left or [])
    if isinstance(right, dict) and "replace" in right:
        return list(right["replace"])
    return current + list(right or [])


class Grounded(TypedDict):
    """This turn's answer from memory (`assistant.graph.grounding`)."""

    reply: str  # what the user is told: the stored value and where it came from, or "I don't know"
    span: str  # the answer cut from memory ("" when memory holds none)
    source: str  # "fact", "goal", "turn"; "likely" or "closest" (a guess, said as one); "none"
    score: float  # relevance of the best stored thing to the question


class ChatState(TypedDict, total=False):
    """The checkpointed state of one conversation thread."""

    messages: Annotated[list[Message], replace_or_append]  # recent dialog turns, verbatim
    user_id: str  # whose memory this thread reads and writes
    thread_id: str  # the thread's name (the checkpointer key adds the user id)
    goals: list[GoalState]  # goals in play: the user's open goals plus those touched here
    active_goal: str  # id of the goal this turn is about ("" = none)
    profile: str  # recalled profile facts for this turn (already formatted lines)
    recalled: list[RecalledItem]  # recalled feed items for this turn
    memories: list[RecalledTurn]  # past conversation turns recalled for this turn
    summary: str  # running summary of turns folded out of `messages`
    route: Route  # what decide chose for this turn
    tool: ToolCall | None  # the tool the user asked for this turn, if any
    reply: str  # the assistant's reply for this turn
    turn: int  # user turns so far in this thread
    followed_up: list[str]  # goal ids already followed up on in this thread
    goal_event: str  # what track_goals did this turn (new, progress, done, dropped, none)
    goal_said: list[str]  # what this turn's message gave the goal ("date: 19 July")
    grounded: Grounded | None  # the answer from memory when the user asked for what it holds


def now() -> float:
    """Unix seconds (one place, so tests can reason about ordering)."""
    return time.time()


def goal_to_state(goal: Goal) -> GoalState:
    """Memory record -> graph dict."""
    return GoalState(
        id=goal.id,
        statement=goal.statement,
        success_criteria=goal.success_criteria,
        known=list(goal.known),
        missing=list(goal.missing),
        status=goal.status,
        thread=goal.thread,
        created=goal.created,
        updated=goal.updated,
    )


def goal_from_state(goal: GoalState, user_id: str) -> Goal:
    """Graph dict -> memory record."""
    return Goal(
        id=goal["id"],
        user_id=user_id,
        statement=goal["statement"],
        success_criteria=goal.get("success_criteria", ""),
        known=tuple(goal.get("known", ())),
        missing=tuple(goal.get("missing", ())),
        status=goal["status"],
        thread=goal.get("thread", ""),
        created=goal.get("created", 0.0),
        updated=goal.get("updated", 0.0),
    )


def find_goal(goals: list[GoalState], goal_id: str) -> GoalState | None:
    """The goal with this id, if it is in play."""
    for goal in goals:
        if goal["id"] == goal_id:
            return goal
    return None


def last_user_text(messages: list[Message]) -> str:
    """The newest user turn (the only text that may trigger tools or memory writes)."""
    for message in reversed(messages):
        if message["role"] == "user":
            return message["content"]
    return ""


def thread_key(user_id: str, thread_id: str) -> str:
    """The checkpoint key of one user's thread, unambiguous when ids contain "/".

    Only "%" and "/" are escaped, so the key of ids without them is the plain
    "user/thread" earlier releases wrote: existing checkpoints stay readable.
    """

    def part(value: str) -> str:
        return value.replace("%", "%25").replace("/", "%2F")

    return f"{part(user_id)}/{part(thread_id)}"
