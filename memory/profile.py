"""Each user's profile: facts that merge, supersede, get forgotten, and are recalled by rank.

Facts live in the owner's "facts" collection (see `memory.scoped`). Metadata per fact:
kind, slot (facts sharing a slot contradict each other, e.g. identity:location), norm
(normalised text, for exact duplicates), confidence, source, created/updated, uses,
superseded_by ("" while current; the old fact stays as history and is never recalled).
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, get_args

import numpy as np

from assistant.config import MemorySettings
from assistant.errors import MemoryStoreError
from memory.embeddings import Embedder
from memory.extract import Candidate, extract, typed, typed_reading
from memory.scoped import OWNER_KEY, Record, Scopes, _Scoped
from memory.state import StateStore
from memory.types import PROFILE_HEADING, Fact, FactAttribute, FactKind, Hit, Source

KIND_ORDER: tuple[FactKind, ...] = (
    "identity",
    "preference",
    "constraint",
    "relationship",
    "interest",
    "other",
)
KIND_WEIGHT: dict[str, float] = {
    "identity": 1.0, "preference": 0.9, "constraint": 0.9, "relationship": 0.7, "interest": 0.6, "other": 0.5,
}  # fmt: skip
RECALL_WEIGHTS = (
    0.75,
    0.15,
    0.10,
)  # similarity, recency, kind: similarity leads, the rest breaks ties
RECENCY_HALF_LIFE_DAYS = 30.0
FORGET_SIMILARITY = (
    0.6  # "forget X" deletes facts at least this close to X (plus exact text matches)
)
log = logging.getLogger(__name__)

EXPORT_FORMAT = "purposeful-assistant/profile"
TYPED_KEY = "profile-typed"  # state: the format of typed fact metadata this store carries
TYPED_FORMAT = 1
CAP_KEY = "profile-cap:"  # + user id: the last time the fact cap evicted something (state store)
EVICTION_RULE = (
    "replaced facts (history) go first, oldest first; then facts the assistant inferred, least "
    "useful first (confidence x recency x uses); facts the user asked to remember are never evicted"
)


def normalise(text: str) -> str:
    """Lower-case words only: the key for exact-duplicate detection."""
    return " ".join(re.findall(r"[\w']+", text.lower()))


def _typed_meta(m: dict[str, Any], text: str) -> tuple[Any, str, str]:
    """(attribute, value, relation) as stored, or read from kind, slot and text for older facts."""
    if "attribute" in m:
        attribute = str(m.get("attribute", ""))
        return (
            attribute if attribute in get_args(FactAttribute) else "other",
            str(m.get("value", "")),
            str(m.get("relation", "")),
        )
    return typed_reading(str(m.get("kind", "other")), str(m.get("slot", "")), text)


def supersede_key(c: Candidate) -> str:
    """The slot whose current value a candidate replaces ("" for facts that add).

    Single-valued attributes (name, place, employer, role, a preference on one topic, the
    one person in a relation like supervisor, one dated thing) replace; interests, people
    in other relations and other facts add.
    """
    if c.slot:
        return c.slot
    if c.attribute in ("name", "employer", "role"):
        return f"identity:{c.attribute}"
    if c.attribute == "place":
        return "identity:origin" if c.relation == "origin" else "identity:location"
    if c.attribute == "preference" and c.relation:
        return f"preference:{c.relation}"
    return ""


def _to_fact(rec: Record) -> Fact:
    m = rec.metadata
    kind = m.get("kind", "other")
    attribute, value, relation = _typed_meta(m, rec.document)
    return Fact(
        id=rec.id,
        user_id=str(m.get(OWNER_KEY, "")),
        kind=kind if kind in get_args(FactKind) else "other",
        text=rec.document,
        confidence=float(m.get("confidence", 1.0)),
        source=Source(
            str(m.get("src_thread", "")), int(m.get("src_turn", 0)), float(m.get("src_time", 0.0))
        ),
        created=float(m.get("created", 0.0)),
        updated=float(m.get("updated", 0.0)),
        superseded_by=str(m.get("superseded_by", "")),
        explicit=bool(m.get("explicit", False)),
        attribute=attribute,
        value=value,
        relation=relation,
    )


def _happened(meta: dict[str, Any]) -> float:
    """When the user said it (an imported fact keeps its original time), else when stored."""
    return float(meta.get("src_time") or meta.get("updated") or 0.0)


def _recency(updated: float, now: float) -> float:
    age_days = max(0.0, now - updated) / 86400.0
    return math.pow(0.5, age_days / RECENCY_HALF_LIFE_DAYS)


class Profile:
    """Per-user facts: observe, remember, recall, forget, export (every call takes the user id)."""

    def __init__(
        self,
        scopes: Scopes,
        embedder: Embedder,
        state: StateStore,
        settings: MemorySettings,
        llm: Any = None,
        lock: threading.RLock | None = None,
    ) -> None:
        self._scopes = scopes
        self._embedder = embedder
        self._state = state
        self._settings = settings
        self._llm = llm
        self._lock = lock or threading.RLock()

    def _facts(self, user_id: str) -> _Scoped:
        return self._scopes.scope("facts", user_id)

    # ------------------------------------------------------------------ writing
    def observe(self, user_id: str, text: str, source: Source | None = None) -> list[Fact]:
        """Extract facts from the user's own words and store them (merged, superseding)."""
        self._facts(user_id)  # validates the user id before any model call
        candidates = extract(text, self._llm)
        return self._store(user_id, candidates, source or Source()) if candidates else []

    def remember(
        self,
        user_id: str,
        text: str,
        kind: FactKind = "other",
        *,
        confidence: float = 1.0,
        source: Source | None = None,
    ) -> Fact:
        """Store one fact as given (the user asked for it explicitly)."""
        text = text.strip()
        if not text:
            raise MemoryStoreError("nothing to remember: the fact text is empty")
        if kind not in get_args(FactKind):
            raise MemoryStoreError(
                f"unknown fact kind {kind!r}; use one of {', '.join(get_args(FactKind))}"
            )
        return self._store(
            user_id, [Candidate(kind, text, confidence)], source or Source(), explicit=True
        )[0]

    def remember_many(
        self,
        user_id: str,
        texts: Sequence[str],
        kind: FactKind = "other",
        *,
        source: Source | None = None,
        explicit: bool = False,
    ) -> list[Fact]:
        """Store many facts in one batch (one embedding pass, a few Chroma calls).

        explicit: the user asked for these to be remembered (the cap never evicts them).
        """
        cands = [Candidate(kind, t.strip(), 1.0) for t in texts if t.strip()]
        return self._store(user_id, cands, source or Source(), explicit=explicit) if cands else []

    def _store(
        self,
        user_id: str,
        cands: Sequence[Candidate],
        source: Source,
        ids: Sequence[str] | None = None,
        *,
        explicit: bool = False,
    ) -> list[Fact]:
        col = self._facts(user_id)
        cands = [typed(c) for c in cands]
        cands = [_with_slot(c, supersede_key(c)) for c in cands]
        vectors = self._embedder.embed([c.text for c in cands])  # (N, D), outside the lock
        now = time.time()
        src_time = source.time or now
        with self._lock:
            out: list[Fact | None] = [None] * len(cands)
            norms = [normalise(c.text) for c in cands]
            # existing facts that can absorb a candidate: same slot, same text, or near in meaning.
            # Filters name rare values only: Chroma evaluates a `where` over every collection's
            # rows, so "superseded_by == ''" would cost ~250 ms at 100,000 stored facts.
            slots = sorted({c.slot for c in cands if c.slot})
            by_slot: dict[str, list[Record]] = {}
            if slots:
                for r in _current(col.get(where={"slot": {"$in": slots}})):
                    by_slot.setdefault(str(r.metadata.get("slot")), []).append(r)
            by_norm = {
                (str(r.metadata.get("kind")), str(r.metadata.get("norm"))): r
                for r in _current(col.get(where={"norm": {"$in": sorted(set(norms))}}))
            }
            nearest = [
                [(r, sim) for r, sim in hits if not r.metadata.get("superseded_by")]
                for hits in col.query_many(vectors, k=6)
            ]
            new_ids: list[str] = []
            new_vecs: list[np.ndarray] = []
            new_docs: list[str] = []
            new_meta: list[dict[str, Any]] = []
            touched: dict[str, dict[str, Any]] = {}
            batch_keys: dict[tuple[str, str], int] = {}
            for i, c in enumerate(cands):
                key = (c.kind, norms[i])
                if key in batch_keys:  # repeated inside this batch
                    out[i] = out[batch_keys[key]]
                    continue
                match = by_norm.get(key)
                if match is None and not c.slot:
                    match = next(
                        (
                            r
                            for r, sim in nearest[i]
                            if sim >= self._settings.duplicate_threshold
                            and r.metadata.get("kind") == c.kind
                            and not r.metadata.get("slot")
                        ),
                        None,
                    )
                if match is None and c.slot:
                    match = next(
                        (r for r in by_slot.get(c.slot, []) if r.metadata.get("norm") == norms[i]),
                        None,
                    )
                if match is not None:
                    meta = {
                        **match.metadata,
                        **touched.get(match.id, {}),
                        "updated": now,
                        "confidence": max(
                            float(match.metadata.get("confidence", 0.0)), c.confidence
                        ),
                        "uses": int(match.metadata.get("uses", 1)) + 1,
                        # when the user last said it: recency follows what happened, not storage
                        "src_time": max(
                            float(match.metadata.get("src_time", 0.0)), float(src_time)
                        ),
                        "explicit": bool(match.metadata.get("explicit", False)) or explicit,
                    }
                    touched[match.id] = meta
                    out[i] = _to_fact(
                        Record(match.id, match.document, {**meta, OWNER_KEY: user_id})
                    )
                    batch_keys[key] = i
                    continue
                fid = (ids[i] if ids and ids[i] else "") or uuid.uuid4().hex
                meta = {
                    "kind": c.kind, "slot": c.slot, "norm": norms[i], "confidence": float(c.confidence),
                    "src_thread": source.thread, "src_turn": int(source.turn), "src_time": float(src_time),
                    "created": now, "updated": now, "uses": 1, "superseded_by": "",
                    "explicit": explicit, "attribute": c.attribute, "value": c.value, "relation": c.relation,
                }  # fmt: skip
                if c.slot:
                    for old in by_slot.get(c.slot, []):
                        touched[old.id] = {
                            **old.metadata,
                            **touched.get(old.id, {}),
                            "superseded_by": fid,
                        }
                    by_slot[c.slot] = [Record(fid, c.text, meta)]
                new_ids.append(fid)
                new_vecs.append(vectors[i])
                new_docs.append(c.text)
                new_meta.append(meta)
                out[i] = _to_fact(Record(fid, c.text, {**meta, OWNER_KEY: user_id}))
                batch_keys[key] = i
            # new facts first: a crash before the supersede marks leaves two current facts in a
            # slot (resolved below on read), never a slot with none
            if new_ids:
                col.add(new_ids, np.stack(new_vecs), new_docs, new_meta)
            if touched:
                col.update_metadata(list(touched), list(touched.values()))
            self._enforce_bound(col)
        return [f for f in out if f is not None]

    def _enforce_bound(self, col: _Scoped) -> None:
        """Keep at most max_facts_per_user facts by EVICTION_RULE; log and record what went."""
        limit = self._settings.max_facts_per_user
        if col.count() <= limit:
            return
        records = col.get(include_documents=False)
        now = time.time()
        protected = [
            r for r in records if r.metadata.get("explicit") and not r.metadata.get("superseded_by")
        ]
        candidates = [r for r in records if r not in protected]

        def usefulness(r: Record) -> float:
            m = r.metadata
            if m.get("superseded_by"):
                return (
                    -1.0 - (now - float(m.get("updated", 0.0))) / 1e9
                )  # history goes first, oldest first
            score = float(m.get("confidence", 1.0)) * (
                0.5 + 0.5 * _recency(float(m.get("updated", 0.0)), now * 1.0)
            )
            score *= 1.0 + 0.2 * min(int(m.get("uses", 1)), 5)
            return score + (10.0 if m.get("kind") == "identity" else 0.0)

        candidates.sort(key=usefulness)
        over = len(records) - limit
        gone = col.delete([r.id for r in candidates[:over]])
        previous = self._state.get(CAP_KEY + col.owner, {}) or {}
        status = {
            "cap": limit,
            "stored": len(records) - len(gone),
            "evicted": int(previous.get("evicted", 0)) + len(gone),
            "last": now,
            "over_cap_explicit": max(0, len(protected) - limit),
        }
        self._state.set(CAP_KEY + col.owner, status)
        log.warning(
            "memory: the profile of %s reached its cap of %d facts; evicted %d (%d in all). Rule: %s",
            col.owner, limit, len(gone), status["evicted"], EVICTION_RULE,
        )  # fmt: skip
        if len(gone) < over:
            log.warning(
                "memory: %s has %d facts they asked to remember, over the cap of %d; none of them was "
                "dropped. Raise memory.max_facts_per_user or forget some with `assistant profile forget`",
                col.owner, len(protected), limit,
            )  # fmt: skip

    def cap_status(self, user_id: str) -> dict[str, Any]:
        """How full the user's profile is: stored facts, the cap, evictions so far (for show/doctor)."""
        col = self._facts(user_id)
        status = dict(self._state.get(CAP_KEY + user_id, {}) or {})
        return {
            "stored": col.count(),
            "cap": self._settings.max_facts_per_user,
            "evicted": int(status.get("evicted", 0)),
            "last_eviction": float(status.get("last", 0.0)),
            "rule": EVICTION_RULE,
        }

    # ------------------------------------------------------------------ reading
    def facts(self, user_id: str, include_superseded: bool = False) -> list[Fact]:
        """The user's facts, identity first, then by kind and most recent."""
        col = self._facts(user_id)
        records = col.get()
        if not include_superseded:
            records = _one_per_slot(_current(records), col)
        facts = [_to_fact(r) for r in records]
        rank = {k: i for i, k in enumerate(KIND_ORDER)}
        return sorted(facts, key=lambda f: (rank.get(f.kind, 99), -f.updated, f.text))

    def recall(self, user_id: str, query: str, k: int = 5) -> list[Hit]:
        """The k current facts that best answer query (similarity, then recency and kind)."""
        col = self._facts(user_id)
        if k <= 0 or not query.strip():
            return []
        vector = self._embedder.embed_one(query)
        want = max(3 * k, 10)
        while True:  # history is filtered here, not by Chroma (see _store); ask for more if needed
            got = col.query_many(vector[None, :], k=want)[0]
            hits = [(r, sim) for r, sim in got if not r.metadata.get("superseded_by")]
            if len(hits) >= 3 * k or len(got) < want:
                break
            want *= 4
        now = time.time()
        ws, wr, wk = RECALL_WEIGHTS
        scored = [
            Hit(
                _to_fact(r),
                ws * sim
                + wr * _recency(_happened(r.metadata), now)
                + wk * KIND_WEIGHT.get(str(r.metadata.get("kind")), 0.5),
            )
            for r, sim in hits
        ]
        scored.sort(key=lambda h: -h.score)
        return scored[:k]

    def profile_context(self, user_id: str, budget_tokens: int = 200) -> str:
        """A compact block for the system context: identity and standing preferences first."""
        facts = self.facts(user_id)
        if not facts:
            return ""
        lines = [PROFILE_HEADING]
        used = _tokens(lines[0])
        for f in sorted(facts, key=lambda f: (KIND_ORDER.index(f.kind), -f.confidence, -f.updated)):
            line = f"- {f.text}"
            cost = _tokens(line)
            if used + cost > budget_tokens:
                if f.kind in ("identity", "preference"):
                    continue  # a shorter one of these may still fit
                break
            lines.append(line)
            used += cost
        return "\n".join(lines) if len(lines) > 1 else ""

    # ------------------------------------------------------------------ forgetting
    def forget(self, user_id: str, query_or_id: str) -> list[Fact]:
        """Delete for real the fact with this id, or the facts matching this text; returns them."""
        col = self._facts(user_id)
        target = query_or_id.strip()
        if not target:
            return []
        with self._lock:
            records = col.get()
            by_id = {r.id: r for r in records}
            chosen: set[str] = set()
            if target in by_id:
                chosen.add(target)
            else:
                q = normalise(
                    re.sub(
                        r"(?i)^(please\s+)?(forget|delete|remove)(\s+that|\s+about|\s+the fact that)?\s+",
                        "",
                        target,
                    )
                )
                q = re.sub(r"^(i|my|i'm|i am)\s+", "", q)
                if q:
                    pattern = re.compile(rf"(?<![\w']){re.escape(q)}(?![\w'])")
                    chosen |= {r.id for r in records if pattern.search(normalise(r.document))}
                    vector = self._embedder.embed_one(target)
                    chosen |= {
                        r.id
                        for r, sim in col.query_many(vector[None, :], k=10)[0]
                        if sim >= FORGET_SIMILARITY
                    }
            # the history a forgotten fact replaced goes with it
            grew = True
            while grew:
                more = {r.id for r in records if r.metadata.get("superseded_by") in chosen} - chosen
                grew = bool(more)
                chosen |= more
            deleted = col.delete(sorted(chosen))
        return [_to_fact(by_id[i]) for i in deleted]

    # ------------------------------------------------------------------ interests
    def interest_vector(self, user_id: str) -> list[float] | None:
        """Unit vector of the user's interests (interest facts, nudged by item feedback)."""
        recs = [
            r
            for r in _current(self._facts(user_id).get(include_embeddings=True))
            if r.metadata.get("kind") == "interest"
        ]
        parts: list[np.ndarray] = []
        if recs:
            parts.append(
                np.mean(np.stack([r.embedding for r in recs if r.embedding is not None]), axis=0)
            )
        votes = self._state.feedback(user_id)
        if votes:
            items = self._scopes.scope("items", user_id)
            found = {
                r.id: r.embedding
                for r in items.get(ids=[i for i, _ in votes], include_embeddings=True)
            }
            pos = [v for i, p in votes if p and (v := found.get(i)) is not None]
            neg = [v for i, p in votes if not p and (v := found.get(i)) is not None]
            if pos:
                parts.append(0.5 * np.mean(np.stack(pos), axis=0))
            if neg:
                parts.append(-0.25 * np.mean(np.stack(neg), axis=0))
        if not parts:
            return None
        vec = np.sum(parts, axis=0)
        norm = float(np.linalg.norm(vec))
        return None if norm == 0.0 else [float(x) for x in vec / norm]

    def feedback(self, user_id: str, item_id: str, positive: bool) -> None:
        """Record that the user liked (or not) a digest item; it shapes the interest vector."""
        self._facts(user_id)  # validates the user id
        self._state.set_feedback(user_id, item_id, positive)

    def _episodes(self) -> Any:
        from memory.episodes import EpisodeStore

        return EpisodeStore(self._scopes, self._embedder)

    # ------------------------------------------------------------------ export / import
    def export(self, user_id: str) -> dict[str, Any]:
        """Everything stored about the user as plain JSON-able data."""
        from memory.goals import goal_to_dict

        facts = self.facts(user_id, include_superseded=True)
        slots = {
            r.id: r.metadata.get("slot", "")
            for r in self._facts(user_id).get(include_documents=False)
        }
        goals = [goal_to_dict(g) for g in _goals(self._scopes, user_id)]
        return {
            "format": EXPORT_FORMAT,
            "version": 1,
            "user_id": user_id,
            "exported": time.time(),
            "facts": [{**_fact_to_dict(f), "slot": slots.get(f.id, "")} for f in facts],
            "goals": goals,
            "episodes": [_episode_to_dict(e) for e in self._episodes().list(user_id)],
            "feedback": [{"item_id": i, "positive": p} for i, p in self._state.feedback(user_id)],
        }

    def import_(self, user_id: str, data: dict[str, Any]) -> int:
        """Add facts from an export (under user_id, whoever exported them); returns how many were new.

        Current facts go through the usual merge and supersede rules; replaced ones come back
        as history. Importing the same file twice adds nothing.
        """
        if not isinstance(data, dict) or not isinstance(data.get("facts", []), list):
            raise MemoryStoreError(
                "import data is not a profile export (expected an object with a 'facts' list)"
            )
        col = self._facts(user_id)
        existing = {r.id for r in col.get(include_documents=False)}
        rows = [
            f
            for f in data.get("facts", [])
            if isinstance(f, dict)
            and str(f.get("text", "")).strip()
            and f.get("kind") in get_args(FactKind)
            and str(f.get("id", "")) not in existing
        ]
        current = sorted(
            (f for f in rows if not f.get("superseded_by")),
            key=lambda f: float(f.get("created", 0)),
        )
        history = [f for f in rows if f.get("superseded_by") and f.get("id")]
        added = 0
        for f in current:
            src: dict[str, Any] = f["source"] if isinstance(f.get("source"), dict) else {}
            source = Source(
                str(src.get("thread", "")), int(src.get("turn", 0)), float(src.get("time", 0.0))
            )
            cand = Candidate(
                f["kind"],
                str(f["text"]).strip(),
                float(f.get("confidence", 1.0)),
                str(f.get("slot", "")),
            )
            fact = self._store(
                user_id,
                [cand],
                source,
                ids=[str(f.get("id") or "")],
                explicit=bool(f.get("explicit")),
            )[0]
            added += fact.id not in existing
            existing.add(fact.id)
        if history:
            vectors = self._embedder.embed([str(f["text"]) for f in history])
            metas = [
                {
                    "kind": f["kind"],
                    "slot": str(f.get("slot", "")),
                    "norm": normalise(str(f["text"])),
                    "confidence": float(f.get("confidence", 1.0)),
                    "src_thread": "",
                    "src_turn": 0,
                    "src_time": float(f.get("created", 0.0)),
                    "created": float(f.get("created", 0.0)),
                    "updated": float(f.get("updated", 0.0)),
                    "uses": 1,
                    "superseded_by": str(f["superseded_by"]),
                    "explicit": bool(f.get("explicit", False)),
                }  # fmt: skip
                for f in history
            ]
            with self._lock:
                col.add(
                    [str(f["id"]) for f in history],
                    vectors,
                    [str(f["text"]) for f in history],
                    metas,
                )
            added += len(history)
        for g in data.get("goals", []) if isinstance(data.get("goals"), list) else []:
            _import_goal(self._scopes, self._embedder, user_id, g)
        raw_episodes = data.get("episodes")
        episodes = [
            e
            for e in (raw_episodes if isinstance(raw_episodes, list) else [])
            if isinstance(e, dict)
            and e.get("id")
            and str(e.get("text") or e.get("summary") or "").strip()
        ]
        if episodes:  # same ids: importing twice overwrites instead of duplicating
            self._episodes().add_many(user_id, [_episode_from_dict(e) for e in episodes])
        raw_feedback = data.get("feedback")
        for v in raw_feedback if isinstance(raw_feedback, list) else []:
            if isinstance(v, dict) and v.get("item_id"):
                self._state.set_feedback(user_id, str(v["item_id"]), bool(v.get("positive")))
        return added


