"""Nothing acknowledged is lost: kill -9 mid-write, damaged index files, crashes during repair."""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.errors import MemoryStoreError
from memory.probe import PROBE_MARKER, remember_index
from memory.repair import JOURNAL_PREFIX, OPEN_MARKER, read_rows
from memory.scoped import collection_name
from memory.store import MemoryStore, open_store
from memory.types import Item
from tests.memory.conftest import python_popen, reap

STREAM = """
from pathlib import Path
import memory.repair, memory.scoped
from assistant.config import Settings
from memory.store import open_store
from memory.types import Item
memory.scoped.HNSW = memory.repair.HNSW = {sync!r}  # index files rewritten every 50 records
s = open_store(Settings(), path=Path({path!r}))
print("ready", flush=True)
for i in range(100000):
    batch = [Item(id=f"arxiv:{{i}}.{{j}}", owner="local", source="arxiv", title=f"Paper {{i}} {{j}}",
                  text=f"Abstract {{i}} {{j}} on topic {{i * 31 + j}}") for j in range(25)]
    s.items.upsert(batch)
    print("items", " ".join(x.id for x in batch), flush=True)
    fact = s.profile.remember("ann", f"User fact {{i}} mentions topic {{i * 17}}")
    print("fact", fact.id, flush=True)
"""


def assert_consistent(store: MemoryStore, items: set[str], facts: set[str]) -> None:
    """Every acknowledged write is there, and queries agree with counts."""
    count = store.items.count("local")
    assert count >= len(items)
    stored = {i.id for i in store.items.list("local", limit=10**6)}
    assert items <= stored and len(stored) == count
    assert set(store.items.embeddings("local", sorted(stored))) == stored
    for item_id in random.Random(0).sample(
        sorted(items), 20
    ):  # the vector index finds what SQLite holds
        item = store.items.get("local", item_id)
        assert item is not None
        assert item_id in [
            i.id for i, _ in store.items.search("local", f"{item.title}\n{item.text}", k=3)
        ]
    have = {f.text: f.id for f in store.profile.facts("ann")}
    assert facts <= set(have.values())
    for text in random.Random(1).sample(sorted(have), min(10, len(have))):
        assert store.profile.recall("ann", text, k=1)[0].fact.id == have[text]


def test_kill_9_during_a_stream_of_writes_loses_nothing_acknowledged(store_path: Path) -> None:
    child = python_popen(STREAM.format(path=str(store_path), sync=SMALL_SYNC))
    assert child.stdout is not None and child.stderr is not None
    items: set[str] = set()
    facts: set[str] = set()
    stop_after = random.Random(os.getpid()).randint(
        300, 500
    )  # after several index flushes, maybe inside one
    deadline = time.monotonic() + 180
    try:
        assert child.stdout.readline().strip() == "ready", child.stderr.read()[-2000:]
        while len(items) < stop_after and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                pytest.fail(f"writer died early: {child.stderr.read()[-2000:]}")
            kind, _, rest = line.strip().partition(" ")
            (items.update(rest.split()) if kind == "items" else facts.add(rest))
        os.kill(child.pid, signal.SIGKILL)
        for line in child.stdout:  # acknowledged before the kill, still in the pipe
            kind, _, rest = line.strip().partition(" ")
            if kind == "items":
                items.update(rest.split())
            elif kind == "fact" and rest:
                facts.add(rest)
    finally:
        reap(child)
    assert child.returncode == -signal.SIGKILL and len(items) >= 300
    with open_store(Settings(), path=store_path) as store:
        assert_consistent(store, items, facts)
    with open_store(Settings(), path=store_path) as store:  # and it opens cleanly again
        assert_consistent(store, items, facts)


N_ITEMS = 150
# Chroma writes HNSW files every 1000 records by default; syncing every 50 here puts the
# index on disk with few records, so damaging it is cheap (same code paths either way).
SMALL_SYNC = {"hnsw": {"space": "cosine", "batch_size": 50, "sync_threshold": 50}}


