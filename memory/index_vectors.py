"""Read back the vectors a collection holds, from its files, without opening Chroma.

A rebuild used to re-embed every record's text. That loses whatever vector was written
when it was not exactly the embedding of the stored text (another model, a caller's own
vectors, identical texts with distinct vectors): 5,660 records written with distinct
vectors and one shared text came back as one point repeated 5,660 times, and HNSW then
reached only 1,494 of them. It is also slow (a minute for 8,600 records on 2 cores).

Chroma keeps each vector in two places we can read without running Chroma's own code
(which may crash on a torn index):
- the HNSW segment folder: ``header.bin`` (hnswlib's layout, after a 4-byte version),
  ``data_level0.bin`` (per element: links, the vector, a 64-bit label) and
  ``index_metadata.pickle`` (plain dicts: id -> label); as of the last flush;
- the write-ahead log ``embeddings_queue`` in chroma.sqlite3: every write since the
  last flush, with its vector.

Everything read is checked (sizes, labels, finite vectors of the right length, unit
length where the index normalised them); whatever fails a check is left out, and the
rebuild re-embeds those records' text as before.
"""

from __future__ import annotations

import io
import logging
import pickle
import sqlite3
import struct
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

_HEADER = struct.Struct("<iQQQQQQiIQQQdQ")  # version, then hnswlib's saveIndex fields
_DELETE = 3
MAX_ELEMENTS = 50_000_000  # a header claiming more is garbage, not an index


class _PlainUnpickler(pickle.Unpickler):
    """Loads only dicts, lists, strings and numbers: a damaged or planted pickle runs nothing."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refusing {module}.{name} in an index id map")


def _segment(db: sqlite3.Connection, name: str) -> tuple[str, str, int] | None:
    """(collection id, vector segment id, dimension) of a collection, or None."""
    row = db.execute(
        "SELECT c.id, s.id, COALESCE(c.dimension, 0) FROM collections c JOIN segments s "
        "ON s.collection = c.id WHERE c.name = ? AND s.scope = 'VECTOR'",
        (name,),
    ).fetchone()
    return (str(row[0]), str(row[1]), int(row[2])) if row else None


def read_hnsw(seg_dir: Path, dim: int, *, normalised: bool = True) -> dict[str, np.ndarray]:
    """{id: vector} of every element of an HNSW folder that passes the checks; {} on any doubt."""
    try:
        raw = (seg_dir / "header.bin").read_bytes()
        with open(seg_dir / "index_metadata.pickle", "rb") as fh:
            meta = _PlainUnpickler(io.BytesIO(fh.read())).load()
        data = np.memmap(seg_dir / "data_level0.bin", dtype=np.uint8, mode="r")
    except (
        OSError,
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
    ) as exc:
        log.info("memory: no vectors readable from %s (%s)", seg_dir.name, exc)
        return {}
    if len(raw) < _HEADER.size or not isinstance(meta, dict):
        return {}
    (version, offset0, _max, count, size, label_at, vector_at, *_rest) = _HEADER.unpack_from(raw)
    id_to_label = meta.get("id_to_label")
    dim = dim or (label_at - vector_at) // 4  # Chroma had not recorded the dimension
    if (
        version != 1
        or offset0 != 0
        or not 0 < count <= MAX_ELEMENTS
        or dim <= 0
        or vector_at + 4 * dim != label_at
        or label_at + 8 != size
        or not isinstance(id_to_label, dict)
    ):
        return {}
    whole = min(count, len(data) // size)  # a torn flush may have cut the file short
    rows = data[: whole * size].reshape(whole, size)
    labels = rows[:, label_at:size].copy().view("<u8").ravel()
    vectors = rows[:, vector_at:label_at].copy().view("<f4")
    by_label = {int(label): n for n, label in enumerate(labels)}
    out: dict[str, np.ndarray] = {}
    for rid, label in id_to_label.items():
        n = by_label.get(label) if isinstance(label, int) else None
        if n is None or not isinstance(rid, str):
            continue
        vec = vectors[n]
        norm = float(np.linalg.norm(vec)) if np.isfinite(vec).all() else 0.0
        if norm == 0.0 or (normalised and abs(norm - 1.0) > 1e-3):
            continue  # garbage where a unit vector should be
        out[rid] = vec
    return out


def _replay_log(
    db: sqlite3.Connection, collection_id: str, dim: int, vectors: dict[str, np.ndarray]
) -> None:
    """Apply the write-ahead log's writes (oldest first) on top of the flushed vectors.

    The log is purged only up to the last flush, so what remains is newer than or equal to
    what the files hold: replaying it in order gives each id its latest vector.
    """
    for op, rid, blob, encoding in db.execute(
        "SELECT operation, id, vector, encoding FROM embeddings_queue WHERE topic LIKE ? "
        "ORDER BY seq_id",
        (f"%{collection_id}",),
    ):
        if op == _DELETE:
            vectors.pop(rid, None)
        elif blob is not None and (encoding or "FLOAT32").upper() == "FLOAT32":
            vec = np.frombuffer(blob, dtype="<f4")
            if vec.size == dim and np.isfinite(vec).all() and np.any(vec):
                vectors[rid] = vec.copy()
            else:
                vectors.pop(rid, None)  # an unusable newer vector: the old one is stale too


def stored_vectors(folder: Path, name: str) -> dict[str, np.ndarray]:
    """{id: vector} for the records of one collection whose written vector can be read back."""
    db = sqlite3.connect(f"file:{folder / 'chroma.sqlite3'}?mode=ro", uri=True)
    try:
        found = _segment(db, name)
        if found is None:
            return {}
        collection_id, segment_id, dim = found
        vectors = read_hnsw(folder / segment_id, dim)
        dim = dim or next((v.size for v in vectors.values()), 0)
        if dim:  # else nothing tells which log vectors have the right length: re-embed those
            _replay_log(db, collection_id, dim, vectors)
        return vectors
    except sqlite3.Error as exc:
        log.info("memory: the write-ahead log of %s cannot be read (%s)", name, exc)
        return {}
    finally:
        db.close()
