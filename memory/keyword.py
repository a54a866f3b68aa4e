"""BM25 keyword index over one scope's records (bm25s), derived from the store, never persisted.

The index holds nothing the store does not: it is built from the records Chroma's SQLite
returns on the first keyword search after the store opens, and kept in step by the
scope's own writes (`memory.scoped._Scoped`). A crash therefore cannot leave it out of
step with the store; the next process simply builds it again. bm25s has no incremental
insert, so a write marks the index stale and the next search re-indexes the cached
tokens (about 0.3 s for 6,000 turns on a busy 2-core machine; no store read).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "been",
        "but",
        "by",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "he",
        "her",
        "hers",
        "him",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "she",
        "so",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "us",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "about",
    ]
)
_WORD = re.compile(r"[a-z0-9]+")


def tokens(text: str) -> list[str]:
    """Lower-case word tokens without stop words, light plural/possessive folding."""
    out = []
    for w in _WORD.findall(text.lower().replace("'s ", " ")):
        if w in STOPWORDS or len(w) < 2 and not w.isdigit():
            continue
        if len(w) > 4 and w.endswith("ies"):
            w = w[:-3] + "y"
        elif len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
            w = w[:-1]
        out.append(w)
    return out


def record_text(document: str, metadata: Mapping[str, Any]) -> str:
    """What a record is found by: its text plus the title or speaker it carries."""
    head = " ".join(str(metadata.get(key, "")) for key in ("title", "speaker") if metadata.get(key))
    context = str(metadata.get("context", ""))
    return "\n".join(part for part in (context, head, document) if part)


class KeywordIndex:
    """BM25 over (id, text, metadata) rows of one collection; thread-safe."""

    def __init__(self, rows: Sequence[tuple[str, str, Mapping[str, Any]]]) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, tuple[list[str], dict[str, Any], str]] = {
            rid: (tokens(record_text(text, meta)), dict(meta), text) for rid, text, meta in rows
        }
        self._ids: list[str] = []
        self._bm25: Any = None
        self._next: dict[str, str] = {}  # id -> id of the turn that follows it ("after" links)
        self._stale = True

    def __len__(self) -> int:
        return len(self._rows)

    def upsert(
        self, ids: Sequence[str], texts: Sequence[str], metadatas: Sequence[Mapping[str, Any]]
    ) -> None:
        with self._lock:
            for rid, text, meta in zip(ids, texts, metadatas, strict=True):
                self._rows[rid] = (tokens(record_text(text, meta)), dict(meta), text)
            self._stale = True

    def update_metadata(self, ids: Sequence[str], metadatas: Sequence[Mapping[str, Any]]) -> None:
        with self._lock:
            for rid, meta in zip(ids, metadatas, strict=True):
                if rid in self._rows:  # the context a turn is found by lives in its metadata
                    text = self._rows[rid][2]
                    self._rows[rid] = (tokens(record_text(text, meta)), dict(meta), text)
                    self._stale = True

    def delete(self, ids: Sequence[str]) -> None:
        with self._lock:
            for rid in ids:
                self._rows.pop(rid, None)
            self._stale = True

    def rows(self, ids: Sequence[str]) -> dict[str, tuple[dict[str, Any], str]]:
        """(metadata, text) of the ids held here."""
        with self._lock:
            return {i: (self._rows[i][1], self._rows[i][2]) for i in ids if i in self._rows}

    def neighbours(self, ids: Sequence[str]) -> dict[str, list[tuple[str, dict[str, Any], str]]]:
        """Per id, the rows just before and after it in its thread ("after" links): (id, meta, text)."""
        with self._lock:
            if self._stale:
                self._reindex()
            out: dict[str, list[tuple[str, dict[str, Any], str]]] = {}
            for rid in ids:
                row = self._rows.get(rid)
                if row is None:
                    continue
                found = []
                for other in (str(row[1].get("after", "")), self._next.get(rid, "")):
                    got = self._rows.get(other) if other else None
                    if got is not None:
                        found.append((other, got[1], got[2]))
                out[rid] = found
            return out

    def _reindex(self) -> None:
        import bm25s

        self._next = {
            str(meta["after"]): rid
            for rid, (_t, meta, _d) in self._rows.items()
            if meta.get("after")
        }
        self._ids = list(self._rows)
        corpus = [self._rows[i][0] or [""] for i in self._ids]
        self._bm25 = bm25s.BM25()
        if corpus:
            self._bm25.index(corpus, show_progress=False)
        self._stale = False

    def search(
        self, query: str, k: int, keep: Callable[[Mapping[str, Any]], bool] | None = None
    ) -> list[tuple[str, float, dict[str, Any], str]]:
        """Best k (id, BM25 score, metadata, text) for query; rows failing `keep` are skipped."""
        words = tokens(query)
        if not words or k <= 0:
            return []
        with self._lock:
            if self._stale:
                self._reindex()
            if not self._ids:
                return []
            vocab = self._bm25.vocab_dict
            known = [w for w in dict.fromkeys(words) if w in vocab]
            if not known:
                return []
            scores = np.asarray(self._bm25.get_scores(known), dtype=np.float32)  # (N,)
            ids = self._ids
            metas = [self._rows[i][1] for i in ids] if keep is not None else None
        if metas is not None and keep is not None:
            mask = np.fromiter((keep(m) for m in metas), dtype=bool, count=len(ids))
            scores = np.where(mask, scores, 0.0)
        n = min(k, int(np.count_nonzero(scores > 0)))
        if n == 0:
            return []
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top], kind="stable")]
        with self._lock:
            return [
                (ids[j], float(scores[j]), self._rows[ids[j]][1], self._rows[ids[j]][2])
                for j in top
                if ids[j] in self._rows
            ]
