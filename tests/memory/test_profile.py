"""Profile facts: merge duplicates, supersede contradictions, forget, bound, recall, context."""

from __future__ import annotations

from pathlib import Path

import pytest

from memory.store import MemoryStore, open_store
from memory.types import Source
from tests.memory.conftest import make_settings


def texts(store: MemoryStore, user: str = "ann", history: bool = False) -> list[str]:
    return [f.text for f in store.profile.facts(user, include_superseded=history)]


def test_observe_extracts_explicit_statements_with_source(store: MemoryStore) -> None:
    said = (
        "Hi, my name is Ann Lee. I live in Paris and I'm a data scientist at Acme. "
        "I prefer short answers. Please answer in German. I'm interested in graph neural networks. "
        "Never schedule meetings before 9. My boss is Omar."
    )
    facts = store.profile.observe("ann", said, Source(thread="t1", turn=3, time=1000.0))
    got = {(f.kind, f.text) for f in facts}
    assert ("identity", "User's name is Ann Lee") in got
    assert ("identity", "User lives in Paris") in got
    assert ("identity", "User works as a data scientist") in got
    assert ("preference", "User prefers short answers") in got
    assert ("preference", "User prefers answers in German") in got
    assert ("interest", "User is interested in graph neural networks") in got
    assert ("constraint", "Never schedule meetings before 9") in got
    assert ("relationship", "User's boss is Omar") in got
    assert all(f.source == Source("t1", 3, 1000.0) and 0 < f.confidence <= 1 for f in facts)


def test_small_talk_and_questions_store_nothing(store: MemoryStore) -> None:
    for said in (
        "What's the weather like?",
        "I am a bit tired today.",
        "Thanks!",
        "Can you summarise this?",
    ):
        assert store.profile.observe("ann", said) == []
    assert store.profile.facts("ann") == []


def test_duplicates_merge_exact_and_paraphrased(store: MemoryStore) -> None:
    first = store.profile.observe("ann", "I prefer short answers.")[0]
    again = store.profile.observe("ann", "i prefer SHORT answers!!")[0]
    assert again.id == first.id and again.updated >= first.updated
    store.profile.remember("ann", "The user has a cat called Miso", kind="other")
    store.profile.remember("ann", "The user has a cat named Miso", kind="other")  # cosine ~0.97
    assert texts(store).count("User prefers short answers") == 1
    assert len([t for t in texts(store) if "Miso" in t]) == 1
    # same meaning but another kind is a different fact
    store.profile.remember("ann", "The user has a cat called Miso", kind="relationship")
    assert len([t for t in texts(store) if "Miso" in t]) == 2


def test_contradiction_supersedes_and_keeps_history(store: MemoryStore) -> None:
    paris = store.profile.observe("ann", "I live in Paris.")[0]
    berlin = store.profile.observe("ann", "I moved to Berlin last year.")[0]
    assert texts(store) == ["User lives in Berlin"]
    history = {f.text: f for f in store.profile.facts("ann", include_superseded=True)}
    assert history["User lives in Paris"].superseded_by == berlin.id
    assert history["User lives in Paris"].id == paris.id
    hits = store.profile.recall("ann", "Where does the user live?", k=5)
    assert [h.fact.text for h in hits] == ["User lives in Berlin"]
    assert "Paris" not in store.profile.profile_context("ann")
    # saying the current thing again does not revive or duplicate anything
    store.profile.observe("ann", "I live in Berlin")
    assert texts(store, history=True).count("User lives in Berlin") == 1


