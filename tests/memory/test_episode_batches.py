"""Turns stored in batches come back whole: time, speaker, found by words, meaning and date.

Also: a date-filtered search over the vectors held in memory gives what Chroma's own filter
gives, stays in step with writes and deletes, and a write that fails (or a writer killed
mid-batch) never leaves a turn the store holds out of the search.
"""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from assistant.config import Settings
from memory.scoped import range_where
from memory.store import MemoryStore, open_store
from memory.types import EpisodeIn
from tests.memory.conftest import python_popen, reap

DAY = 86400.0
START = datetime(2023, 5, 1, 9, tzinfo=UTC).timestamp()
SAID = [
    "I adopted a grey kitten called Pepper from the shelter",
    "The bakery on Elm street sells the best sourdough",
    "My brother is moving to Lisbon for a new job in October",
    "We hiked up to the glacier lake and camped overnight",
    "I finally finished knitting the red scarf for grandma",
    "Our team lost the volleyball final by two points",
    "I am reading a novel about a lighthouse keeper in Norway",
    "The dentist said I need a filling next month",
    "I signed up for evening pottery classes on Thursdays",
    "My laptop battery died during the client presentation",
    "We planted tomatoes, basil and chillies on the balcony",
    "I volunteered at the food bank on Saturday morning",
    "The concert in the park was cancelled because of the storm",
    "I started learning the cello with an online teacher",
    "My daughter lost her first tooth at breakfast",
    "The train to Vienna was delayed by three hours",
    "I baked a lemon tart for the neighbours' party",
    "We watched the meteor shower from the rooftop",
    "I got promoted to lead the data team",
    "The plumber fixed the leaking kitchen tap",
    "I ran my first half marathon in under two hours",
    "Our book club picked a mystery set in Istanbul",
    "I repainted the bedroom a soft green colour",
    "My grandmother turned ninety and we threw a picnic",
]


def day_turns(user: str, n: int = len(SAID), offset: int = 0) -> list[EpisodeIn]:
    """One turn a day, alternating speakers, in two threads."""
    return [
        EpisodeIn(
            SAID[(i + offset) % len(SAID)] + ("" if i < len(SAID) else f" (again, {i})"),
            thread=f"session_{(i + offset) // 12}",
            speaker="Ann" if i % 2 else "Ben",
            time=START + (i + offset) * DAY,
            id=f"{user}-{i + offset}",
        )
        for i in range(n)
    ]


def test_a_batch_keeps_every_turn_with_its_time_and_speaker_and_finds_it(
    store: MemoryStore,
) -> None:
    sent = day_turns("ann")
    stored = store.episodes.add_many("ann", sent)
    assert [e.id for e in stored] == [e.id for e in sent]
    listed = {e.id: e for e in store.episodes.list("ann")}
    assert set(listed) == {e.id for e in sent}
    for e in sent:
        got = listed[e.id]
        assert (got.text, got.speaker, got.thread) == (e.text, e.speaker, e.thread)
        assert got.time == e.time
    for e in sent:  # each turn is found again by its own words, and by meaning alone
        # (hybrid: the next turn carries this one as context, so it may rank level with it)
        assert e.id in [h.id for h in store.search("ann", e.text, kinds=("episodes",), k=2)]
        assert store.search("ann", e.text, kinds=("episodes",), k=1, mode="vector")[0].id == e.id
    may = store.search(
        "ann",
        "what happened to the laptop?",
        kinds=("episodes",),
        since=START + 5 * DAY,
        until=START + 12 * DAY,
    )
    assert "ann-9" in [h.id for h in may[:2]]
    assert all(START + 5 * DAY <= h.time < START + 12 * DAY for h in may)


