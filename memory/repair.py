"""Detect a damaged vector index on open and rebuild it from what Chroma's SQLite holds.

Chroma's SQLite file is the source of truth; its HNSW index files are flushed in
batches, and a process killed in a flush can leave them unreadable (Chroma then raises
on every read of that collection, or answers with too few neighbours). Each collection
is probed on open; a damaged one is rebuilt by reading ids, documents and metadata
straight from SQLite (plus the write-ahead log entries not yet applied), journalling
them to a file, recreating the collection and adding each record back with the vector it
was written with (read from the index files and the log, memory.index_vectors), or the
embedding of its text where that vector is lost. A probe that
kills the process leaves a marker behind, so the next start rebuilds instead of
probing again: damage can never turn into a crash loop.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np

from assistant.errors import MemoryStoreError
from memory.embeddings import Embedder
from memory.episodes import embed_text as episode_text
from memory.index_vectors import stored_vectors
from memory.items import embed_text
from memory.scoped import HNSW

log = logging.getLogger(__name__)

REPAIR_MARKER = "assistant-repair.json"  # collections that failed at run time
OPEN_MARKER = "assistant-open.json"  # present while an owner has the store open
JOURNAL_PREFIX = "assistant-rebuild-"
VECTORS_SUFFIX = ".vectors.npz"  # the vectors read back, beside the journal
DOC_KEY = "chroma:document"
_ADD, _UPDATE, _UPSERT, _DELETE = 0, 1, 2, 3
BATCH = 2000


def atomic_write(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _value(s: Any, i: Any, f: Any, b: Any) -> Any:
    if s is not None:
        return s
    if i is not None:
        return int(i)
    if f is not None:
        return float(f)
    return bool(b) if b is not None else None


def read_rows(folder: Path, name: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(id, document, metadata) of one collection, read from chroma.sqlite3 without the index."""
    db_path = folder / "chroma.sqlite3"
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT id FROM collections WHERE name = ?", (name,)).fetchone()
        if row is None:
            return []
        coll_id = row[0]
        seg = db.execute(
            "SELECT id FROM segments WHERE collection = ? AND scope = 'METADATA'", (coll_id,)
        ).fetchone()
        records: dict[str, dict[str, Any]] = {}
        applied = 0
        if seg is not None:
            for emb_id, key, s, i, f, b in db.execute(
                "SELECT e.embedding_id, m.key, m.string_value, m.int_value, m.float_value, m.bool_value "
                "FROM embeddings e LEFT JOIN embedding_metadata m ON m.id = e.id WHERE e.segment_id = ?",
                (seg[0],),
            ):
                meta = records.setdefault(emb_id, {})
                if key is not None:
                    meta[key] = _value(s, i, f, b)
            got = db.execute(
                "SELECT seq_id FROM max_seq_id WHERE segment_id = ?", (seg[0],)
            ).fetchone()
            applied = (
                int.from_bytes(got[0], "big")
                if got and isinstance(got[0], bytes)
                else int(got[0])
                if got
                else 0
            )
        # writes acknowledged to the log but not yet applied to the metadata segment
        for _seq, op, emb_id, meta_json in db.execute(
            "SELECT seq_id, operation, id, metadata FROM embeddings_queue WHERE topic LIKE ? AND seq_id > ? "
            "ORDER BY seq_id",
            (f"%{coll_id}", applied),
        ):
            meta = json.loads(meta_json) if meta_json else {}
            if op == _DELETE:
                records.pop(emb_id, None)
            elif op == _UPDATE:
                if emb_id in records:
                    records[emb_id].update(meta)
            else:
                records[emb_id] = (
                    {**records.get(emb_id, {}), **meta} if op == _UPSERT else dict(meta)
                )
    except sqlite3.Error as exc:
        raise MemoryStoreError(
            f"Chroma's database {db_path} cannot be read ({exc}); restore the data directory from a "
            "backup, or move it away to start with empty memory"
        ) from exc
    finally:
        db.close()
    out = []
    for rid, meta in records.items():
        clean = {k: v for k, v in meta.items() if v is not None and not k.startswith("chroma:")}
        out.append((rid, str(meta.get(DOC_KEY) or ""), clean))
    return out


def mark_for_repair(folder: Path, name: str) -> None:
    """Remember that a collection failed at run time; the next open rebuilds it."""
    marker = folder / REPAIR_MARKER
    try:
        names = set(json.loads(marker.read_text())) if marker.exists() else set()
    except (OSError, ValueError):
        names = set()
    atomic_write(marker, sorted(names | {name}))


def flagged(folder: Path) -> dict[str, str]:
    """Collections marked damaged at run time by the previous owner."""
    try:
        names = json.loads((folder / REPAIR_MARKER).read_text())
        return {str(n): "it failed while the assistant was running" for n in names}
    except (OSError, ValueError, TypeError):
        return {}


def check_and_repair(
    client: Any, folder: Path, embedder: Embedder, ef: Any, damaged: dict[str, str]
) -> list[str]:
    """Finish interrupted rebuilds, then rebuild the damaged collections; returns their names."""
    rebuilt = []
    for journal in sorted(folder.glob(f"{JOURNAL_PREFIX}*.json")):
        name = journal.stem[len(JOURNAL_PREFIX) :]
        log.warning("memory: finishing an interrupted rebuild of %s", name)
        _rebuild_from_journal(client, folder, name, embedder, ef)
        rebuilt.append(name)
    for name, problem in sorted(damaged.items()):
        if name in rebuilt:
            continue
        log.warning(
            "memory: the vector index of %s is damaged (%s); rebuilding it from SQLite",
            name,
            problem,
        )
        rebuild(client, folder, name, embedder, ef)
        rebuilt.append(name)
    (folder / REPAIR_MARKER).unlink(missing_ok=True)
    if rebuilt:
        remove_orphan_indexes(folder)
    return rebuilt


