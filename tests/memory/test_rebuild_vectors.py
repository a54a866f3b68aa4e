"""A rebuilt vector index holds the vectors that were written, not the text's embedding.

Found by bench/faults.py (kill9_writes) on the merged code: records written with distinct
vectors and one shared text came back from a rebuild as one point repeated thousands of
times, and a query reached 1,494 of 5,660 of them. The rebuild now reads each vector back
from the index files and Chroma's write-ahead log and re-embeds only what is lost.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from assistant.config import Settings
from memory.probe import unreachable_ok
from memory.repair import OPEN_MARKER, mark_for_repair
from memory.scoped import collection_name
from memory.store import MemoryStore, open_store
from tests.memory.conftest import python_popen, reap
from tests.memory.test_durability import SMALL_SYNC, index_dir

ITEMS = collection_name("items", "local")
N = 280  # the index is flushed every 50 records: 250 in the files, the rest only in the log

WRITER = """
import numpy as np
from pathlib import Path
import memory.repair, memory.scoped
from assistant.config import Settings
from memory.store import open_store
memory.scoped.HNSW = memory.repair.HNSW = {sync!r}
store = open_store(Settings(), path=Path({path!r}))
col = store._scopes.scope("items", "local")
vectors = np.random.default_rng(5).standard_normal(({n}, 384)).astype(np.float32)
for start in range(0, {n}, 20):
    ids = [f"w{{i}}" for i in range(start, start + 20)]
    texts = [{text} for i in range(start, start + 20)]
    col.add(ids, vectors[start:start + 20], texts, [{{"title": "t"}}] * 20)
print("done", flush=True)
import time
time.sleep(600)
"""


def written() -> dict[str, np.ndarray]:
    vectors = np.random.default_rng(5).standard_normal((N, 384)).astype(np.float32)
    return {f"w{i}": v / np.linalg.norm(v) for i, v in enumerate(vectors)}


def write_then_kill(folder: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Write N records in a child, then kill -9 it (no clean close: the log keeps the tail)."""
    monkeypatch.setattr("memory.scoped.HNSW", SMALL_SYNC)
    monkeypatch.setattr("memory.repair.HNSW", SMALL_SYNC)
    child = python_popen(WRITER.format(sync=SMALL_SYNC, path=str(folder), n=N, text=text))
    assert child.stdout is not None and child.stderr is not None
    try:
        assert child.stdout.readline().strip() == "done", child.stderr.read()[-2000:]
    finally:
        reap(child)
    assert (folder / OPEN_MARKER).exists()


def vectors_now(store: MemoryStore) -> dict[str, np.ndarray]:
    col = store._scopes.scope("items", "local")
    return {
        r.id: r.embedding / np.linalg.norm(r.embedding)  # type: ignore[operator]
        for r in col.get(include_documents=False, include_embeddings=True)
        if r.embedding is not None
    }


def test_a_rebuild_keeps_written_vectors_of_records_with_one_shared_text(
    store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_then_kill(store_path, '"doc"', monkeypatch)
    mark_for_repair(store_path, ITEMS)  # what a read that failed at run time leaves behind
    with open_store(Settings(), path=store_path) as store:
        assert store.rebuilt == [ITEMS]
        now = vectors_now(store)
        col = store._scopes.scope("items", "local")
        reached = len(col.query(np.full(384, 384**-0.5, dtype=np.float32), N))
    want = written()
    assert sorted(now) == sorted(want)
    # the replaced index's folder is gone (Chroma leaves it behind: a copy per rebuild)
    assert [d.name for d in store_path.iterdir() if d.is_dir()] == [
        index_dir(store_path, ITEMS).name
    ]
    same = [i for i in want if float(now[i] @ want[i]) > 0.9999]
    assert len(same) == N, f"{N - len(same)} records lost the vector they were written with"
    assert reached >= N - unreachable_ok(N)


def test_a_torn_index_file_keeps_what_survived_and_re_embeds_the_rest(
    store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_then_kill(store_path, 'f"paper {i} on topic {i * 7}"', monkeypatch)
    data = index_dir(store_path, ITEMS) / "data_level0.bin"
    os.truncate(data, data.stat().st_size // 2)  # a flush cut off half-way
    with open_store(Settings(), path=store_path) as store:
        assert store.rebuilt == [ITEMS]
        now = vectors_now(store)
        texts = {r.id: r.document for r in store._scopes.scope("items", "local").get()}
    want = written()
    assert sorted(now) == sorted(want)
    same = {i for i in want if float(now[i] @ want[i]) > 0.9999}
    # the half of the file that survived (~125) and the log (30) keep their vectors
    assert len(same) >= 120 + (N - 250), len(same)
    from memory.embeddings import Embedder
    from memory.items import embed_text

    lost = sorted(set(want) - same)
    fresh = Embedder(Settings().memory.embedding_model).embed(
        [embed_text("t", texts[i]) for i in lost]
    )
    for rid, vec in zip(lost, fresh, strict=True):  # the others: their text's embedding
        assert float(now[rid] @ (vec / np.linalg.norm(vec))) > 0.999
