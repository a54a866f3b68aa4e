"""One search over a user's memory: keyword (BM25) and vector results fused, with time.

    hits = store.search("alice", "what did I say about the tent last week?", now=time.time())

For each kind asked (episodes, facts, items) the user's own scope is searched twice, by
meaning (Chroma, cosine) and by words (BM25, `memory.keyword`); the two lists are fused
by a weighted sum of min-max normalised scores (`combine`; reciprocal rank fusion,
Cormack et al. SIGIR 2009, is the alternative `fuse`), and a conversation turn then
shares part of its score with the turns around it in its thread. Time works two
ways: `since`/`until` are a hard filter on when a thing happened (said, published), and
a date named in the question ("last week", "in May") is resolved against `now` (the
asking time) into a soft preference: things from that span get a boost and a filtered
vector query makes sure they are among the candidates. A question that asks "when"
favours turns that carry a time expression. Every read goes through `memory.scoped`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from assistant.errors import MemoryStoreError
from memory.dates import TimeRange, asks_when, mentions_time, resolve
from memory.embeddings import Embedder
from memory.scoped import OWNER_KEY, CollectionKind, Record, Scopes
from memory.types import Found

SearchMode = Literal["hybrid", "vector", "keyword"]
SEARCHABLE: tuple[CollectionKind, ...] = ("episodes", "facts", "items")
# when a thing happened, per kind (facts: when the user said it; items: publication)
TIME_FIELD: dict[str, str] = {"episodes": "time", "facts": "src_time", "items": "published"}
RRF_K = 60.0  # the usual constant: damps the difference between rank 1 and rank 2


def _time_of(kind: str, meta: Mapping[str, Any]) -> float:
    value = meta.get(TIME_FIELD.get(kind, "time")) or meta.get("created") or 0.0
    return float(value)


def _text_of(kind: str, rec: Record) -> str:
    if kind == "items":
        return str(rec.metadata.get("summary") or rec.document)
    return rec.document


def fuse(ranked: Sequence[tuple[float, Sequence[str]]], k: float = RRF_K) -> dict[str, float]:
    """Weighted reciprocal rank fusion: id -> sum of weight / (k + rank), rank from 1."""
    scores: dict[str, float] = {}
    for weight, ids in ranked:
        for rank, rid in enumerate(ids, start=1):
            scores[rid] = scores.get(rid, 0.0) + weight / (k + rank)
    return scores


def combine(ranked: Sequence[tuple[float, Mapping[str, float]]]) -> dict[str, float]:
    """Convex combination of min-max normalised scores: id -> sum of weight x normalised score.

    Unlike rank fusion it keeps how much better the best hit is than the rest, which is
    what lets a rare name matched by BM25 outrank many vaguely similar turns.
    """
    scores: dict[str, float] = {}
    for weight, raw in ranked:
        if not raw:
            continue
        hi, lo = max(raw.values()), min(raw.values())
        span = hi - lo
        for key, value in raw.items():
            norm = (value - lo) / span if span > 0 else 1.0
            scores[key] = scores.get(key, 0.0) + weight * norm
    return scores


@dataclass(frozen=True)
class Tuning:
    """The search's knobs; defaults measured on LoCoMo with bench/memory_recall.py."""

    fusion: Literal["score", "rrf"] = "score"  # normalised-score combination, or rank fusion
    keyword_weight: float = 0.5  # share of BM25 in the combination (the rest is cosine)
    neighbour: float = 0.2  # a turn gets this share of its thread neighbours' scores
    pool: int = 50  # candidates per list before fusion (at least 2k)
    range_boost: float = 0.5  # score x (1 + this) inside a date the question names
    when_boost: float = (
        0.25  # score x (1 + this) for turns with a time expression, on "when" questions
    )


