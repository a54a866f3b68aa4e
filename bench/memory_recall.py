"""Memory recall on LoCoMo: do the turns that hold an answer come back for the question?

    PYTHONPATH=. .venv/bin/python bench/memory_recall.py                      # five conversations
    PYTHONPATH=. .venv/bin/python bench/memory_recall.py --convs 1 --questions 50   # a quick slice
    PYTHONPATH=. .venv/bin/python bench/memory_recall.py --scale 6000 --out recall.json

The LoCoMo protocol (Maharana et al., "Evaluating Very Long-Term Conversational Memory of
LLM Agents", ACL 2024, arXiv 2402.17753; data CC BY-NC 4.0, five conversations in
../shared/data/locomo-dev5.json beside the repository): every dialog turn is stored through the project's own
memory API as an episode of one user per conversation, timed at its session's date; each
question is asked as that user and the top-k results are scored against the turns its
`evidence` names (`D<session>:<turn>`).

Recall counting (the same for every method): a question's recall@k is the fraction of its
evidence turns found among the top k (2 of 3 found = 0.667); the figures are the mean over
questions, per category and over all five. Questions whose evidence names no turn of the
conversation are left out (and counted). Categories: 1 multi-hop, 2 temporal,
3 open-domain, 4 single-hop, 5 adversarial.

Methods, all in the same run: `bm25` (bm25s over the raw turn texts, no project code),
`vector` (the store's plain vector search), `hybrid` (the store's one search function).
The leak check asks every question of every conversation as a different user, and every
question as its own user, and counts results that belong to another conversation.
Timings are wall-clock on whatever machine runs this; on a shared machine they are noisy.
The process takes the assistant's own thread settings (`assistant.runtime_env`): one
torch thread while other processes keep the cores busy, every core on a quiet machine.
`--compare-paths` also runs the pre-issue-17 embedding path (SentenceTransformer.encode,
float32, batches of 64) beside the current one in the same run, interleaved batch by
batch and query by query, and gives the ratio; `hybrid_queries_other_path` in the recall
table embeds the questions with the other path over the same stored vectors (a store
written by one path searched by the other). Prints one JSON object (and writes it with --out).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant import runtime_env  # noqa: E402
from assistant.config import Settings  # noqa: E402
from memory.store import MemoryStore, open_store  # noqa: E402

DATA = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "locomo-dev5.json"
)  # ../shared beside the repo
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop", 5: "adversarial"}
KS = (5, 10, 25)
SESSION_DATE = "%I:%M %p on %d %B, %Y"


@dataclass(frozen=True)
class Turn:
    id: str  # "<conversation>:D<session>:<turn>", unique across conversations
    dia_id: str
    speaker: str
    text: str
    session: int
    time: float  # unix seconds: the session's date plus the turn's position


@dataclass(frozen=True)
class Question:
    text: str
    category: int
    evidence: frozenset[str]  # dia ids
    asked: float  # unix seconds: just after the conversation's last session


@dataclass(frozen=True)
class Conversation:
    id: str
    user: str
    turns: list[Turn]
    questions: list[Question]


def parse_session_date(text: str) -> datetime:
    """LoCoMo's '1:56 pm on 8 May, 2023' as an aware UTC datetime."""
    return datetime.strptime(text.strip(), SESSION_DATE).replace(tzinfo=UTC)