def _exact_between(
    store: MemoryStore,
    user: str,
    vector: np.ndarray,
    k: int,
    since: float | None,
    until: float | None,
) -> list[tuple[str, float]]:
    """Best k (id, cosine) among the rows Chroma holds in the range, by brute force over
    the embeddings it stored (Chroma's `get` with a where is exact; its HNSW query is not)."""
    scope = store._scopes.scope("episodes", user)
    collection = store._scopes._collection(scope.name, create=False)
    where = range_where("time", since, until)
    got = (
        collection.get(where=where, include=["embeddings"])
        if where
        else collection.get(include=["embeddings"])
    )
    if not got["ids"]:
        return []
    rows = np.asarray(got["embeddings"], dtype=np.float64)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    sims = rows @ (vector / np.linalg.norm(vector))
    order = np.argsort(-sims, kind="stable")[:k]
    return [(got["ids"][i], float(sims[i])) for i in order]


def _compare_filters(store: MemoryStore, user: str) -> int:
    """The in-memory date filter gives the exact best hits among what Chroma stores in each
    range; returns how many hits compared.

    Chroma's own filtered query walks an approximate (HNSW) graph: after deletes and
    rewrites it may skip a close row on some CPUs, so it is held to a weaker promise: no
    row it returns ranks above the exact k-th.
    """
    scope = store._scopes.scope("episodes", user)
    compared = 0
    for query in ("a musical instrument", "travel by train", "food and baking"):
        vector = store.episodes._embedder.embed_one(query)
        for since, until in (
            (START + 3 * DAY, START + 17 * DAY),
            (None, START + 6 * DAY),
            (START + 20 * DAY, None),
            (START + 100 * DAY, START + 101 * DAY),  # nothing there
        ):
            mem = scope.nearest_between(vector, 5, "time", since, until)
            exact = _exact_between(store, user, vector, 5, since, until)
            where = (query, since, until)
            assert len(mem) == len(exact), where
            assert np.allclose([s for _, s in mem], [s for _, s in exact], atol=1e-4), where
            assert {r.id for r, _ in mem} == {rid for rid, _ in exact}, where  # (ties aside)
            chroma = scope.nearest(vector, 5, where=range_where("time", since, until))
            floor = exact[-1][1] if len(exact) == 5 else -1.0
            for record, sim in chroma:
                assert sim <= floor + 1e-4 or record.id in {rid for rid, _ in exact}, where
            assert all(r.document for r, _ in mem)
            assert all(since is None or r.metadata["time"] >= since for r, _ in mem)
            assert all(until is None or r.metadata["time"] < until for r, _ in mem)
            compared += len(mem)
    return compared


def test_date_filtered_search_in_memory_matches_chromas_filter_through_writes(
    store: MemoryStore,
) -> None:
    store.episodes.add_many("ann", day_turns("ann"))
    store.episodes.add_many("bob", day_turns("bob"))  # another user: never in ann's results
    assert _compare_filters(store, "ann") > 0
    assert store._scopes._vectors  # the in-memory path was taken (embedded store, one writer)
    # writes after the vectors were read: a rewrite, new turns, deletes, metadata changes
    store.episodes.add_many(
        "ann",
        [EpisodeIn("I sold the cello and bought a violin", speaker="Ann", time=START + 4 * DAY, id="ann-13")]
        + day_turns("ann", n=6, offset=30),
    )  # fmt: skip
    store.episodes.forget("ann", ["ann-3", "ann-15", "ann-31"])
    _compare_filters(store, "ann")
    hits = store.search(
        "ann", "violin", kinds=("episodes",), since=START, until=START + 6 * DAY, mode="vector"
    )
    assert hits[0].id == "ann-13" and hits[0].text.startswith("I sold the cello")
    gone = store.search("ann", "train to Vienna delayed", kinds=("episodes",), since=START, k=30)
    assert "ann-15" not in [h.id for h in gone]
    assert all(h.user_id == "ann" for h in gone)


