"""One hybrid search over episodes, facts and items: fusion, time ranges, scoping, crash safety."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.errors import MemoryStoreError
from memory.keyword import KeywordIndex, tokens
from memory.search import combine, fuse
from memory.store import MemoryStore, open_store
from memory.types import EpisodeIn, Item

DAY = 86400.0
NOW = datetime(2024, 3, 13, 12, tzinfo=UTC).timestamp()


def test_fusion_rewards_agreement_and_keeps_both_lists() -> None:
    scores = fuse([(1.0, ["a", "b", "c"]), (1.0, ["c", "d"])])
    assert max(scores, key=lambda k: scores[k]) == "c"  # in both lists beats first in one
    assert set(scores) == {"a", "b", "c", "d"}
    weighted = fuse([(1.0, ["a"]), (3.0, ["b"])])
    assert weighted["b"] > weighted["a"]


def test_combination_normalises_each_list_and_weighs_them() -> None:
    # cosines 0.2..0.9 and BM25 3..12 land on the same 0..1 scale before weighting
    scores = combine([(0.5, {"a": 0.9, "b": 0.2, "c": 0.55}), (0.5, {"b": 12.0, "c": 3.0})])
    assert scores == pytest.approx({"a": 0.5, "b": 0.5, "c": 0.25})
    assert combine([(0.7, {"only": 4.2})]) == {
        "only": pytest.approx(0.7)
    }  # a lone hit counts fully
    keyword_heavy = combine([(0.2, {"a": 0.9, "b": 0.2}), (0.8, {"b": 12.0, "a": 3.0})])
    assert keyword_heavy["b"] > keyword_heavy["a"]
    assert combine([(1.0, {})]) == {}


def test_keyword_index_ranks_by_bm25_and_follows_writes() -> None:
    index = KeywordIndex(
        [
            ("1", "We adopted a guinea pig named Oscar", {}),
            ("2", "The pottery class was fun", {}),
            ("3", "Oscar the guinea pig loves carrots, guinea pig food", {}),
        ]
    )
    assert [r[0] for r in index.search("guinea pigs", 5)] == ["3", "1"]  # plural folded
    index.delete(["3"])
    index.upsert(["4"], ["pottery and more pottery"], [{}])
    assert [r[0] for r in index.search("pottery", 5)] == ["4", "2"]
    assert index.search("the and of", 5) == []  # stop words only
    assert tokens("Caroline's kids") == ["caroline", "kid"]


def turns(store: MemoryStore, user: str, rows: list[tuple[str, str, float]]) -> None:
    store.episodes.add_many(
        user,
        [
            EpisodeIn(text, thread="t", speaker=who, time=when, id=f"{user}-{n}")
            for n, (who, text, when) in enumerate(rows)
        ],
    )


def test_batch_add_keeps_ids_metadata_and_overwrites_same_id(store: MemoryStore) -> None:
    eps = store.episodes.add_many(
        "alice",
        [
            EpisodeIn("I booked the tent", thread="trip", speaker="user", time=NOW, id="t1", meta={"channel": "C1"}),
            EpisodeIn("Great, which campsite?", thread="trip", speaker="assistant", time=NOW + 1, id="t2"),
        ],
    )  # fmt: skip
    assert [e.id for e in eps] == ["t1", "t2"]
    store.episodes.add_many(
        "alice", [EpisodeIn("I booked the big tent", speaker="user", id="t1", time=NOW)]
    )
    listed = store.episodes.list("alice")
    assert [e.id for e in listed] == ["t1", "t2"]
    assert listed[0].text == "I booked the big tent" and listed[0].speaker == "user"
    assert listed[1].thread == "trip" and listed[1].kind == "turn"
    assert store.episodes.list("alice", since=NOW + 0.5)[0].id == "t2"
    with pytest.raises(MemoryStoreError, match="share an id"):
        store.episodes.add_many("alice", [EpisodeIn("a", id="x"), EpisodeIn("b", id="x")])


def test_hybrid_finds_rare_words_and_meaning(store: MemoryStore) -> None:
    turns(
        store,
        "alice",
        [
            ("user", "My sister's dog is called Biscuit", NOW - 9 * DAY),
            ("user", "I started learning the cello this winter", NOW - 8 * DAY),
            ("user", "The weather was grey all week", NOW - 7 * DAY),
            ("user", "I am training for a half marathon", NOW - 6 * DAY),
        ],
    )
    assert store.search("alice", "Biscuit", kinds=("episodes",), k=1)[0].id == "alice-0"
    top = store.search("alice", "which musical instrument do I play?", kinds=("episodes",), k=2)
    assert "alice-1" in [h.id for h in top]
    assert store.search("alice", "running race preparation", mode="vector", k=1)[0].id == "alice-3"


def test_time_range_filters_and_named_dates_are_preferred(store: MemoryStore) -> None:
    turns(
        store,
        "alice",
        [
            ("user", "I went to a concert with my friend", NOW - 40 * DAY),
            ("user", "I went to a concert with my brother", NOW - 9 * DAY),  # last week
            ("user", "I went to a concert alone", NOW - 1 * DAY),
        ],
    )
    ids = [
        h.id for h in store.search("alice", "concert", since=NOW - 10 * DAY, until=NOW - 2 * DAY)
    ]
    assert ids == ["alice-1"]
    for mode in ("vector", "keyword"):
        got = store.search("alice", "concert", since=NOW - 10 * DAY, until=NOW - 2 * DAY, mode=mode)
        assert [h.id for h in got] == ["alice-1"], mode
    best = store.search("alice", "who went to the concert with me last week?", now=NOW, k=1)
    assert best[0].id == "alice-1"
    best = store.search("alice", "which concert did I go to yesterday?", now=NOW, k=1)
    assert best[0].id == "alice-2"


def test_one_search_covers_facts_items_and_episodes(store: MemoryStore) -> None:
    store.profile.remember("alice", "I am allergic to peanuts", "constraint")
    store.items.upsert(
        [Item(id="arxiv:1", owner="alice", source="arxiv", title="Peanut allergy prediction", text="A model", published=NOW)]
    )  # fmt: skip
    turns(store, "alice", [("user", "No peanuts in the curry please", NOW)])
    kinds = {h.kind for h in store.search("alice", "peanut allergy", k=5)}
    assert kinds == {"facts", "items", "episodes"}
    with pytest.raises(MemoryStoreError, match="cannot search"):
        store.search("alice", "x", kinds=("goals",))  # type: ignore[arg-type]


def test_no_search_path_returns_another_users_records(store: MemoryStore) -> None:
    turns(store, "alice", [("user", "my locker code is 4417 and my cat is Miso", NOW)])
    store.profile.remember("alice", "My cat is called Miso")
    store.items.upsert(
        [Item(id="slack:1", owner="alice", source="slack", title="Miso", text="cat Miso 4417")]
    )
    turns(store, "bob", [("user", "I like trains", NOW)])
    for mode in ("hybrid", "vector", "keyword"):
        for q in ("locker code 4417 Miso", "cat", "my locker code is 4417 and my cat is Miso"):
            hits = store.search("bob", q, mode=mode, k=20)  # type: ignore[arg-type]
            assert all(h.user_id == "bob" for h in hits), (mode, q)
            assert not any("Miso" in h.text for h in hits)
    assert all(e.user_id == "bob" for e, _ in store.episodes.search("bob", "Miso 4417", k=10))
    assert store.search("carol", "Miso") == []
    with pytest.raises(MemoryStoreError, match="user id"):
        store.search("", "Miso")


def test_keyword_index_is_rebuilt_from_the_store_after_reopen(store_path: Path) -> None:
    with open_store(Settings(), path=store_path) as store:
        turns(store, "alice", [("user", "the spare key is under the blue flowerpot", NOW)])
        assert store.search("alice", "flowerpot", mode="keyword")[0].id == "alice-0"
        store.episodes.forget("alice", ["alice-0"])
        assert store.search("alice", "flowerpot", mode="keyword") == []  # deletes reach the index
        turns(store, "alice", [("user", "moved the key to the red flowerpot", NOW)])
    with open_store(Settings(), path=store_path) as store:  # a new process: index built from SQLite
        hits = store.search("alice", "flowerpot", mode="keyword")
        assert [h.text for h in hits] == ["moved the key to the red flowerpot"]


def test_compaction_folds_old_turns_into_summaries(store: MemoryStore) -> None:
    nouns = [
        "violin",
        "harbour",
        "glacier",
        "lantern",
        "orchard",
        "falcon",
        "tundra",
        "saffron",
        "quarry",
        "meadow",
        "canyon",
        "walnut",
        "pelican",
        "marble",
        "thistle",
        "beacon",
        "cobalt",
        "juniper",
        "lagoon",
        "ember",
        "willow",
        "sparrow",
        "granite",
        "fennel",
        "harpoon",
        "mosaic",
        "tulip",
        "bramble",
        "comet",
        "anchor",
    ]
    rows = [
        ("user" if n % 2 == 0 else "assistant", f"we talked about the {nouns[n]}", NOW + n)
        for n in range(30)
    ]
    turns(store, "alice", rows)
    folded = store.episodes.compact("alice", keep_turns=10)
    assert folded == 20
    eps = store.episodes.list("alice")
    assert sum(e.kind == "turn" for e in eps) == 10
    summaries = [e for e in eps if e.kind == "summary"]
    assert summaries and "saffron" in summaries[0].text and summaries[0].time == NOW
    # still findable by its words (a long summary is a weak vector match: among the first few)
    assert summaries[0].id in [h.id for h in store.search("alice", "saffron", k=3)]


def test_search_latency_is_small_at_a_few_hundred_turns(store: MemoryStore) -> None:
    turns(
        store,
        "alice",
        [("user", f"note number {n} about subject {n % 17}", NOW + n) for n in range(300)],
    )
    store.search("alice", "warm up", k=10)
    start = time.perf_counter()
    for n in range(5):
        store.search("alice", f"subject {n}", k=10)
    assert (time.perf_counter() - start) / 5 < 1.0  # generous: a shared 2-core machine


def test_turn_cap_compacts_instead_of_dropping(tmp_path: Path) -> None:
    from tests.memory.conftest import make_settings

    with open_store(make_settings(max_turns_per_user=100), path=tmp_path / "c") as store:
        for start in range(0, 130, 50):
            store.episodes.add_many(
                "alice",
                [
                    EpisodeIn(
                        f"entry {n} mentions keyword{n}",
                        thread="t",
                        speaker="user",
                        time=NOW + n,
                        id=f"e{n}",
                    )
                    for n in range(start, min(start + 50, 130))
                ],
            )
        eps = store.episodes.list("alice")
        assert len(eps) <= 100
        assert any(e.kind == "summary" for e in eps)
        (holder,) = [e for e in eps if "keyword0 " in e.text + " "]
        assert holder.kind == "summary" and holder.text.startswith("user: entry 0 ")
        assert [h.id for h in store.search("alice", "keyword0", mode="keyword")] == [holder.id]


def test_forget_matching_deletes_whole_phrases_only(store: MemoryStore) -> None:
    turns(
        store,
        "alice",
        [
            ("user", "My ex-boss Margot called again", NOW),
            ("user", "Margoth is a town I visited", NOW + 1),
            ("user", "lunch with margot on friday", NOW + 2),
        ],
    )
    turns(store, "bob", [("user", "Margot is my sister", NOW)])
    assert sorted(store.episodes.forget_matching("alice", "Margot")) == ["alice-0", "alice-2"]
    assert [e.id for e in store.episodes.list("alice")] == ["alice-1"]
    assert store.search("alice", "Margot called", mode="keyword") == []
    assert len(store.episodes.list("bob")) == 1  # another user's turns are untouched


def test_keyword_index_scores_new_rows_before_a_reindex_like_after_one() -> None:
    base = [
        (str(i), f"filler sentence number {i} about gardening and weather", {}) for i in range(800)
    ]
    base.append(("x", "the violin lesson moved to Thursday", {}))
    live = KeywordIndex(base)
    live.search("warm", 1)  # builds the bm25s index
    live.upsert(["new"], ["my violin teacher cancelled the violin lesson"], [{}])
    live.delete(["x"])
    fresh = KeywordIndex([*base[:-1], ("new", "my violin teacher cancelled the violin lesson", {})])
    got, want = live.search("violin lesson", 5), fresh.search("violin lesson", 5)
    assert [r[0] for r in got] == [r[0] for r in want] == ["new"]
    assert got[0][1] == pytest.approx(want[0][1], rel=0.15)  # same BM25 but for df drift
