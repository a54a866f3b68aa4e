"""Slack reader against a fake Web API on 127.0.0.1: paging, threads, names, marks, errors, 429."""

from __future__ import annotations

import time

import pytest
from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler

from assistant.errors import ConnectorAuthError, ConnectorError
from connectors.slack import (
    BoundedRateLimitHandler,
    Channel,
    SlackReader,
    web_client,
)
from tests.connectors.servers import ME, TOKEN, SlackServer, _ts

GENERAL = Channel("C0GENERAL1", "general", "#general")


def reader(
    server: SlackServer, *, token: str = TOKEN, page_limit: int = 2, **kw: object
) -> SlackReader:
    client = web_client(token, server.api_url, retries=3, max_retry_after_s=5.0, timeout_s=2)
    return SlackReader(client, owner="alice", me=ME, page_limit=page_limit, **kw)  # type: ignore[arg-type]


def test_web_client_retries_rate_limits_and_server_errors(slack_server: SlackServer) -> None:
    client = web_client(TOKEN, slack_server.api_url)
    kinds = {type(h) for h in client.retry_handlers}
    assert BoundedRateLimitHandler in kinds and ServerErrorRetryHandler in kinds
    assert client.base_url == slack_server.api_url


def test_names_resolve_through_paginated_conversations_list(slack_server: SlackServer) -> None:
    channels, failed = reader(slack_server).resolve(["#general", "random", "C0SECRET01", "#nope"])
    assert [(c.id, c.name) for c in channels] == [
        ("C0GENERAL1", "general"),
        ("C0RANDOM01", "random"),
        ("C0SECRET01", "secret"),
    ]
    assert slack_server.count("conversations.list") == 5  # 10 channels, 2 per page
    assert len(failed) == 1 and failed[0][0] == "#nope"
    assert "#nope was not found" in str(failed[0][1]) and "feeds.slack_channels" in str(
        failed[0][1]
    )


def test_history_threads_names_and_marks(slack_server: SlackServer) -> None:
    read = reader(slack_server).read(GENERAL, "0")
    items = {i.meta["ts"]: i for i in read.items}
    # 6 conversation messages (the join is not one) + 3 thread replies
    assert len(read.items) == 9 and len(items) == 9
    assert read.latest_ts == _ts(7)
    assert slack_server.count("conversations.history") == 4  # 7 messages, 2 per page
    assert slack_server.count("conversations.replies") == 2  # parent + 3 replies, 2 per page
    assert slack_server.count("users.info") == 3  # each user looked up once
    mention = items[_ts(2)]
    assert mention.mentions_me and not mention.my_thread
    assert mention.author == "Bob B" and mention.source == "slack" and mention.owner == "alice"
    assert mention.id == f"slack:C0GENERAL1:{_ts(2)}"
    assert (
        mention.url == f"https://fake-team.slack.com/archives/C0GENERAL1/p{_ts(2).replace('.', '')}"
    )
    thread = [items[t] for t in (_ts(3), _ts(31), _ts(32), _ts(33))]
    assert all(i.my_thread for i in thread)
    assert thread[1].url.endswith(f"?thread_ts={_ts(3)}&cid=C0GENERAL1")
    assert thread[0].author == "Ada L" and thread[2].author == "Me"
    assert items[_ts(6)].author == "ci-bot"
    assert not any(i.my_thread for t, i in items.items() if t in (_ts(1), _ts(5), _ts(7)))
    assert items[_ts(1)].published == float(_ts(1))


def test_incremental_read_from_last_ts(slack_server: SlackServer) -> None:
    r = reader(slack_server)
    first = r.read(GENERAL, "0")
    again = r.read(GENERAL, first.latest_ts)
    assert again.items == [] and again.latest_ts == ""
    slack_server.workspace["messages"]["C0GENERAL1"].append(
        {"type": "message", "ts": _ts(8), "user": "U0ADA0001", "text": "one more"}
    )
    newer = r.read(GENERAL, first.latest_ts)
    assert [i.text for i in newer.items] == ["one more"]


