"""Loopback servers for the connector tests: a fake arXiv (RSS + API) and a fake Slack Web API.

Both are real HTTP servers on 127.0.0.1 in a background thread, so the connectors run
their real code paths (httpx, slack-sdk's urllib client, retry handlers).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from tests.connectors import docs


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class Loopback:
    """Start/stop plumbing shared by both fakes."""

    def __init__(self) -> None:
        self.release = threading.Event()  # set on stop: hung handlers return
        self.lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), self._handler_class())
        self._server.owner = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError


# -- arXiv ---------------------------------------------------------------------------------


@dataclass
class Route:
    """What one arXiv path answers."""

    body: bytes = b""
    etag: str = ""
    last_modified: str = ""
    failures: list[tuple[int, str | None]] = field(
        default_factory=list
    )  # (status, Retry-After) served first
    hang: bool = False  # send headers and half the body, then never finish
    stream_bytes: int = 0  # stream this many filler bytes (a huge document)
    content_length: bool = True
    content_type: str = "application/rss+xml; charset=utf-8"
    headers: dict[str, str] = field(
        default_factory=dict
    )  # extra response headers (Content-Encoding)


@dataclass
class Hit:
    """One request the fake arXiv received."""

    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    start: float
    end: float = 0.0
    status: int = 0


class ArxivServer(Loopback):
    """Serves `routes` (path -> Route); `/api/query` answers by search_query."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: list[Hit] = []
        self.active = 0
        self.max_active = 0
        super().__init__()

    def hits_for(self, path: str) -> list[Hit]:
        return [h for h in self.hits if h.path == path]

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _ArxivHandler


def _api_route(query: dict[str, list[str]]) -> Route:
    q = (query.get("search_query") or [""])[0]
    if "bad" in q:
        return Route(docs.API_ERROR, content_type="application/atom+xml")
    if "nothing" in q:
        return Route(docs.API_EMPTY, content_type="application/atom+xml")
    return Route(docs.API_RESULTS, content_type="application/atom+xml")


