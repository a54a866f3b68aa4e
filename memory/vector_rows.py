"""One scope's vectors in memory, for nearest-neighbour search inside a time range.

Chroma answers a query with a metadata `where` (a time range) by filtering in SQLite and
then searching the allowed ids: 12-18 ms at 6,000 stored turns, against 1.5 ms without
a filter; a numpy pass over the same 6,000 unit vectors takes under a millisecond and
is exact. A question that names a date ("in May") runs such a query, so it set the
search's p95.

Like the keyword index (`memory.keyword`), this is derived from the store and never
persisted: it is read from Chroma on the first filtered search of a scope and kept in
step by that scope's own writes after they commit (`memory.scoped._Scoped`), and a write
that fails drops it, so it can never hold what the store does not. It is used only where
this process is the store's one writer (the embedded store, which holds a folder lock);
a store served over HTTP may be written by others, and is searched through Chroma.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

MAX_ROWS = 50_000  # above this a scope stays on Chroma's filter (memory: 77 MB at 384 dims)


class VectorRows:
    """Ids, unit vectors (N, D) and metadata of one scope; thread-safe."""

    def __init__(
        self, ids: Sequence[str], vectors: np.ndarray, metadatas: Sequence[Mapping[str, Any]]
    ) -> None:
        self._lock = threading.Lock()
        self._pos: dict[str, int] = {}
        self._ids: list[str] = []
        self._meta: list[Mapping[str, Any]] = []
        self._vectors = np.zeros((0, vectors.shape[1] if vectors.ndim == 2 else 0), np.float32)
        self._fields: dict[str, np.ndarray] = {}  # field -> (N,) float values, NaN if absent
        self._alive = np.zeros(0, dtype=bool)  # per slot: False once deleted (slots never reused)
        self.upsert(ids, vectors, metadatas)

    def __len__(self) -> int:
        return len(self._pos)

    def upsert(
        self, ids: Sequence[str], vectors: np.ndarray, metadatas: Sequence[Mapping[str, Any]]
    ) -> None:
        vectors = np.asarray(vectors, dtype=np.float32)
        with self._lock:
            fresh: list[int] = []
            for n, rid in enumerate(ids):
                at = self._pos.get(rid)
                if at is None:
                    fresh.append(n)
                else:  # rewritten in place
                    self._vectors[at] = vectors[n]
                    self._meta[at] = dict(metadatas[n])
            if fresh:
                start = len(self._ids)
                self._ids += [ids[n] for n in fresh]
                self._meta += [dict(metadatas[n]) for n in fresh]
                self._pos.update({ids[n]: start + j for j, n in enumerate(fresh)})
                block = vectors[fresh]
                end = start + len(fresh)
                if end > len(self._vectors) or self._vectors.shape[1] != block.shape[1]:
                    size = max(end, 2 * len(self._vectors), 256)  # room to grow: no copy per write
                    grown = np.zeros((size, block.shape[1]), dtype=np.float32)
                    grown[:start] = self._vectors[:start]
                    alive = np.zeros(size, dtype=bool)
                    alive[:start] = self._alive[:start]
                    self._vectors, self._alive = grown, alive
                self._vectors[start:end] = block
                self._alive[start:end] = True
            self._fields.clear()

    def update_metadata(self, ids: Sequence[str], metadatas: Sequence[Mapping[str, Any]]) -> None:
        with self._lock:
            for rid, meta in zip(ids, metadatas, strict=True):
                at = self._pos.get(rid)
                if at is not None:
                    self._meta[at] = dict(meta)
            self._fields.clear()

    def delete(self, ids: Sequence[str]) -> None:
        with self._lock:
            for rid in ids:
                at = self._pos.pop(rid, None)
                if at is not None:
                    self._alive[at] = False
            self._fields.clear()
            dead = len(self._ids) - len(self._pos)
            if dead > max(1024, len(self._pos)):  # mostly deleted slots (compaction): pack
                keep = sorted(self._pos.values())
                self._ids = [self._ids[j] for j in keep]
                self._meta = [self._meta[j] for j in keep]
                self._vectors = self._vectors[keep].copy()
                self._alive = np.ones(len(keep), dtype=bool)
                self._pos = {rid: j for j, rid in enumerate(self._ids)}

    def _field(self, name: str) -> np.ndarray:
        values = self._fields.get(name)
        if values is None:
            values = np.array([_number(m.get(name)) for m in self._meta], dtype=np.float64).reshape(
                -1
            )
            self._fields[name] = values
        return values

    def nearest(
        self, vector: np.ndarray, k: int, field: str, since: float | None, until: float | None
    ) -> list[tuple[str, float]]:
        """Best k (id, cosine) among rows whose `field` lies in [since, until), best first.

        Rows without a number in `field` are left out, as Chroma's `where` leaves them out.
        """
        with self._lock:
            keep = self._alive[: len(self._ids)].copy()
            values = self._field(field)
            with np.errstate(invalid="ignore"):  # NaN (no value) compares False: left out
                if since is not None:
                    keep &= values >= since
                if until is not None:
                    keep &= values < until
                if since is None and until is None:
                    keep &= ~np.isnan(values)
            if k <= 0 or not keep.any():
                return []
            n = len(self._ids)
            sims = self._vectors[:n] @ np.asarray(vector, dtype=np.float32)  # (N,): cheap
            rows = np.flatnonzero(keep)
            picked = sims[rows]
            if len(rows) > k:
                part = np.argpartition(-picked, k - 1)[:k]
                rows, picked = rows[part], picked[part]
            best = np.argsort(-picked, kind="stable")
            return [(self._ids[int(rows[j])], float(picked[j])) for j in best]


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return float("nan")
    return float(value)
