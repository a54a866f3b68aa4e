"""Pulling into the real memory store: idempotent, versions update, failures never look empty."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

import memory.store as store_mod
from assistant.app import App
from connectors.ingest import PullReport, pull
from tests.connectors import docs
from tests.connectors.conftest import make_settings
from tests.connectors.servers import TOKEN, ArxivServer, Route, SlackServer, _ts

CHANNELS = ["#general", "#secret", "#scoped", "#authfail", "C0GONE0001", "random", "#nope"]


@pytest.fixture
def store(home: Path, tmp_path: Path) -> Iterator[Any]:
    with store_mod.open_store(make_settings(), path=tmp_path / "store") as opened:
        yield opened


def by_name(report: PullReport) -> dict[str, Any]:
    return {f.name: f for f in report.feeds}


def test_pull_twice_adds_nothing(
    arxiv_server: ArxivServer,
    slack_server: SlackServer,
    store: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    settings = make_settings(arxiv_server, slack_server, slack_channels=["#general", "random"])
    first = pull(settings, store, slack_client=App(settings).slack)
    feeds = by_name(first)
    assert (feeds["arxiv:rss:cs.CL"].new, feeds["arxiv:rss:cs.LG"].new) == (3, 1)
    assert feeds["arxiv:rss:cs.LG"].unchanged == 1  # the cross-listed paper is already stored
    assert (feeds["slack:#general"].new, feeds["slack:#random"].new) == (9, 5)
    assert first.ok and first.total().new == 18
    assert store.items.count("alice") == 18

    second = pull(settings, store, slack_client=App(settings).slack)
    total = second.total()
    assert (total.new, total.updated, total.failed) == (0, 0, 0)
    assert by_name(second)["arxiv:rss:cs.CL"].not_modified  # ETag sent back, 304
    assert store.items.count("alice") == 18
    paper = store.items.get("alice", "arxiv:2611.00002")
    assert paper.url == "https://arxiv.org/abs/2611.00002" and paper.author.startswith(
        "Ada Lovelace"
    )
    assert set(paper.categories) >= {"cs.CL", "cs.LG"}
    message = store.items.get("alice", f"slack:C0GENERAL1:{_ts(2)}")
    assert (
        message.mentions_me
        and message.author == "Bob B"
        and message.url.startswith("https://fake-team")
    )
    assert message.published == float(_ts(2))


def test_new_version_updates_the_one_item(arxiv_server: ArxivServer, store: Any) -> None:
    settings = make_settings(arxiv_server, arxiv_categories=["cs.CL"])
    pull(settings, store, slack_client=App(settings).slack)
    arxiv_server.routes["/rss/cs.CL"] = Route(docs.CS_CL_V3, etag='"cl-2"')
    line = by_name(pull(settings, store, slack_client=App(settings).slack))["arxiv:rss:cs.CL"]
    assert (line.new, line.updated, line.unchanged) == (0, 1, 2)
    paper = store.items.get("alice", "arxiv:2611.00003")
    assert paper.version == 3 and paper.text == "Third version, rewritten."
    assert store.items.count("alice") == 3


def test_failed_feeds_are_failures_not_empty_and_retry_next_time(
    arxiv_server: ArxivServer, store: Any
) -> None:
    arxiv_server.routes["/rss/cs.CL"] = Route(docs.CS_CL, etag='"cl-1"', failures=[(503, "0")] * 3)
    arxiv_server.routes["/rss/hang"] = Route(docs.CS_LG, hang=True)
    settings = make_settings(
        arxiv_server,
        arxiv_categories=["cs.CL", "hang", "cs.LG"],
        arxiv_queries=["bad query"],
        timeout_s=0.5,
    )
    report = pull(settings, store, slack_client=App(settings).slack)
    feeds = by_name(report)
    assert feeds["arxiv:rss:cs.CL"].failed == 1 and "503" in feeds["arxiv:rss:cs.CL"].error
    assert feeds["arxiv:rss:hang"].failed == 1 and "did not answer" in feeds["arxiv:rss:hang"].error
    assert (
        feeds["arxiv:query:bad query"].failed == 1
        and "rejected" in feeds["arxiv:query:bad query"].error
    )
    assert feeds["arxiv:rss:cs.LG"].new == 2  # the healthy feed still went in
    assert report.total().failed == 3 and not report.ok
    # the failed feed stored no ETag, so the next pull reads it in full
    again = by_name(pull(settings, store, slack_client=App(settings).slack))["arxiv:rss:cs.CL"]
    assert again.failed == 0 and (again.new, again.unchanged) == (2, 1)  # 00002 came via cs.LG


def test_slack_errors_name_the_channel_and_the_pull_goes_on(
    slack_server: SlackServer, store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    settings = make_settings(slack=slack_server, slack_channels=CHANNELS)
    report = pull(settings, store, source="slack", slack_client=App(settings).slack)
    feeds = by_name(report)
    assert feeds["slack:#general"].new == 9 and feeds["slack:#random"].new == 5
    errors = {name: f.error for name, f in feeds.items() if f.failed}
    assert set(errors) == {
        "slack:#secret",
        "slack:#scoped",
        "slack:#authfail",
        "slack:C0GONE0001",
        "slack:#nope",
    }
    assert "invite" in errors["slack:#secret"] and "channels:history" in errors["slack:#scoped"]
    assert (
        "SLACK_BOT_TOKEN" in errors["slack:#authfail"] and "not found" in errors["slack:C0GONE0001"]
    )
    # incremental: only the new message comes in next time
    slack_server.workspace["messages"]["C0GENERAL1"].append(
        {"type": "message", "ts": _ts(8), "user": "U0ADA0001", "text": "fresh"}
    )
    second = by_name(pull(settings, store, source="slack", slack_client=App(settings).slack))
    assert second["slack:#general"].new == 1 and second["slack:#random"].new == 0
    history = [
        p
        for m, p in slack_server.calls
        if m == "conversations.history" and p["channel"] == "C0GENERAL1"
    ]
    assert history[-1]["oldest"] == _ts(7)


def test_slack_without_token_is_one_failed_line(
    store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    report = pull(make_settings(slack_channels=["#general"]), store, source="slack", slack_client=None)
    assert [(f.name, f.failed) for f in report.feeds] == [("slack", 1)]
    assert "SLACK_BOT_TOKEN is not set" in report.feeds[0].error


def test_since_filters_and_rereads(arxiv_server: ArxivServer, store: Any) -> None:
    settings = make_settings(arxiv_server, arxiv_categories=["cs.CL"])
    none = by_name(pull(settings, store, since=date(2030, 1, 1)))["arxiv:rss:cs.CL"]
    assert none.new == 0 and not none.failed
    some = by_name(pull(settings, store, since=date(2026, 11, 1)))["arxiv:rss:cs.CL"]
    assert some.new == 3
    assert "If-None-Match" not in arxiv_server.hits_for("/rss/cs.CL")[-1].headers


def test_malformed_feed_is_logged_once_across_pulls(
    arxiv_server: ArxivServer, store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    arxiv_server.routes["/rss/bad"] = Route(docs.TRUNCATED)
    settings = make_settings(arxiv_server, arxiv_categories=["bad"])
    caplog.set_level(logging.WARNING, logger="connectors")
    first = by_name(pull(settings, store, slack_client=App(settings).slack))["arxiv:rss:bad"]
    second = by_name(pull(settings, store, slack_client=App(settings).slack))["arxiv:rss:bad"]
    assert (first.new, first.failed, second.unchanged) == (2, 0, 2)
    assert first.warning and second.warning
    assert sum("malformed feed" in r.getMessage() for r in caplog.records) == 1
