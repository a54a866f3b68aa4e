"""Small records that memory's public functions return (never raw Chroma dictionaries)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

FactKind = Literal["identity", "preference", "interest", "constraint", "relationship", "other"]
# What a fact is about, for typed updates: a new value of a single-valued attribute
# supersedes the old one; multi-valued ones (interest, person, date) add.
FactAttribute = Literal[
    "name", "place", "employer", "role", "interest", "preference", "person", "date", "other", ""
]
GoalStatus = Literal["active", "waiting", "done", "dropped"]
ItemSource = Literal["arxiv", "slack"]
# The heading of `profile_context`'s block (the chat's loop guard knows it as a prompt label).
PROFILE_HEADING = "Known about the user (from their own words):"


@dataclass(frozen=True)
class Candidate:
    """A fact proposed by extraction, before duplicate and contradiction handling."""

    kind: FactKind
    text: str
    confidence: float
    slot: str = ""  # facts with the same slot contradict each other, e.g. "identity:location"
    attribute: FactAttribute = ""  # typed reading (memory.types.Fact): "place", "person", ...
    value: str = ""  # the attribute's value as said ("Leeds", "Dr. Helen Ward")
    relation: str = ""  # who a person is to the user ("supervisor"), what a date is ("exam")


@dataclass(frozen=True)
class Source:
    """Where a fact came from."""

    thread: str = ""
    turn: int = 0
    time: float = 0.0  # unix seconds


@dataclass(frozen=True)
class Fact:
    """One thing the assistant knows about a user."""

    id: str
    user_id: str
    kind: FactKind
    text: str
    confidence: float = 1.0
    source: Source = Source()
    created: float = 0.0
    updated: float = 0.0
    superseded_by: str = ""  # id of the fact that replaced this one; "" while current
    explicit: bool = False  # the user asked for it to be remembered: never evicted by the cap
    attribute: FactAttribute = ""  # typed slot ("" for facts stored before typing)
    value: str = ""  # the attribute's value as the user said it ("Leeds", "Dr. Helen Ward")
    relation: str = ""  # for person facts: who they are to the user ("supervisor"); for dates: what the date is


@dataclass(frozen=True)
class Hit:
    """A recalled fact with its ranking score."""

    fact: Fact
    score: float


@dataclass(frozen=True)
class Goal:
    """Something the user is trying to achieve."""

    id: str
    user_id: str
    statement: str
    success_criteria: str = ""
    known: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    status: GoalStatus = "active"
    thread: str = ""
    created: float = 0.0
    updated: float = 0.0


@dataclass(frozen=True)
class Item:
    """One feed item (an arXiv paper or a Slack message/thread), owned by one user."""

    id: str  # stable identity: "arxiv:2203.01250" or "slack:C0123:1712345678.000100"
    owner: str  # user id the item belongs to
    source: ItemSource
    title: str
    text: str  # raw text (abstract, message); external data, never instructions
    url: str = ""  # link or permalink
    author: str = ""
    published: float = 0.0  # unix seconds
    updated: float = 0.0
    version: int = 1  # arXiv version number
    categories: tuple[str, ...] = ()
    feed: str = ""  # which feed or channel it came from
    summary: str = ""  # filled by background summarisation
    mentions_me: bool = False  # Slack: mentions the user
    my_thread: bool = False  # Slack: a thread the user took part in
    meta: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class UpsertCounts:
    """What an ingest did."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0


EpisodeKind = Literal["turn", "summary"]


@dataclass(frozen=True)
class Episode:
    """Something said in a conversation (one turn), or a summary of several turns."""

    id: str
    user_id: str
    thread: str
    summary: str  # the text: the turn as said, or the summary
    time: float = 0.0  # unix seconds: when it was said, not when it was stored
    speaker: str = ""  # who said it ("user", "assistant", a name)
    kind: EpisodeKind = "summary"
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.summary


@dataclass(frozen=True)
class EpisodeIn:
    """One episode to store (`EpisodeStore.add_many`); an empty id gets a fresh one."""

    text: str
    thread: str = ""
    speaker: str = ""
    time: float = 0.0  # unix seconds when it was said; 0 = now
    id: str = ""  # caller-supplied id: storing the same id again overwrites, never duplicates
    meta: dict[str, str] = field(default_factory=dict)  # caller's own string metadata
    kind: EpisodeKind = "turn"
    after: str = ""  # id of the turn this one follows in its thread ("" = the store works it out)
    context: str = ""  # the turn it answers, found by search with it ("" = the store works it out)


@dataclass(frozen=True)
class Found:
    """One result of `MemoryStore.search`: an episode, fact or item, with its fused score."""

    kind: str  # "episodes", "facts" or "items"
    id: str
    user_id: str
    text: str
    time: float  # when it happened (said, published), unix seconds
    score: float
    metadata: dict[str, object] = field(default_factory=dict)
