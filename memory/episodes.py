"""What was said: every chat turn of a user as an episode, plus summaries of older turns.

An episode is one turn (who said it, when, in which thread) or a summary of several.
Turns are stored in batches with caller-supplied ids (storing an id again overwrites it)
and found by the store's one hybrid search (`memory.search`). Nothing is deleted to make
room: `compact` folds a thread's oldest turns into summary episodes that keep their
words, time span and speakers.
"""

from __future__ import annotations

import builtins
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from assistant.errors import MemoryStoreError
from memory.embeddings import Embedder
from memory.scoped import Record, Scopes
from memory.search import Searcher
from memory.types import Episode, EpisodeIn, EpisodeKind

CONTEXT_CHARS = (
    300  # of the previous turn, indexed with a turn (answers name little of the question)
)
log = logging.getLogger(__name__)

COMPACT_GROUP = 20  # turns folded into one summary episode
SUMMARY_CHARS = 1200  # longest summary text kept (the turns' own words, trimmed)


def embed_text(document: str, metadata: Mapping[str, Any]) -> str:
    """What an episode is embedded from: the speaker and date say whose words and when."""
    speaker = str(metadata.get("speaker", ""))
    return f"{speaker}: {document}" if speaker else document


def _to_episode(rec: Record, user_id: str) -> Episode:
    m = rec.metadata
    kind: EpisodeKind = "turn" if m.get("kind") == "turn" else "summary"
    try:
        meta = dict(json.loads(str(m.get("meta", "{}"))))
    except ValueError:
        meta = {}
    return Episode(
        rec.id,
        user_id,
        str(m.get("thread", "")),
        rec.document,
        float(m.get("time", 0.0)),
        speaker=str(m.get("speaker", "")),
        kind=kind,
        meta={str(k): str(v) for k, v in meta.items()},
    )


def _metadata(e: EpisodeIn, when: float, after: str, context: str) -> dict[str, Any]:
    return {
        "thread": e.thread,
        "time": float(when),
        "speaker": e.speaker,
        "kind": e.kind,
        "meta": json.dumps({str(k): str(v) for k, v in e.meta.items()}),
        "after": after,
        "context": context[:CONTEXT_CHARS],
    }


def _said(speaker: str, text: str) -> str:
    return f"{speaker}: {text}" if speaker else text


