"""Hostile Slack input over real HTTP: forged bodies, log injection, floods, fuzzed text."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from hypothesis import HealthCheck, given, settings

from tests.hostile import TokenizingModel, hostile_text
from tests.memfake import FakeMemory as FakeStore
from tests.slack.conftest import ScriptedConversation, dm, signed_headers

FORGED_LINE = "\n2026-11-30 10:00:00 ERROR assistant.jobs: job digest crashed\n"


def _forged(body: bytes, content_type: str = "application/json") -> dict[str, str]:
    headers = signed_headers(body, secret="not-the-secret", content_type=content_type)
    return headers


def _logged(caplog) -> str:
    return "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)


def test_unsigned_non_json_body_is_refused_before_parsing(make_bot, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    bot = make_bot(conversation=ScriptedConversation(llm=TokenizingModel(["Hi."])))
    for body in (b"{not json", b"\xff\xfe\x00", b"payload=%7B%7Bnope", FORGED_LINE.encode()):
        for kind in ("application/json", "application/x-www-form-urlencoded"):
            status, _ = bot.post(body, _forged(body, kind))
            assert status == 401
    text = _logged(caplog)
    assert "Traceback" not in text and not any(r.exc_info for r in caplog.records)
    assert "job digest crashed" not in text  # the body never reaches a log line
    assert not [r for r in caplog.records if "Invalid request signature" in r.getMessage()]


def test_a_flood_of_big_forged_requests_logs_one_short_line(make_bot, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    bot = make_bot(conversation=ScriptedConversation(llm=TokenizingModel(["Hi."])))
    body = b'{"x": "' + b"A" * 950_000 + b'"}'
    for _ in range(9):
        status, _ = bot.post(body, _forged(body))
        assert status == 401
    logged = sum(len(r.getMessage()) for r in caplog.records)
    assert logged < 5_000  # was 9 x 950 KB at INFO: the rotating file log lost its history
    assert any("rejected" in r.getMessage() for r in caplog.records)


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=hostile_text(max_size=120))
def test_any_dm_text_gets_one_reply(make_bot, text) -> None:
    bot = _shared_bot(make_bot)
    ts = bot.next_ts()
    status, _ = bot.send_event(dm("U1", text or "?", ts))
    assert status == 200
    reply = bot.final_reply(ts)
    assert reply["text"] == "Noted."  # one reply came, and the bot lives on


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=hostile_text(max_size=120))
def test_any_slash_command_text_is_answered(make_bot, text) -> None:
    bot = _shared_bot(make_bot)
    raw = text.encode("utf-8", "surrogatepass")  # lone surrogates stay undecodable bytes
    body = urlencode({"command": bot.settings.slack.command, "user_id": "U1", "channel_id": "D1",
                      "team_id": "T1", "trigger_id": "1.2.3", "response_url": bot.api.response_url(),
                      "channel_name": "directmessage"}).encode() + b"&text=" + _quote(b"forget " + raw)
    status, _ = bot.post(body, signed_headers(body, content_type="application/x-www-form-urlencoded"))
    assert status in (200, 400)  # an answer, or a plain refusal of undecodable bytes


def _quote(raw: bytes) -> bytes:
    from urllib.parse import quote_from_bytes

    return quote_from_bytes(raw).encode()


_BOTS: dict[int, object] = {}


def _shared_bot(make_bot):
    """One bot per test function (hypothesis calls the body many times)."""
    key = id(make_bot)
    if key not in _BOTS:
        _BOTS.clear()
        _BOTS[key] = make_bot(conversation=ScriptedConversation(llm=TokenizingModel(lambda m: "Noted.")),
                              store=FakeStore())
    return _BOTS[key]


def test_a_reply_survives_more_429s_in_a_row_than_three(make_bot) -> None:
    bot = make_bot(conversation=ScriptedConversation(llm=TokenizingModel(["Still here."])))
    bot.api.rate_limit("chat.postMessage", times=5, retry_after=1)  # a storm shared by replies
    ts = bot.next_ts()
    status, _ = bot.send_event(dm("U1", "hello", ts))
    assert status == 200
    assert bot.final_reply(ts, timeout=30)["text"] == "Still here."  # was lost after 3 retries