def load(path: Path, limit: int | None) -> list[Conversation]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for conv in raw[:limit]:
        c = conv["conversation"]
        sid = str(conv["sample_id"])
        turns: list[Turn] = []
        for key, value in c.items():
            m = re.fullmatch(r"session_(\d+)", key)
            if not m or not isinstance(value, list):
                continue
            n = int(m.group(1))
            start = parse_session_date(c[f"{key}_date_time"])
            for pos, t in enumerate(value):
                text = str(t.get("text", ""))
                if t.get("blip_caption"):  # the image the speaker shared is part of what they said
                    text += f" [shares {t['blip_caption']}]"
                turns.append(
                    Turn(
                        f"{sid}:{t['dia_id']}",
                        str(t["dia_id"]),
                        str(t["speaker"]),
                        text,
                        n,
                        (start + timedelta(seconds=30 * pos)).timestamp(),
                    )
                )
        turns.sort(key=lambda t: t.time)
        known = {t.dia_id for t in turns}
        asked = turns[-1].time + 86400.0
        questions = []
        for q in conv["qa"]:
            ev = {
                e.strip()
                for raw_ev in q.get("evidence", [])
                for e in re.split(r"[;,\s]+", str(raw_ev))
                if e.strip()
            }
            questions.append(
                Question(str(q["question"]), int(q["category"]), frozenset(ev & known), asked)
            )
        out.append(Conversation(sid, f"locomo-{sid}", turns, questions))
    return out


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


# ----------------------------------------------------------------------------- embedding paths

PATHS = ("direct", "encode")


@contextmanager
def embedding_path(name: str) -> Iterator[None]:
    """Embed with this path inside the block: "direct" (current) or "encode" (before issue 17:
    SentenceTransformer.encode, float32, batches of 64)."""
    from memory import embeddings

    key = embeddings.resolve_model("")
    saved_batch, saved = embeddings.BATCH, embeddings._encoders.get(key)
    embeddings.shared_encoder()  # built once, kept aside while "encode" runs
    direct = embeddings._encoders.get(key)
    if name == "encode":
        embeddings._encoders[key], embeddings.BATCH = None, 64
    else:
        embeddings._encoders[key] = direct
    try:
        yield
    finally:
        embeddings._encoders[key], embeddings.BATCH = (
            saved if saved is not None else direct,
            saved_batch,
        )


def other_path(name: str) -> str:
    return PATHS[1 - PATHS.index(name)]


def load_now() -> list[float]:
    """The 1, 5 and 15 minute load averages (what else ran on the machine meanwhile)."""
    return [round(v, 2) for v in os.getloadavg()]


# ----------------------------------------------------------------------------- ingest


def ingest(store: MemoryStore, conv: Conversation, batch: int) -> float:
    """Store every turn as an episode of the conversation's user; returns seconds taken."""
    start = time.perf_counter()
    add_many = getattr(store.episodes, "add_many", None)
    for i in range(0, len(conv.turns), batch):
        part = conv.turns[i : i + batch]
        if add_many is not None:
            from memory.types import EpisodeIn

            add_many(
                conv.user,
                [
                    EpisodeIn(
                        t.text,
                        thread=f"session_{t.session}",
                        speaker=t.speaker,
                        time=t.time,
                        id=t.id,
                        meta={"dia_id": t.dia_id},
                    )
                    for t in part
                ],
            )
        else:  # the store before batch add existed: one turn at a time
            for t in part:
                store.episodes.add(conv.user, f"session_{t.session}", t.text, t.time)
    return time.perf_counter() - start


# ----------------------------------------------------------------------------- methods

Search = Callable[[Conversation, Question, int], list[str]]  # returns turn ids, best first


def bm25_method(convs: list[Conversation], *, folded: bool = False) -> Search:
    """The baseline: bm25s over the raw texts of one conversation, no store.

    folded: with the store's own tokenizer (stop words, plural folding) instead of bm25s's
    default English one; the stronger of the two is the baseline to beat.
    """
    import bm25s

    from memory.keyword import tokens as folded_tokens

    def tok(texts: list[str]) -> Any:
        if folded:
            return [folded_tokens(t) or [""] for t in texts]
        return bm25s.tokenize(texts, stopwords="en", show_progress=False)

    indexes: dict[str, tuple[Any, list[str]]] = {}
    for conv in convs:
        retriever = bm25s.BM25()
        retriever.index(tok([t.text for t in conv.turns]), show_progress=False)
        indexes[conv.id] = (retriever, [t.id for t in conv.turns])

    def search(conv: Conversation, q: Question, k: int) -> list[str]:
        retriever, ids = indexes[conv.id]
        if folded:
            words = [w for w in dict.fromkeys(folded_tokens(q.text)) if w in retriever.vocab_dict]
            if not words:
                return []
            scores = retriever.get_scores(words)
            order = [int(j) for j in scores.argsort()[::-1][:k] if scores[j] > 0]
            return [ids[j] for j in order]
        tokens = bm25s.tokenize([q.text], stopwords="en", show_progress=False)
        if not tokens.vocab:
            return []
        docs, _scores = retriever.retrieve(tokens, k=min(k, len(ids)), show_progress=False)
        return [ids[int(j)] for j in docs[0]]

    return search


