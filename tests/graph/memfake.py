"""An in-memory store with memory.store's public surface, for fast routing tests.

It records every write so red-team tests can assert that nothing was written.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import replace

from memory.types import Fact, Goal, GoalStatus, Hit, Item, Source, UpsertCounts


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]{3,}", text.lower()))


class FakeProfile:
    def __init__(self) -> None:
        self.facts_by_user: dict[str, list[Fact]] = {}
        self.writes: list[tuple[str, str, str]] = []  # (op, user, text)

    def observe(self, user_id: str, text: str, source: Source) -> list[Fact]:
        self.writes.append(("observe", user_id, text))
        match = re.search(
            r"\b(?:i am|i'm|my \w+ is|i like|i prefer|i live in)\b.+", text, re.IGNORECASE
        )
        if not match:
            return []
        return [self._add(user_id, match.group(0).rstrip(".!"), source)]

    def remember(self, user_id: str, text: str, kind: str = "other") -> Fact:
        self.writes.append(("remember", user_id, text))
        return self._add(user_id, text, Source())

    def _add(self, user_id: str, text: str, source: Source) -> Fact:
        fact = Fact(
            id=uuid.uuid4().hex[:8], user_id=user_id, kind="other", text=text, source=source
        )
        self.facts_by_user.setdefault(user_id, []).append(fact)
        return fact

    def facts(self, user_id: str, include_superseded: bool = False) -> list[Fact]:
        return list(self.facts_by_user.get(user_id, []))

    def recall(self, user_id: str, query: str, k: int = 5) -> list[Hit]:
        return [Hit(f, 1.0) for f in self.facts(user_id)[:k]]

    def profile_context(self, user_id: str, budget_tokens: int = 200) -> str:
        return "\n".join(f"- {f.text}" for f in self.facts(user_id))

    def forget(self, user_id: str, query_or_id: str) -> list[Fact]:
        self.writes.append(("forget", user_id, query_or_id))
        facts = self.facts_by_user.get(user_id, [])
        gone = [f for f in facts if f.id == query_or_id or _words(query_or_id) & _words(f.text)]
        self.facts_by_user[user_id] = [f for f in facts if f not in gone]
        return gone


class FakeGoals:
    def __init__(self) -> None:
        self.by_key: dict[tuple[str, str], Goal] = {}
        self.saves: list[Goal] = []

    def save(self, goal: Goal) -> Goal:
        self.saves.append(goal)
        self.by_key[(goal.user_id, goal.id)] = goal
        return goal

    def get(self, user_id: str, goal_id: str) -> Goal | None:
        return self.by_key.get((user_id, goal_id))

    def list(self, user_id: str, status: GoalStatus | None = None) -> list[Goal]:
        return [
            g
            for (u, _), g in self.by_key.items()
            if u == user_id and (status is None or g.status == status)
        ]

    def open_goals(self, user_id: str) -> list[Goal]:
        return [g for g in self.list(user_id) if g.status in ("active", "waiting")]


class FakeItems:
    def __init__(self) -> None:
        self.by_key: dict[tuple[str, str], Item] = {}
        self.searches: list[tuple[str, str]] = []

    def upsert(self, items: Iterable[Item]) -> UpsertCounts:
        new = 0
        for item in items:
            new += (item.owner, item.id) not in self.by_key
            self.by_key[(item.owner, item.id)] = item
        return UpsertCounts(new=new)

    def get(self, owner: str, item_id: str) -> Item | None:
        return self.by_key.get((owner, item_id))

    def list(
        self, owner: str, source: str | None = None, limit: int = 50, since: float | None = None
    ) -> list[Item]:
        return [i for (o, _), i in self.by_key.items() if o == owner][:limit]

    def search(self, owner: str, query: str, k: int = 5) -> list[tuple[Item, float]]:
        self.searches.append((owner, query))
        scored = [
            (len(_words(query) & _words(i.title + " " + i.text)), i) for i in self.list(owner)
        ]
        scored = [(s, i) for s, i in scored if s]
        scored.sort(key=lambda p: -p[0])
        return [(i, float(s)) for s, i in scored[:k]]

    def set_summary(
        self, owner: str, item_id: str, summary: str, provenance: str = "generated"
    ) -> None:
        self.by_key[(owner, item_id)] = replace(self.by_key[(owner, item_id)], summary=summary)

    def count(self, owner: str) -> int:
        return len(self.list(owner))


class FakeStore:
    def __init__(self) -> None:
        self.profile = FakeProfile()
        self.goals = FakeGoals()
        self.items = FakeItems()

    def close(self) -> None:
        pass