class Searcher:
    """Hybrid search over one user's scopes (the store's `search` is this)."""

    def __init__(self, scopes: Scopes, embedder: Embedder, tuning: Tuning | None = None) -> None:
        self._scopes = scopes
        self._embedder = embedder
        self.tuning = tuning or Tuning()

    def _spread(
        self,
        user_id: str,
        scores: dict[str, float],
        records: dict[str, tuple[str, Record]],
        keep_by_kind: Mapping[str, Callable[[Mapping[str, Any]], bool] | None],
    ) -> dict[str, float]:
        """Let each turn share its score with the turns just before and after it in its thread.

        An answer often sits next to the turn that names the topic ("Where did you go?" /
        "Paris!"): the neighbour of a strong hit is a likely hit too.
        """
        episodes = [key for key in scores if records[key][0] == "episodes"]
        if not episodes:
            return scores
        scope = self._scopes.scope("episodes", user_id)
        around = scope.neighbours([records[key][1].id for key in episodes])
        keep = keep_by_kind.get("episodes")
        out = dict(scores)
        for key in episodes:
            for rec in around.get(records[key][1].id, []):
                if keep is not None and not keep(rec.metadata):
                    continue
                other = f"episodes/{rec.id}"
                records.setdefault(other, ("episodes", rec))
                out[other] = out.get(other, 0.0) + self.tuning.neighbour * scores[key]
        return out

    def search(
        self,
        user_id: str,
        query: str,
        *,
        kinds: Iterable[CollectionKind] = SEARCHABLE,
        k: int = 10,
        since: float | None = None,
        until: float | None = None,
        now: float | None = None,
        mode: SearchMode = "hybrid",
    ) -> list[Found]:
        """The k best episodes/facts/items of user_id for query, best first.

        Args:
            since, until: unix seconds; only things that happened in [since, until).
            now: the asking time; dates in the query ("last week") are resolved against it.
                None: the current time.
            mode: "hybrid" (fused), or one side alone ("vector", "keyword") for comparison.
        """
        kinds = tuple(kinds)
        bad = [kd for kd in kinds if kd not in SEARCHABLE]
        if bad:
            raise MemoryStoreError(
                f"cannot search {bad[0]!r}; search one of {', '.join(SEARCHABLE)}"
            )
        if mode not in ("hybrid", "vector", "keyword"):
            raise MemoryStoreError(f"unknown search mode {mode!r}; use hybrid, vector or keyword")
        scopes = [self._scopes.scope(kd, user_id) for kd in kinds]  # validates the user id
        if k <= 0 or not query.strip():
            return []
        t = self.tuning
        named = resolve(query, now) if mode == "hybrid" else None
        when = mode == "hybrid" and asks_when(query)
        pool = max(t.pool, 2 * k)
        ranked: list[tuple[float, dict[str, float]]] = []  # (weight, key -> raw score), per list
        records: dict[str, tuple[str, Record]] = {}
        vector = self._embedder.embed_one(query) if mode != "keyword" else None
        w_vec, w_key = (
            (1.0, 1.0) if mode != "hybrid" else (1.0 - t.keyword_weight, t.keyword_weight)
        )
        for kind, scope in zip(kinds, scopes, strict=True):
            field = TIME_FIELD[kind]
            keep = _keep(kind, since, until)
            if vector is not None:
                hits = scope.nearest_between(vector, pool, field, since, until)
                if named is not None:  # also the best of the span the question names
                    hits += scope.nearest_between(
                        vector,
                        max(10, k),
                        field,
                        max(since or named.since, named.since),
                        min(until or named.until, named.until),
                    )
                hits = [(r, s) for r, s in hits if _current(kind, r)]
                ranked.append((w_vec, {f"{kind}/{r.id}": s for r, s in hits}))
                records.update({f"{kind}/{r.id}": (kind, r) for r, _s in hits})
            if mode != "vector":
                found = [(r, s) for r, s in scope.keyword(query, pool, keep) if _current(kind, r)]
                ranked.append((w_key, {f"{kind}/{r.id}": s for r, s in found}))
                for r, _s in found:
                    records.setdefault(f"{kind}/{r.id}", (kind, r))
        if t.fusion == "rrf":
            scores = fuse([(w, sorted(d, key=lambda key: -d[key])) for w, d in ranked])
        else:
            scores = combine(ranked)
        if mode == "hybrid" and t.neighbour > 0:
            scores = self._spread(
                user_id, scores, records, keep_by_kind={kd: _keep(kd, since, until) for kd in kinds}
            )
        if named is not None or when:
            for key in sorted(scores, key=lambda key: -scores[key])[: 3 * k]:
                of_kind, rec = records[key]
                happened = _time_of(of_kind, rec.metadata)
                if named is not None and happened and named.contains(happened):
                    scores[key] *= 1.0 + t.range_boost
                if when and mentions_time(rec.document):
                    scores[key] *= 1.0 + t.when_boost
        best = sorted(scores, key=lambda key: -scores[key])[:k]
        out = []
        for key in best:
            found_kind, rec = records[key]
            out.append(
                Found(
                    kind=found_kind,
                    id=rec.id,
                    user_id=str(rec.metadata.get(OWNER_KEY, "")),
                    text=_text_of(found_kind, rec),
                    time=_time_of(found_kind, rec.metadata),
                    score=scores[key],
                    metadata={kk: v for kk, v in rec.metadata.items() if kk != OWNER_KEY},
                )
            )
        return out


def _current(kind: str, rec: Record) -> bool:
    return not (kind == "facts" and rec.metadata.get("superseded_by"))


def _keep(
    kind: str, since: float | None, until: float | None
) -> Callable[[Mapping[str, Any]], bool] | None:
    if since is None and until is None:
        return None
    lo = float("-inf") if since is None else float(since)
    hi = float("inf") if until is None else float(until)
    return lambda meta: lo <= _time_of(kind, meta) < hi


def range_of(query: str, now: float | None) -> TimeRange | None:
    """The span a query names (re-exported for callers that show it)."""
    return resolve(query, now)
