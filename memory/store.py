"""Open the memory store: Chroma (embedded with a file lock, or a server) plus the state file.

    with open_store(settings) as store:
        store.profile.observe("local", "I live in Paris", Source(thread="main"))
        store.items.upsert(items)
        store.state.set("arxiv:etag", etag)

Every write returns only after Chroma (or SQLite) committed it. Embedded mode takes an
OS lock on the folder (one owner process), probes the vector index and rebuilds a damaged
one from Chroma's SQLite before anything is served.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from assistant.config import Settings
from assistant.errors import DiskFullError, MemoryStoreError, disk_full_message, is_disk_full
from assistant.paths import data_dir
from memory.embeddings import Embedder, LocalEmbeddingFunction
from memory.episodes import EpisodeStore
from memory.goals import GoalStore
from memory.items import ItemStore
from memory.lock import StoreLock
from memory.probe import INDEX_FINGERPRINT, find_damaged, index_unchanged, remember_index
from memory.profile import Profile, migrate_typed
from memory.repair import OPEN_MARKER, atomic_write, check_and_repair, flagged, mark_for_repair
from memory.scoped import CollectionKind, Scopes
from memory.search import SEARCHABLE, Searcher, SearchMode
from memory.state import STATE_FILE, StateStore
from memory.types import Found

log = logging.getLogger(__name__)

TOKEN_ENV = "ASSISTANT_CHROMA_TOKEN"  # named in messages; read by assistant.app


class MemoryStore:
    """Profile, goals, feed items, episodes and a key/value state, over one Chroma client."""

    def __init__(
        self,
        settings: Settings,
        client: Any,
        state: StateStore,
        *,
        folder: Path | None = None,
        lock: StoreLock | None = None,
        llm: Any = None,
        rebuilt: list[str] | None = None,
    ) -> None:
        self.settings = settings
        self.folder = folder
        self.rebuilt = rebuilt or []  # collections whose vector index was rebuilt on open
        self._client = client
        self._lock = lock
        write_lock = threading.RLock()
        embedder = Embedder(settings.memory.embedding_model)
        on_damage = (lambda name: mark_for_repair(folder, name)) if folder is not None else None
        self._scopes = Scopes(
            client,
            LocalEmbeddingFunction(settings.memory.embedding_model),
            on_damage=on_damage,
            folder=folder,
        )
        self.state = state
        self.profile = Profile(
            self._scopes, embedder, state, settings.memory, llm=llm, lock=write_lock
        )
        migrate_typed(self.profile, client)  # stores from before typed facts, once
        self.goals = GoalStore(self._scopes, embedder)
        self.items = ItemStore(self._scopes, embedder, lock=write_lock)
        self._searcher = Searcher(self._scopes, embedder)
        self._embedder = embedder
        self.episodes = EpisodeStore(
            self._scopes, embedder, self._searcher, max_turns=settings.memory.max_turns_per_user
        )
        self._closed = False

    def search(
        self,
        user_id: str,
        query: str,
        *,
        kinds: tuple[CollectionKind, ...] = SEARCHABLE,
        k: int = 10,
        since: float | None = None,
        until: float | None = None,
        now: float | None = None,
        mode: SearchMode = "hybrid",
    ) -> list[Found]:
        """One search over the user's episodes, facts and items (see memory.search)."""
        return self._searcher.search(
            user_id, query, kinds=kinds, k=k, since=since, until=until, now=now, mode=mode
        )

    def similarity(self, query: str, texts: Sequence[str]) -> list[float]:
        """Cosine similarity of query to each text (absolute, unlike the fused search score)."""
        if not texts:
            return []
        q = self._embedder.embed_one(query)
        # one text at a time: each is cached, and the same facts come back turn after turn
        return [float(self._embedder.embed_one(t) @ q) for t in texts]

    def close(self) -> None:
        """Release Chroma, the state file and the folder lock (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            close = getattr(self._client, "close", None)
            if close is not None:
                close()
            self.state.close()
            if self.folder is not None:  # a clean shutdown: no index check needed on the next open
                # without the record the next open probes the index: slower, still safe
                with contextlib.suppress(OSError):
                    remember_index(self.folder)
                (self.folder / OPEN_MARKER).unlink(missing_ok=True)
        finally:
            if self._lock is not None:
                self._lock.release()

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _chroma_settings() -> Any:
    from chromadb.config import Settings as ChromaSettings

    return ChromaSettings(anonymized_telemetry=False, allow_reset=False)


def open_store(
    settings: Settings, *, path: Path | None = None, llm: Any = None, chroma_token: str = ""
) -> MemoryStore:
    """Open memory: embedded Chroma in `path` (default data_dir()/chroma) or the configured server.

    `llm` (a ChatModel) lets `profile.observe` extract facts the rules miss. `chroma_token`
    (from $ASSISTANT_CHROMA_TOKEN, read by assistant.app) authenticates to a Chroma server.
    """
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    if settings.memory.backend == "http":
        return _open_http(settings, path, llm, chroma_token)
    folder = Path(path) if path is not None else data_dir() / "chroma"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MemoryStoreError(
            f"cannot create the memory folder {folder} ({exc.strerror}); set ASSISTANT_HOME to a writable folder"
        ) from None
    lock = StoreLock(folder)
    lock.acquire()
    client = None
    try:
        import chromadb

        damaged = flagged(folder)
        unclean = (folder / OPEN_MARKER).exists()
        if (folder / "chroma.sqlite3").exists() and (unclean or not index_unchanged(folder)):
            # the last owner did not close cleanly (killed, crashed): an index flush may be torn;
            # or the index files changed since the last clean close (deleted, overwritten).
            # Probing happens in a child process: a torn index can segfault whoever reads it.
            damaged.update(find_damaged(folder))
        (folder / INDEX_FINGERPRINT).unlink(missing_ok=True)  # stale once the index is written
        client = chromadb.PersistentClient(str(folder), settings=_chroma_settings())
        embedder = Embedder(settings.memory.embedding_model)
        rebuilt = check_and_repair(
            client,
            folder,
            embedder,
            LocalEmbeddingFunction(settings.memory.embedding_model),
            damaged,
        )
        atomic_write(folder / OPEN_MARKER, {"pid": os.getpid()})
        state = StateStore(folder / STATE_FILE)
        return MemoryStore(
            settings, client, state, folder=folder, lock=lock, llm=llm, rebuilt=rebuilt
        )
    except MemoryStoreError:
        _abandon(client, lock)
        raise
    except Exception as exc:
        _abandon(client, lock)
        if is_disk_full(exc):
            raise DiskFullError(disk_full_message(folder)) from exc
        raise MemoryStoreError(
            f"the memory store in {folder} cannot be opened ({type(exc).__name__}: {exc}); move the folder "
            "away to start with empty memory, or restore it from a backup"
        ) from exc


def _abandon(client: Any, lock: StoreLock) -> None:
    try:
        if client is not None:
            client.close()
    finally:
        lock.release()


def _open_http(settings: Settings, path: Path | None, llm: Any, token: str) -> MemoryStore:
    import chromadb

    mem = settings.memory
    headers: dict[str, str] = {}
    if token:
        bearer = mem.auth_header.lower() == "authorization" and not token.lower().startswith(
            ("bearer ", "basic ")
        )
        headers[mem.auth_header] = f"Bearer {token}" if bearer else token
    where = f"{'https' if mem.ssl else 'http'}://{mem.host}:{mem.port}"
    try:
        client = chromadb.HttpClient(
            host=mem.host, port=mem.port, ssl=mem.ssl, headers=headers, settings=_chroma_settings()
        )
        client.heartbeat()
    except Exception as exc:
        raise MemoryStoreError(
            f"cannot reach the Chroma server at {where} ({type(exc).__name__}: {exc}); start it "
            "(e.g. `chroma run --path DIR --port PORT`), check memory.host/port and $ASSISTANT_CHROMA_TOKEN, "
            'or set memory.backend = "embedded"'
        ) from exc
    folder = Path(path) if path is not None else data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return MemoryStore(settings, client, StateStore(folder / STATE_FILE), llm=llm)
