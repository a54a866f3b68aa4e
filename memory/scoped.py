"""The one place where memory is scoped to a user: every Chroma call goes through here.

Each (kind, owner) pair gets its own Chroma collection, named from a hash of the owner,
so a query for user B cannot even reach user A's vectors, and unfiltered HNSW search
stays fast at 100,000 items (a metadata `where` over one big shared collection costs
~100 ms there). Every record also carries the owner in its metadata, and every read
re-checks it before anything leaves this module (defence in depth against a hash or
naming mistake). Public memory functions hold a `_Scoped`, never a raw collection.
"""

from __future__ import annotations

import copy
import hashlib
import shutil
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from assistant.errors import DiskFullError, MemoryStoreError, disk_full_message, is_disk_full
from memory.keyword import KeywordIndex
from memory.vector_rows import MAX_ROWS, VectorRows

CollectionKind = Literal["facts", "episodes", "goals", "items"]
KINDS: tuple[CollectionKind, ...] = ("facts", "episodes", "goals", "items")
OWNER_KEY = "_owner"
HNSW = {"hnsw": {"space": "cosine"}}
# records per Chroma read: one unbounded read of ~33k records exceeds SQLite's variable limit
PAGE = 5000
LOW_SPACE_BYTES = 8 << 20  # below this much free space a failed write is a full disk, not damage
# Chroma InternalError messages that are about the request or the database, not the index.
NOT_DAMAGE = ("too many sql variables", "database is locked", "readonly database")


@dataclass
class Record:
    """One stored row as memory code sees it (converted to dataclasses before it goes public)."""

    id: str
    document: str
    metadata: dict[str, Any]
    embedding: np.ndarray | None = None


def collection_name(kind: CollectionKind, owner: str) -> str:
    """Chroma collection name for one owner's records of one kind."""
    return f"{kind}-{hashlib.sha256(owner.encode()).hexdigest()[:40]}"


def _check_owner(owner: str) -> str:
    if not isinstance(owner, str) or not owner.strip():
        raise MemoryStoreError(
            "a user id is required for every memory read and write; pass a non-empty one"
        )
    return owner


