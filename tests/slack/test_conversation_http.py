"""DMs and mentions over the real HTTP Events API: one threaded, streamed reply each."""

from __future__ import annotations

import time

from tests.slack.conftest import dm, mention, scripted


def test_dm_gets_one_threaded_reply(make_bot) -> None:
    conv = scripted(["Hi! I can help you plan your week."])
    bot = make_bot(conversation=conv)
    ts = bot.next_ts()

    status, _ = bot.send_event(dm("U1", "hello", ts))

    assert status == 200
    reply = bot.final_reply(ts)
    assert reply["text"] == "Hi! I can help you plan your week."
    assert reply["channel"] == "D1" and reply["thread_ts"] == ts
    bot.handle.bot.wait_idle()
    assert len(bot.api.ok_calls("chat.postMessage")) == 1
    assert conv.seen == [("U1", f"slack:D1:{ts}", "hello")]


def test_mention_in_channel_replies_in_thread_without_the_mention_text(make_bot) -> None:
    conv = scripted(["Sure."])
    bot = make_bot(conversation=conv)
    root = bot.next_ts()
    ts = bot.next_ts()

    bot.send_event(mention("U1", "what next?", ts, channel="C9", thread_ts=root))

    reply = bot.final_reply(root)
    assert reply["channel"] == "C9" and reply["text"] == "Sure."
    assert conv.seen == [("U1", f"slack:C9:{root}", "what next?")]


def test_follow_up_in_thread_continues_the_same_graph_thread(make_bot) -> None:
    conv = scripted(["First answer.", "Second answer."])
    bot = make_bot(conversation=conv)
    root = bot.next_ts()
    bot.send_event(dm("U1", "one", root))
    bot.final_reply(root)
    bot.send_event(dm("U1", "two", bot.next_ts(), thread_ts=root))
    bot.api.wait_for(lambda: len([m for m in bot.replies(root) if m["text"] == "Second answer."]) == 1)
    assert [t for (_, t, _) in conv.seen] == [f"slack:D1:{root}"] * 2


def test_long_reply_streams_through_throttled_updates(make_bot) -> None:
    words = " ".join(f"word{i}" for i in range(40))

    def slow_stream(messages):  # ScriptedChatModel yields word by word; pace it like a model
        return words

    conv = scripted(slow_stream)
    original = conv.llm.stream

    def paced(messages, **kw):
        for piece in original(messages, **kw):
            time.sleep(0.03)
            yield piece

    conv.llm.stream = paced  # type: ignore[method-assign]
    bot = make_bot(conversation=conv, stream_interval_s=0.2)
    ts = bot.next_ts()
    started = time.monotonic()
    bot.send_event(dm("U1", "talk", ts))
    reply = bot.final_reply(ts)
    bot.handle.bot.wait_idle()
    elapsed = time.monotonic() - started
    reply = bot.replies(ts)[0]
    assert reply["text"] == words
    updates = bot.api.ok_calls("chat.update")
    # streamed: partial texts appeared before the final one, but no faster than the interval
    assert len(updates) >= 3
    assert len(updates) <= elapsed / 0.2 + 2
    gaps = [b.at - a.at for a, b in zip(updates, updates[1:-1], strict=False)]
    assert all(gap >= 0.18 for gap in gaps)


def test_edits_bot_posts_and_plain_channel_chatter_are_ignored(make_bot) -> None:
    conv = scripted(["never"])
    bot = make_bot(conversation=conv)
    edited = dm("U1", "x", bot.next_ts()) | {"subtype": "message_changed"}
    from_bot = dm("U2", "y", bot.next_ts()) | {"bot_id": "B2"}
    chatter = dm("U1", "z", bot.next_ts()) | {"channel": "C1", "channel_type": "channel"}
    for event in (edited, from_bot, chatter):
        assert bot.send_event(event)[0] == 200
    time.sleep(0.5)
    bot.handle.bot.wait_idle()
    assert conv.seen == [] and bot.api.ok_calls("chat.postMessage") == []


def test_stop_finishes_the_running_reply_and_releases_queued_ones(make_bot) -> None:
    from assistant.slack.bot import STOPPING

    conv = scripted(["Done."], delay_s=1.5)
    bot = make_bot(conversation=conv)
    first, second = bot.next_ts(), bot.next_ts()
    bot.send_event(dm("U1", "one", first))
    bot.send_event(dm("U1", "two", second))
    # Both placeholders are up and the first reply is running (a worker picked it up);
    # stopping before that would rightly treat "one" as queued too.
    bot.api.wait_for(lambda: bot.replies(first) and bot.replies(second) and len(conv.seen) == 1)

    bot.handle.stop()

    assert bot.replies(first)[0]["text"] == "Done."
    assert bot.replies(second)[0]["text"] == STOPPING  # no placeholder left "thinking" forever
    assert len(conv.seen) == 1
