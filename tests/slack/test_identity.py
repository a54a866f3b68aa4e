"""One person, one scope: the owner's Slack ids share the owner's memory (feed items pulled by
the service, goals, the digest); every other Slack user keeps a scope of their own."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest

from assistant.app import App
from assistant.background import jobs
from assistant.background.jobs import Runtime, installed, last_runs
from assistant.config import Settings
from assistant.llm.base import Message
from tests.connectors import docs
from tests.connectors.servers import ArxivServer, Route
from tests.fakes import ScriptedChatModel
from tests.slack.conftest import dm

OWNER_SLACK = "U0OWNER01"
PAPER = "Instruction Drift in Long Chats"


@pytest.fixture
def arxiv() -> Iterator[ArxivServer]:
    server = ArxivServer()
    today = format_datetime(datetime.now(UTC))  # inside today's digest window
    server.routes["/rss/cs.CL"] = Route(
        docs.rss(
            "cs.CL",
            [
                docs.rss_item("2611.00002", 1, PAPER, "Models forget instructions.", date=today),
                docs.rss_item("2611.00004", 1, "Tokenizers for Code", "Subwords for code.", date=today),
            ],
        )
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def settings(arxiv: ArxivServer) -> Settings:
    return Settings.model_validate(
        {
            "feeds": {
                "arxiv_categories": ["cs.CL"],
                "arxiv_rss_url": arxiv.url + "/rss/{category}",
                "arxiv_min_interval_s": 0.0,
            },
            "chat": {"goal_model": False},
            "identity": {"owner_slack_ids": [OWNER_SLACK]},
        }
    )


@pytest.fixture
def store(home: Path, settings: Settings) -> Iterator[object]:
    with App(settings, extraction=False) as app:  # rules only: no model loads for extraction
        yield app.memory


def _shown(calls: Sequence[Sequence[Message]]) -> str:
    return "\n".join(m["content"] for call in calls for m in call)


def test_the_identity_map() -> None:
    app = App(Settings.model_validate({"identity": {"owner_slack_ids": ["UA", "UB"]}}))
    assert app.identity.owner == "local"
    assert [app.identity.for_slack(u) for u in ("UA", "UB", "UC")] == ["local", "local", "UC"]


def test_an_owner_dm_recalls_a_feed_item_the_service_pulled_and_no_one_else_does(
    make_bot, settings: Settings, store
) -> None:
    with installed(Runtime(settings, store_factory=lambda: store)):
        jobs.pull_arxiv()  # the scheduled job, as `assistant run` runs it
    assert last_runs()["pull_arxiv"]["ok"], last_runs()
    assert any(item.title == PAPER for item in store.items.list("local"))

    llm = ScriptedChatModel(lambda messages: "Here is what I found.")
    bot = make_bot(llm=llm, store=store, settings=settings)
    question = "What was that paper about instruction drift in long chats?"

    before = len(llm.calls)
    ts = bot.next_ts()
    bot.send_event(dm("U0STRANGER", question, ts, channel="D2"))
    bot.final_reply(ts, timeout=60)
    bot.handle.bot.wait_idle()
    stranger = _shown(llm.calls[before:])
    assert stranger and PAPER not in stranger and "arxiv:" not in stranger  # none of the owner's items

    before = len(llm.calls)
    ts = bot.next_ts()
    bot.send_event(dm(OWNER_SLACK, question, ts, channel="D1"))
    bot.final_reply(ts, timeout=60)
    bot.handle.bot.wait_idle()
    assert PAPER in _shown(llm.calls[before:])  # the owner's DM recalls the pulled paper


def test_slash_digest_shows_the_owner_their_items_and_others_nothing(
    make_bot, settings: Settings, store
) -> None:
    with installed(Runtime(settings, store_factory=lambda: store)):
        jobs.pull_arxiv()
    bot = make_bot(llm=ScriptedChatModel(["ok"]), store=store, settings=settings)

    def digest_for(user: str) -> str:
        before = len([c for c in bot.api.calls if c.method == "respond"])
        bot.send_command("digest", user=user)
        calls = bot.api.wait_for(
            lambda: [c for c in bot.api.calls if c.method == "respond"][before:] or None, timeout=60
        )
        return str(calls[0].params["text"]) + str(calls[0].params.get("blocks") or "")

    assert PAPER in digest_for(OWNER_SLACK)
    assert PAPER not in digest_for("U0STRANGER")
