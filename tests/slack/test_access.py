"""The allowlist: others get one polite line, and nothing about them is kept."""

from __future__ import annotations

import time
from pathlib import Path

from assistant.slack.bot import REFUSAL
from tests.slack.conftest import dm, mention, scripted


def _files_mentioning(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_user_outside_allowlist_gets_one_refusal_and_nothing_is_stored(make_bot, home: Path) -> None:
    conv = scripted(["private answer"])
    bot = make_bot(conversation=conv, allowed_users=["U1"])
    ts = bot.next_ts()

    assert bot.send_event(dm("UOUTSIDER", "hello, what do you know about U1?", ts))[0] == 200
    bot.send_event(dm("UOUTSIDER", "hello, what do you know about U1?", ts), retry=1)  # Slack retry
    bot.api.wait_for(lambda: bot.replies(ts))
    time.sleep(0.3)
    bot.handle.bot.wait_idle()

    replies = bot.replies(ts)
    assert [r["text"] for r in replies] == [REFUSAL]
    assert conv.seen == []  # the model never saw the message
    assert _files_mentioning(home, b"UOUTSIDER") == []
    assert _files_mentioning(home, b"what do you know") == []


def test_outsider_mention_in_a_channel_is_refused_privately(make_bot) -> None:
    conv = scripted(["private answer"])
    bot = make_bot(conversation=conv, allowed_users=["U1"])
    bot.send_event(mention("UOUTSIDER", "hi", bot.next_ts(), channel="C1"))
    bot.api.wait_for(lambda: bot.api.ok_calls("chat.postEphemeral"))
    bot.handle.bot.wait_idle()
    (call,) = bot.api.ok_calls("chat.postEphemeral")
    assert call.params["user"] == "UOUTSIDER" and call.params["text"] == REFUSAL
    assert bot.api.ok_calls("chat.postMessage") == [] and conv.seen == []


def test_channel_outside_allowlist_is_refused_but_dms_still_work(make_bot) -> None:
    conv = scripted(["Hello U1."])
    bot = make_bot(conversation=conv, allowed_users=["U1"], allowed_channels=["CGOOD"])
    bot.send_event(mention("U1", "hi", bot.next_ts(), channel="CBAD"))
    bot.api.wait_for(lambda: bot.api.ok_calls("chat.postEphemeral"))
    good = bot.next_ts()
    bot.send_event(mention("U1", "hi", good, channel="CGOOD"))
    direct = bot.next_ts()
    bot.send_event(dm("U1", "hi", direct))
    assert bot.final_reply(good)["text"] == "Hello U1."
    assert bot.final_reply(direct)["text"] == "Hello U1."
    assert len(conv.seen) == 2


def test_slash_command_from_outsider_is_refused(make_bot) -> None:
    bot = make_bot(conversation=scripted(), allowed_users=["U1"])
    status, body = bot.send_command("goals", user="UOUTSIDER")
    assert status == 200
    assert body["text"] == REFUSAL and body["response_type"] == "ephemeral"