def remove_orphan_indexes(folder: Path) -> list[str]:
    """Delete HNSW folders no segment refers to; returns their names.

    Chroma's delete_collection leaves the old index folder on disk, so every rebuild kept a
    full copy of the index it replaced (13 MB per 8,000 records) for good.
    """
    db = sqlite3.connect(f"file:{folder / 'chroma.sqlite3'}?mode=ro", uri=True)
    try:
        live = {str(row[0]) for row in db.execute("SELECT id FROM segments")}
    except sqlite3.Error as exc:
        log.info("memory: cannot list segments to tidy old index folders (%s)", exc)
        return []
    finally:
        db.close()
    removed = []
    for seg in folder.iterdir():
        if (
            seg.is_dir()
            and len(seg.name) == 36
            and seg.name.count("-") == 4
            and seg.name not in live
        ):
            shutil.rmtree(seg, ignore_errors=True)
            removed.append(seg.name)
    if removed:
        log.info("memory: removed %d index folder(s) left by rebuilt collections", len(removed))
    return removed


def rebuild(client: Any, folder: Path, name: str, embedder: Embedder, ef: Any) -> int:
    """Recreate one collection from SQLite's rows; returns how many records it holds again.

    Each record gets back the vector it was written with when the index files or the
    write-ahead log still hold it (memory.index_vectors); only the others are re-embedded.
    """
    rows = read_rows(folder, name)
    kept = stored_vectors(folder, name)
    ids = [i for i, _d, _m in rows if i in kept]
    _save_vectors(
        folder / f"{JOURNAL_PREFIX}{name}{VECTORS_SUFFIX}", ids, [kept[i] for i in ids]
    )  # before the journal: a journal without its vectors file means "re-embed everything"
    atomic_write(folder / f"{JOURNAL_PREFIX}{name}.json", [[i, d, m] for i, d, m in rows])
    return _rebuild_from_journal(client, folder, name, embedder, ef)


def _save_vectors(path: Path, ids: list[str], vectors: list[np.ndarray]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        matrix = np.stack(vectors).astype(np.float32) if vectors else np.zeros((0, 0), np.float32)
        np.savez(fh, ids=np.array(ids, dtype=str), vectors=matrix)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _load_vectors(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as saved:
            return dict(zip((str(i) for i in saved["ids"]), saved["vectors"], strict=True))
    except (OSError, ValueError, KeyError) as exc:  # missing or torn: re-embed instead
        log.info("memory: no saved vectors for the rebuild (%s)", exc)
        return {}


def _vectors_for(rows: list[Any], kept: dict[str, np.ndarray], embedder: Embedder) -> np.ndarray:
    """One vector per row: the one read back when there is one, else the text's embedding."""
    missing = [n for n, (i, _d, _m) in enumerate(rows) if i not in kept]
    fresh: dict[int, np.ndarray] = {}
    for start in range(0, len(missing), BATCH):
        part = missing[start : start + BATCH]
        texts = [_text(*rows[n][1:]) for n in part]
        fresh.update(zip(part, embedder.embed(texts), strict=True))
    dims = {v.shape[-1] for v in kept.values()} | {v.shape[-1] for v in fresh.values()}
    if len(dims) > 1:  # written with another embedding model: one model for the whole index
        log.warning("memory: stored vectors of another size than the model's; re-embedding all")
        return _vectors_for(rows, {}, embedder)
    if not rows:
        return np.zeros((0, 0), np.float32)
    return np.stack(
        [kept[i] if i in kept else fresh[n] for n, (i, _d, _m) in enumerate(rows)]
    ).astype(np.float32)


def _text(document: str, metadata: dict[str, Any]) -> str:
    if "title" in metadata:
        return embed_text(str(metadata["title"]), document)
    return episode_text(document, metadata)


def _rebuild_from_journal(client: Any, folder: Path, name: str, embedder: Embedder, ef: Any) -> int:
    journal = folder / f"{JOURNAL_PREFIX}{name}.json"
    saved = folder / f"{JOURNAL_PREFIX}{name}{VECTORS_SUFFIX}"
    rows = json.loads(journal.read_text(encoding="utf-8"))
    kept = _load_vectors(saved) if saved.exists() else {}
    vectors = _vectors_for(rows, kept, embedder)
    try:
        client.delete_collection(name)
    except Exception as exc:  # absent after an interrupted rebuild: nothing to delete
        log.info("memory: delete of %s before rebuild: %s", name, exc)
    col = client.create_collection(name, configuration=copy.deepcopy(HNSW), embedding_function=ef)
    for start in range(0, len(rows), BATCH):
        part = rows[start : start + BATCH]
        col.add(
            ids=[i for i, _d, _m in part],
            embeddings=vectors[start : start + BATCH],
            documents=[d for _i, d, _m in part],
            metadatas=[m for _i, _d, m in part],
        )
    reused = sum(1 for i, _d, _m in rows if i in kept)
    log.warning(
        "memory: rebuilt %s: %d records, %d with their stored vector, %d re-embedded",
        name, len(rows), reused, len(rows) - reused,
    )  # fmt: skip
    journal.unlink()
    saved.unlink(missing_ok=True)
    return len(rows)
