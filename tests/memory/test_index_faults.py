"""Index faults found by the fault bench: damage after a clean close, big owners, full disks."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest

from assistant.config import Settings
from assistant.errors import DiskFullError, MemoryStoreError
from memory.items import ItemStore
from memory.repair import REPAIR_MARKER
from memory.scoped import Scopes, collection_name
from memory.store import open_store
from tests.memory.test_durability import check_intact, filled, index_dir  # noqa: F401 - fixture

ITEMS = collection_name("items", "local")


def delete_id_map(d: Path) -> None:
    pickle = d / "index_metadata.pickle"
    if pickle.exists():
        pickle.unlink()
    else:  # small indexes keep no id map; losing the link lists is the same kind of loss
        (d / "link_lists.bin").unlink()


def delete_folder(d: Path) -> None:
    for f in d.iterdir():
        f.unlink()
    d.rmdir()


def garbage_data(d: Path) -> None:
    path = d / "data_level0.bin"
    path.write_bytes(os.urandom(path.stat().st_size))


@pytest.mark.parametrize("damage", [delete_id_map, delete_folder, garbage_data])
def test_damage_after_a_clean_close_is_found_and_rebuilt(filled: Path, damage) -> None:  # noqa: F811
    damage(index_dir(filled, ITEMS))  # no open marker: the last owner closed cleanly
    with open_store(Settings(), path=filled) as store:
        assert ITEMS in store.rebuilt
        check_intact(store)
    with open_store(Settings(), path=filled) as store:
        assert store.rebuilt == []


def test_an_untouched_index_is_not_probed_again(filled: Path, monkeypatch) -> None:  # noqa: F811
    with open_store(Settings(), path=filled):
        pass
    monkeypatch.setattr("memory.store.find_damaged", lambda folder: pytest.fail("probed"))
    with open_store(Settings(), path=filled) as store:
        assert store.rebuilt == []


def test_one_owner_with_33k_items_lists_in_pages(tmp_path: Path) -> None:
    import chromadb

    client = chromadb.PersistentClient(str(tmp_path / "c"))
    marked: list[str] = []
    scopes = Scopes(client, None, on_damage=marked.append)
    col = scopes.scope("items", "big")
    n = 33_000
    rng = np.random.default_rng(0)
    for start in range(0, n, 5000):
        ids = [f"arxiv:{i}" for i in range(start, min(n, start + 5000))]
        col.add(
            ids,
            rng.random((len(ids), 8), dtype=np.float32),
            ["text"] * len(ids),
            [{"source": "arxiv", "published": float(i), "summarised": i % 2 == 0} for i in range(start, start + len(ids))],
        )
    items = ItemStore(scopes, embedder=None)  # type: ignore[arg-type]  # listing embeds nothing
    newest = items.list("big", limit=3)
    assert [i.id for i in newest] == ["arxiv:32999", "arxiv:32998", "arxiv:32997"]
    assert [i.id for i in items.unsummarised("big", 2)] == ["arxiv:32999", "arxiv:32997"]
    assert len(col.get(include_documents=False)) == n
    assert marked == []  # "too many SQL variables" used to be taken for index damage


def test_a_request_error_is_not_taken_for_damage(tmp_path: Path) -> None:
    from chromadb.errors import InternalError

    marked: list[str] = []
    scopes = Scopes(None, None, on_damage=marked.append)
    with pytest.raises(MemoryStoreError, match="not damaged"), scopes.guard("items-x"):
        raise InternalError("error returned from database: (code: 1) too many SQL variables")
    assert marked == []
    with pytest.raises(MemoryStoreError, match="damaged"), scopes.guard("items-x"):
        raise InternalError("Error loading hnsw index")
    assert marked == ["items-x"]


def test_disk_full_says_disk_full_and_marks_nothing(tmp_path: Path) -> None:
    from chromadb.errors import InternalError

    marked: list[str] = []
    scopes = Scopes(None, None, on_damage=marked.append)
    for exc in (
        OSError(errno.ENOSPC, "No space left on device"),
        InternalError("error returned from database: (code: 13) database or disk is full"),
    ):
        with pytest.raises(DiskFullError, match="disk full"), scopes.guard("items-x"):
            raise exc
    assert marked == []


def test_disk_full_while_opening_is_one_clear_line(filled: Path, monkeypatch) -> None:  # noqa: F811
    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("memory.store.atomic_write", full)
    with pytest.raises(DiskFullError) as info:
        open_store(Settings(), path=filled)
    assert str(info.value).startswith("disk full") and "move the folder" not in str(info.value)
    assert not (filled / REPAIR_MARKER).exists()
    monkeypatch.undo()
    with open_store(Settings(), path=filled) as store:  # intact once space is back
        check_intact(store)


def test_a_failed_compaction_on_a_full_disk_is_disk_full(tmp_path: Path, monkeypatch) -> None:
    import shutil
    from collections import namedtuple

    from chromadb.errors import InternalError

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(100, 100, 0))
    marked: list[str] = []
    scopes = Scopes(None, None, on_damage=marked.append, folder=tmp_path)
    # what Chroma 1.x raises when its SQLite write hits ENOSPC (found by bench/faults.py)
    with pytest.raises(DiskFullError, match="disk full"), scopes.guard("items-x"):
        raise InternalError("Error in compaction: Failed to apply logs to the metadata segment")
    assert marked == []