def _turn_id(episode: Any) -> str:
    return str(getattr(episode, "id", ""))


def vector_method(store: MemoryStore, id_map: dict[str, dict[str, str]]) -> Search:
    """The store's plain vector search over episodes."""

    def search(conv: Conversation, q: Question, k: int) -> list[str]:
        if hasattr(store, "search"):
            hits = store.search(conv.user, q.text, kinds=("episodes",), k=k, mode="vector")
            return [h.id for h in hits]
        return [
            id_map[conv.user].get(e.id, e.id)
            for e, _s in store.episodes.search(conv.user, q.text, k=k)
        ]

    return search


def hybrid_method(store: MemoryStore, query_path: str = "", **tuning: Any) -> Search | None:
    """The store's one search; with tuning, a variant of it over the same stored turns;
    with query_path, the questions embedded by that path."""
    if not hasattr(store, "search"):
        return None
    search_fn = store.search
    if tuning:
        from memory.search import Searcher, Tuning

        variant = Searcher(store._scopes, store.episodes._embedder, Tuning(**tuning))
        search_fn = variant.search  # type: ignore[assignment]

    def search(conv: Conversation, q: Question, k: int) -> list[str]:
        if query_path:
            store.episodes._embedder._cache.clear()  # a cached vector would be the other path's
            with embedding_path(query_path):
                hits = search_fn(conv.user, q.text, kinds=("episodes",), k=k, now=q.asked)
            store.episodes._embedder._cache.clear()
        else:
            hits = search_fn(conv.user, q.text, kinds=("episodes",), k=k, now=q.asked)
        return [h.id for h in hits]

    return search


# ----------------------------------------------------------------------------- scoring


def score(
    convs: list[Conversation], search: Search, limit: int | None
) -> tuple[dict[str, Any], list[float], list[float]]:
    """Recall@k per category and overall, and each query's wall-clock and CPU ms."""
    kmax = max(KS)
    sums: dict[str, dict[int, float]] = {}
    counts: dict[str, int] = {}
    latencies: list[float] = []
    cpu_ms: list[float] = []
    for conv in convs:
        asked = [q for q in conv.questions if q.evidence][:limit]
        for q in asked:
            start, cpu = time.perf_counter(), time.process_time()
            got = search(conv, q, kmax)
            latencies.append(1000 * (time.perf_counter() - start))
            cpu_ms.append(1000 * (time.process_time() - cpu))
            wanted = {f"{conv.id}:{e}" for e in q.evidence}
            for name in (CATEGORIES[q.category], "all"):
                counts[name] = counts.get(name, 0) + 1
                row = sums.setdefault(name, dict.fromkeys(KS, 0.0))
                for k in KS:
                    row[k] += len(wanted & set(got[:k])) / len(wanted)
    table = {
        name: {
            "questions": counts[name],
            **{f"recall@{k}": round(100 * sums[name][k] / counts[name], 1) for k in KS},
        }
        for name in [*CATEGORIES.values(), "all"]
        if name in counts
    }
    return table, latencies, cpu_ms


