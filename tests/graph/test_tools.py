"""Tools run only when the user asks for one in their own words."""

from __future__ import annotations

import pytest

from assistant.graph import tools
from assistant.graph.tools import requested_tool
from memory.types import Item
from tests.graph.conftest import scripted


@pytest.fixture
def ran(monkeypatch):
    calls = []
    real = tools.run_tool

    def spy(call, ctx):
        calls.append(dict(call))
        return real(call, ctx)

    monkeypatch.setattr("assistant.graph.nodes.run_tool", spy)
    return calls


def _papers(store, owner="ana"):
    store.items.upsert(
        [
            Item(
                id="arxiv:1",
                owner=owner,
                source="arxiv",
                title="Speculative decoding at scale",
                text="We speed up decoding with a draft model.",
                url="https://arxiv.org/abs/1",
            ),
            Item(
                id="arxiv:2",
                owner=owner,
                source="arxiv",
                title="Protein folding survey",
                text="A survey of folding.",
                url="https://arxiv.org/abs/2",
                summary="Folding, surveyed.",
            ),
        ]
    )


@pytest.mark.parametrize(
    ("text", "name", "arg"),
    [
        ("search my feeds for speculative decoding", "search", "speculative decoding"),
        ("Any new papers about protein folding?", "search", "protein folding"),
        ("summarise the papers about protein folding", "summarise", "protein folding"),
        ("show me today's digest", "digest", ""),
        ("Remember that I prefer aisle seats.", "remember", "I prefer aisle seats"),
        ("forget that I live in Porto", "forget", "I live in Porto"),
        ("what are my goals?", "list_goals", ""),
    ],
)
def test_user_requests_map_to_tools(text, name, arg):
    call = requested_tool(text)
    assert call is not None and call["name"] == name and call["arg"] == arg


@pytest.mark.parametrize(
    "text",
    [
        "Help me find a flat in Berlin.",
        "Forget about the trip.",
        "remember my hour rate? i want to put it in the proposal",  # asks what memory holds
        "What do you think about decoding papers in general?",
        "Hello!",
    ],
)
def test_ordinary_messages_are_not_tool_requests(text):
    assert requested_tool(text) is None


def test_search_tool_runs_on_request_and_lists_items(make_session, store, ran):
    _papers(store)
    reply = make_session(scripted()).send("search my feeds for speculative decoding")
    assert ran == [{"name": "search", "arg": "speculative decoding"}]
    assert "Speculative decoding at scale" in reply and "https://arxiv.org/abs/1" in reply


def test_no_tool_without_request(make_session, store, ran):
    _papers(store)
    session = make_session(scripted(replies=lambda m: "Decoding is fun."))
    assert session.send("Tell me something about decoding.") == "Decoding is fun."
    assert ran == []


def test_summarise_uses_stored_summary_or_the_model(make_session, store, ran):
    _papers(store)
    llm = scripted(replies=lambda m: "A draft model proposes tokens.")
    reply = make_session(llm).send("summarise the papers about speculative decoding")
    assert "A draft model proposes tokens." in reply
    reply = make_session(llm, thread="t2").send("summarise papers about protein folding")
    assert "Folding, surveyed." in reply


def test_remember_and_forget_tools(make_session, store):
    session = make_session(scripted())
    assert (
        session.send("Remember that my seat preference is aisle")
        == "Noted: my seat preference is aisle"
    )
    assert [f.text for f in store.profile.facts("ana")] == ["my seat preference is aisle"]
    assert "Forgotten" in session.send("forget my seat preference")
    assert store.profile.facts("ana") == []


def test_list_goals_tool(make_session):
    session = make_session(scripted())
    session.send("Help me plan a trip to Lisbon.")
    reply = session.send("what are my goals?")
    assert "[waiting] plan a trip to Lisbon (needs: dates, budget)" in reply


def test_digest_tool_without_items(make_session, monkeypatch):
    import assistant.graph.tools as t

    monkeypatch.setattr(t, "_digest", lambda ctx: "DIGEST")
    monkeypatch.setitem(t.TOOLS, "digest", t._digest)
    assert make_session(scripted()).send("show me the digest") == "DIGEST"