def migrate_typed(profile: Profile, client: Any) -> int:
    """Give facts stored before typing their attribute, value and relation (once per store)."""
    if profile._state.get(TYPED_KEY) == TYPED_FORMAT:
        return 0
    done = 0
    with profile._lock:
        for col in client.list_collections():
            name = col if isinstance(col, str) else col.name
            if not name.startswith("facts-"):
                continue
            got = client.get_collection(name).get(include=["metadatas", "documents"])
            by_owner: dict[str, tuple[list[str], list[dict[str, Any]]]] = {}
            for fid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True):
                if not meta or "attribute" in meta or not meta.get(OWNER_KEY):
                    continue
                attribute, value, relation = typed_reading(
                    str(meta.get("kind", "other")), str(meta.get("slot", "")), doc or ""
                )
                ids, metas = by_owner.setdefault(str(meta[OWNER_KEY]), ([], []))
                ids.append(fid)
                metas.append({**meta, "attribute": attribute, "value": value, "relation": relation})
            for owner, (ids, metas) in by_owner.items():
                profile._facts(owner).update_metadata(ids, metas)
                done += len(ids)
        profile._state.set(TYPED_KEY, TYPED_FORMAT)
    if done:
        log.info("profile: %d facts from before typing now carry attribute and value", done)
    return done