@pytest.fixture
def filled(store_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store with items and facts whose vector index files are on disk."""
    monkeypatch.setattr("memory.scoped.HNSW", SMALL_SYNC)
    monkeypatch.setattr("memory.repair.HNSW", SMALL_SYNC)
    with open_store(Settings(), path=store_path) as store:
        store.items.upsert(
            [
                Item(
                    id=f"arxiv:{n}",
                    owner="local",
                    source="arxiv",
                    title=f"Paper {n}",
                    text=f"About topic {n}.",
                )
                for n in range(N_ITEMS)
            ]
        )
        store.items.set_summary("local", "arxiv:7", "Seven.")
        store.profile.observe(
            "local", "I live in Paris. I moved to Rome. I'm interested in compilers."
        )
    assert (index_dir(store_path, collection_name("items", "local")) / "header.bin").exists()
    return store_path


def index_dir(folder: Path, name: str) -> Path:
    """The HNSW folder of one collection (the vector segment's id, from Chroma's SQLite)."""
    import sqlite3

    db = sqlite3.connect(folder / "chroma.sqlite3")
    try:
        (seg,) = db.execute(
            "SELECT s.id FROM segments s JOIN collections c ON s.collection = c.id "
            "WHERE c.name = ? AND s.scope = 'VECTOR'",
            (name,),
        ).fetchone()
    finally:
        db.close()
    return folder / seg


def check_intact(store: MemoryStore) -> None:
    assert store.items.count("local") == N_ITEMS
    assert store.items.search("local", "Paper 42 about topic 42", k=1)[0][0].id == "arxiv:42"
    assert store.items.get("local", "arxiv:7").summary == "Seven."  # type: ignore[union-attr]
    for n in random.Random(2).sample(range(N_ITEMS), 20):
        hits = store.items.search("local", f"Paper {n}\nAbout topic {n}.", k=3)
        assert f"arxiv:{n}" in [i.id for i, _ in hits]
    texts = [f.text for f in store.profile.facts("local")]
    assert texts == ["User lives in Rome", "User is interested in compilers"]
    assert len(store.profile.facts("local", include_superseded=True)) == 3


def damage_garbage_header(d: Path) -> None:
    (d / "header.bin").write_bytes(os.urandom(100))


def damage_truncate_data(d: Path) -> None:
    os.truncate(d / "data_level0.bin", 1000)


def damage_delete_folder(d: Path) -> None:
    for f in d.iterdir():
        f.unlink()
    d.rmdir()


@pytest.mark.parametrize(
    "damage", [damage_garbage_header, damage_truncate_data, damage_delete_folder]
)
def test_damaged_vector_index_is_rebuilt_from_sqlite(filled: Path, damage) -> None:  # type: ignore[no-untyped-def]
    store_path = filled
    items = collection_name("items", "local")
    damage(index_dir(store_path, items))
    (store_path / OPEN_MARKER).write_text("{}")  # what an owner killed in an index flush leaves
    with open_store(Settings(), path=store_path) as store:
        assert items in store.rebuilt
        check_intact(store)
    with open_store(Settings(), path=store_path) as store:
        assert store.rebuilt == []
        check_intact(store)


RUNTIME = """
import sys
from pathlib import Path
from assistant.config import Settings
from assistant.errors import MemoryStoreError
from memory.store import open_store
with open_store(Settings(), path=Path({path!r})) as store:
    try:
        store.items.search("local", "Paper 3", k=3)
    except MemoryStoreError as exc:
        print(exc)
        sys.exit(3)
"""


def test_damage_found_at_run_time_never_crashes_twice(filled: Path) -> None:
    store_path = filled
    damage_truncate_data(index_dir(store_path, collection_name("items", "local")))
    remember_index(store_path)  # damage the open-time check cannot see: only a read finds it
    child = python_popen(RUNTIME.format(path=str(store_path)))
    out, err = child.communicate(timeout=180)
    # Chroma either raises (a clear error that flags the collection) or segfaults reading it
    # (the owner's open-marker stays behind); both lead to a rebuild on the next open
    assert child.returncode in (3, -signal.SIGSEGV, -signal.SIGABRT), err[-2000:]
    if child.returncode == 3:
        assert "restart the assistant" in out
    with open_store(Settings(), path=store_path) as store:
        assert store.rebuilt == [collection_name("items", "local")]
        check_intact(store)


def test_a_probe_that_crashes_leads_to_a_rebuild_not_a_crash(
    filled: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_path = filled
    facts = collection_name("facts", "local")
    monkeypatch.setenv("ASSISTANT_PROBE_ABORT", facts)  # the probe child dies (SIGABRT) on this one
    (store_path / OPEN_MARKER).write_text("{}")
    with open_store(Settings(), path=store_path) as store:
        assert store.rebuilt == [facts]
        check_intact(store)
    assert not (store_path / PROBE_MARKER).exists()


def test_an_interrupted_rebuild_is_finished_on_next_open(filled: Path) -> None:
    store_path = filled
    with open_store(Settings(), path=store_path) as store:
        name = collection_name("items", "local")
        rows = read_rows(store_path, name)
        assert len(rows) == N_ITEMS
        (store_path / f"{JOURNAL_PREFIX}{name}.json").write_text(
            json.dumps([[i, d, m] for i, d, m in rows])
        )
        store._scopes.client.delete_collection(name)  # the crash came after the delete
    with open_store(Settings(), path=store_path) as store:
        assert name in store.rebuilt
        check_intact(store)
    assert not list(store_path.glob(f"{JOURNAL_PREFIX}*"))


def test_unreadable_database_is_a_clear_error_and_releases_the_lock(filled: Path) -> None:
    store_path = filled
    (store_path / "chroma.sqlite3").write_bytes(b"this is not sqlite" * 100)
    for _ in range(2):  # the same clear error each time, never a crash
        with pytest.raises(MemoryStoreError, match="move the folder away"):
            open_store(Settings(), path=store_path)