def test_a_write_that_fails_after_the_store_took_it_is_still_found(
    store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.episodes.add_many("ann", day_turns("ann", n=8))
    assert store.search("ann", "kitten", since=START, until=START + 30 * DAY)  # indexes in memory
    collection = store._scopes._collection(
        store._scopes.scope("episodes", "ann").name, create=False
    )
    original = collection.upsert

    def stored_then_failed(**kwargs: object) -> None:
        original(**kwargs)  # the store has the rows; the caller sees an error (a lost reply)
        raise RuntimeError("connection dropped after the write")

    monkeypatch.setattr(collection, "upsert", stored_then_failed)
    late = EpisodeIn(
        "The harbour ferry now leaves at dawn", speaker="Ann", time=START + 2 * DAY, id="late"
    )
    with pytest.raises(RuntimeError):
        store.episodes.add_many("ann", [late])
    monkeypatch.undo()
    assert store.search("ann", "harbour ferry", mode="keyword")[0].id == "late"
    dated = store.search(
        "ann", "ferry at dawn", since=START, until=START + 3 * DAY, mode="vector", k=1
    )
    assert dated[0].id == "late"


def test_a_turn_written_while_the_keyword_index_is_first_built_is_found(
    store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chat turn stored while a background search reads the store for its first keyword
    index is found by the next search (the index read before the write is not kept)."""
    store.episodes.add_many("ann", day_turns("ann", n=8))
    scope = type(store._scopes.scope("episodes", "ann"))
    original = scope.get
    raced: list[str] = []

    def read_then_a_write_lands(self: object, *args: object, **kwargs: object) -> object:
        records = original(self, *args, **kwargs)  # the builder's snapshot, before the write
        if not raced:
            raced.append("late")
            late = EpisodeIn("The harbour ferry now leaves at dawn", time=START, id="late")
            store.episodes.add_many("ann", [late])
        return records

    monkeypatch.setattr(scope, "get", read_then_a_write_lands)
    store.search("ann", "kitten", mode="keyword")  # builds the index from the old snapshot
    monkeypatch.undo()
    assert raced
    assert store.search("ann", "harbour ferry", mode="keyword")[0].id == "late"


WRITER = """
from pathlib import Path
from assistant.config import Settings
from memory.store import open_store
from memory.types import EpisodeIn
s = open_store(Settings(), path=Path({path!r}))
print("ready", flush=True)
for b in range(1000):
    batch = [EpisodeIn(f"batch {{b}} turn {{j}}: we talked about topic {{b * 64 + j}}", thread=f"t{{b}}",
                       speaker="Ann" if j % 2 else "Ben", time={start} + b * 3600 + j, id=f"b{{b}}-{{j}}")
             for j in range(32)]
    s.episodes.add_many("ann", batch)
    print("ok", b, flush=True)
"""


def test_a_writer_killed_mid_batch_keeps_every_acknowledged_batch_whole(
    store_path: Path,
) -> None:
    child = python_popen(WRITER.format(path=str(store_path), start=START))
    assert child.stdout is not None and child.stderr is not None
    acknowledged: list[int] = []
    deadline = time.monotonic() + 120
    try:
        assert child.stdout.readline().strip() == "ready", child.stderr.read()[-2000:]
        while len(acknowledged) < 4 and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                pytest.fail(f"writer died early: {child.stderr.read()[-2000:]}")
            acknowledged.append(int(line.split()[1]))
        time.sleep(0.1)  # into the next batch
        os.kill(child.pid, signal.SIGKILL)
        acknowledged += [int(line.split()[1]) for line in child.stdout if line.startswith("ok")]
    finally:
        reap(child)
    assert len(acknowledged) >= 4
    with open_store(Settings(), path=store_path) as store:
        by_batch: dict[int, list[float]] = {}
        for e in store.episodes.list("ann"):
            by_batch.setdefault(int(e.id[1:].split("-")[0]), []).append(e.time)
        for b in acknowledged:
            assert len(by_batch.get(b, [])) == 32, b  # every acknowledged turn, with its time
        last = max(acknowledged)
        hits = store.search(
            "ann",
            f"topic {last * 64 + 5}",
            since=START + last * 3600,
            until=START + (last + 1) * 3600,
            k=3,
        )
        assert hits and all(h.id.startswith(f"b{last}-") for h in hits)