def leak_check(store: MemoryStore, convs: list[Conversation], limit: int | None) -> dict[str, int]:
    """Ask each conversation's questions and turn texts as every user; count foreign results."""
    if len(convs) < 2:
        return {"queries": 0, "foreign_results": 0}
    queries = foreign = 0
    for conv in convs:
        texts = [q.text for q in conv.questions[:limit]] + [t.text for t in conv.turns[:20]]
        for other in convs:
            for text in texts:
                queries += 1
                if hasattr(store, "search"):
                    for mode in ("hybrid", "vector", "keyword"):
                        hits = store.search(other.user, text, k=10, mode=mode)
                        foreign += sum(
                            1
                            for h in hits
                            if h.user_id != other.user
                            or (h.kind == "episodes" and not h.id.startswith(other.id + ":"))
                        )
                else:
                    pairs = store.episodes.search(other.user, text, k=10)
                    foreign += sum(1 for e, _s in pairs if e.user_id != other.user)
    return {"queries": queries, "foreign_results": foreign}


def scale_latency(
    store: MemoryStore, convs: list[Conversation], turns: int, queries: int, paths: Sequence[str]
) -> dict[str, Any]:
    """Query latency on one user holding `turns` stored turns (all conversations, repeated).

    With two embedding paths, each gets its own user holding the same turns; ingest
    alternates between them batch by batch and every query runs on both in turn, so load
    from other processes falls on both alike.
    """
    pool = [t for c in convs for t in c.turns]
    rows: list[Any] = []
    rep = 0
    while len(rows) < turns:
        rows += [(f"r{rep}:{t.id}", t) for t in pool[: turns - len(rows)]]
        rep += 1
    users = {p: "locomo-scale" if len(paths) == 1 else f"locomo-scale-{p}" for p in paths}
    seconds = dict.fromkeys(paths, 0.0)
    cpu_s = dict.fromkeys(paths, 0.0)
    batch = 256
    for i in range(0, len(rows), batch):
        for p in paths:
            part = Conversation(
                "scale",
                users[p],
                [
                    Turn(n, t.dia_id, t.speaker, t.text, t.session, t.time)
                    for n, t in rows[i : i + batch]
                ],
                [],
            )
            cpu = time.process_time()
            with embedding_path(p):
                seconds[p] += ingest(store, part, batch)
            cpu_s[p] += time.process_time() - cpu
    qs = [q for c in convs for q in c.questions if q.evidence][:queries]
    embedder = store.episodes._embedder
    out: dict[str, Any] = {p: {"stored_turns": len(rows)} for p in paths}
    for p in paths:
        out[p]["ingest_turns_per_s"] = round(len(rows) / seconds[p], 1)
        out[p]["ingest_turns_per_cpu_s"] = round(len(rows) / cpu_s[p], 1)
    for name in ("hybrid", "vector", "keyword"):
        full: dict[str, list[float]] = {p: [] for p in paths}
        warm: dict[str, list[float]] = {p: [] for p in paths}
        cpu_ms: dict[str, list[float]] = {p: [] for p in paths}
        for q in qs:
            for p in paths:
                with embedding_path(p):
                    embedder._cache.clear()
                    start, cpu = time.perf_counter(), time.process_time()
                    store.search(
                        users[p], q.text, kinds=("episodes",), k=10, mode=name, now=q.asked
                    )  # type: ignore[arg-type]
                    full[p].append(1000 * (time.perf_counter() - start))
                    cpu_ms[p].append(1000 * (time.process_time() - cpu))
                    start = (
                        time.perf_counter()
                    )  # again, the query's vector now cached: the search alone
                    store.search(
                        users[p], q.text, kinds=("episodes",), k=10, mode=name, now=q.asked
                    )  # type: ignore[arg-type]
                    warm[p].append(1000 * (time.perf_counter() - start))
                    embedder._cache.clear()
        for p in paths:
            out[p][name] = {
                "queries": len(full[p]),
                "p50_ms": round(pct(full[p], 50), 1),
                "p95_ms": round(pct(full[p], 95), 1),
                "cpu_p50_ms": round(pct(cpu_ms[p], 50), 1),
                "cpu_p95_ms": round(pct(cpu_ms[p], 95), 1),
                "search_only_p50_ms": round(pct(warm[p], 50), 1),
                "search_only_p95_ms": round(pct(warm[p], 95), 1),
            }
    # a chat writes a turn before each search: the keyword index must not rebuild every time
    from memory.types import EpisodeIn

    after: dict[str, list[float]] = {p: [] for p in paths}
    for n, q in enumerate(qs[:50]):
        for p in paths:
            with embedding_path(p):
                store.episodes.add_many(
                    users[p], [EpisodeIn(q.text, thread="live", speaker="user", id=f"live-{n}")]
                )
                embedder._cache.clear()  # the other path's run may have cached this question
                start = time.perf_counter()
                store.search(users[p], q.text, kinds=("episodes",), k=10, now=q.asked)
                after[p].append(1000 * (time.perf_counter() - start))
    for p in paths:
        out[p]["hybrid_after_each_write"] = {
            "queries": len(after[p]),
            "p50_ms": round(pct(after[p], 50), 1),
            "p95_ms": round(pct(after[p], 95), 1),
        }
    first = out[paths[0]]
    if len(paths) == 1:
        return first
    base = out[paths[1]]
    first[f"vs_{paths[1]}_path"] = {
        "ingest_turns_per_s": round(first["ingest_turns_per_s"] / base["ingest_turns_per_s"], 2),
        "ingest_turns_per_cpu_s": round(
            first["ingest_turns_per_cpu_s"] / base["ingest_turns_per_cpu_s"], 2
        ),
        **{
            f"{m}_{stat}": round(first[m][stat] / base[m][stat], 2)
            for m in ("hybrid", "vector")
            for stat in ("p50_ms", "p95_ms")
        },
    }
    return {**first, f"{paths[1]}_path": base}


