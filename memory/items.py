"""Feed items (arXiv papers, Slack messages) per owner: idempotent upserts, search, summaries.

An item's id is its identity ("arxiv:2203.01250"): pulling the same feed twice stores
nothing twice, and a higher version or changed text counts as an update. Item text is
external data; nothing here turns it into profile facts.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import threading
from collections.abc import Iterable
from datetime import datetime
from typing import Any, get_args

import numpy as np

from assistant.errors import MemoryStoreError
from memory.embeddings import Embedder
from memory.scoped import OWNER_KEY, Record, Scopes
from memory.types import Item, ItemSource, UpsertCounts


def embed_text(title: str, text: str) -> str:
    """What an item is embedded from (title carries most of a paper's topic)."""
    return f"{title}\n{text}".strip()


def _fingerprint(item: Item) -> str:
    raw = "\x00".join([item.title, item.text, str(item.mentions_me), str(item.my_thread)])
    return hashlib.sha256(raw.encode()).hexdigest()


def _text_hash(item: Item) -> str:
    return hashlib.sha256(f"{item.title}\x00{item.text}".encode()).hexdigest()


def _to_meta(item: Item, summary: str) -> dict[str, Any]:
    return {
        "source": item.source, "title": item.title, "url": item.url, "author": item.author,
        "published": float(item.published), "updated": float(item.updated), "version": int(item.version),
        "categories": json.dumps(list(item.categories)), "feed": item.feed, "summary": summary,
        "summarised": bool(summary), "mentions_me": bool(item.mentions_me), "my_thread": bool(item.my_thread),
        "meta": json.dumps(dict(item.meta)), "fingerprint": _fingerprint(item),
        "text_hash": _text_hash(item),
    }  # fmt: skip


def record_to_item(rec: Record) -> Item:
    m = rec.metadata
    source = m.get("source", "arxiv")
    return Item(
        id=rec.id,
        owner=str(m.get(OWNER_KEY, "")),
        source=source if source in get_args(ItemSource) else "arxiv",
        title=str(m.get("title", "")),
        text=rec.document,
        url=str(m.get("url", "")),
        author=str(m.get("author", "")),
        published=float(m.get("published", 0.0)),
        updated=float(m.get("updated", 0.0)),
        version=int(m.get("version", 1)),
        categories=tuple(json.loads(m.get("categories", "[]"))),
        feed=str(m.get("feed", "")),
        summary=str(m.get("summary", "")),
        mentions_me=bool(m.get("mentions_me", False)),
        my_thread=bool(m.get("my_thread", False)),
        meta=dict(json.loads(m.get("meta", "{}"))),
    )


def _since(since: float | datetime | None) -> float | None:
    if since is None:
        return None
    return since.timestamp() if isinstance(since, datetime) else float(since)


class ItemStore:
    """One owner's feed items."""

    def __init__(
        self, scopes: Scopes, embedder: Embedder, lock: threading.RLock | None = None
    ) -> None:
        self._scopes = scopes
        self._embedder = embedder
        self._lock = lock or threading.RLock()

    def upsert(self, items: Iterable[Item]) -> UpsertCounts:
        """Store items; same id = one item; higher version or changed text = updated."""
        groups: dict[str, dict[str, Item]] = {}
        for item in items:
            if not item.id:
                raise MemoryStoreError(
                    f"feed item without an id (title {item.title!r}); every item needs one"
                )
            latest = groups.setdefault(item.owner, {}).get(item.id)
            if latest is None or item.version >= latest.version:
                groups[item.owner][item.id] = item
        new = updated = unchanged = 0
        for owner, batch in groups.items():
            col = self._scopes.scope("items", owner)
            with self._lock:
                old = {r.id: r.metadata for r in col.get(ids=list(batch), include_documents=False)}
                write: list[tuple[Item, str]] = []
                for item in batch.values():
                    prev = old.get(item.id)
                    if prev is None:
                        new += 1
                        write.append((item, item.summary))
                        continue
                    prev_version = int(prev.get("version", 1))
                    changed = prev.get("fingerprint") != _fingerprint(item)
                    if item.version < prev_version or (
                        item.version == prev_version and not changed
                    ):
                        unchanged += 1
                        continue
                    updated += 1
                    # a new text needs a new summary; a bare version bump keeps the old one
                    text_changed = prev.get("text_hash") != _text_hash(item)
                    summary = item.summary or ("" if text_changed else str(prev.get("summary", "")))
                    write.append((item, summary))
                if write:
                    vectors = self._embedder.embed([embed_text(i.title, i.text) for i, _ in write])
                    col.add(
                        [i.id for i, _ in write],
                        vectors,
                        [i.text for i, _ in write],
                        [_to_meta(i, s) for i, s in write],
                    )
        return UpsertCounts(new=new, updated=updated, unchanged=unchanged)

    def get(self, owner: str, item_id: str) -> Item | None:
        recs = self._scopes.scope("items", owner).get(ids=[item_id])
        return record_to_item(recs[0]) if recs else None

    def list(
        self,
        owner: str,
        source: ItemSource | None = None,
        limit: int = 50,
        since: float | datetime | None = None,
    ) -> list[Item]:
        """Newest items first (by publication time), optionally one source and newer than since."""
        where: dict[str, Any] = {}
        if source:
            where["source"] = source
        after = _since(since)
        if after is not None:
            where["published"] = {"$gte": after}
        recs = self._scopes.scope("items", owner).get(where=where or None)
        recs.sort(key=lambda r: (-float(r.metadata.get("published", 0.0)), r.id))
        return [record_to_item(r) for r in recs[: max(0, limit)]]

    def search(self, owner: str, query: str, k: int = 5) -> builtins.list[tuple[Item, float]]:
        """Items closest in meaning to query, with cosine similarity."""
        if not query.strip():
            return []
        hits = self._scopes.scope("items", owner).query(self._embedder.embed_one(query), k)
        return [(record_to_item(r), s) for r, s in hits]

    def unsummarised(self, owner: str, limit: int) -> builtins.list[Item]:
        """Items still waiting for a summary, newest first."""
        recs = self._scopes.scope("items", owner).get(where={"summarised": False})
        recs.sort(key=lambda r: (-float(r.metadata.get("published", 0.0)), r.id))
        return [record_to_item(r) for r in recs[: max(0, limit)]]

    def set_summary(
        self, owner: str, item_id: str, summary: str, provenance: str = "generated"
    ) -> None:
        """Store the background summary of an item.

        `provenance` says where it came from ("generated" by the model, or "extracted" from
        the item when the model's summary failed a check); it reaches `Item.meta["summary_from"]`.
        """
        col = self._scopes.scope("items", owner)
        with self._lock:
            recs = col.get(ids=[item_id], include_documents=False)
            if not recs:
                raise MemoryStoreError(
                    f"no item {item_id!r} for {owner!r}; pull the feed before summarising it"
                )
            meta = {
                **json.loads(str(recs[0].metadata.get("meta", "{}"))),
                "summary_from": provenance,
            }
            col.update_metadata(
                [item_id],
                [
                    {
                        **recs[0].metadata,
                        "summary": summary,
                        "summarised": bool(summary),
                        "meta": json.dumps(meta),
                    }
                ],
            )

    def count(self, owner: str) -> int:
        return self._scopes.scope("items", owner).count()

    def embeddings(self, owner: str, ids: Iterable[str]) -> dict[str, builtins.list[float]]:
        """Stored vectors of these items (for digest ranking); missing ids are left out."""
        recs = self._scopes.scope("items", owner).get(
            ids=list(ids), include_documents=False, include_embeddings=True
        )
        return {
            r.id: [float(x) for x in np.asarray(r.embedding)]
            for r in recs
            if r.embedding is not None
        }
