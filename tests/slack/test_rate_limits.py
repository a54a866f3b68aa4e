"""Web API 429s: Retry-After is honoured, and every reply still arrives exactly once."""

from __future__ import annotations

import time

from tests.slack.conftest import dm, scripted


def test_429_on_post_delays_but_does_not_lose_the_reply(make_bot) -> None:
    bot = make_bot(conversation=scripted(["Delivered."]))
    bot.api.rate_limit("chat.postMessage", times=1, retry_after=1)
    ts = bot.next_ts()
    started = time.monotonic()

    assert bot.send_event(dm("U1", "hello", ts))[0] == 200
    reply = bot.final_reply(ts, timeout=15)

    assert reply["text"] == "Delivered."
    assert time.monotonic() - started >= 1.0  # waited for Retry-After
    limited = [c for c in bot.api.calls if c.method == "chat.postMessage" and c.status == 429]
    posted = bot.api.ok_calls("chat.postMessage")
    assert len(limited) == 1 and len(posted) == 1
    assert posted[0].at - limited[0].at >= 1.0


def test_429_storm_on_updates_still_ends_with_the_full_reply(make_bot) -> None:
    """Three messages while chat.update is rate-limited: each thread ends with its answer, once."""
    bot = make_bot(conversation=scripted(lambda msgs: f"Answer to {msgs[-1]['content']}."))
    bot.api.rate_limit("chat.update", times=3, retry_after=1)
    roots = [bot.next_ts() for _ in range(3)]
    started = time.monotonic()
    for i, ts in enumerate(roots):
        assert bot.send_event(dm("U1", f"q{i}", ts))[0] == 200
    for i, ts in enumerate(roots):
        assert bot.final_reply(ts, timeout=30)["text"] == f"Answer to q{i}."
    bot.handle.bot.wait_idle()
    elapsed = time.monotonic() - started
    assert elapsed < 20  # bounded: retries follow Retry-After, no runaway back-off
    for ts in roots:
        assert len(bot.replies(ts)) == 1
    assert len(bot.api.ok_calls("chat.postMessage")) == 3


def test_digest_and_alert_posts_share_the_retrying_client(fake_slack, monkeypatch) -> None:
    from assistant.app import App
    from assistant.config import Settings, SlackSettings
    from assistant.slack.bot import post_alert, post_digest

    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-x")
    client = App(Settings(slack=SlackSettings(base_url=fake_slack.base_url))).require_slack()
    fake_slack.rate_limit("chat.postMessage", times=1, retry_after=1)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Today*"}}]
    ts = post_digest(client, "U1", blocks, "Your digest")
    alert_ts = post_alert(client, "C1", "self-probe stability 0.31 is below 0.5")
    posted = fake_slack.ok_calls("chat.postMessage")
    assert [c.result["ts"] for c in posted] == [ts, alert_ts]
    assert posted[0].params["blocks"] == blocks and posted[0].params["channel"] == "U1"
    assert posted[1].params["text"].endswith("below 0.5")