def _with_slot(c: Candidate, slot: str) -> Candidate:
    from dataclasses import replace

    return c if c.slot == slot else replace(c, slot=slot)


def _current(records: list[Record]) -> list[Record]:
    return [r for r in records if not r.metadata.get("superseded_by")]


def _one_per_slot(records: list[Record], col: _Scoped) -> list[Record]:
    """If a crash left two current facts in one slot, the newer wins (the older is marked now)."""
    slots: dict[str, list[Record]] = {}
    for r in records:
        if r.metadata.get("slot"):
            slots.setdefault(str(r.metadata["slot"]), []).append(r)
    stale: dict[str, dict[str, Any]] = {}
    for group in slots.values():
        if len(group) > 1:
            group.sort(key=lambda r: -float(r.metadata.get("created", 0.0)))
            for old in group[1:]:
                stale[old.id] = {**old.metadata, "superseded_by": group[0].id}
    if stale:
        col.update_metadata(list(stale), list(stale.values()))
    return [r for r in records if r.id not in stale]


def _tokens(text: str) -> int:
    # about four characters per token for English with SmolLM2's tokenizer; no model needed here
    return max(1, math.ceil(len(text) / 4))


def _fact_to_dict(f: Fact) -> dict[str, Any]:
    return {
        "id": f.id, "kind": f.kind, "text": f.text, "confidence": f.confidence,
        "source": {"thread": f.source.thread, "turn": f.source.turn, "time": f.source.time},
        "created": f.created, "updated": f.updated, "superseded_by": f.superseded_by,
        "explicit": f.explicit, "attribute": f.attribute, "value": f.value, "relation": f.relation,
    }  # fmt: skip


