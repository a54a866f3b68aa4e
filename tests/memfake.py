"""The one in-memory stand-in for memory (`memory.interface.Memory`), for fast tests.

It follows the real store's contract (tests/memory/test_contract.py runs the same cases
on both): owner scoping, upsert counting, list filters and order, goal ids and
timestamps. What it cannot do cheaply it does simply: facts match by shared words, and
items by shared words unless `embed` (a real embedding function) is given. It records
writes so red-team tests can assert that nothing was written.
"""

from __future__ import annotations

import builtins
import dataclasses
import math
import re
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

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

Embed = Callable[[Sequence[str]], list[list[float]]]
OPEN = ("active", "waiting")
KIND_ORDER = ("identity", "preference", "interest", "constraint", "relationship", "other")


# words that only make a sentence a question: the stand-in similarity leaves them out
_ASKING = frozenset(["what", "did", "say", "about", "when", "where", "who", "how", "does", "the", "you", "your"])


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]{3,}", text.lower()))


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


def _check(user_id: str) -> str:
    from assistant.errors import MemoryStoreError

    if not isinstance(user_id, str) or not user_id.strip():
        raise MemoryStoreError("a user id is required for every memory read and write")
    return user_id


class FakeProfile:
    def __init__(self, embed: Embed | None) -> None:
        self.embed = embed
        self.facts_by_user: dict[str, list[Fact]] = {}
        self.writes: list[tuple[str, str, str]] = []  # (op, user, text)
        self.feedback_calls: list[tuple[str, str, bool]] = []

    def observe(self, user_id: str, text: str, source: Source | None = None) -> list[Fact]:
        self.writes.append(("observe", _check(user_id), text))
        match = re.search(
            r"\b(?:i am|i'm|my \w+ is|i like|i prefer|i live in)\b.+", text, re.IGNORECASE
        )
        if not match:
            return []
        return [self._add(user_id, match.group(0).rstrip(".!"), "other", 1.0, source or Source())]

    def remember(
        self,
        user_id: str,
        text: str,
        kind: FactKind = "other",
        *,
        confidence: float = 1.0,
        source: Source | None = None,
    ) -> Fact:
        self.writes.append(("remember", _check(user_id), text))
        return self._add(user_id, text, kind, confidence, source or Source())

    def _add(self, user_id: str, text: str, kind: FactKind, confidence: float, source: Source) -> Fact:
        now = time.time()
        fact = Fact(
            id=uuid.uuid4().hex, user_id=user_id, kind=kind, text=text, confidence=confidence,
            source=source, created=now, updated=now,
        )  # fmt: skip
        self.facts_by_user.setdefault(user_id, []).append(fact)
        return fact

    def facts(self, user_id: str, include_superseded: bool = False) -> list[Fact]:
        found = list(self.facts_by_user.get(_check(user_id), []))
        return sorted(found, key=lambda f: (KIND_ORDER.index(f.kind), -f.updated, f.text))

    def recall(self, user_id: str, query: str, k: int = 5) -> list[Hit]:
        if k <= 0 or not query.strip():
            return []
        scored = [(len(_words(query) & _words(f.text)), f) for f in self.facts(user_id)]
        scored.sort(key=lambda p: -p[0])
        return [Hit(f, float(s)) for s, f in scored[:k]]

    def profile_context(self, user_id: str, budget_tokens: int = 200) -> str:
        facts = self.facts(user_id)
        if not facts:
            return ""
        return "\n".join(["Known about the user (from their own words):"] + [f"- {f.text}" for f in facts])

    def forget(self, user_id: str, query_or_id: str) -> list[Fact]:
        self.writes.append(("forget", _check(user_id), query_or_id))
        target = query_or_id.strip()
        if not target:
            return []
        facts = self.facts_by_user.get(user_id, [])
        by_id = [f for f in facts if f.id == target]
        gone = by_id or [f for f in facts if _words(target) & _words(f.text)]
        self.facts_by_user[user_id] = [f for f in facts if f not in gone]
        return gone

    def cap_status(self, user_id: str) -> dict[str, object]:
        return {"stored": len(self.facts(user_id)), "cap": 500, "evicted": 0, "last_eviction": 0.0,
                "rule": "no eviction in the fake"}  # fmt: skip

    def interest_vector(self, user_id: str) -> list[float] | None:
        texts = [f.text for f in self.facts(user_id) if f.kind == "interest"]
        if not texts or self.embed is None:
            return None
        vectors = self.embed(texts)
        mean = [sum(col) / len(vectors) for col in zip(*vectors, strict=True)]
        norm = math.sqrt(sum(x * x for x in mean)) or 1.0
        return [x / norm for x in mean]

    def feedback(self, user_id: str, item_id: str, positive: bool) -> None:
        self.feedback_calls.append((_check(user_id), item_id, positive))

    def export(self, user_id: str) -> dict[str, object]:
        return {
            "user_id": user_id,
            "facts": [dataclasses.asdict(f) for f in self.facts(user_id)],
            "goals": [],
        }

    def import_(self, user_id: str, data: dict[str, object]) -> int:
        known = {f.text for f in self.facts(user_id)}
        added = 0
        for raw in data.get("facts", []) or []:  # type: ignore[attr-defined]
            if raw["text"] not in known:
                self.remember(user_id, raw["text"], raw.get("kind", "other"))
                added += 1
        return added


