"""An in-memory stand-in for `memory.store.MemoryStore`, the subset the digest jobs use.

It follows the contract in notes (items/profile/goals/state, owner-scoped) so the tests
switch to the real store by changing one fixture. Embeddings come from the real
all-MiniLM-L6-v2 model when `embed` is given.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from memory.types import Fact, Goal, Item, UpsertCounts

Embed = Callable[[Sequence[str]], list[list[float]]]


class _Items:
    def __init__(self, embed: Embed | None) -> None:
        self.rows: dict[tuple[str, str], Item] = {}
        self.embed = embed
        self.set_summary_calls: list[str] = []

    def upsert(self, items: Iterable[Item]) -> UpsertCounts:
        new = 0
        for item in items:
            new += (item.owner, item.id) not in self.rows
            self.rows[(item.owner, item.id)] = item
        return UpsertCounts(new=new)

    def get(self, owner: str, item_id: str) -> Item | None:
        return self.rows.get((owner, item_id))

    def list(
        self, owner: str, source: str | None = None, limit: int = 50, since: float | None = None
    ) -> list[Item]:
        out = [
            it
            for (o, _), it in self.rows.items()
            if o == owner
            and (source is None or it.source == source)
            and (since is None or (it.published or it.updated) >= since)
        ]
        out.sort(key=lambda it: -(it.published or it.updated))
        return out[:limit]

    def unsummarised(self, owner: str, limit: int) -> list[Item]:
        out = sorted(
            (it for (o, _), it in self.rows.items() if o == owner and not it.summary),
            key=lambda i: i.id,
        )
        return out[:limit]

    def set_summary(
        self, owner: str, item_id: str, summary: str, provenance: str = "generated"
    ) -> None:
        self.rows[(owner, item_id)] = dataclasses.replace(
            self.rows[(owner, item_id)], summary=summary
        )
        self.set_summary_calls.append(item_id)

    def count(self, owner: str) -> int:
        return sum(1 for (o, _) in self.rows if o == owner)

    def embeddings(self, owner: str, ids: list[str]) -> dict[str, list[float]]:
        if self.embed is None:
            return {}
        items = [self.rows[(owner, i)] for i in ids if (owner, i) in self.rows]
        vectors = self.embed([f"{it.title}\n{it.text}" for it in items])
        return {it.id: vec for it, vec in zip(items, vectors, strict=True)}


class _Profile:
    def __init__(self, embed: Embed | None) -> None:
        self.embed = embed
        self.interests: dict[str, list[str]] = {}
        self.feedback_calls: list[tuple[str, str, bool]] = []

    def remember(self, user_id: str, text: str, kind: str = "other") -> Fact:
        if kind == "interest":
            self.interests.setdefault(user_id, []).append(text)
        return Fact(id=f"f{len(self.interests)}", user_id=user_id, kind=kind, text=text)  # type: ignore[arg-type]

    def interest_vector(self, user_id: str) -> list[float] | None:
        texts = self.interests.get(user_id)
        if not texts or self.embed is None:
            return None
        vectors = self.embed(texts)
        return [sum(col) / len(vectors) for col in zip(*vectors, strict=True)]

    def feedback(self, user_id: str, item_id: str, positive: bool) -> None:
        self.feedback_calls.append((user_id, item_id, positive))


class _Goals:
    def __init__(self) -> None:
        self.goals: list[Goal] = []

    def save(self, goal: Goal) -> Goal:
        self.goals.append(goal)
        return goal

    def open_goals(self, user_id: str) -> list[Goal]:
        return [g for g in self.goals if g.user_id == user_id and g.status in ("active", "waiting")]


class _State:
    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.data[key] = value


class MemStore:
    """items / profile / goals / state, in memory."""

    def __init__(self, embed: Embed | None = None) -> None:
        self.items = _Items(embed)
        self.profile = _Profile(embed)
        self.goals = _Goals()
        self.state = _State()

    def close(self) -> None:
        pass

    def __enter__(self) -> MemStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