def _goals(scopes: Scopes, user_id: str) -> Iterable[Any]:
    from memory.goals import record_to_goal

    return [record_to_goal(r) for r in scopes.scope("goals", user_id).get()]


def _import_goal(scopes: Scopes, embedder: Embedder, user_id: str, data: Any) -> None:
    from memory.goals import GoalStore, goal_from_dict

    goal = goal_from_dict(data, user_id)
    if goal is not None:
        GoalStore(scopes, embedder).save(goal)


def _episode_to_dict(e: Any) -> dict[str, Any]:
    return {
        "id": e.id, "thread": e.thread, "text": e.summary, "summary": e.summary, "time": e.time,
        "speaker": e.speaker, "kind": e.kind, "meta": dict(e.meta),
    }  # fmt: skip


def _episode_from_dict(e: dict[str, Any]) -> Any:
    from memory.types import EpisodeIn

    meta = e.get("meta") if isinstance(e.get("meta"), dict) else {}
    return EpisodeIn(
        str(e.get("text") or e.get("summary") or "").strip(),
        thread=str(e.get("thread", "")),
        speaker=str(e.get("speaker", "")),
        time=float(e.get("time", 0.0) or 0.0),
        id=str(e["id"]),
        meta={str(k): str(v) for k, v in (meta or {}).items()},
        kind="turn" if e.get("kind") == "turn" else "summary",
    )


def cap_report(data_dir: Any) -> str:
    """One line on evictions by the fact cap, read from the state file alone ("" when none)."""
    import json
    import sqlite3
    from pathlib import Path

    from memory.state import STATE_FILE

    path = Path(data_dir) / "chroma" / STATE_FILE
    if not path.exists():
        return ""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1.0)
        try:
            rows = db.execute(
                "SELECT key, value FROM kv WHERE substr(key, 1, ?) = ?", (len(CAP_KEY), CAP_KEY)
            ).fetchall()
        finally:
            db.close()
    except sqlite3.Error as exc:
        return f"state file {path} unreadable ({exc})"
    parts = []
    for key, value in rows:
        status = json.loads(value)
        parts.append(
            f"{key[len(CAP_KEY) :]}: {status.get('evicted', 0)} inferred fact(s) evicted at the cap of "
            f"{status.get('cap', '?')}"
        )
    return "; ".join(parts)
