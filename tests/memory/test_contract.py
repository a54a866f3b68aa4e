"""One contract, two implementations: every case runs on the real Chroma store and on the
in-memory fake the fast tests use (tests/memfake.py), so the fake cannot drift away."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.errors import MemoryStoreError
from memory.interface import Memory
from memory.types import Goal, Item
from tests.memfake import FakeMemory
from tests.memory.conftest import make_settings


@pytest.fixture(params=["real", "fake"])
def memory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Memory]:
    if request.param == "fake":
        yield FakeMemory()
        return
    from memory.store import open_store

    with open_store(make_settings(), path=tmp_path / "chroma") as store:
        yield store


def paper(n: int, owner: str = "ana", *, published: float = 0.0, version: int = 1,
          text: str = "", source: str = "arxiv") -> Item:  # fmt: skip
    return Item(
        id=f"{source}:{n}", owner=owner, source=source,  # type: ignore[arg-type]
        title=f"Paper {n} on sparse attention", text=text or f"Abstract {n} about attention.",
        published=published or 1_700_000_000.0 + n, version=version,
    )  # fmt: skip


def test_items_are_scoped_to_their_owner(memory: Memory) -> None:
    memory.items.upsert([paper(1, "ana"), paper(2, "bob")])
    assert [i.id for i in memory.items.list("ana")] == ["arxiv:1"]
    assert memory.items.get("bob", "arxiv:1") is None
    assert memory.items.count("ana") == 1 and memory.items.count("carl") == 0


def test_upsert_counts_new_updated_unchanged(memory: Memory) -> None:
    assert memory.items.upsert([paper(1), paper(2)]).new == 2
    again = memory.items.upsert([paper(1), paper(2, version=2, text="A revised abstract.")])
    assert (again.new, again.updated, again.unchanged) == (0, 1, 1)
    assert memory.items.get("ana", "arxiv:2").version == 2  # type: ignore[union-attr]
    older = memory.items.upsert([paper(2, version=1)])
    assert older.unchanged == 1 and memory.items.get("ana", "arxiv:2").version == 2  # type: ignore[union-attr]


def test_list_filters_by_source_and_time_newest_first(memory: Memory) -> None:
    memory.items.upsert(
        [paper(1, published=100.0), paper(2, published=300.0), paper(3, published=200.0, source="slack")]
    )
    assert [i.id for i in memory.items.list("ana")] == ["arxiv:2", "slack:3", "arxiv:1"]
    assert [i.id for i in memory.items.list("ana", source="arxiv")] == ["arxiv:2", "arxiv:1"]
    assert [i.id for i in memory.items.list("ana", since=150.0)] == ["arxiv:2", "slack:3"]
    assert [i.id for i in memory.items.list("ana", limit=1)] == ["arxiv:2"]


def test_summaries_and_the_unsummarised_queue(memory: Memory) -> None:
    memory.items.upsert([paper(1), paper(2)])
    assert {i.id for i in memory.items.unsummarised("ana", 10)} == {"arxiv:1", "arxiv:2"}
    memory.items.set_summary("ana", "arxiv:1", "Short.")
    assert [i.id for i in memory.items.unsummarised("ana", 10)] == ["arxiv:2"]
    assert memory.items.get("ana", "arxiv:1").summary == "Short."  # type: ignore[union-attr]
    assert memory.items.unsummarised("bob", 10) == []


def test_search_finds_the_owners_items_only(memory: Memory) -> None:
    memory.items.upsert([paper(1, "ana"), paper(2, "bob")])
    hits = memory.items.search("ana", "sparse attention paper", k=5)
    assert [item.id for item, _score in hits] == ["arxiv:1"]
    assert memory.items.search("carl", "sparse attention", k=5) == []


def test_goals_get_ids_timestamps_and_filters(memory: Memory) -> None:
    saved = memory.goals.save(Goal(id="", user_id="ana", statement="Run a half marathon"))
    assert saved.id and saved.created > 0 and saved.updated > 0
    memory.goals.save(Goal(id="g2", user_id="ana", statement="Learn Portuguese", status="done"))
    memory.goals.save(Goal(id="g3", user_id="bob", statement="Bake bread"))
    assert memory.goals.get("ana", saved.id) == saved
    assert [g.statement for g in memory.goals.open_goals("ana")] == ["Run a half marathon"]
    assert [g.id for g in memory.goals.list("ana", status="done")] == ["g2"]
    assert {g.id for g in memory.goals.list("ana")} == {saved.id, "g2"}
    with pytest.raises(MemoryStoreError):
        memory.goals.save(Goal(id="", user_id="ana", statement="  "))


def test_facts_remember_list_and_forget(memory: Memory) -> None:
    kept = memory.profile.remember("ana", "My dog is called Biscuit")
    memory.profile.remember("ana", "I prefer window seats", kind="preference")
    memory.profile.remember("bob", "My dog is called Rex")
    assert [f.text for f in memory.profile.facts("ana")][0] == "I prefer window seats"  # kind order
    assert "Biscuit" in memory.profile.profile_context("ana")
    assert [f.id for f in memory.profile.forget("ana", kept.id)] == [kept.id]
    assert [f.text for f in memory.profile.facts("ana")] == ["I prefer window seats"]
    assert [f.text for f in memory.profile.facts("bob")] == ["My dog is called Rex"]
    assert memory.profile.forget("ana", "") == []


def test_state_keeps_values(memory: Memory) -> None:
    assert memory.state.get("feeds:ana:etag", "none") == "none"
    memory.state.set("feeds:ana:etag", {"etag": '"v1"'})
    assert memory.state.get("feeds:ana:etag") == {"etag": '"v1"'}


def test_every_call_needs_a_user(memory: Memory) -> None:
    with pytest.raises(MemoryStoreError):
        memory.profile.facts("")
    with pytest.raises(MemoryStoreError):
        memory.items.list(" ")
