"""Summaries of past conversation threads, recalled when a related topic comes back."""

from __future__ import annotations

import time
import uuid

from memory.embeddings import Embedder
from memory.scoped import Record, Scopes
from memory.types import Episode


def _to_episode(rec: Record, user_id: str) -> Episode:
    m = rec.metadata
    return Episode(
        rec.id, user_id, str(m.get("thread", "")), rec.document, float(m.get("time", 0.0))
    )


class EpisodeStore:
    """Add and search a user's conversation summaries."""

    def __init__(self, scopes: Scopes, embedder: Embedder) -> None:
        self._scopes = scopes
        self._embedder = embedder

    def add(self, user_id: str, thread: str, summary: str, when: float | None = None) -> Episode:
        """Store a thread summary; durable when this returns."""
        episode = Episode(uuid.uuid4().hex, user_id, thread, summary.strip(), when or time.time())
        self._scopes.scope("episodes", user_id).add(
            [episode.id],
            self._embedder.embed([episode.summary]),
            [episode.summary],
            [{"thread": thread, "time": episode.time}],
        )
        return episode

    def search(self, user_id: str, query: str, k: int = 3) -> list[tuple[Episode, float]]:
        """Past episodes closest in meaning to query."""
        hits = self._scopes.scope("episodes", user_id).query(self._embedder.embed_one(query), k)
        return [(_to_episode(r, user_id), s) for r, s in hits]

    def list(self, user_id: str, thread: str | None = None) -> list[Episode]:
        """Episodes, oldest first (optionally of one thread)."""
        recs = self._scopes.scope("episodes", user_id).get(
            where={"thread": thread} if thread else None
        )
        return sorted((_to_episode(r, user_id) for r in recs), key=lambda e: e.time)
