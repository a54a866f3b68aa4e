"""The team profile on one machine: replicas on one Postgres, jobs per slot, shared memory.

    .venv/bin/python bench/scale.py                      # about 3 minutes on 2 cores
    .venv/bin/python bench/scale.py --turns 10 --items 2000 --job-seconds 10   # quicker

Prints one JSON object, every number measured side by side in this run:
- turns: turns/s and reply-start p95 for the single-user default (SQLite, one process),
  one team replica, two replicas on different threads and two on the same thread (the
  per-thread lock serialises those). The model is the scripted stand-in with a fixed
  delay per call (`--model-delay`), so this measures the store and the lock, not the model;
  on 2 cores the point is correctness under concurrency and the cost of the lock.
- jobs: two schedulers run a 1 s job for `--job-seconds`; runs per slot (must be 1).
- memory: item search p95 (query embedding included) on the embedded store and on the
  Chroma server at `--items` stored items (random unit vectors, as bench/memory_speed.py).
Servers (PostgreSQL from Debian's binaries, `chroma run`) are started here on a Unix
socket / 127.0.0.1 and stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from memory_speed import fill_items, pct, timed  # noqa: E402

from assistant.config import Settings  # noqa: E402
from memory.store import open_store  # noqa: E402
from tests.team.chromaserver import ChromaServer  # noqa: E402
from tests.team.pgserver import PgServer  # noqa: E402
from tests.team.workers import REPO, worker_env  # noqa: E402


def run_replicas(url: str, specs: list[tuple[str, str, str, str, int, float]], home: Path) -> dict[str, float]:
    """Start every worker, release them together, and time their turns."""
    procs = []
    for i, spec in enumerate(specs):
        env = worker_env(TEAM_TIMINGS="1", ASSISTANT_HOME=str(home / f"r{i}"))
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "tests.team.turn_worker", url, *map(str, spec)],
            cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True,
        ))  # fmt: skip
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    start = time.perf_counter()
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    first, total = [], []
    for proc in procs:
        out, _ = proc.communicate(timeout=600)
        for line in out.splitlines():
            if line.startswith("timing "):
                a, b = line.split()[1:]
                first.append(float(a) * 1000)
                total.append(float(b) * 1000)
    wall = time.perf_counter() - start
    return {
        "turns": len(total),
        "turns_per_s": len(total) / wall,
        "reply_start_p50_ms": statistics.median(first),
        "reply_start_p95_ms": pct(first, 95),
        "turn_p95_ms": pct(total, 95),
    }


def bench_turns(url: str, turns: int, delay: float, home: Path) -> dict[str, object]:
    half = max(1, turns // 2)
    return {
        "model_delay_s": delay,
        "single_user_sqlite": run_replicas(url, [("sqlite", "u", "t0", "A", turns, delay)], home / "s"),
        "team_1_replica": run_replicas(url, [("lock", "u", "t1", "A", turns, delay)], home / "a"),
        "team_2_replicas_other_threads": run_replicas(
            url, [("lock", "u", "t2", "A", half, delay), ("lock", "v", "t3", "B", half, delay)], home / "b"
        ),
        "team_2_replicas_same_thread": run_replicas(
            url, [("lock", "u", "t4", "A", half, delay), ("lock", "u", "t4", "B", half, delay)], home / "c"
        ),
    }


def bench_jobs(url: str, seconds: float, folder: Path) -> dict[str, object]:
    log = folder / "runs.txt"
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.team.scheduler_worker", url, "3"], cwd=REPO,
            env=worker_env(TEAM_JOB_LOG=str(log)), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        for _ in range(2)
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().startswith("holder ")
    time.sleep(seconds)
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(timeout=60)
    per_slot = Counter(line.split()[0] for line in log.read_text().splitlines())
    runs = Counter(per_slot.values())
    slots = sorted(float(s) for s in per_slot)
    expected = int(slots[-1] - slots[0]) + 1 if slots else 0
    return {
        "schedulers": 2,
        "seconds": seconds,
        "slots_run": len(per_slot),
        "slots_expected": expected,
        "runs_per_slot": {str(k): v for k, v in sorted(runs.items())},
        "exactly_once": set(runs) == {1} and len(per_slot) == expected,
    }


def bench_memory(port: int, items: int, queries: int, folder: Path) -> dict[str, object]:
    texts = [f"new results on topic {i}" for i in range(queries + 1)]
    out: dict[str, object] = {"items": items, "queries": queries}
    shared = Settings.model_validate({"memory": {"backend": "http", "port": port}})
    for name, settings, path in (
        ("embedded", Settings(), folder / "embedded"),
        ("shared_chroma_server", shared, folder / "shared-state"),
    ):
        with open_store(settings, path=path) as store:
            store.profile._embedder.embed(["warm up"])
            fill_s = fill_items(store, "bench", items, "random")
            emb = store.profile._embedder
            out[name] = {
                "fill_s": fill_s,
                **timed(
                    lambda q, store=store: store.items.search("bench", q, k=10),
                    lambda q, store=store, emb=emb: store._scopes.scope("items", "bench").query(emb.embed_one(q), 10),
                    texts,
                ),
            }
    emb_p95 = out["embedded"]["p95_ms"]  # type: ignore[index]
    out["p95_ratio_shared_over_embedded"] = out["shared_chroma_server"]["p95_ms"] / emb_p95  # type: ignore[index]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=20, help="turns per scenario")
    parser.add_argument("--model-delay", type=float, default=0.1, help="seconds per scripted model call")
    parser.add_argument("--job-seconds", type=float, default=20.0, help="how long two schedulers run")
    parser.add_argument("--items", type=int, default=10_000, help="stored items for the memory query")
    parser.add_argument("--queries", type=int, default=100, help="timed memory queries per store")
    args = parser.parse_args()
    why = PgServer.missing()
    if why:
        sys.exit(f"error: {why}")
    folder = Path(tempfile.mkdtemp(prefix="scale-bench-"))
    pg = PgServer.start()
    chroma = ChromaServer.start(folder / "chroma-server")
    out: dict[str, object] = {"machine": {"cpus": os.cpu_count(), "load_avg_1m": os.getloadavg()[0]}}
    try:
        out["turns"] = bench_turns(pg.url, args.turns, args.model_delay, folder)
        out["jobs"] = bench_jobs(pg.url, args.job_seconds, folder)
        out["memory"] = bench_memory(chroma.port, args.items, args.queries, folder)
    finally:
        chroma.stop()
        pg.stop()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