class FakeGoals:
    def __init__(self) -> None:
        self.by_key: dict[tuple[str, str], Goal] = {}
        self.saves: list[Goal] = []

    def save(self, goal: Goal) -> Goal:
        from assistant.errors import MemoryStoreError

        if goal.status not in ("active", "waiting", "done", "dropped"):
            raise MemoryStoreError(f"goal status {goal.status!r} is not valid")
        if not goal.statement.strip():
            raise MemoryStoreError("a goal needs a statement of what the user wants to achieve")
        now = time.time()
        stored = dataclasses.replace(
            goal, id=goal.id or uuid.uuid4().hex, created=goal.created or now, updated=now
        )
        self.saves.append(stored)
        self.by_key[(_check(stored.user_id), stored.id)] = stored
        return stored

    def get(self, user_id: str, goal_id: str) -> Goal | None:
        return self.by_key.get((_check(user_id), goal_id))

    def list(self, user_id: str, status: GoalStatus | None = None) -> builtins.list[Goal]:
        _check(user_id)
        found = [
            g
            for (u, _), g in self.by_key.items()
            if u == user_id and (status is None or g.status == status)
        ]
        return sorted(found, key=lambda g: -g.updated)

    def open_goals(self, user_id: str) -> builtins.list[Goal]:
        return [g for g in self.list(user_id) if g.status in OPEN]


class FakeItems:
    def __init__(self, embed: Embed | None) -> None:
        self.embed = embed
        self.by_key: dict[tuple[str, str], Item] = {}
        self.searches: list[tuple[str, str]] = []
        self.set_summary_calls: list[str] = []

    def upsert(self, items: Iterable[Item]) -> UpsertCounts:
        new = updated = unchanged = 0
        for item in items:
            key = (_check(item.owner), item.id)
            old = self.by_key.get(key)
            if old is None:
                new += 1
            elif item.version < old.version or (
                item.version == old.version and (item.title, item.text) == (old.title, old.text)
            ):
                unchanged += 1
                continue
            else:
                updated += 1
                if not item.summary and item.text == old.text:
                    item = dataclasses.replace(item, summary=old.summary)  # a bare version bump
            self.by_key[key] = item
        return UpsertCounts(new=new, updated=updated, unchanged=unchanged)

    def get(self, owner: str, item_id: str) -> Item | None:
        return self.by_key.get((_check(owner), item_id))

    def list(
        self,
        owner: str,
        source: ItemSource | None = None,
        limit: int = 50,
        since: float | datetime | None = None,
    ) -> builtins.list[Item]:
        _check(owner)
        after = since.timestamp() if isinstance(since, datetime) else since
        found = [
            it
            for (o, _), it in self.by_key.items()
            if o == owner
            and (source is None or it.source == source)
            and (after is None or it.published >= after)
        ]
        found.sort(key=lambda it: (-it.published, it.id))
        return found[: max(0, limit)]

    def search(self, owner: str, query: str, k: int = 5) -> builtins.list[tuple[Item, float]]:
        self.searches.append((owner, query))
        if not query.strip():
            return []
        items = self.list(owner, limit=1_000_000)
        if self.embed is not None and items:
            vectors = self.embed([query] + [f"{it.title}\n{it.text}" for it in items])
            ranked = sorted(
                ((it, _cosine(vectors[0], vec)) for it, vec in zip(items, vectors[1:], strict=True)),
                key=lambda p: -p[1],
            )
            return ranked[:k]
        scored = [(len(_words(query) & _words(i.title + " " + i.text)), i) for i in items]
        scored = [(s, i) for s, i in scored if s]
        scored.sort(key=lambda p: -p[0])
        return [(i, float(s)) for s, i in scored[:k]]

    def unsummarised(self, owner: str, limit: int) -> builtins.list[Item]:
        return [it for it in self.list(owner, limit=1_000_000) if not it.summary][: max(0, limit)]

    def set_summary(
        self, owner: str, item_id: str, summary: str, provenance: str = "generated"
    ) -> None:
        from assistant.errors import MemoryStoreError

        key = (_check(owner), item_id)
        if key not in self.by_key:
            raise MemoryStoreError(f"no item '{item_id}' for {owner}")
        item = self.by_key[key]
        meta = {**item.meta, "summary_from": provenance}
        self.by_key[key] = dataclasses.replace(item, summary=summary, meta=meta)
        self.set_summary_calls.append(item_id)

    def count(self, owner: str) -> int:
        return sum(1 for (o, _) in self.by_key if o == _check(owner))

    def embeddings(self, owner: str, ids: Iterable[str]) -> dict[str, builtins.list[float]]:
        items = [self.by_key[(owner, i)] for i in ids if (owner, i) in self.by_key]
        if self.embed is None or not items:
            return {}
        vectors = self.embed([f"{it.title}\n{it.text}" for it in items])
        return {it.id: vec for it, vec in zip(items, vectors, strict=True)}