def test_new_replies_to_an_older_thread_are_followed(slack_server: SlackServer) -> None:
    r = reader(slack_server)
    first = r.read(GENERAL, "0")
    assert first.threads == {_ts(3): {"last": _ts(33), "mine": True}}
    slack_server.workspace["replies"]["C0GENERAL1"][_ts(3)].append(
        {
            "type": "message",
            "ts": _ts(40),
            "thread_ts": _ts(3),
            "user": "U0BOB0001",
            "text": "late reply",
        }
    )
    later = r.read(GENERAL, first.latest_ts, first.threads)
    assert [(i.text, i.my_thread) for i in later.items] == [("late reply", True)]
    assert later.threads[_ts(3)]["last"] == _ts(40)
    assert r.read(GENERAL, first.latest_ts, later.threads).items == []  # nothing twice
    assert r.read(GENERAL, first.latest_ts, later.threads, follow_max=0).threads == {}


@pytest.mark.parametrize(
    ("channel", "pattern"),
    [
        (
            Channel("C0SECRET01", "secret", "#secret"),
            r"not a member of #secret \(C0SECRET01\).*/invite",
        ),
        (
            Channel("C0SCOPE001", "scoped", "#scoped"),
            r"lacks scope channels:history for #scoped.*reinstall",
        ),
        (
            Channel("C0AUTH0001", "authfail", "#authfail"),
            r"rejected the token \(invalid_auth\) reading #authfail.*SLACK_BOT_TOKEN",
        ),
        (
            Channel("C0GONE0001", "C0GONE0001", "C0GONE0001"),
            r"C0GONE0001 was not found.*feeds.slack_channels",
        ),
    ],
)
def test_each_auth_and_scope_error_is_one_line_naming_the_channel(
    slack_server: SlackServer, channel: Channel, pattern: str
) -> None:
    with pytest.raises(ConnectorError, match=pattern) as info:
        reader(slack_server).read(channel, "0")
    assert "\n" not in str(info.value)
    if channel.id != "C0GONE0001":
        assert isinstance(info.value, ConnectorAuthError)


def test_wrong_token_is_invalid_auth(slack_server: SlackServer) -> None:
    with pytest.raises(ConnectorAuthError, match="invalid_auth"):
        reader(slack_server, token="xoxb-wrong").read(GENERAL, "0")


def test_429_waits_for_retry_after_and_delivers_once(slack_server: SlackServer) -> None:
    slack_server.rate_limits["conversations.history"] = ["1"]
    slack_server.rate_limits["conversations.replies"] = ["0", "0"]
    start = time.monotonic()
    read = reader(slack_server).read(GENERAL, "0")
    elapsed = time.monotonic() - start
    assert 1.0 <= elapsed < 6.0, elapsed  # 1 s + up to 1 s jitter, twice up to 1 s
    assert len(read.items) == len({i.id for i in read.items}) == 9


def test_rate_limit_longer_than_the_cap_fails_fast(slack_server: SlackServer) -> None:
    slack_server.rate_limits["conversations.history"] = ["3600"]
    start = time.monotonic()
    with pytest.raises(ConnectorError, match="rate-limited #general"):
        reader(slack_server).read(GENERAL, "0")
    assert time.monotonic() - start < 1.0


def test_hung_slack_times_out_with_one_line(slack_server: SlackServer) -> None:
    slack_server.hang.add("conversations.history")
    client = web_client(TOKEN, slack_server.api_url, retries=1, timeout_s=1)
    start = time.monotonic()
    with pytest.raises(ConnectorError, match="Slack could not be reached reading #general"):
        SlackReader(client, owner="alice").read(GENERAL, "0")
    assert time.monotonic() - start < 4.0


def test_server_error_is_retried(slack_server: SlackServer) -> None:
    slack_server.server_errors["conversations.history"] = 1
    read = reader(slack_server).read(GENERAL, "0")
    assert len(read.items) == 9


def test_page_bound_stops_a_huge_backlog(slack_server: SlackServer) -> None:
    read = reader(slack_server, max_pages=1).read(GENERAL, "0")
    assert read.truncated and read.latest_ts == _ts(7)
    assert slack_server.count("conversations.history") == 1
