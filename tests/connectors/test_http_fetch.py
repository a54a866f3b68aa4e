"""Our feed fetch against a real loopback server: conditional requests, back-off, caps, timeouts."""

from __future__ import annotations

import gzip
import threading
import time

import pytest

from assistant.errors import ConnectorError, RateLimited
from connectors.http import Fetcher, Validators, limiter_for, parse_retry_after
from tests.connectors import docs
from tests.connectors.servers import ArxivServer, Route


def fetcher(**kw: object) -> Fetcher:
    base: dict[str, object] = {
        "timeout_s": 1.0,
        "retries": 2,
        "backoff_s": 0.05,
        "max_retry_after_s": 5.0,
    }
    base.update(kw)
    return Fetcher(**base)  # type: ignore[arg-type]


def test_etag_sent_back_and_304_gives_no_body(arxiv_server: ArxivServer) -> None:
    url = arxiv_server.url + "/rss/cs.CL"
    first = fetcher().fetch(url)
    assert first.status == 200 and first.content == docs.CS_CL
    assert first.validators == Validators('"cl-1"', "Mon, 23 Nov 2026 05:00:00 GMT")

    second = fetcher().fetch(url, first.validators)
    assert second.not_modified and second.content == b""
    assert second.validators == first.validators  # kept for the next pull
    sent = arxiv_server.hits_for("/rss/cs.CL")[-1].headers
    assert sent["If-None-Match"] == '"cl-1"'
    assert sent["If-Modified-Since"] == "Mon, 23 Nov 2026 05:00:00 GMT"


def test_503_then_success_waits_for_retry_after(arxiv_server: ArxivServer) -> None:
    arxiv_server.routes["/rss/flaky"] = Route(docs.CS_CL, failures=[(503, "1")])
    start = time.monotonic()
    result = fetcher().fetch(arxiv_server.url + "/rss/flaky")
    elapsed = time.monotonic() - start
    assert result.status == 200 and result.attempts == 2
    assert 1.0 <= elapsed < 2.0, elapsed


def test_without_retry_after_backs_off_exponentially(arxiv_server: ArxivServer) -> None:
    arxiv_server.routes["/rss/flaky"] = Route(docs.CS_CL, failures=[(503, None), (429, None)])
    start = time.monotonic()
    result = fetcher(backoff_s=0.2).fetch(arxiv_server.url + "/rss/flaky")
    elapsed = time.monotonic() - start
    assert result.attempts == 3
    assert 0.6 <= elapsed < 1.2, elapsed  # 0.2 then 0.4 (+ up to 10 % jitter)


def test_429_storm_is_rate_limited_after_bounded_retries(arxiv_server: ArxivServer) -> None:
    arxiv_server.routes["/rss/storm"] = Route(docs.CS_CL, failures=[(429, "0")] * 10)
    start = time.monotonic()
    with pytest.raises(RateLimited, match="429"):
        fetcher(retries=3).fetch(arxiv_server.url + "/rss/storm")
    assert len(arxiv_server.hits_for("/rss/storm")) == 4  # one try + three retries
    assert time.monotonic() - start < 2.0


def test_retry_after_beyond_the_cap_is_not_slept_through(arxiv_server: ArxivServer) -> None:
    arxiv_server.routes["/rss/later"] = Route(docs.CS_CL, failures=[(503, "3600")])
    start = time.monotonic()
    with pytest.raises(RateLimited, match="3600") as info:
        fetcher().fetch(arxiv_server.url + "/rss/later")
    assert info.value.retry_after == 3600
    assert time.monotonic() - start < 1.0


def test_hung_server_times_out(arxiv_server: ArxivServer) -> None:
    arxiv_server.routes["/rss/hang"] = Route(docs.CS_CL, hang=True)
    start = time.monotonic()
    with pytest.raises(ConnectorError, match="did not answer within 0.5 s"):
        fetcher(timeout_s=0.5).fetch(arxiv_server.url + "/rss/hang")
    assert time.monotonic() - start < 2.0


@pytest.mark.parametrize("declared", [True, False])
def test_huge_document_is_refused_at_the_cap(arxiv_server: ArxivServer, declared: bool) -> None:
    arxiv_server.routes["/rss/huge"] = Route(stream_bytes=50_000_000, content_length=declared)
    start = time.monotonic()
    with pytest.raises(ConnectorError, match="more than 1000000 bytes"):
        fetcher(max_bytes=1_000_000).fetch(arxiv_server.url + "/rss/huge")
    assert time.monotonic() - start < 3.0


def test_gzip_bomb_is_capped_after_decompression(arxiv_server: ArxivServer) -> None:
    bomb = gzip.compress(b"\0" * 50_000_000)  # ~50 kB on the wire
    arxiv_server.routes["/rss/gz"] = Route(bomb, headers={"Content-Encoding": "gzip"})
    with pytest.raises(ConnectorError, match="more than 1000000 bytes"):
        fetcher(max_bytes=1_000_000).fetch(arxiv_server.url + "/rss/gz")


def test_missing_feed_says_what_to_check(arxiv_server: ArxivServer) -> None:
    with pytest.raises(ConnectorError, match="not found.*check the feed URL"):
        fetcher().fetch(arxiv_server.url + "/rss/nope")


def test_refused_connection_fails_after_retries() -> None:
    with pytest.raises(ConnectorError, match="connection failed.*after 2 attempts"):
        fetcher(retries=1).fetch("http://127.0.0.1:9/rss")


def test_one_connection_at_a_time_and_min_interval(arxiv_server: ArxivServer) -> None:
    f = fetcher(min_interval_s=0.2)
    paths = [f"/rss/p{i}" for i in range(4)]
    for p in paths:
        arxiv_server.routes[p] = Route(docs.CS_CL)
    threads = [threading.Thread(target=f.fetch, args=(arxiv_server.url + p,)) for p in paths]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    hits = sorted(arxiv_server.hits, key=lambda h: h.start)
    assert len(hits) == 4
    assert arxiv_server.max_active == 1
    gaps = [b.start - a.end for a, b in zip(hits, hits[1:], strict=False)]
    assert min(gaps) >= 0.19, gaps


def test_retry_after_parses_seconds_and_dates() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 25 Nov 2026 12:00:30 GMT", now=1795608000.0) == pytest.approx(
        30.0
    )
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_all_arxiv_hosts_share_one_limiter() -> None:
    rss = limiter_for("https://rss.arxiv.org/rss/cs.CL", 3.0)
    assert limiter_for("https://export.arxiv.org/api/query?x=1", 3.0) is rss
    assert limiter_for("http://127.0.0.1:1/a", 0.0) is not rss