class EpisodeStore:
    """Add, search, list, forget and compact a user's episodes."""

    def __init__(
        self,
        scopes: Scopes,
        embedder: Embedder,
        searcher: Searcher | None = None,
        max_turns: int = 0,
    ) -> None:
        self._scopes = scopes
        self._max_turns = max_turns  # 0 = no bound
        self._embedder = embedder
        self._searcher = searcher or Searcher(scopes, embedder)
        # the newest turn stored per (user, thread) by this process: links the next batch to it
        self._last: dict[tuple[str, str], tuple[str, str]] = {}
        self._lock = threading.Lock()

    def add(self, user_id: str, thread: str, summary: str, when: float | None = None) -> Episode:
        """Store one summary of a thread; durable when this returns."""
        return self.add_many(
            user_id, [EpisodeIn(summary, thread=thread, time=when or 0.0, kind="summary")]
        )[0]

    def add_many(self, user_id: str, episodes: Sequence[EpisodeIn]) -> list[Episode]:
        """Store episodes in one batch (one embedding pass, one write); durable when this returns."""
        out = self._add(user_id, episodes)
        if out and self._max_turns and self.count(user_id) > self._max_turns:
            folded = self.compact(user_id, keep_turns=int(0.9 * self._max_turns))
            log.info(
                "memory: %s has over %d stored turns; folded the %d oldest into summaries",
                user_id, self._max_turns, folded,
            )  # fmt: skip
        return out

    def _add(self, user_id: str, episodes: Sequence[EpisodeIn]) -> list[Episode]:
        rows = [e for e in episodes if e.text.strip()]
        if not rows:
            return []
        now = time.time()
        ids = [e.id or uuid.uuid4().hex for e in rows]
        if len(set(ids)) != len(ids):
            raise MemoryStoreError("two episodes in one batch share an id; give each its own id")
        docs = [e.text.strip() for e in rows]
        metas = []
        with self._lock:
            for e, rid, doc in zip(rows, ids, docs, strict=True):
                after, context = e.after, e.context
                key = (user_id, e.thread)
                if (
                    e.kind == "turn"
                    and e.thread
                    and key in self._last
                    and self._last[key][0] != rid
                ):
                    prev_id, prev_text = self._last[key]
                    after = after or prev_id
                    context = context or (prev_text if after == prev_id else "")
                if e.kind == "turn" and e.thread:
                    self._last[key] = (rid, _said(e.speaker, doc))
                metas.append(_metadata(e, e.time or now, after, context))
        vectors = self._embedder.embed([embed_text(d, m) for d, m in zip(docs, metas, strict=True)])
        self._scopes.scope("episodes", user_id).add(ids, vectors, docs, metas)
        return [
            _to_episode(Record(i, d, m), user_id) for i, d, m in zip(ids, docs, metas, strict=True)
        ]

    def search(
        self,
        user_id: str,
        query: str,
        k: int = 3,
        *,
        since: float | None = None,
        until: float | None = None,
        now: float | None = None,
    ) -> builtins.list[tuple[Episode, float]]:
        """Episodes that best match query (hybrid: words and meaning), with fused scores."""
        hits = self._searcher.search(
            user_id, query, kinds=("episodes",), k=k, since=since, until=until, now=now
        )
        return [
            (_to_episode(Record(h.id, h.text, dict(h.metadata)), user_id), h.score) for h in hits
        ]

    def list(
        self,
        user_id: str,
        thread: str | None = None,
        *,
        since: float | None = None,
        until: float | None = None,
    ) -> builtins.list[Episode]:
        """Episodes, oldest first (optionally of one thread, or within [since, until))."""
        recs = self._scopes.scope("episodes", user_id).get(
            where={"thread": thread} if thread else None
        )
        out = [_to_episode(r, user_id) for r in recs]
        lo = float("-inf") if since is None else since
        hi = float("inf") if until is None else until
        return sorted((e for e in out if lo <= e.time < hi), key=lambda e: (e.time, e.id))

    def count(self, user_id: str) -> int:
        return self._scopes.scope("episodes", user_id).count()

    def forget(self, user_id: str, ids: Sequence[str]) -> builtins.list[str]:
        """Delete these episodes of the user for real; returns the ids deleted.

        The turns that followed them carry their words as context: that copy goes too.
        """
        scope = self._scopes.scope("episodes", user_id)
        gone = scope.delete(list(ids))
        if gone:
            followers = scope.get(where={"after": {"$in": gone}}, include_documents=False)
            if followers:
                scope.update_metadata(
                    [r.id for r in followers],
                    [{**r.metadata, "after": "", "context": ""} for r in followers],
                )
            with self._lock:
                for key, (last_id, _text) in list(self._last.items()):
                    if key[0] == user_id and last_id in gone:
                        del self._last[key]
        return gone

    def forget_matching(self, user_id: str, phrase: str) -> builtins.list[str]:
        """Delete the episodes whose text contains phrase (whole words, any case); returns their ids.

        Whole-phrase matching, not similarity: forgetting deletes for real, so it must not
        reach turns that only resemble the phrase.
        """
        words = re.findall(r"[\w']+", phrase.lower())
        if not words:
            return []
        pattern = re.compile(r"(?<![\w'])" + r"\W+".join(map(re.escape, words)) + r"(?![\w'])")
        ids = [e.id for e in self.list(user_id) if pattern.search(e.text.lower())]
        return self.forget(user_id, ids) if ids else []

    def compact(self, user_id: str, keep_turns: int) -> int:
        """Fold all but the newest keep_turns turns into summary episodes; returns turns folded.

        Each summary keeps its turns' own words (trimmed), their speakers and time span, and
        is written before the turns it replaces are deleted: a crash in between leaves both,
        never neither.
        """
        turns = [e for e in self.list(user_id) if e.kind == "turn"]
        old = turns[: max(0, len(turns) - keep_turns)]
        if not old:
            return 0
        by_thread: dict[str, builtins.list[Episode]] = {}
        for e in old:
            by_thread.setdefault(e.thread, []).append(e)
        summaries: builtins.list[EpisodeIn] = []
        for thread, group in by_thread.items():
            for i in range(0, len(group), COMPACT_GROUP):
                part = group[i : i + COMPACT_GROUP]
                text = " | ".join(f"{e.speaker or 'someone'}: {e.text}" for e in part)
                if len(text) > SUMMARY_CHARS:
                    text = text[: SUMMARY_CHARS - 1] + "…"
                summaries.append(
                    EpisodeIn(
                        text,
                        thread=thread,
                        speaker=", ".join(sorted({e.speaker for e in part if e.speaker})),
                        time=part[0].time,
                        id=f"summary:{part[0].id}",
                        meta={"until": str(part[-1].time), "turns": str(len(part))},
                        kind="summary",
                    )
                )
        self._add(user_id, summaries)
        self.forget(user_id, [e.id for e in old])
        return len(old)
