"""arXiv feeds: entries to items, versions and cross-lists, hostile documents, API errors."""

from __future__ import annotations

import logging
import time

import pytest

from assistant.errors import ConnectorError
from connectors.arxiv import ArxivClient, merge_items, parse_feed, split_id
from tests.connectors import docs
from tests.connectors.conftest import make_settings
from tests.connectors.servers import ArxivServer, Route


def test_rss_entry_becomes_a_complete_item() -> None:
    parsed = parse_feed(docs.CS_CL, feed="arxiv:rss:cs.CL", owner="alice")
    assert not parsed.problem
    by_id = {i.id: i for i in parsed.items}
    assert list(by_id) == ["arxiv:2611.00001", "arxiv:2611.00002", "arxiv:2611.00003"]
    first = by_id["arxiv:2611.00001"]
    assert first.owner == "alice" and first.source == "arxiv" and first.feed == "arxiv:rss:cs.CL"
    assert first.title == "Split Softmax Keeps the System Prompt"
    assert (
        first.text == "We show that attention to the system prompt decays."
    )  # HTML and prefix gone
    assert first.author == "Ada Lovelace, Alan Turing"
    assert first.meta["authors"] == "Ada Lovelace; Alan Turing"
    assert first.meta["announce_type"] == "new"
    assert first.meta["arxiv_id"] == "2611.00001"
    assert first.url == "https://arxiv.org/abs/2611.00001"
    assert first.published == 1795410000.0  # Mon, 23 Nov 2026 00:00 -0500
    assert by_id["arxiv:2611.00002"].categories == ("cs.CL", "cs.LG")
    replaced = by_id["arxiv:2611.00003"]
    assert replaced.version == 2 and replaced.meta["announce_type"] == "replace"


def test_api_entry_keeps_version_apart_and_links() -> None:
    items = parse_feed(docs.API_RESULTS, feed="q", owner="alice", kind="api").items
    paper = items[0]
    assert paper.id == "arxiv:2611.00002" and paper.version == 2
    assert paper.categories == ("cs.LG", "cs.AI")
    assert paper.meta["primary_category"] == "cs.LG"
    assert paper.meta["pdf"] == "http://arxiv.org/pdf/2611.00002v2"
    assert paper.meta["comment"] == "12 pages, 3 figures"
    assert paper.author == "Grace Hopper, Edsger Dijkstra"
    assert paper.updated > paper.published > 0
    assert items[1].title == "Following Instructions Across Days"  # line break folded
    assert items[1].text == "A study of goals."


def test_api_error_entry_is_an_error_not_an_empty_result() -> None:
    with pytest.raises(ConnectorError, match="arXiv API rejected the query: incorrect id format"):
        parse_feed(docs.API_ERROR, feed="q", owner="alice", kind="api")
    assert parse_feed(docs.API_EMPTY, feed="q", owner="alice", kind="api").items == []


def test_weekend_feed_is_empty_but_fine() -> None:
    parsed = parse_feed(docs.WEEKEND, feed="cs.CL", owner="alice")
    assert parsed.items == [] and not parsed.problem


@pytest.mark.parametrize("body", [docs.NOT_A_FEED, b"", b"   \n"])
def test_an_answer_that_is_not_a_feed_fails(body: bytes) -> None:
    with pytest.raises(ConnectorError, match="cs.CL"):
        parse_feed(body, feed="cs.CL", owner="alice")


def test_ids_old_and_new_style() -> None:
    assert split_id("http://arxiv.org/abs/2203.01250v3") == ("2203.01250", 3)
    assert split_id("oai:arXiv.org:2401.12345") == ("2401.12345", 1)
    assert split_id("http://arxiv.org/abs/hep-th/9901001v2") == ("hep-th/9901001", 2)
    assert split_id("http://arxiv.org/abs/math.GT/0309136") == ("math.GT/0309136", 1)
    assert split_id("no id here") is None


