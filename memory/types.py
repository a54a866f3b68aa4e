"""Small records that memory's public functions return (never raw Chroma dictionaries)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

FactKind = Literal["identity", "preference", "interest", "constraint", "relationship", "other"]
GoalStatus = Literal["active", "waiting", "done", "dropped"]
ItemSource = Literal["arxiv", "slack"]


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


@dataclass(frozen=True)
class Episode:
    """A summary of a past conversation thread."""

    id: str
    user_id: str
    thread: str
    summary: str
    time: float = 0.0  # unix seconds
