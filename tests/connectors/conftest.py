"""Fixtures for the connector tests: loopback arXiv and Slack servers, settings pointing at them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from assistant.config import Settings
from tests.connectors import docs
from tests.connectors.servers import ME, ArxivServer, Route, SlackServer


@pytest.fixture
def arxiv_server() -> Iterator[ArxivServer]:
    server = ArxivServer()
    server.routes["/rss/cs.CL"] = Route(
        docs.CS_CL, etag='"cl-1"', last_modified="Mon, 23 Nov 2026 05:00:00 GMT"
    )
    server.routes["/rss/cs.LG"] = Route(docs.CS_LG, etag='"lg-1"')
    server.start()
    yield server
    server.stop()


@pytest.fixture
def slack_server() -> Iterator[SlackServer]:
    server = SlackServer().start()
    assert isinstance(server, SlackServer)
    yield server
    server.stop()


def make_settings(
    arxiv: ArxivServer | None = None, slack: SlackServer | None = None, **feeds: Any
) -> Settings:
    """Settings with small timeouts and intervals, pointed at the loopback servers."""
    section: dict[str, Any] = {
        "arxiv_categories": ["cs.CL", "cs.LG"],
        "arxiv_queries": [],
        "arxiv_min_interval_s": 0.0,
        "timeout_s": 1.0,
        "backoff_s": 0.05,
        "retries": 2,
        "max_retry_after_s": 5.0,
        "slack_channels": [],
        "slack_page_limit": 2,
        "owner": "alice",
    }
    if arxiv is not None:
        section["arxiv_rss_url"] = arxiv.url + "/rss/{category}"
        section["arxiv_api_url"] = arxiv.url + "/api/query"
    section.update(feeds)
    data: dict[str, Any] = {"feeds": section}
    if slack is not None:
        data["slack"] = {"base_url": slack.api_url, "me": ME}
    return Settings.model_validate(data)