def test_same_paper_twice_and_new_version_merge_into_one_item() -> None:
    cl = parse_feed(docs.CS_CL, feed="cl", owner="a").items
    lg = parse_feed(docs.CS_LG, feed="lg", owner="a").items
    api = parse_feed(docs.API_RESULTS, feed="q", owner="a").items
    merged = {i.id: i for i in merge_items(cl + lg + api)}
    assert len(merged) == 5
    drift = merged["arxiv:2611.00002"]
    assert drift.version == 2 and drift.text == "Models forget instructions (v2)."
    assert set(drift.categories) == {"cs.CL", "cs.LG", "cs.AI"}


@pytest.mark.parametrize(
    ("name", "kept"),
    [
        ("TRUNCATED", {"arxiv:2611.00001", "arxiv:2611.00002"}),
        ("WRONG_ENCODING", {"arxiv:2611.00005"}),
        ("ENTITY_BOMB", {"arxiv:2611.00006", "arxiv:2611.00007"}),
        ("QUADRATIC", {"arxiv:2611.00008"}),
    ],
)
def test_malformed_feed_keeps_good_entries_and_logs_once(
    arxiv_server: ArxivServer, caplog: pytest.LogCaptureFixture, name: str, kept: set[str]
) -> None:
    arxiv_server.routes["/rss/bad"] = Route(getattr(docs, name))
    client = ArxivClient(make_settings(arxiv_server, arxiv_categories=["bad"]).feeds)
    caplog.set_level(logging.WARNING, logger="connectors")
    start = time.monotonic()
    fetched = client.fetch(client.feeds()[0])
    assert time.monotonic() - start < 3.0  # no expansion, no hang
    assert {i.id for i in fetched.items} == kept
    assert fetched.problem
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "malformed feed" in warnings[0].getMessage()
    if name == "WRONG_ENCODING":
        assert fetched.items[0].title == "Schrödinger's café"
    if name in ("ENTITY_BOMB", "QUADRATIC"):
        assert all(len(i.title) + len(i.text) < 200_000 for i in fetched.items)


def test_client_builds_feed_urls_and_queries_the_api(arxiv_server: ArxivServer) -> None:
    settings = make_settings(
        arxiv_server, arxiv_queries=['cat:cs.LG AND abs:"instruction following"']
    )
    client = ArxivClient(settings.feeds)
    feeds = client.feeds()
    assert [f.name for f in feeds] == [
        "arxiv:rss:cs.CL",
        "arxiv:rss:cs.LG",
        'arxiv:query:cat:cs.LG AND abs:"instruction following"',
    ]
    fetched = client.fetch(feeds[2])
    assert [i.id for i in fetched.items] == ["arxiv:2611.00002", "arxiv:2611.00010"]
    hit = arxiv_server.hits_for("/api/query")[0]
    assert hit.query["search_query"] == ['cat:cs.LG AND abs:"instruction following"']
    assert hit.query["max_results"] == ["50"]
    assert "purposeful-assistant" in hit.headers["User-Agent"]


def test_api_error_through_the_client(arxiv_server: ArxivServer) -> None:
    client = ArxivClient(
        make_settings(arxiv_server, arxiv_categories=[], arxiv_queries=["bad query"]).feeds
    )
    with pytest.raises(ConnectorError, match="rejected the query"):
        client.fetch(client.feeds()[0])


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be", "utf-32"])
@pytest.mark.parametrize("name", ["ENTITY_BOMB", "QUADRATIC"])
def test_entity_bombs_in_wide_encodings_do_not_expand(codec: str, name: str) -> None:
    # feedparser's fallback parser would expand a UTF-16 quadratic bomb to 1 GB (measured: 109 s)
    text = (
        getattr(docs, name)
        .decode()
        .replace('<?xml version="1.0"?>', f'<?xml version="1.0" encoding="{codec}"?>')
    )
    start = time.monotonic()
    parsed = parse_feed(text.encode(codec), feed="wide", owner="alice")
    assert time.monotonic() - start < 2.0
    assert "entity declarations removed" in parsed.problem
    assert parsed.items and all(len(i.text) <= 100_000 for i in parsed.items)


def test_entity_declarations_outside_a_doctype_refuse_the_document() -> None:
    body = (
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "x">' + b"<rss><channel></channel></rss>"
    )
    with pytest.raises(ConnectorError, match="document refused"):
        parse_feed(body, feed="cs.CL", owner="alice")
