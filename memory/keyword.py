"""BM25 keyword index over one scope's records (bm25s), derived from the store, never persisted.

The index holds nothing the store does not: it is built from the records Chroma's SQLite
returns on the first keyword search after the store opens, and kept in step by the
scope's own writes (`memory.scoped._Scoped`). A crash therefore cannot leave it out of
step with the store; the next process simply builds it again. bm25s has no incremental
insert, so a write marks the index stale and the next search re-indexes the cached
tokens (about 0.3 s for 6,000 turns on a busy 2-core machine; no store read).
"""

from __future__ import annotations

import math
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


K1, B = 1.5, 0.75  # bm25s's defaults (Lucene's BM25), used for the rows written since a re-index
REINDEX_SHARE = 0.1  # re-index once this share of rows changed since the last one (at least 64)
SMALL = 500  # below this many rows a re-index costs a few ms: always exact


class KeywordIndex:
    """BM25 over (id, text, metadata) rows of one collection; thread-safe.

    Rows written since the last bm25s index are scored in Python against that index's
    document frequencies (a chat turn's write costs nothing); the index is rebuilt once a
    tenth of the rows changed, so a search right after a write stays fast.
    """

    def __init__(self, rows: Sequence[tuple[str, str, Mapping[str, Any]]]) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, tuple[list[str], dict[str, Any], str]] = {
            rid: (tokens(record_text(text, meta)), dict(meta), text) for rid, text, meta in rows
        }
        self._next = {
            str(m["after"]): rid for rid, (_t, m, _d) in self._rows.items() if m.get("after")
        }
        self._ids: list[str] = []  # rows in the bm25s index, by position
        self._bm25: Any = None
        self._df: dict[str, int] = {}  # documents per token in the bm25s index
        self._avgdl = 1.0
        self._delta: set[str] = set()  # written since the index was built: scored in Python
        self._dead: set[str] = set()  # in the index but deleted or rewritten since
        self._stale = True

    def __len__(self) -> int:
        return len(self._rows)

    def _changed(self, rid: str) -> None:
        if not self._stale:
            self._delta.add(rid)
            self._dead.add(rid)  # harmless for a new id: nothing at its position
            changed = len(self._delta) + len(self._dead)
            if len(self._rows) < SMALL or changed > max(64, REINDEX_SHARE * len(self._rows)):
                self._stale = True

    def upsert(
        self, ids: Sequence[str], texts: Sequence[str], metadatas: Sequence[Mapping[str, Any]]
    ) -> None:
        with self._lock:
            for rid, text, meta in zip(ids, texts, metadatas, strict=True):
                self._rows[rid] = (tokens(record_text(text, meta)), dict(meta), text)
                if meta.get("after"):
                    self._next[str(meta["after"])] = rid
                self._changed(rid)

    def update_metadata(self, ids: Sequence[str], metadatas: Sequence[Mapping[str, Any]]) -> None:
        with self._lock:
            for rid, meta in zip(ids, metadatas, strict=True):
                if rid in self._rows:  # the context a turn is found by lives in its metadata
                    text = self._rows[rid][2]
                    self._rows[rid] = (tokens(record_text(text, meta)), dict(meta), text)
                    self._changed(rid)

    def delete(self, ids: Sequence[str]) -> None:
        with self._lock:
            for rid in ids:
                if self._rows.pop(rid, None) is not None:
                    self._changed(rid)
                    self._delta.discard(rid)
            self._next = {
                a: b for a, b in self._next.items() if a in self._rows and b in self._rows
            }

    def rows(self, ids: Sequence[str]) -> dict[str, tuple[dict[str, Any], str]]:
        """(metadata, text) of the ids held here."""
        with self._lock:
            return {i: (self._rows[i][1], self._rows[i][2]) for i in ids if i in self._rows}

    def neighbours(self, ids: Sequence[str]) -> dict[str, list[tuple[str, dict[str, Any], str]]]:
        """Per id, the rows just before and after it in its thread ("after" links): (id, meta, text)."""
        with self._lock:
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

        self._ids = list(self._rows)
        corpus = [self._rows[i][0] or [""] for i in self._ids]
        self._bm25 = bm25s.BM25()
        if corpus:
            self._bm25.index(corpus, show_progress=False)
        df: dict[str, int] = {}
        for doc in corpus:
            for w in set(doc):
                df[w] = df.get(w, 0) + 1
        self._df = df
        self._avgdl = max(1.0, sum(len(d) for d in corpus) / max(1, len(corpus)))
        self._delta, self._dead = set(), set()
        self._stale = False

    def _delta_scores(self, words: list[str]) -> dict[str, float]:
        n = max(1, len(self._ids))
        out = {}
        for rid in self._delta:
            doc = self._rows[rid][0]
            score = 0.0
            for w in words:
                tf = doc.count(w)
                if tf:
                    df = self._df.get(w, 0) + 1
                    idf = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
                    score += idf * tf / (tf + K1 * (1 - B + B * len(doc) / self._avgdl))
            if score > 0:
                out[rid] = score
        return out

    def search(
        self, query: str, k: int, keep: Callable[[Mapping[str, Any]], bool] | None = None
    ) -> list[tuple[str, float, dict[str, Any], str]]:
        """Best k (id, BM25 score, metadata, text) for query; rows failing `keep` are skipped."""
        words = list(dict.fromkeys(tokens(query)))
        if not words or k <= 0:
            return []
        with self._lock:
            if self._stale:
                self._reindex()
            scored: dict[str, float] = {}
            vocab = getattr(self._bm25, "vocab_dict", None) if self._ids else None
            known = [w for w in words if vocab is not None and w in vocab]
            if known and self._ids:
                scores = np.asarray(self._bm25.get_scores(known), dtype=np.float32)  # (N,)
                n = min(len(self._ids), k + len(self._dead))
                if keep is not None or n >= len(scores):  # a filter may reject the best: see all
                    top = np.flatnonzero(scores > 0)
                else:
                    top = np.argpartition(-scores, n - 1)[:n]
                scored = {
                    self._ids[j]: float(scores[j])
                    for j in top
                    if scores[j] > 0 and self._ids[j] not in self._dead
                }
            scored.update(self._delta_scores(words))
            found = [
                (rid, sc, self._rows[rid][1], self._rows[rid][2])
                for rid, sc in scored.items()
                if rid in self._rows and (keep is None or keep(self._rows[rid][1]))
            ]
        found.sort(key=lambda r: -r[1])
        return found[:k]