def test_forget_by_query_and_by_id_deletes_for_real(store: MemoryStore, store_path: Path) -> None:
    store.profile.observe("ann", "I live in Paris. I like chess. My wife is Maria.")
    store.profile.observe("ann", "I moved to Lisbon.")
    gone = store.profile.forget("ann", "chess")
    assert [f.text for f in gone] == ["User likes chess"]
    wife = next(f for f in store.profile.facts("ann") if "Maria" in f.text)
    assert [f.id for f in store.profile.forget("ann", wife.id)] == [wife.id]
    # forgetting the current location takes the location it replaced with it
    gone = store.profile.forget("ann", "Forget that I live in Lisbon")
    assert {f.text for f in gone} == {"User lives in Lisbon", "User lives in Paris"}
    assert store.profile.forget("ann", "quantum chromodynamics") == []
    assert texts(store, history=True) == []
    assert store.profile.recall("ann", "chess", k=3) == []
    store.close()
    with open_store(make_settings(), path=store_path) as again:
        assert again.profile.facts("ann", include_superseded=True) == []


def test_profile_size_is_bounded_keeping_identity(tmp_path: Path) -> None:
    with open_store(make_settings(max_facts_per_user=12), path=tmp_path / "c") as store:
        store.profile.observe("ann", "My name is Ann.")
        store.profile.remember_many(
            "ann", [f"User read paper number {i} about topic {i * 7}" for i in range(20)]
        )
        facts = store.profile.facts("ann", include_superseded=True)
        assert len(facts) == 12
        assert "User's name is Ann" in [f.text for f in facts]


def test_recall_ranks_by_similarity_and_kind(store: MemoryStore) -> None:
    store.profile.observe(
        "ann",
        "I live in Oslo. I'm interested in reinforcement learning. I prefer detailed answers. I like jazz.",
    )
    hits = store.profile.recall("ann", "what music does the user enjoy?", k=2)
    assert hits[0].fact.text == "User likes jazz"
    assert hits[0].score >= hits[1].score
    assert (
        store.profile.recall("ann", "city of residence", k=1)[0].fact.text == "User lives in Oslo"
    )


def test_profile_context_puts_identity_and_preferences_first_within_budget(
    store: MemoryStore,
) -> None:
    store.profile.observe(
        "ann", "I'm interested in compilers. I like hiking and chess and sailing and opera."
    )
    store.profile.observe(
        "ann", "I prefer bullet point answers. My name is Ann. Never call me on Sundays."
    )
    block = store.profile.profile_context("ann", budget_tokens=400)
    lines = block.splitlines()[1:]
    assert lines[0] == "- User's name is Ann"
    assert lines[1] == "- User prefers bullet point answers"
    assert lines[2] == "- Never call me on Sundays"
    small = store.profile.profile_context("ann", budget_tokens=30)
    assert "User's name is Ann" in small and "opera" not in small
    assert len(small) / 4 <= 30
    assert store.profile.profile_context("nobody") == ""


