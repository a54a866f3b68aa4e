"""Fixtures for the Slack bot: a fake Web API, a running bot over real HTTP, signed requests."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from assistant.app import App
from assistant.config import Settings, SlackSettings
from assistant.llm.base import Message
from assistant.slack.bot import SlackHandle, start_slack
from tests.fakes import ScriptedChatModel
from tests.slack.fakeapi import BOT_USER, FakeSlackAPI

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@dataclass
class ScriptedConversation:
    """A Conversation over ScriptedChatModel that keeps per-(user, thread) history.

    Stands in for the goal graph in tests of Slack mechanics only.
    """

    llm: ScriptedChatModel
    delay_s: float = 0.0
    seen: list[tuple[str, str, str]] = field(default_factory=list)
    history: dict[tuple[str, str], list[Message]] = field(default_factory=dict)

    def reply(self, *, user_id: str, thread_id: str, text: str, on_token: Callable[[str], None] | None) -> str:
        self.seen.append((user_id, thread_id, text))
        if self.delay_s:
            time.sleep(self.delay_s)
        turns = self.history.setdefault((user_id, thread_id), [])
        turns.append({"role": "user", "content": text})
        pieces = []
        for piece in self.llm.stream([{"role": "system", "content": "test"}, *turns]):
            pieces.append(piece)
            if on_token is not None:
                on_token(piece)
        answer = "".join(pieces)
        turns.append({"role": "assistant", "content": answer})
        return answer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def fake_slack() -> Iterator[FakeSlackAPI]:
    api = FakeSlackAPI().start()
    yield api
    api.stop()


@dataclass
class Bot:
    """A bot served over real HTTP against the fake Web API."""

    handle: SlackHandle
    api: FakeSlackAPI
    settings: Settings
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def url(self) -> str:
        return self.handle.url

    def next_ts(self) -> str:
        return f"1712345678.{next(self._ids):06d}"

    def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, float]:
        """POST raw bytes; returns (status, seconds until the answer came)."""
        req = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        start = time.monotonic()
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                status = resp.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        return status, time.monotonic() - start

    def send_event(self, event: dict[str, Any], *, event_id: str | None = None, retry: int | None = None,
                   secret: str = SECRET, timestamp: int | None = None) -> tuple[int, float]:
        body = json.dumps(event_envelope(event, event_id or f"Ev{next(self._ids):08d}")).encode()
        headers = signed_headers(body, secret=secret, timestamp=timestamp, content_type="application/json")
        if retry is not None:
            headers["X-Slack-Retry-Num"] = str(retry)
            headers["X-Slack-Retry-Reason"] = "http_timeout"
        return self.post(body, headers)

    def send_command(self, text: str, *, user: str, channel: str = "D1") -> tuple[int, dict[str, Any]]:
        body = urlencode({
            "command": self.settings.slack.command, "text": text, "user_id": user, "channel_id": channel,
            "team_id": "T1", "trigger_id": "1.2.3", "response_url": self.api.response_url(),
            "channel_name": "directmessage" if channel.startswith("D") else "general",
        }).encode()
        headers = signed_headers(body, content_type="application/x-www-form-urlencoded")
        req = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read().decode()
            return resp.status, json.loads(raw) if raw else {}

    def replies(self, thread_ts: str) -> list[dict[str, Any]]:
        return [m for m in self.api.messages() if m["thread_ts"] == thread_ts]

    def final_reply(self, thread_ts: str, timeout: float = 15.0) -> dict[str, Any]:
        """Wait for the one reply in a thread to stop being a placeholder or a partial text."""
        def done() -> dict[str, Any] | None:
            got = [m for m in self.replies(thread_ts)
                   if "thinking" not in str(m["text"]) and not str(m["text"]).endswith(" …")]
            return got[0] if got else None
        reply: dict[str, Any] = self.api.wait_for(done, timeout)
        return reply


def event_envelope(event: dict[str, Any], event_id: str) -> dict[str, Any]:
    return {
        "token": "legacy", "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
        "event": event, "event_id": event_id, "event_time": int(time.time()),
        "authorizations": [{"team_id": "T1", "user_id": BOT_USER, "is_bot": True}],
    }


def dm(user: str, text: str, ts: str, channel: str = "D1", thread_ts: str | None = None) -> dict[str, Any]:
    event = {"type": "message", "channel": channel, "user": user, "text": text, "ts": ts,
             "event_ts": ts, "channel_type": "im"}
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def mention(user: str, text: str, ts: str, channel: str = "C1", thread_ts: str | None = None) -> dict[str, Any]:
    event = {"type": "app_mention", "channel": channel, "user": user, "text": f"<@{BOT_USER}> {text}",
             "ts": ts, "event_ts": ts}
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def signed_headers(body: bytes, *, secret: str = SECRET, timestamp: int | None = None,
                   content_type: str) -> dict[str, str]:
    """Headers as Slack signs them: v0=HMAC-SHA256(secret, "v0:{ts}:{body}")."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


@pytest.fixture
def make_bot(home: Path, fake_slack: FakeSlackAPI, monkeypatch: pytest.MonkeyPatch
             ) -> Iterator[Callable[..., Bot]]:
    """Start a bot in HTTP mode: make_bot(conversation=..., store=..., **slack_settings)."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test-token")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SECRET)
    monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)
    started: list[SlackHandle] = []
    opened: list[App] = []

    def make(*, conversation: Any = None, store: Any = None, llm: Any = None,
             settings: Settings | None = None, **slack: Any) -> Bot:
        base = settings or Settings()
        cfg = {"base_url": fake_slack.base_url, "http_port": free_port(), "stream_interval_s": 0.2, **slack}
        merged = base.model_copy(update={"slack": SlackSettings(**{**base.slack.model_dump(), **cfg})})
        parts = App(merged, llm_factory=lambda: llm, store_factory=lambda: store)
        handle = start_slack(parts, conversation=conversation)
        started.append(handle)
        opened.append(parts)
        return Bot(handle=handle, api=fake_slack, settings=merged)

    yield make
    for handle in started:
        handle.stop()
    for parts in opened:
        parts.close()


def scripted(replies: Sequence[str] | Callable[[Sequence[Message]], str] = ("Hello there, happy to help.",),
             delay_s: float = 0.0) -> ScriptedConversation:
    return ScriptedConversation(llm=ScriptedChatModel(replies), delay_s=delay_s)

