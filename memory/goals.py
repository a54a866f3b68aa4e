"""What each user is trying to achieve, kept across sessions (one record per goal id)."""

from __future__ import annotations

import builtins
import json
import time
import uuid
from dataclasses import replace
from typing import Any, get_args

from assistant.errors import MemoryStoreError
from memory.embeddings import Embedder
from memory.scoped import OWNER_KEY, Record, Scopes
from memory.types import Goal, GoalStatus

OPEN_STATUSES: tuple[GoalStatus, ...] = ("active", "waiting")


def record_to_goal(rec: Record) -> Goal:
    m = rec.metadata
    status = m.get("status", "active")
    return Goal(
        id=rec.id,
        user_id=str(m.get(OWNER_KEY, "")),
        statement=rec.document,
        success_criteria=str(m.get("success_criteria", "")),
        known=tuple(json.loads(m.get("known", "[]"))),
        missing=tuple(json.loads(m.get("missing", "[]"))),
        status=status if status in get_args(GoalStatus) else "active",
        thread=str(m.get("thread", "")),
        created=float(m.get("created", 0.0)),
        updated=float(m.get("updated", 0.0)),
    )


def goal_to_dict(g: Goal) -> dict[str, Any]:
    return {
        "id": g.id, "statement": g.statement, "success_criteria": g.success_criteria, "known": list(g.known),
        "missing": list(g.missing), "status": g.status, "thread": g.thread, "created": g.created, "updated": g.updated,
    }  # fmt: skip


def goal_from_dict(data: Any, user_id: str) -> Goal | None:
    """A goal from exported data, owned by user_id; None when the data is not a goal."""
    if not isinstance(data, dict) or not str(data.get("statement", "")).strip():
        return None
    status = data.get("status", "active")
    return Goal(
        id=str(data.get("id") or uuid.uuid4().hex),
        user_id=user_id,
        statement=str(data["statement"]),
        success_criteria=str(data.get("success_criteria", "")),
        known=tuple(str(x) for x in data.get("known", []) or []),
        missing=tuple(str(x) for x in data.get("missing", []) or []),
        status=status if status in get_args(GoalStatus) else "active",
        thread=str(data.get("thread", "")),
        created=float(data.get("created", 0.0)),
        updated=float(data.get("updated", 0.0)),
    )


class GoalStore:
    """Save and list a user's goals."""

    def __init__(self, scopes: Scopes, embedder: Embedder) -> None:
        self._scopes = scopes
        self._embedder = embedder

    def save(self, goal: Goal) -> Goal:
        """Insert or replace the goal (an empty id gets a new one); returns it as stored."""
        if goal.status not in get_args(GoalStatus):
            raise MemoryStoreError(
                f"goal status {goal.status!r} is not one of {', '.join(get_args(GoalStatus))}"
            )
        if not goal.statement.strip():
            raise MemoryStoreError("a goal needs a statement of what the user wants to achieve")
        col = self._scopes.scope("goals", goal.user_id)
        # Milliseconds: Chroma hands a full-precision float back one ulp off, so the goal
        # returned here would differ from the same goal read back.
        now = round(time.time(), 3)
        stored = replace(
            goal, id=goal.id or uuid.uuid4().hex, created=goal.created or now, updated=now
        )
        meta = {
            "success_criteria": stored.success_criteria,
            "known": json.dumps(list(stored.known)),
            "missing": json.dumps(list(stored.missing)),
            "status": stored.status,
            "thread": stored.thread,
            "created": stored.created,
            "updated": stored.updated,
        }
        col.add([stored.id], self._embedder.embed([stored.statement]), [stored.statement], [meta])
        return stored

    def get(self, user_id: str, goal_id: str) -> Goal | None:
        recs = self._scopes.scope("goals", user_id).get(ids=[goal_id])
        return record_to_goal(recs[0]) if recs else None

    def list(self, user_id: str, status: GoalStatus | None = None) -> list[Goal]:
        """The user's goals (optionally one status), most recently updated first."""
        where = {"status": status} if status else None
        goals = [record_to_goal(r) for r in self._scopes.scope("goals", user_id).get(where=where)]
        return sorted(goals, key=lambda g: -g.updated)

    def open_goals(self, user_id: str) -> builtins.list[Goal]:
        """Goals still being worked on (active or waiting for something)."""
        return [g for g in self.list(user_id) if g.status in OPEN_STATUSES]

    def search(self, user_id: str, query: str, k: int = 5) -> builtins.list[tuple[Goal, float]]:
        """Goals closest in meaning to query."""
        hits = self._scopes.scope("goals", user_id).query(self._embedder.embed_one(query), k)
        return [(record_to_goal(r), s) for r, s in hits]

    def delete(self, user_id: str, goal_id: str) -> bool:
        """Remove a goal for good; True when it existed."""
        return bool(self._scopes.scope("goals", user_id).delete([goal_id]))