class _ArxivHandler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def do_GET(self) -> None:
        owner: ArxivServer = self.server.owner  # type: ignore[attr-defined]
        parts = urlsplit(self.path)
        hit = Hit(parts.path, parse_qs(parts.query), dict(self.headers.items()), time.monotonic())
        with owner.lock:
            owner.hits.append(hit)
            owner.active += 1
            owner.max_active = max(owner.max_active, owner.active)
        try:
            hit.status = self._answer(owner, parts.path, hit)
        except (BrokenPipeError, ConnectionResetError):
            hit.status = -1  # the client hung up (e.g. it hit its byte cap)
        finally:
            hit.end = time.monotonic()
            with owner.lock:
                owner.active -= 1

    def _answer(self, owner: ArxivServer, path: str, hit: Hit) -> int:
        route = owner.routes.get(path) or (_api_route(hit.query) if path == "/api/query" else None)
        if route is None:
            return self._plain(404, b"not found")
        with owner.lock:
            failure = route.failures.pop(0) if route.failures else None
        if failure is not None:
            status, retry_after = failure
            extra = {"Retry-After": retry_after} if retry_after is not None else {}
            return self._plain(status, b"slow down", extra)
        if route.etag and self.headers.get("If-None-Match") == route.etag:
            self.send_response(304)
            self.send_header("ETag", route.etag)
            self.end_headers()
            return 304
        if route.last_modified and self.headers.get("If-Modified-Since") == route.last_modified:
            self.send_response(304)
            self.end_headers()
            return 304
        self.send_response(200)
        self.send_header("Content-Type", route.content_type)
        if route.etag:
            self.send_header("ETag", route.etag)
        if route.last_modified:
            self.send_header("Last-Modified", route.last_modified)
        for key, value in route.headers.items():
            self.send_header(key, value)
        if route.hang:
            self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            self.wfile.write(route.body[: len(route.body) // 2])
            self.wfile.flush()
            owner.release.wait(60)  # never finishes (until the test stops the server)
            return 200
        if route.stream_bytes:
            if route.content_length:
                self.send_header("Content-Length", str(route.stream_bytes))
            self.end_headers()
            chunk = b"<!-- " + b"x" * 65_000 + b" -->\n"
            sent = 0
            while sent < route.stream_bytes and not owner.release.is_set():
                self.wfile.write(chunk)
                sent += len(chunk)
            return 200
        self.send_header("Content-Length", str(len(route.body)))
        self.end_headers()
        self.wfile.write(route.body)
        return 200

    def _plain(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> int:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        return status


# -- Slack ---------------------------------------------------------------------------------

TOKEN = "xoxb-test-token"
ME = "U0MEMEME1"


# message times start a day ago, so they fall inside the default 7-day backfill window
BASE_TS = int(time.time()) - 86_400


def _ts(n: int) -> str:
    return f"{BASE_TS + n * 60}.{n:06d}"


def default_workspace() -> dict[str, Any]:
    """Channels, users and messages of the fake workspace."""
    general = [
        {"type": "message", "ts": _ts(1), "user": "U0ADA0001", "text": "Morning all"},
        {
            "type": "message",
            "ts": _ts(2),
            "user": "U0BOB0001",
            "text": f"<@{ME}> can you review the draft?",
        },
        {
            "type": "message",
            "ts": _ts(3),
            "user": "U0ADA0001",
            "text": "Thread about the split-softmax results",
            "thread_ts": _ts(3),
            "reply_count": 3,
            "reply_users": ["U0BOB0001", ME],
        },
        {
            "type": "message",
            "subtype": "channel_join",
            "ts": _ts(4),
            "user": "U0NEW0001",
            "text": "joined",
        },
        {"type": "message", "ts": _ts(5), "user": "U0BOB0001", "text": "Lunch?"},
        {
            "type": "message",
            "subtype": "bot_message",
            "ts": _ts(6),
            "username": "ci-bot",
            "text": "build green",
        },
        {"type": "message", "ts": _ts(7), "user": "U0ADA0001", "text": "Last one for now"},
    ]
    replies = {
        _ts(3): [
            {
                "type": "message",
                "ts": _ts(31),
                "thread_ts": _ts(3),
                "user": "U0BOB0001",
                "text": "Nice curve",
            },
            {
                "type": "message",
                "ts": _ts(32),
                "thread_ts": _ts(3),
                "user": ME,
                "text": "Agreed, k=0.5 works",
            },
            {
                "type": "message",
                "ts": _ts(33),
                "thread_ts": _ts(3),
                "user": "U0ADA0001",
                "text": "Shipping it",
            },
        ]
    }
    random = [
        {"type": "message", "ts": _ts(i), "user": "U0BOB0001", "text": f"random {i}"}
        for i in range(10, 15)
    ]
    channels = [{"id": f"C0FILL{i:04d}", "name": f"filler-{i}"} for i in range(5)]
    channels += [
        {"id": "C0GENERAL1", "name": "general"},
        {"id": "C0RANDOM01", "name": "random"},
        {"id": "C0SECRET01", "name": "secret", "is_private": True},
        {"id": "C0SCOPE001", "name": "scoped"},
        {"id": "C0AUTH0001", "name": "authfail"},
    ]
    return {
        "channels": channels,
        "messages": {"C0GENERAL1": general, "C0RANDOM01": random},
        "replies": {"C0GENERAL1": replies},
        "users": {
            "U0ADA0001": {"id": "U0ADA0001", "name": "ada", "profile": {"display_name": "Ada L"}},
            "U0BOB0001": {
                "id": "U0BOB0001",
                "name": "bob",
                "profile": {"display_name": "", "real_name": "Bob B"},
            },
            ME: {"id": ME, "name": "me", "profile": {"display_name": "Me"}},
        },
        # (method, channel) -> error code answered with ok=false
        "errors": {
            ("conversations.history", "C0SECRET01"): "not_in_channel",
            ("conversations.history", "C0SCOPE001"): "missing_scope",
            ("conversations.history", "C0AUTH0001"): "invalid_auth",
        },
    }


class SlackServer(Loopback):
    """Answers auth.test, conversations.list/history/replies and users.info like Slack does."""

    def __init__(self) -> None:
        self.workspace = default_workspace()
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.rate_limits: dict[str, list[str]] = {}  # method -> Retry-After values answered first
        self.server_errors: dict[str, int] = {}  # method -> number of 503s answered first
        self.hang: set[str] = set()  # methods that never answer (until stop)
        super().__init__()

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    def count(self, method: str) -> int:
        return sum(1 for m, _ in self.calls if m == method)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _SlackHandler


class _SlackHandler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        owner: SlackServer = self.server.owner  # type: ignore[attr-defined]
        parts = urlsplit(self.path)
        method = parts.path.rsplit("/", 1)[-1]
        params = {k: v[0] for k, v in parse_qs(parts.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if raw:
            if raw.lstrip().startswith(b"{"):
                params.update({k: str(v) for k, v in json.loads(raw).items()})
            else:
                params.update({k: v[0] for k, v in parse_qs(raw.decode()).items()})
        with owner.lock:
            owner.calls.append((method, params))
            limited = owner.rate_limits.get(method)
            retry_after = limited.pop(0) if limited else None
            down = owner.server_errors.get(method, 0)
            if down:
                owner.server_errors[method] = down - 1
        if method in owner.hang:
            owner.release.wait(60)
            return None
        if retry_after is not None:
            return self._json(
                {"ok": False, "error": "ratelimited"}, 429, {"Retry-After": retry_after}
            )
        if down:
            return self._json({"ok": False, "error": "service_unavailable"}, 503)
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._json({"ok": False, "error": "invalid_auth"})
        self._json(_answer(owner.workspace, method, params))

    def _json(
        self, data: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
    ) -> None:
        body = json.dumps(data).encode()
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _page(items: list[Any], params: dict[str, str], key: str) -> dict[str, Any]:
    limit = int(params.get("limit") or 100)
    start = int(params.get("cursor") or 0)
    chunk = items[start : start + limit]
    more = start + limit < len(items)
    return {
        "ok": True,
        key: chunk,
        "has_more": more,
        "response_metadata": {"next_cursor": str(start + limit) if more else ""},
    }


def _key(ts: str) -> tuple[int, int]:
    sec, _, frac = ts.partition(".")
    return int(sec), int(frac or 0)


def _answer(ws: dict[str, Any], method: str, params: dict[str, str]) -> dict[str, Any]:
    channel = params.get("channel", "")
    code = ws["errors"].get((method, channel))
    if code == "missing_scope":
        return {"ok": False, "error": code, "needed": "channels:history", "provided": "chat:write"}
    if code:
        return {"ok": False, "error": code}
    if method == "auth.test":
        return {
            "ok": True,
            "url": "https://fake-team.slack.com/",
            "team": "Fake",
            "user_id": "U0BOT0001",
        }
    if method == "conversations.list":
        return _page(ws["channels"], params, "channels")
    if method == "users.info":
        user = ws["users"].get(params.get("user", ""))
        return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}
    known = {c["id"] for c in ws["channels"]}
    if channel not in known:
        return {"ok": False, "error": "channel_not_found"}
    if method == "conversations.history":
        oldest = params.get("oldest") or "0"
        msgs = [m for m in ws["messages"].get(channel, []) if _key(m["ts"]) > _key(oldest)]
        msgs.sort(key=lambda m: _key(m["ts"]), reverse=True)  # newest first, like Slack
        return _page(msgs, params, "messages")
    if method == "conversations.replies":
        parent = next(
            (m for m in ws["messages"].get(channel, []) if m["ts"] == params.get("ts")), None
        )
        if parent is None:
            return {"ok": False, "error": "thread_not_found"}
        oldest = params.get("oldest") or "0"
        replies = ws["replies"].get(channel, {}).get(parent["ts"], [])
        thread = [parent] + [
            m for m in replies if _key(m["ts"]) > _key(oldest)
        ]  # parent always first
        return _page(thread, params, "messages")
    return {"ok": False, "error": "unknown_method"}