def cache_embeddings(path: Path) -> Callable[[], None]:
    """Reuse vectors of texts embedded by an earlier run (for tuning runs; never for timings).

    Every text still goes through the store's API; only the model call is skipped for texts
    seen before. Returns a function that saves the cache.
    """
    import numpy as np

    from memory.embeddings import Embedder

    known: dict[str, Any] = {}
    if path.exists():
        data = np.load(path, allow_pickle=False)
        known = dict(zip(data["texts"].tolist(), data["vectors"], strict=True))
    original = Embedder.embed

    def embed(self: Embedder, texts: Sequence[str]) -> Any:
        todo = [t for t in dict.fromkeys(texts) if t not in known]
        if todo:
            known.update(zip(todo, original(self, todo), strict=True))
        return np.stack([known[t] for t in texts]) if texts else original(self, texts)

    Embedder.embed = embed  # type: ignore[method-assign]

    def save() -> None:
        texts = list(known)
        np.savez(path, texts=np.array(texts), vectors=np.stack([known[t] for t in texts]))

    return save


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="LoCoMo JSON file")
    parser.add_argument("--convs", type=int, default=None, help="first N conversations only")
    parser.add_argument(
        "--questions", type=int, default=None, help="first N questions per conversation"
    )
    parser.add_argument("--batch", type=int, default=128, help="turns per add call")
    parser.add_argument(
        "--scale", type=int, default=0, help="also time queries on one user with N turns"
    )
    parser.add_argument("--no-leak", action="store_true", help="skip the cross-user leak check")
    parser.add_argument(
        "--embedding-path", choices=PATHS, default="direct",
        help="how turns and questions are embedded: direct (current) or encode (before issue 17)",
    )  # fmt: skip
    parser.add_argument(
        "--compare-paths", action="store_true",
        help="with --scale: also time the other embedding path, interleaved, and give the ratio",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    parser.add_argument(
        "--embed-cache", type=Path, default=None,
        help="reuse vectors from an .npz of earlier runs (tuning only: ingest timing is then meaningless)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    runtime_env.apply_defaults()  # before torch loads (on the first embed): the CLI's thread settings
    if not args.data.exists():
        print(
            f"error: {args.data} not found; pass --data PATH to a LoCoMo JSON file", file=sys.stderr
        )
        return 2
    convs = load(args.data, args.convs)
    save_cache = cache_embeddings(args.embed_cache) if args.embed_cache else None
    result: dict[str, Any] = {
        "data": str(args.data),
        "source": "LoCoMo (arXiv 2402.17753), CC BY-NC 4.0",
        "counting": "per question: fraction of its evidence turns in the top k; mean over questions",
        "conversations": len(convs),
        "turns": sum(len(c.turns) for c in convs),
        "questions_scored": sum(
            len([q for q in c.questions if q.evidence][: args.questions]) for c in convs
        ),
        "questions_without_evidence": sum(1 for c in convs for q in c.questions if not q.evidence),
        "cpu_count": os.cpu_count(),
        "embedding_path": args.embedding_path,
        "load_average_at_start": load_now(),
        "note": "timings on a shared machine: noisy; compare methods within this run",
    }
    with (
        tempfile.TemporaryDirectory() as tmp,
        open_store(Settings(), path=Path(tmp) / "chroma") as store,
    ):
        store.episodes._embedder.embed(["warm up"])  # the model load is not ingest time
        from memory.embeddings import shared_encoder

        encoder = shared_encoder()
        result["embedding"] = (
            "SentenceTransformer.encode, float32"
            if args.embedding_path == "encode" or encoder is None
            else f"direct, Linear layers in {encoder.precision}"
        )
        seconds = 0.0
        cpu = time.process_time()  # CPU seconds: what a quiet machine would take, one thread
        with embedding_path(args.embedding_path):
            for conv in convs:
                seconds += ingest(store, conv, args.batch)
                print(f"stored {conv.id}: {len(conv.turns)} turns", file=sys.stderr)
        cpu = time.process_time() - cpu
        result["ingest"] = {
            "batch": args.batch,
            "turns_per_s": round(result["turns"] / seconds, 1),
            "turns_per_cpu_s": round(result["turns"] / cpu, 1),
        }
        id_map: dict[str, dict[str, str]] = {c.user: {} for c in convs}
        methods: dict[str, Search | None] = {
            "bm25": bm25_method(convs),
            "bm25_folded": bm25_method(convs, folded=True),
            "vector": vector_method(store, id_map),
            "hybrid": hybrid_method(store),
            "hybrid_no_neighbours": hybrid_method(store, neighbour=0.0),
            "hybrid_rrf": hybrid_method(store, fusion="rrf", neighbour=0.0),
            "hybrid_no_time": hybrid_method(store, when_boost=0.0, range_boost=0.0),
            "hybrid_queries_other_path": hybrid_method(
                store, query_path=other_path(args.embedding_path)
            ),
        }
        result["recall"] = {}
        result["query_ms"] = {}
        for name, search in methods.items():
            if search is None:
                continue
            store.episodes._embedder._cache.clear()  # every method pays for its query embeddings
            with embedding_path(args.embedding_path):
                table, lat, cpu_ms = score(convs, search, args.questions)
            result["recall"][name] = table
            result["query_ms"][name] = {
                "p50": round(pct(lat, 50), 1),
                "p95": round(pct(lat, 95), 1),
                "cpu_p50": round(pct(cpu_ms, 50), 1),
                "cpu_p95": round(pct(cpu_ms, 95), 1),
            }
            print(f"{name}: {json.dumps(table['all'])}", file=sys.stderr)
        if not args.no_leak:
            with embedding_path(args.embedding_path):
                result["leak_check"] = leak_check(store, convs, args.questions)
        if args.scale:
            paths = [args.embedding_path]
            if args.compare_paths:
                paths.append(other_path(args.embedding_path))
            result["scale"] = scale_latency(store, convs, args.scale, 200, paths)
        result["load_average_at_end"] = load_now()
    if save_cache is not None:
        save_cache()
        result["note"] += "; vectors cached from an earlier run: ingest rate not measured"
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
