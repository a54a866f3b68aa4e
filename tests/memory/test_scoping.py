"""Two users: nothing of user A is reachable by user B through any memory function or CLI command."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.cli import cli
from assistant.config import Settings
from assistant.errors import MemoryStoreError
from memory.store import MemoryStore, open_store
from memory.types import Goal, Item, Source

A, B = "alice", "bob"
SECRET_WORDS = (
    "Paris",
    "Zurich",
    "Acme",
    "origami",
    "Maria",
    "Buy a boat",
    "Fusion reactors",
    "fusion",
)


def fill_alice(store: MemoryStore) -> dict[str, str]:
    facts = store.profile.observe(
        A,
        "My name is Alice. I live in Paris. I work for Acme. I'm interested in origami. My wife is Maria.",
        Source("t", 1, 1.0),
    )
    store.profile.observe(A, "I moved to Zurich.")
    goal = store.goals.save(Goal(id="", user_id=A, statement="Buy a boat"))
    store.items.upsert(
        [
            Item(
                id="arxiv:2401.00001",
                owner=A,
                source="arxiv",
                title="Fusion reactors",
                text="Tokamak fusion plasma",
            )
        ]
    )
    store.profile.feedback(A, "arxiv:2401.00001", positive=True)
    episode = store.episodes.add(A, "t", "Alice talked about her boat and fusion")
    return {"fact": facts[0].id, "goal": goal.id, "item": "arxiv:2401.00001", "episode": episode.id}


def leaks(value: object) -> list[str]:
    text = json.dumps(value, default=repr) if not isinstance(value, str) else value
    return [w for w in SECRET_WORDS if w.lower() in text.lower()]


PUBLIC = {
    "profile": {"observe", "remember", "remember_many", "facts", "recall", "profile_context", "forget",
                "interest_vector", "feedback", "export", "import_", "cap_status"},
    "goals": {"save", "get", "list", "open_goals", "search", "delete"},
    "items": {"upsert", "get", "list", "search", "unsummarised", "set_summary", "count", "embeddings"},
    "episodes": {"add", "add_many", "search", "list", "count", "forget", "forget_matching", "compact"},
}  # fmt: skip


def test_every_public_function_is_walked(store: MemoryStore) -> None:
    for name, expected in PUBLIC.items():
        obj = getattr(store, name)
        public = {n for n, m in inspect.getmembers(obj, inspect.ismethod) if not n.startswith("_")}
        assert public == expected, f"new public function on store.{name}: add it to this test"


def test_user_b_sees_nothing_of_user_a(store: MemoryStore) -> None:
    ids = fill_alice(store)
    before = store.profile.export(A)
    p, g, i, e = store.profile, store.goals, store.items, store.episodes
    results: dict[str, object] = {
        "facts": p.facts(B, include_superseded=True),
        "recall": p.recall(B, "Where does the user live? Paris Zurich origami Maria", k=50),
        "context": p.profile_context(B, budget_tokens=1000),
        "forget id": p.forget(B, ids["fact"]),
        "forget text": p.forget(B, "Paris"),
        "forget all words": p.forget(B, "Alice Paris Zurich Acme origami Maria"),
        "interest": p.interest_vector(B),
        "export": p.export(B),
        "goal get": g.get(B, ids["goal"]),
        "goal list": g.list(B),
        "goal open": g.open_goals(B),
        "goal search": g.search(B, "boat", k=10),
        "goal delete": g.delete(B, ids["goal"]),
        "item get": i.get(B, ids["item"]),
        "item list": i.list(B, limit=100),
        "item search": i.search(B, "fusion", k=10),
        "item unsummarised": i.unsummarised(B, 100),
        "item count": i.count(B),
        "item embeddings": i.embeddings(B, [ids["item"]]),
        "episode search": e.search(B, "boat", k=10),
        "episode list": e.list(B),
        "episode count": e.count(B),
        "episode forget": e.forget(B, [ids["episode"]]),
        "episode forget matching": e.forget_matching(B, "boat"),
        "episode compact": e.compact(B, keep_turns=0),
        "search hybrid": store.search(B, "Paris Zurich boat fusion origami", k=50),
        "search vector": store.search(B, "boat fusion", k=50, mode="vector"),
        "search keyword": store.search(B, "boat fusion Paris", k=50, mode="keyword"),
        "search dated": store.search(B, "boat last week", k=50, since=0.0, now=2.0),
    }
    assert p.cap_status(B)["stored"] == 0 and p.cap_status(B)["evicted"] == 0
    for name, value in results.items():
        assert not leaks(value), f"{name} leaked {leaks(value)}: {value!r}"
        assert value in ([], {}, None, "", 0, False) or name == "export", (
            f"{name} returned {value!r}"
        )
    assert results["export"]["facts"] == [] and results["export"]["goals"] == []  # type: ignore[index]
    # B's own writes never touch A's records, even with A's ids
    p.feedback(B, ids["item"], positive=True)
    assert p.interest_vector(B) is None
    with pytest.raises(MemoryStoreError):
        i.set_summary(B, ids["item"], "B was here")
    g.save(Goal(id=ids["goal"], user_id=B, statement="B's own goal"))
    i.upsert(
        [Item(id=ids["item"], owner=B, source="arxiv", title="B's copy", text="different text")]
    )
    p.remember(B, "User likes pottery", kind="interest")
    p.import_(B, {"facts": [{"id": ids["fact"], "kind": "other", "text": "User owns a kayak"}]})
    p.observe(B, "I live in Oslo.")
    p.remember_many(B, ["User plays go"])
    e.add(B, "t", "Bob talked about go")
    # A is unchanged, and each sees only their own
    assert store.profile.export(A)["facts"] == before["facts"]
    assert store.goals.get(A, ids["goal"]).statement == "Buy a boat"  # type: ignore[union-attr]
    assert store.items.get(A, ids["item"]).title == "Fusion reactors"  # type: ignore[union-attr]
    assert store.items.get(B, ids["item"]).title == "B's copy"  # type: ignore[union-attr]
    assert not leaks(store.profile.export(B)) and not leaks(store.items.list(B))
    assert "Oslo" not in json.dumps(store.profile.export(A))
    assert [ep.id for ep in store.episodes.list(A)] == [ids["episode"]]
    assert {h.user_id for h in store.search(A, "boat fusion", k=50)} == {A}


def test_empty_user_id_is_refused(store: MemoryStore) -> None:
    for call in (
        lambda: store.profile.facts(""),
        lambda: store.profile.observe(" ", "I live in Rome"),
        lambda: store.items.count(""),
        lambda: store.goals.list(""),
    ):
        with pytest.raises(MemoryStoreError, match="user id"):
            call()


def test_cli_as_user_b_shows_nothing_of_user_a(home: Path) -> None:
    with open_store(Settings()) as store:
        fill_alice(store)
    runner = CliRunner()
    for args in (
        ["profile", "show", "--user", B, "--history"],
        ["profile", "search", "where does she live", "--user", B],
        ["profile", "forget", "her city of residence", "--user", B],
        ["profile", "export", "--json", "--user", B],
        ["profile", "export", "--user", B],
    ):
        result = runner.invoke(cli, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert not leaks(result.output), f"{args}: {result.output}"
    shown = runner.invoke(cli, ["profile", "show", "--user", A], catch_exceptions=False)
    assert "Zurich" in shown.output  # A's profile survived B's forget