class FakeState:
    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key: str, default: object = None) -> Any:
        return self.data.get(key, default)

    def set(self, key: str, value: object) -> None:
        self.data[key] = value


class FakeEpisodes:
    """Conversation turns and summaries, per user, in time order."""

    def __init__(self) -> None:
        self.by_key: dict[tuple[str, str], Episode] = {}

    def add_many(self, user_id: str, episodes: Sequence[EpisodeIn]) -> builtins.list[Episode]:
        out = []
        for e in episodes:
            ep = Episode(
                e.id or uuid.uuid4().hex, _check(user_id), e.thread, e.text, e.time, e.speaker, e.kind
            )
            self.by_key[(user_id, ep.id)] = ep
            out.append(ep)
        return out

    def list(
        self,
        user_id: str,
        thread: str | None = None,
        *,
        since: float | None = None,
        until: float | None = None,
    ) -> builtins.list[Episode]:
        lo = float("-inf") if since is None else since
        hi = float("inf") if until is None else until
        return sorted(
            (
                e
                for (u, _), e in self.by_key.items()
                if u == user_id and (thread is None or e.thread == thread) and lo <= e.time < hi
            ),
            key=lambda e: (e.time, e.id),
        )

    def count(self, user_id: str) -> int:
        return len(self.list(user_id))

    def forget_matching(self, user_id: str, phrase: str) -> builtins.list[str]:
        gone = [
            k for k, e in self.by_key.items() if k[0] == user_id and phrase.lower() in e.text.lower()
        ]
        for k in gone:
            del self.by_key[k]
        return [k[1] for k in gone]


class FakeMemory:
    """profile / goals / items / state, in memory (implements memory.interface.Memory)."""

    def __init__(self, embed: Embed | None = None) -> None:
        self._embed = embed
        self.profile = FakeProfile(embed)
        self.goals = FakeGoals()
        self.items = FakeItems(embed)
        self.state = FakeState()
        self.episodes = FakeEpisodes()

    def search(self, user_id: str, query: str, *, k: int = 10, **_: object) -> builtins.list[Found]:
        """Episodes sharing words with query, most shared first (the real store fuses BM25 and vectors)."""
        scored = [(len(_words(query) & _words(e.text)), e) for e in self.episodes.list(user_id)]
        scored = sorted(((n, e) for n, e in scored if n), key=lambda p: -p[0])[:k]
        return [
            Found(
                "episodes", e.id, user_id, e.text, e.time, float(n),
                {"thread": e.thread, "speaker": e.speaker},
            )
            for n, e in scored
        ]

    def similarity(self, query: str, texts: Sequence[str]) -> builtins.list[float]:
        """Cosine of real embeddings when `embed` is given, else the share of query words a text holds."""
        if self._embed is not None and texts:
            q, *rows = self._embed([query, *texts])
            return [_cosine(q, r) for r in rows]
        asked = _words(query) - _ASKING
        return [len(asked & _words(t)) / len(asked) if asked else 0.0 for t in texts]

    def close(self) -> None:
        pass

    def __enter__(self) -> FakeMemory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
