"""Typed facts: attribute and value per fact, updates that supersede by attribute, old stores migrated.

The phrasings here are written for these tests; none is in bench/data/quality.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.config import Settings
from memory.store import MemoryStore, open_store


def _current(store: MemoryStore, user: str, attribute: str) -> list[str]:
    return [f.value for f in store.profile.facts(user) if f.attribute == attribute]


def _history(store: MemoryStore, user: str, attribute: str) -> list[str]:
    every = store.profile.facts(user, include_superseded=True)
    return [f.value for f in every if f.attribute == attribute and f.superseded_by]


@pytest.mark.parametrize(
    ("before", "after", "attribute", "old", "new"),
    [
        # moved / relocated
        ("I live in Glasgow.", "Last autumn we relocated to Valencia.", "place", "Glasgow", "Valencia"),
        ("I'm based in Ottawa.", "I have since moved to Halifax for the job.", "place", "Ottawa", "Halifax"),
        # quit one employer and joined another
        ("I work at Unilever.", "I quit Unilever in June and joined Ocado.", "employer", "Unilever", "Ocado"),
        ("I work for Atlassian.", "Left Atlassian last month, and I started at Canva.", "employer", "Atlassian", "Canva"),
        # promoted
        ("I work as a junior analyst.", "Good news: I was promoted to lead analyst!", "role", "junior analyst", "lead analyst"),
        # promoted, said in the active voice
        ("I'm a sous chef.", "The owner promoted me to head chef.", "role", "sous chef", "head chef"),
        ("I work as a staff accountant.", "Last week they made me finance director.", "role", "staff accountant", "finance director"),
        # call me X instead
        ("My name is Katherine.", "Just call me Kit from now on.", "name", "Katherine", "Kit"),
        # never mind + a new preference
        ("Please answer in French.", "Never mind that, German is fine.", "preference", "French", "German"),
        # "actually" corrections
        ("I live in Bristol.", "Actually, I live in Bath.", "place", "Bristol", "Bath"),
        ("My manager is Priya Shah.", "Actually my manager is Tom Reyes now.", "person", "Priya Shah", "Tom Reyes"),
    ],
)
def test_each_update_family_supersedes_by_attribute(
    store: MemoryStore, before: str, after: str, attribute: str, old: str, new: str
) -> None:
    store.profile.observe("kim", before)
    store.profile.observe("kim", after)
    assert _current(store, "kim", attribute) == [new]
    assert old in _history(store, "kim", attribute)


def test_multi_valued_attributes_add(store: MemoryStore) -> None:
    store.profile.observe("lee", "I'm interested in beekeeping.")
    store.profile.observe("lee", "I'm also interested in pottery.")
    store.profile.observe("lee", "My supervisor is Dr. Helen Ward.")
    store.profile.observe("lee", "My sister is Mona.")
    assert set(_current(store, "lee", "interest")) >= {"beekeeping", "pottery"}
    people = {(f.relation, f.value) for f in store.profile.facts("lee") if f.attribute == "person"}
    assert people == {("supervisor", "Dr. Helen Ward"), ("sister", "Mona")}


def test_titled_names_keep_the_whole_name(store: MemoryStore) -> None:
    store.profile.observe("ob", "I'm Dr. Okafor.")
    assert _current(store, "ob", "name") == ["Dr. Okafor"]


def test_a_store_from_before_typing_is_migrated_on_open(tmp_path: Path) -> None:
    path = tmp_path / "chroma"
    with open_store(Settings(), path=path) as store:
        store.profile.observe("old", "I live in Leeds.")
        # what a store written before typing holds: no attribute, value or relation
        col = store._scopes.scope("facts", "old")
        recs = col.get()
        col.delete([r.id for r in recs])
        col.add(
            [r.id for r in recs],
            store.profile._embedder.embed([r.document for r in recs]),
            [r.document for r in recs],
            [{k: v for k, v in r.metadata.items() if k not in ("attribute", "value", "relation", "_owner")} for r in recs],
        )
        store.state.set("profile-typed", 0)
        assert all("attribute" not in r.metadata for r in col.get())
    with open_store(Settings(), path=path) as store:
        recs = store._scopes.scope("facts", "old").get()
        assert [(r.metadata["attribute"], r.metadata["value"]) for r in recs] == [("place", "Leeds")]
        store.profile.observe("old", "We moved to York.")
        assert _current(store, "old", "place") == ["York"]
        assert _history(store, "old", "place") == ["Leeds"]
