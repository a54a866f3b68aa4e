"""What the rest of the assistant may ask of memory: typed Protocols, no Chroma in sight.

`memory.store.MemoryStore` implements `Memory`; so does the in-memory fake the tests use
(`tests/memfake.py`), and `tests/memory/test_contract.py` runs the same cases on both.
Code outside `memory/` types its store as `Memory`, never as `Any`, so a method that
does not exist, or a wrong argument, is a mypy error rather than a runtime surprise.
Every call takes the user id: scoping is part of the interface.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Literal, Protocol

from memory.types import (
    Episode,
    EpisodeIn,
    Fact,
    FactKind,
    Found,
    Goal,
    GoalStatus,
    Hit,
    Item,
    ItemSource,
    Source,
    UpsertCounts,
)

JSONish = object  # state values and export documents: whatever json.dumps accepts
SearchKind = Literal["episodes", "facts", "items"]


class ProfileMemory(Protocol):
    """Per-user facts and interests."""

    def observe(self, user_id: str, text: str, source: Source | None = None) -> list[Fact]:
        """Extract and store facts from the user's own words."""
        ...

    def remember(
        self,
        user_id: str,
        text: str,
        kind: FactKind = "other",
        *,
        confidence: float = 1.0,
        source: Source | None = None,
    ) -> Fact:
        """Store one fact as given."""
        ...

    def facts(self, user_id: str, include_superseded: bool = False) -> list[Fact]:
        """The user's facts, identity first."""
        ...

    def recall(self, user_id: str, query: str, k: int = 5) -> list[Hit]:
        """Facts that best answer `query`."""
        ...

    def profile_context(self, user_id: str, budget_tokens: int = 200) -> str:
        """The profile as a short block for the model's context ("" when empty)."""
        ...

    def forget(self, user_id: str, query_or_id: str) -> list[Fact]:
        """Delete the fact with this id, or the facts matching this text; returns them."""
        ...

    def cap_status(self, user_id: str) -> dict[str, JSONish]:
        """How full the profile is: stored facts, the cap, evictions so far and the rule."""
        ...

    def interest_vector(self, user_id: str) -> list[float] | None:
        """The user's interests as one unit vector (None without any)."""
        ...

    def feedback(self, user_id: str, item_id: str, positive: bool) -> None:
        """More (or fewer) items like this one."""
        ...

    def export(self, user_id: str) -> dict[str, JSONish]:
        """Everything stored about the user, as JSON-ready data."""
        ...

    def import_(self, user_id: str, data: dict[str, JSONish]) -> int:
        """Add the facts of an export; returns how many were new."""
        ...


class GoalMemory(Protocol):
    """Per-user goals."""

    def save(self, goal: Goal) -> Goal:
        """Insert or replace a goal; returns it as stored."""
        ...

    def get(self, user_id: str, goal_id: str) -> Goal | None:
        """One goal by id."""
        ...

    def list(self, user_id: str, status: GoalStatus | None = None) -> builtins.list[Goal]:
        """The user's goals (optionally one status), most recently updated first."""
        ...

    def open_goals(self, user_id: str) -> builtins.list[Goal]:
        """Goals still active or waiting."""
        ...


class ItemMemory(Protocol):
    """Per-owner feed items (arXiv papers, Slack messages)."""

    def upsert(self, items: Iterable[Item]) -> UpsertCounts:
        """Store items: same id is one item; a higher version or changed text updates it."""
        ...

    def get(self, owner: str, item_id: str) -> Item | None:
        """One item by id."""
        ...

    def list(
        self,
        owner: str,
        source: ItemSource | None = None,
        limit: int = 50,
        since: float | datetime | None = None,
    ) -> builtins.list[Item]:
        """Newest first, optionally one source and published since a time."""
        ...

    def search(self, owner: str, query: str, k: int = 5) -> builtins.list[tuple[Item, float]]:
        """Items closest in meaning to `query`, with a similarity score."""
        ...

    def unsummarised(self, owner: str, limit: int) -> builtins.list[Item]:
        """Items still waiting for a summary."""
        ...

    def set_summary(
        self, owner: str, item_id: str, summary: str, provenance: str = "generated"
    ) -> None:
        """Store an item's summary; provenance ("generated" or "extracted") lands in
        `Item.meta["summary_from"]`."""
        ...

    def count(self, owner: str) -> int:
        """How many items the owner has."""
        ...

    def embeddings(self, owner: str, ids: Iterable[str]) -> dict[str, builtins.list[float]]:
        """Stored vectors of these items (missing ids are left out)."""
        ...


class StateMemory(Protocol):
    """A small persistent key/value map (feed cursors, ETags)."""

    def get(self, key: str, default: JSONish = None) -> JSONish:
        """The value under `key`, or `default`."""
        ...

    def set(self, key: str, value: JSONish) -> None:
        """Store `value` under `key` (durably)."""
        ...


class EpisodeMemory(Protocol):
    """What was said in conversations (turns, and summaries of old turns), per user."""

    def add_many(self, user_id: str, episodes: Sequence[EpisodeIn]) -> builtins.list[Episode]:
        """Store several episodes in one batch; a caller-supplied id overwrites, never duplicates."""
        ...

    def list(
        self,
        user_id: str,
        thread: str | None = None,
        *,
        since: float | None = None,
        until: float | None = None,
    ) -> builtins.list[Episode]:
        """Episodes, oldest first (optionally of one thread, or within [since, until))."""
        ...

    def count(self, user_id: str) -> int:
        """How many episodes the user has."""
        ...

    def forget_matching(self, user_id: str, phrase: str) -> builtins.list[str]:
        """Delete the episodes whose text contains phrase; returns their ids."""
        ...


class Memory(Protocol):
    """One user-scoped memory: profile, goals, feed items and state."""

    @property
    def profile(self) -> ProfileMemory: ...

    @property
    def goals(self) -> GoalMemory: ...

    @property
    def items(self) -> ItemMemory: ...

    @property
    def state(self) -> StateMemory: ...

    @property
    def episodes(self) -> EpisodeMemory: ...

    def search(
        self,
        user_id: str,
        query: str,
        *,
        kinds: tuple[SearchKind, ...] = ("episodes", "facts", "items"),
        k: int = 10,
        since: float | None = None,
        until: float | None = None,
        now: float | None = None,
        mode: Literal["hybrid", "vector", "keyword"] = "hybrid",
    ) -> builtins.list[Found]:
        """One fused keyword + vector search over the user's episodes, facts and items."""
        ...

    def similarity(self, query: str, texts: Sequence[str]) -> builtins.list[float]:
        """Cosine similarity of query to each text (how closely a stored text answers it)."""
        ...

    def close(self) -> None:
        """Release what the store holds (idempotent)."""
        ...


__all__ = [
    "EpisodeMemory",
    "GoalMemory",
    "ItemMemory",
    "JSONish",
    "Memory",
    "ProfileMemory",
    "StateMemory",
]
