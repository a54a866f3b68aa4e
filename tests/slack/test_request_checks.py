"""Slack's rules in HTTP mode: signed requests only, each event once, ack within 3 seconds."""

from __future__ import annotations

import json
import time

import pytest

from tests.slack.conftest import SECRET, dm, event_envelope, scripted, signed_headers


def _no_reply(bot, conv) -> None:
    time.sleep(0.5)
    bot.handle.bot.wait_idle()
    assert conv.seen == []
    assert bot.api.ok_calls("chat.postMessage") == []
    assert bot.api.ok_calls("chat.update") == []


def test_retry_of_the_same_event_yields_one_reply(make_bot) -> None:
    conv = scripted(["Only once."])
    bot = make_bot(conversation=conv)
    ts = bot.next_ts()
    event = dm("U1", "hello", ts)

    first, _ = bot.send_event(event, event_id="EvSAME")
    again, _ = bot.send_event(event, event_id="EvSAME", retry=1)
    bot.final_reply(ts)
    late, _ = bot.send_event(event, event_id="EvSAME", retry=2)
    bot.handle.bot.wait_idle()

    assert (first, again, late) == (200, 200, 200)  # acknowledged, so Slack stops retrying
    assert len(bot.replies(ts)) == 1
    assert len(conv.seen) == 1


def test_valid_replay_after_a_restart_is_still_ignored(make_bot) -> None:
    """The dedupe table is persistent: a replay to a fresh process posts nothing."""
    conv = scripted(["Once."])
    bot = make_bot(conversation=conv)
    ts = bot.next_ts()
    bot.send_event(dm("U1", "hello", ts), event_id="EvPERSIST")
    bot.final_reply(ts)
    bot.handle.stop()

    conv2 = scripted(["Twice?"])
    bot2 = make_bot(conversation=conv2)
    assert bot2.send_event(dm("U1", "hello", ts), event_id="EvPERSIST")[0] == 200
    time.sleep(0.5)
    bot2.handle.bot.wait_idle()
    assert conv2.seen == []
    assert len(bot.api.ok_calls("chat.postMessage")) == 1


def test_same_message_as_mention_and_dm_event_is_answered_once(make_bot) -> None:
    conv = scripted(["One answer."])
    bot = make_bot(conversation=conv)
    ts = bot.next_ts()
    bot.send_event(dm("U1", "<@UBOT> hi", ts))
    mention_copy = dm("U1", "<@UBOT> hi", ts) | {"type": "app_mention"}
    mention_copy.pop("channel_type")
    bot.send_event(mention_copy)
    bot.final_reply(ts)
    bot.handle.bot.wait_idle()
    assert len(bot.replies(ts)) == 1 and len(conv.seen) == 1


@pytest.mark.parametrize("fault", ["forged", "stale", "tampered", "unsigned", "no_timestamp", "bad_timestamp"])
def test_bad_signatures_get_401_and_no_side_effect(make_bot, fault: str) -> None:
    conv = scripted(["must not appear"])
    bot = make_bot(conversation=conv)
    ts = bot.next_ts()
    body = json.dumps(event_envelope(dm("U1", "hello", ts), "EvBAD")).encode()
    headers = signed_headers(body, content_type="application/json")
    if fault == "forged":
        headers = signed_headers(body, secret="not-the-secret", content_type="application/json")
    elif fault == "stale":
        headers = signed_headers(body, timestamp=int(time.time()) - 301, content_type="application/json")
    elif fault == "tampered":
        body = body.replace(b"hello", b"HACKED")
    elif fault == "unsigned":
        del headers["X-Slack-Signature"]
    elif fault == "no_timestamp":
        del headers["X-Slack-Request-Timestamp"]
    elif fault == "bad_timestamp":
        headers["X-Slack-Request-Timestamp"] = "soon"

    status, _ = bot.post(body, headers)

    assert status == 401
    _no_reply(bot, conv)
    # a rejected request leaves no claim either: the genuine event is still answered
    assert bot.handle.bot.events.status("event:EvBAD") is None
    assert bot.send_event(dm("U1", "hello", ts), event_id="EvBAD")[0] == 200
    assert bot.final_reply(ts)["text"] == "must not appear"


def test_url_verification_needs_a_signature_too(make_bot) -> None:
    bot = make_bot(conversation=scripted())
    body = json.dumps({"type": "url_verification", "challenge": "abc123", "token": "x"}).encode()
    good = signed_headers(body, content_type="application/json")
    assert bot.post(body, good)[0] == 200
    assert bot.post(body, signed_headers(body, secret="wrong", content_type="application/json"))[0] == 401


def test_slow_model_is_still_acknowledged_within_three_seconds(make_bot) -> None:
    conv = scripted(["Finally."], delay_s=4.0)
    bot = make_bot(conversation=conv)
    first, second = bot.next_ts(), bot.next_ts()

    status1, took1 = bot.send_event(dm("U1", "slow one", first))
    # a second message while the first is still generating: acked just as fast
    status2, took2 = bot.send_event(dm("U1", "and another", second))

    assert (status1, status2) == (200, 200)
    assert took1 < 3.0 and took2 < 3.0
    assert bot.final_reply(first, timeout=20)["text"] == "Finally."
    assert bot.final_reply(second, timeout=20)["text"] == "Finally."
    # both placeholders went up before the first answer, the queued message's included
    posts = bot.api.ok_calls("chat.postMessage")
    first_answer = next(c for c in bot.api.ok_calls("chat.update") if c.params["text"] == "Finally.")
    assert len(posts) == 2 and all(p.at < first_answer.at for p in posts)


def test_signed_request_with_a_wrong_secret_is_rejected_even_with_retry_header(make_bot) -> None:
    conv = scripted()
    bot = make_bot(conversation=conv)
    status, _ = bot.send_event(dm("U1", "x", bot.next_ts()), retry=1, secret=SECRET[::-1])
    assert status == 401
    _no_reply(bot, conv)


def test_oversized_body_and_other_paths_are_refused(make_bot) -> None:
    import urllib.error
    import urllib.request

    conv = scripted()
    bot = make_bot(conversation=conv)
    huge = b"{" + b" " * 1_100_000 + b"}"
    try:
        status = bot.post(huge, signed_headers(huge, content_type="application/json"))[0]
    except (urllib.error.URLError, ConnectionError):
        status = 413  # the server answered 413 and closed while the client was still sending
    assert status == 413
    base = bot.url.removesuffix("/slack/events")
    with urllib.request.urlopen(base + "/healthz", timeout=5) as resp:
        assert resp.status == 200
    _no_reply(bot, conv)