def test_interest_vector_follows_interests_and_feedback(store: MemoryStore) -> None:
    from memory.types import Item

    assert store.profile.interest_vector("ann") is None
    store.profile.observe("ann", "I'm interested in protein folding.")
    before = store.profile.interest_vector("ann")
    assert before is not None and abs(sum(x * x for x in before) - 1.0) < 1e-4
    store.items.upsert(
        [
            Item(
                id="arxiv:1",
                owner="ann",
                source="arxiv",
                title="Diffusion models for image synthesis",
                text="images",
            )
        ]
    )
    emb = store.items.embeddings("ann", ["arxiv:1"])["arxiv:1"]
    store.profile.feedback("ann", "arxiv:1", positive=True)
    after = store.profile.interest_vector("ann")
    assert after is not None

    def dot(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert dot(after, emb) > dot(before, emb) + 0.05


def test_export_import_roundtrip_is_idempotent(store: MemoryStore) -> None:
    from memory.types import Goal

    store.profile.observe("ann", "I live in Paris. I moved to Rome. I like tea.")
    store.goals.save(Goal(id="", user_id="ann", statement="Learn Italian", missing=("level",)))
    store.episodes.add("ann", "t1", "Ann planned her move to Rome")
    store.profile.feedback("ann", "arxiv:1", positive=False)
    data = store.profile.export("ann")
    assert {f["text"] for f in data["facts"]} == {
        "User lives in Paris",
        "User lives in Rome",
        "User likes tea",
    }
    assert store.profile.import_("bob", data) == 3
    assert texts(store, "bob") == texts(store, "ann")
    bob = {f.text: f for f in store.profile.facts("bob", include_superseded=True)}
    assert bob["User lives in Paris"].superseded_by == bob["User lives in Rome"].id
    assert [g.statement for g in store.goals.list("bob")] == ["Learn Italian"]
    assert store.profile.import_("bob", data) == 0
    assert [e.summary for e in store.episodes.list("bob")] == ["Ann planned her move to Rome"]
    assert store.profile.export("bob")["feedback"] == [{"item_id": "arxiv:1", "positive": False}]
    assert len(store.profile.facts("bob", include_superseded=True)) == 3


def test_cap_never_evicts_what_the_user_asked_to_remember(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with open_store(make_settings(max_facts_per_user=10), path=tmp_path / "c") as store:
        asked = [
            "my passport number ends in 7731",
            "the wifi password at my mother's flat is on the fridge",
            "I am allergic to penicillin",
            "my dentist is Dr Okafor on Elm Street",
            "Tuesday evenings are for choir rehearsal",
            "my car is a green 2011 Skoda",
        ]
        for text in asked:
            store.profile.remember("ann", text)
        with caplog.at_level("WARNING", logger="memory.profile"):
            store.profile.remember_many(
                "ann", [f"User read paper number {i} about topic {i * 7}" for i in range(12)]
            )
        kept = {f.text for f in store.profile.facts("ann", include_superseded=True)}
        assert len(kept) == 10
        assert set(asked) <= kept  # every explicit fact survived; inferred ones made room
        assert "reached its cap of 10 facts; evicted" in caplog.text
        status = store.profile.cap_status("ann")
        assert status["stored"] == 10 and status["cap"] == 10 and status["evicted"] == 8
        # more explicit facts than the cap: kept anyway, with a warning saying what to do
        with caplog.at_level("WARNING", logger="memory.profile"):
            for text in (
                "my bike lock code is 4012",
                "I never eat mushrooms",
                "my blood type is O negative",
                "the spare key is with Mrs Lindqvist",
                "my niece Ada was born in April",
                "I sing baritone",
            ):
                store.profile.remember("ann", text)
        assert len(store.profile.facts("ann")) == 12
        assert "Raise memory.max_facts_per_user" in caplog.text
        assert all(f.explicit for f in store.profile.facts("ann"))


def test_export_import_carries_turn_episodes_and_explicit_marks(store: MemoryStore) -> None:
    from memory.types import EpisodeIn

    store.profile.remember("ann", "my passport expires in June")
    store.episodes.add_many(
        "ann",
        [
            EpisodeIn(
                "we talked about Lisbon",
                thread="trip",
                speaker="user",
                time=1.7e9,
                id="e1",
                meta={"c": "1"},
            )
        ],
    )
    data = store.profile.export("ann")
    assert data["episodes"][0]["speaker"] == "user" and data["episodes"][0]["kind"] == "turn"
    store.profile.import_("bob", data)
    store.profile.import_("bob", data)  # twice: nothing doubles
    (ep,) = store.episodes.list("bob")
    assert (ep.id, ep.text, ep.thread, ep.speaker, ep.time, ep.meta) == (
        "e1",
        "we talked about Lisbon",
        "trip",
        "user",
        1.7e9,
        {"c": "1"},
    )
    assert [f.explicit for f in store.profile.facts("bob")] == [True]
    assert store.search("bob", "Lisbon", kinds=("episodes",))[0].id == "e1"


def test_doctor_reads_the_cap_report_without_opening_chroma(tmp_path: Path) -> None:
    from memory.profile import cap_report

    assert cap_report(tmp_path) == ""
    with open_store(make_settings(max_facts_per_user=10), path=tmp_path / "chroma") as store:
        store.profile.remember_many(
            "ann", [f"User read paper number {i} about topic {i * 7}" for i in range(14)]
        )
        assert "ann: 4 inferred fact(s) evicted at the cap of 10" in cap_report(tmp_path)