def _where(where: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not where:
        return None
    if len(where) == 1 and next(iter(where)).startswith("$"):  # already a Chroma operator tree
        return dict(where)
    parts = [{k: v} for k, v in where.items()]
    return parts[0] if len(parts) == 1 else {"$and": parts}


def range_where(field: str, since: float | None, until: float | None) -> dict[str, Any] | None:
    """Chroma's `where` for since <= field < until (None: no bound)."""
    parts = []
    if since is not None:
        parts.append({field: {"$gte": float(since)}})
    if until is not None:
        parts.append({field: {"$lt": float(until)}})
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else {"$and": parts}


class _Scoped:
    """One owner's collection of one kind; reads never create it, writes do."""

    def __init__(self, scopes: Scopes, kind: CollectionKind, owner: str) -> None:
        self.kind = kind
        self.owner = _check_owner(owner)
        self.name = collection_name(kind, owner)
        self._scopes = scopes

    def _col(self, create: bool) -> Any:
        return self._scopes._collection(self.name, create=create)

    def _mine(self, metadata: Mapping[str, Any] | None) -> bool:
        return bool(metadata) and metadata.get(OWNER_KEY) == self.owner  # type: ignore[union-attr]

    def _stamp(self, metadatas: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        return [{**m, OWNER_KEY: self.owner} for m in metadatas]

    def add(
        self,
        ids: Sequence[str],
        embeddings: np.ndarray,
        documents: Sequence[str],
        metadatas: Sequence[Mapping[str, Any]],
    ) -> None:
        """Insert or overwrite records (upsert, so a retried write is harmless)."""
        if not ids:
            return
        stamped = self._stamp(metadatas)
        vectors = np.asarray(embeddings, dtype=np.float32)
        with self._scopes.writing(self.name):
            try:
                with self._scopes.guard(self.name):
                    self._col(create=True).upsert(
                        ids=list(ids),
                        embeddings=vectors,
                        documents=list(documents),
                        metadatas=stamped,
                    )
            except BaseException:
                # part of the batch may be stored: the in-memory indexes are read again
                self._scopes._drop_derived(self.name)
                raise
            self._scopes._keyword_upsert(self.name, ids, documents, stamped)
            rows = self._scopes._vectors.get(self.name)
            if rows is not None:
                rows.upsert(ids, vectors, stamped)

    def update_metadata(self, ids: Sequence[str], metadatas: Sequence[Mapping[str, Any]]) -> None:
        """Change metadata of records that belong to this owner (others are ignored)."""
        mine = {r.id for r in self.get(ids=ids, include_documents=False)}
        pairs = [(i, m) for i, m in zip(ids, metadatas, strict=True) if i in mine]
        if pairs:
            changed = [i for i, _ in pairs]
            stamped = self._stamp([m for _, m in pairs])
            with self._scopes.writing(self.name), self._scopes.guard(self.name):
                self._col(create=True).update(ids=changed, metadatas=stamped)
                index = self._scopes._keyword.get(self.name)
                if index is not None:
                    index.update_metadata(changed, stamped)
                rows = self._scopes._vectors.get(self.name)
                if rows is not None:
                    rows.update_metadata(changed, stamped)

    def get(
        self,
        ids: Sequence[str] | None = None,
        where: Mapping[str, Any] | None = None,
        limit: int | None = None,
        *,
        include_documents: bool = True,
        include_embeddings: bool = False,
    ) -> list[Record]:
        """Records of this owner by id and/or metadata filter."""
        col = self._col(create=False)
        if col is None or (ids is not None and not ids):
            return []
        include = ["metadatas"]
        if include_documents:
            include.append("documents")
        if include_embeddings:
            include.append("embeddings")
        out: list[Record] = []
        for res in self._pages(col, ids, where, limit, include):
            for n, rid in enumerate(res["ids"]):
                meta = dict(res["metadatas"][n] or {})
                if not self._mine(meta):
                    continue
                doc = res["documents"][n] if include_documents else ""
                emb = (
                    np.asarray(res["embeddings"][n], dtype=np.float32)
                    if include_embeddings
                    else None
                )
                out.append(Record(rid, doc or "", meta, emb))
        return out

    def _pages(
        self,
        col: Any,
        ids: Sequence[str] | None,
        where: Mapping[str, Any] | None,
        limit: int | None,
        include: list[str],
    ) -> Iterator[Any]:
        """Chroma `get` results in reads of at most PAGE records (by id chunks or offsets)."""
        if ids is not None:
            wanted = list(ids)
            for start in range(0, len(wanted), PAGE):
                with self._scopes.guard(self.name):
                    yield col.get(
                        ids=wanted[start : start + PAGE],
                        where=_where(where),
                        limit=limit,
                        include=include,
                    )
            return
        offset = 0
        while limit is None or offset < limit:
            size = PAGE if limit is None else min(PAGE, limit - offset)
            with self._scopes.guard(self.name):
                res = col.get(where=_where(where), limit=size, offset=offset, include=include)
            yield res
            if len(res["ids"]) < size:
                return
            offset += size

    def query(
        self, embedding: np.ndarray, k: int, where: Mapping[str, Any] | None = None
    ) -> list[tuple[Record, float]]:
        """Nearest records of this owner with cosine similarity, best first."""
        return self.query_many(np.asarray(embedding, dtype=np.float32)[None, :], k, where)[0]

    def query_many(
        self, embeddings: np.ndarray, k: int, where: Mapping[str, Any] | None = None
    ) -> list[list[tuple[Record, float]]]:
        """`query` for several vectors (N, D) in one call."""
        rows = len(embeddings)
        col = self._col(create=False)
        if col is None or k <= 0 or rows == 0:
            return [[] for _ in range(rows)]
        with self._scopes.guard(self.name):  # Chroma caps n_results at the collection size
            res = col.query(
                query_embeddings=np.asarray(embeddings, dtype=np.float32),
                n_results=k,
                where=_where(where),
                include=["documents", "metadatas", "distances"],
            )
        out: list[list[tuple[Record, float]]] = []
        for q in range(rows):
            hits = []
            for j, rid in enumerate(res["ids"][q]):
                meta = dict(res["metadatas"][q][j] or {})
                if self._mine(meta):
                    sim = 1.0 - float(res["distances"][q][j])
                    hits.append((Record(rid, res["documents"][q][j] or "", meta), sim))
            out.append(hits)
        return out

    def nearest(
        self, embedding: np.ndarray, k: int, where: Mapping[str, Any] | None = None
    ) -> list[tuple[Record, float]]:
        """`query` for search: Chroma returns ids and distances only; text and metadata come
        from the scope's in-memory keyword rows (half the time of reading them from SQLite)."""
        col = self._col(create=False)
        index = self._scopes._keyword_index(self)
        if col is None or index is None or k <= 0:
            return []
        with self._scopes.guard(self.name):
            res = col.query(
                query_embeddings=np.asarray(embedding, dtype=np.float32)[None, :],
                n_results=k,
                where=_where(where),
                include=["distances"],
            )
        pairs = zip(res["ids"][0], res["distances"][0], strict=True)
        return self._records(index, [(rid, 1.0 - float(d)) for rid, d in pairs])

    def _records(
        self, index: KeywordIndex, scored: Sequence[tuple[str, float]]
    ) -> list[tuple[Record, float]]:
        """(id, similarity) pairs as this owner's records, text and metadata from memory."""
        ids = [rid for rid, _s in scored]
        rows = index.rows(ids)
        missing = [i for i in ids if i not in rows]
        if missing:  # written by another handle since the index was built: read them
            rows.update({r.id: (r.metadata, r.document) for r in self.get(ids=missing)})
        out = []
        for rid, sim in scored:
            got = rows.get(rid)
            if got is not None and self._mine(got[0]):
                out.append((Record(rid, got[1], dict(got[0])), sim))
        return out

    def nearest_between(
        self, embedding: np.ndarray, k: int, field: str, since: float | None, until: float | None
    ) -> list[tuple[Record, float]]:
        """`nearest` among records whose metadata `field` lies in [since, until).

        Where this process is the store's one writer the range is filtered over the scope's
        vectors in memory (exact, under a millisecond at 6,000 records); elsewhere, and for
        very large scopes, by Chroma's `where` (12-18 ms at 6,000 records).
        """
        if since is None and until is None:
            return self.nearest(embedding, k)
        rows = self._scopes._vector_rows(self)
        index = self._scopes._keyword_index(self) if rows is not None else None
        if rows is None or index is None:
            return self.nearest(embedding, k, where=range_where(field, since, until))
        return self._records(index, rows.nearest(embedding, k, field, since, until))

    def delete(self, ids: Sequence[str]) -> list[str]:
        """Delete this owner's records with these ids; returns the ids really deleted."""
        mine = [r.id for r in self.get(ids=ids, include_documents=False)]
        if mine:
            with self._scopes.writing(self.name), self._scopes.guard(self.name):
                self._col(create=True).delete(ids=mine)
                index = self._scopes._keyword.get(self.name)
                if index is not None:
                    index.delete(mine)
                rows = self._scopes._vectors.get(self.name)
                if rows is not None:
                    rows.delete(mine)
        return mine

    def neighbours(self, ids: Sequence[str]) -> dict[str, list[Record]]:
        """The records just before and after each id in its thread (episodes linked by "after")."""
        index = self._scopes._keyword_index(self)
        if index is None:
            return {}
        return {
            rid: [Record(other, text, dict(meta)) for other, meta, text in rows if self._mine(meta)]
            for rid, rows in index.neighbours(ids).items()
        }

    def keyword(
        self, query: str, k: int, keep: Callable[[Mapping[str, Any]], bool] | None = None
    ) -> list[tuple[Record, float]]:
        """Best k records of this owner by BM25 over their text, best first (see memory.keyword)."""
        index = self._scopes._keyword_index(self)
        if index is None:
            return []
        return [
            (Record(rid, text, dict(meta)), score)
            for rid, score, meta, text in index.search(query, k, keep)
            if self._mine(meta)
        ]

    def count(self) -> int:
        col = self._col(create=False)
        if col is None:
            return 0
        with self._scopes.guard(self.name):
            return int(col.count())


class Scopes:
    """Hands out `_Scoped` collections and caches Chroma collection handles."""

    def __init__(
        self,
        client: Any,
        embedding_function: Any,
        on_damage: Callable[[str], None] | None = None,
        folder: Path | None = None,
    ) -> None:
        self.client = client
        self.folder = folder  # the embedded store's folder: its free space tells a full disk
        self._ef = embedding_function
        self._on_damage = on_damage
        self._handles: dict[str, Any] = {}
        self._keyword: dict[str, KeywordIndex] = {}
        self._vectors: dict[str, VectorRows] = {}  # only where this process is the one writer
        # writes finished and in flight per collection: an in-memory index read from the
        # store while either moved may miss a write, so it is used once and not kept
        self._writes: dict[str, int] = {}
        self._in_flight: dict[str, int] = {}
        self._lock = threading.Lock()

    @contextmanager
    def guard(self, name: str) -> Iterator[None]:
        """Turn Chroma's internal errors (a damaged index) into a MemoryStoreError that says what to do.

        A full disk and errors of the request itself are not damage: marking them for a
        rebuild made every start rebuild (minutes) and fail again.
        """
        from chromadb.errors import InternalError

        try:
            yield
        except (InternalError, OSError) as exc:
            if is_disk_full(exc):
                raise DiskFullError(disk_full_message(f"the memory store ({name})")) from exc
            if isinstance(exc, OSError):
                raise
            if self._disk_nearly_full():
                # Chroma words a full disk as a failed compaction ("Failed to apply logs")
                raise DiskFullError(disk_full_message(self.folder)) from exc
            if any(word in str(exc).lower() for word in NOT_DAMAGE):
                raise MemoryStoreError(
                    f"memory request on {name} failed ({exc}); the index is not damaged, "
                    "so nothing is rebuilt: report this as a bug"
                ) from exc
            if self._on_damage is not None:
                self._on_damage(name)
            raise MemoryStoreError(
                f"the vector index of collection {name} is damaged ({exc}); restart the assistant: "
                "the store rebuilds it from its database on the next open"
            ) from exc

    def _disk_nearly_full(self) -> bool:
        if self.folder is None:
            return False
        try:
            return shutil.disk_usage(self.folder).free < LOW_SPACE_BYTES
        except OSError:
            return False

    def scope(self, kind: CollectionKind, owner: str) -> _Scoped:
        """The owner's collection of this kind (the only door to stored records)."""
        return _Scoped(self, kind, owner)

    def _collection(self, name: str, *, create: bool) -> Any:
        with self._lock:
            handle = self._handles.get(name)
            if handle is not None:
                return handle
            if create:
                # a copy: Chroma writes the embedding function into the dict it is given
                handle = self.client.get_or_create_collection(
                    name, configuration=copy.deepcopy(HNSW), embedding_function=self._ef
                )
            else:
                try:
                    handle = self.client.get_collection(name, embedding_function=self._ef)
                except Exception as exc:  # chromadb raises NotFoundError or ValueError by version
                    if "does not exist" in str(exc) or type(exc).__name__ == "NotFoundError":
                        return None
                    raise
            self._handles[name] = handle
            return handle

    def forget_handles(self) -> None:
        """Drop cached handles and keyword indexes (after a collection was rebuilt)."""
        with self._lock:
            self._handles.clear()
            self._keyword.clear()
            self._vectors.clear()

    @contextmanager
    def writing(self, name: str) -> Iterator[None]:
        """Mark a write to `name` in flight until it (and its index updates) is done."""
        with self._lock:
            self._in_flight[name] = self._in_flight.get(name, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight[name] -= 1
                self._writes[name] = self._writes.get(name, 0) + 1

    def _write_state(self, name: str) -> tuple[int, int]:
        """(writes in flight, writes finished) for `name`; call with the lock held. A read of
        the store may be kept as an index only if this was (0, n) before it and is the same after."""
        return self._in_flight.get(name, 0), self._writes.get(name, 0)

    def _drop_derived(self, name: str) -> None:
        """Forget a collection's in-memory indexes: the next search reads them from the store."""
        with self._lock:
            self._keyword.pop(name, None)
            self._vectors.pop(name, None)

    def _vector_rows(self, scoped: _Scoped) -> VectorRows | None:
        """The scope's vectors in memory, read from the store on first use; None where Chroma
        must filter (a store others may write to, a very large scope, a write during the read)."""
        if self.folder is None:  # a Chroma server: other processes may write to it
            return None
        with self._lock:
            rows = self._vectors.get(scoped.name)
            before = self._write_state(scoped.name)
        if rows is not None:
            return rows
        if before[0]:
            return None  # a write is in flight: use Chroma this time
        if not 0 < scoped.count() <= MAX_ROWS:
            return None
        records = scoped.get(include_documents=False, include_embeddings=True)
        if not records or any(r.embedding is None for r in records):
            return None
        loaded = VectorRows(
            [r.id for r in records],
            np.stack([r.embedding for r in records if r.embedding is not None]),
            [r.metadata for r in records],
        )
        with self._lock:
            if self._write_state(scoped.name) != before:
                return None  # a write raced the read: use Chroma this time, read again next time
            return self._vectors.setdefault(scoped.name, loaded)

    def _keyword_index(self, scoped: _Scoped) -> KeywordIndex | None:
        """The scope's keyword index, built from what the store holds on first use (and read
        again from a shared server when its row count changed under us)."""
        with self._lock:
            index = self._keyword.get(scoped.name)
            before = self._write_state(scoped.name)
        if index is not None and self.folder is None and len(index) != scoped.count():
            # a Chroma server: another process added or removed rows since the index was
            # read; one count per search keeps their writes visible here at once
            with self._lock:
                if self._keyword.get(scoped.name) is index:
                    del self._keyword[scoped.name]
            index = None
        if index is not None:
            return index
        records = scoped.get()
        if not records:
            return None
        built = KeywordIndex([(r.id, r.document, r.metadata) for r in records])
        with self._lock:
            if before[0] or self._write_state(scoped.name) != before:
                # a write raced the read and found no index to update: this one answers
                # this search only, and the next search reads the store again
                return built
            return self._keyword.setdefault(scoped.name, built)

    def _keyword_upsert(
        self,
        name: str,
        ids: Sequence[str],
        documents: Sequence[str],
        metadatas: Sequence[Mapping[str, Any]],
    ) -> None:
        index = self._keyword.get(name)
        if index is not None:  # not built yet: it will read these rows from the store
            index.upsert(ids, documents, metadatas)
