"""Memory speed: fact ingest rate (embedding included), recall latency at N stored items, RSS.

    .venv/bin/python bench/memory_speed.py                 # 100,000 stored items (several minutes)
    .venv/bin/python bench/memory_speed.py --items 20000   # quicker
    .venv/bin/python bench/memory_speed.py --fill model    # fill with real embeddings (slow, ~600/s)

Prints one JSON object. Targets: ingest >= 300 facts/s on 2 cores; recall p95 <= 30 ms at
100,000 stored items. The bulk fill for the recall test uses random unit vectors by default
(the index cost does not depend on where vectors come from); every timed query embeds
its own, never-seen-before text with the real model.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.config import Settings  # noqa: E402
from memory.store import MemoryStore, open_store  # noqa: E402
from memory.types import Item  # noqa: E402

TOPICS = (
    "sparse attention", "protein folding", "graph neural networks", "speech recognition", "robot grasping",
    "climate models", "retrieval augmentation", "quantum error correction", "compilers", "diffusion models",
    "reinforcement learning", "causal inference", "federated learning", "code generation", "tokenization",
)  # fmt: skip


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def bench_ingest(store: MemoryStore, n: int, batch: int) -> dict[str, float]:
    texts = [
        f"User is interested in {TOPICS[i % len(TOPICS)]} variant {i} from angle {i * 7 % 13}"
        for i in range(n)
    ]
    start, cpu = time.perf_counter(), time.process_time()
    per_user = max(1, 500 // batch) * batch  # stays under max_facts_per_user: no evictions timed
    for b in range(0, n, batch):
        user = f"ingest-{b // per_user}"
        store.profile.remember_many(user, texts[b : b + batch], kind="interest")
    bulk, bulk_cpu = time.perf_counter() - start, time.process_time() - cpu
    said = [f"I'm interested in {TOPICS[i % len(TOPICS)]} number {i}." for i in range(min(n, 200))]
    start = time.perf_counter()
    for s in said:
        store.profile.observe("observe-user", s)
    one = time.perf_counter() - start
    return {
        "facts": n,
        "batch": batch,
        "facts_per_s": n / bulk,
        "facts_per_cpu_s": n
        / bulk_cpu,  # CPU time of all threads: less sensitive to a busy machine
        "observe_calls_per_s": len(said) / one,
    }


def fill_items(store: MemoryStore, owner: str, n: int, mode: str) -> float:
    col = store._scopes.scope("items", owner)
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    step = 5000 if mode == "random" else 512
    for b in range(0, n, step):
        ids = [f"arxiv:bench.{i}" for i in range(b, min(n, b + step))]
        titles = [f"Paper {i} on {TOPICS[i % len(TOPICS)]}" for i in range(b, b + len(ids))]
        if mode == "random":
            vecs = rng.normal(size=(len(ids), 384)).astype(np.float32)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            metas = [
                {"source": "arxiv", "title": t, "published": float(i)} for i, t in enumerate(titles)
            ]
            col.add(ids, vecs, titles, metas)
        else:
            store.items.upsert(
                Item(id=i, owner=owner, source="arxiv", title=t, text=t)
                for i, t in zip(ids, titles, strict=True)
            )
    return time.perf_counter() - start


def fill_facts(store: MemoryStore, n: int, per_user: int) -> list[str]:
    rng = np.random.default_rng(1)
    users = []
    for u in range(0, n, per_user):
        user = f"user-{u // per_user}"
        users.append(user)
        count = min(per_user, n - u)
        vecs = rng.normal(size=(count, 384)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        texts = [f"User fact {i} about {TOPICS[i % len(TOPICS)]}" for i in range(count)]
        now = time.time()
        metas = [
            {"kind": "interest", "slot": "", "norm": t.lower(), "confidence": 0.9, "src_thread": "", "src_turn": 0,
             "src_time": now, "created": now, "updated": now, "uses": 1, "superseded_by": ""}
            for t in texts
        ]  # fmt: skip
        store._scopes.scope("facts", user).add(
            [f"f{u}-{i}" for i in range(count)], vecs, texts, metas
        )
    return users


def timed(call, index_only, queries: list[str]) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Latency of the public call (query embedding included) and of the index lookup alone."""
    call(queries[0])  # warm caches that a long-running assistant has warm
    total, index, cpu = [], [], []
    for q in queries[1:]:
        c0, t0 = time.process_time(), time.perf_counter()
        call(q)  # a new text each time: the query embedding is never cached here
        total.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
        t0 = time.perf_counter()
        index_only(q)
        index.append((time.perf_counter() - t0) * 1000)
    return {
        "p50_ms": statistics.median(total),
        "p95_ms": pct(total, 95),
        "max_ms": max(total),
        "cpu_p50_ms": statistics.median(cpu),
        "index_only_p50_ms": statistics.median(index),
        "index_only_p95_ms": pct(index, 95),
        "queries": len(total),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--items", type=int, default=100_000, help="stored items for the recall test"
    )
    parser.add_argument(
        "--facts", type=int, default=3000, help="facts ingested for the ingest test"
    )
    parser.add_argument("--batch", type=int, default=256, help="facts per remember_many call")
    parser.add_argument("--queries", type=int, default=200, help="timed queries per recall test")
    parser.add_argument(
        "--fill",
        choices=("random", "model"),
        default="random",
        help="how stored items are embedded",
    )
    parser.add_argument(
        "--threads", type=int, default=0, help="torch CPU threads (0 = torch default)"
    )
    parser.add_argument(
        "--path", type=Path, default=None, help="store folder (default: a temporary one)"
    )
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    folder = args.path or Path(tempfile.mkdtemp(prefix="memory-bench-")) / "chroma"
    rss_start = rss_mb()
    out: dict[str, object] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "torch_threads": torch.get_num_threads(),
                    "load_avg_1m": os.getloadavg()[0]},
        "store": str(folder),
    }  # fmt: skip
    with open_store(Settings(), path=folder) as store:
        store.profile._embedder.embed(["warm up"])  # the one-off model load is not ingest
        out["rss_after_model_load_mb"] = rss_mb()
        out["ingest"] = bench_ingest(store, args.facts, args.batch)
        emb = store.profile._embedder
        fill_s = fill_items(store, "bench", args.items, args.fill)
        queries = [
            f"new results on {TOPICS[i % len(TOPICS)]} #{i}" for i in range(args.queries + 1)
        ]
        out["items_search"] = {
            "stored_items": store.items.count("bench"),
            "fill_s": fill_s,
            "fill": args.fill,
            **timed(
                lambda q: store.items.search("bench", q, k=10),
                lambda q: store._scopes.scope("items", "bench").query(emb.embed_one(q), 10),
                queries,
            ),
        }
        users = fill_facts(store, args.items, per_user=500)
        user = users[len(users) // 2]
        out["profile_recall"] = {
            "stored_facts": args.items,
            "users": len(users),
            **timed(
                lambda q: store.profile.recall(user, q + " (profile)", k=5),
                lambda q: store._scopes.scope("facts", user).query_many(
                    emb.embed_one(q + " (profile)")[None, :], 15
                ),
                queries,
            ),
        }
        out["rss_mb"] = {
            "start": rss_start,
            "end": rss_mb(),
            "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
        out["machine"]["load_avg_1m_end"] = os.getloadavg()[0]  # type: ignore[index]
    start = time.perf_counter()
    with open_store(Settings(), path=folder):  # after a clean close: no index probing
        out["reopen_s"] = time.perf_counter() - start
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
