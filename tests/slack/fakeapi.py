"""A fake Slack Web API on 127.0.0.1 that records calls and can answer 429 with Retry-After.

Implements what the bot uses: auth.test, chat.postMessage, chat.update,
chat.postEphemeral, and response_url webhooks under /respond/. Every other method
answers {"ok": true}. `messages()` folds posts and updates into the messages a Slack
user would see now.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

BOT_USER = "UBOT"


@dataclass
class Call:
    """One request the fake received."""

    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)
    status: int = 200
    result: dict[str, Any] = field(default_factory=dict)


class FakeSlackAPI:
    """Start with `start()`; point `SlackSettings.base_url` at `base_url`."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._limits: dict[str, list[int]] = {}
        self.errors: dict[str, str] = {}  # method -> Slack error code to answer with ok=false
        self._once: dict[str, list[str]] = {}  # method -> errors for its next calls, in order
        self._ts = itertools.count(1)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8")
                if "json" in (self.headers.get("Content-Type") or ""):
                    params = json.loads(raw or "{}")
                else:
                    params = {k: v[0] for k, v in parse_qs(raw).items()}
                status, headers, body = fake._answer(self.path, params)
                data = body.encode("utf-8")
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/"

    def response_url(self, name: str = "r1") -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/respond/{name}"

    def start(self) -> FakeSlackAPI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail_next(self, method: str, error: str) -> None:
        """Answer the next call of `method` with ok=false and `error` (queued in order)."""
        with self._lock:
            self._once.setdefault(method, []).append(error)

    @property
    def posts(self) -> list[dict[str, Any]]:
        """The parameters of every chat.postMessage, accepted or not."""
        with self._lock:
            return [c.params for c in self.calls if c.method == "chat.postMessage" and c.status == 200]

    def rate_limit(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        """Answer the next `times` calls of `method` with 429 and Retry-After."""
        with self._lock:
            self._limits[method] = [times, retry_after]

    def _answer(self, path: str, params: dict[str, Any]) -> tuple[int, dict[str, str], str]:
        if path.startswith("/respond/"):
            with self._lock:
                self.calls.append(Call("respond", params))
            return 200, {"Content-Type": "text/plain"}, "ok"
        method = path.removeprefix("/api/")
        with self._lock:
            limit = self._limits.get(method)
            if limit and limit[0] > 0:
                limit[0] -= 1
                self.calls.append(Call(method, params, status=429))
                return 429, {"Retry-After": str(limit[1]), "Content-Type": "application/json"}, json.dumps(
                    {"ok": False, "error": "ratelimited"}
                )
            call = Call(method, params)
            self.calls.append(call)
            body: dict[str, Any] = {"ok": True}
            call.result = body
            once = self._once.get(method)
            if once or method in self.errors:
                body.update(ok=False, error=once.pop(0) if once else self.errors[method])
                return 200, {"Content-Type": "application/json"}, json.dumps(body)
            if method == "auth.test":
                body.update(team_id="T1", team="test", user_id=BOT_USER, user="assistant", bot_id="BBOT",
                            url="https://test.slack.com/")
            elif method == "chat.postMessage":
                ts = f"1700000000.{next(self._ts):06d}"
                body.update(channel=params.get("channel"), ts=ts, message={"text": params.get("text"), "ts": ts})
            elif method == "chat.update":
                body.update(channel=params.get("channel"), ts=params.get("ts"), text=params.get("text"))
            elif method == "chat.postEphemeral":
                body.update(message_ts=f"1700000000.{next(self._ts):06d}")
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    # -- what a Slack user would see ------------------------------------------

    def ok_calls(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method and c.status == 200]

    def messages(self) -> list[dict[str, Any]]:
        """Posted messages with their latest text: channel, thread_ts, ts, text, updates."""
        shown: dict[str, dict[str, Any]] = {}
        with self._lock:
            calls = list(self.calls)
        for call in calls:
            if call.status != 200:
                continue
            if call.method == "chat.postMessage":
                ts = call.result["ts"]
                shown[ts] = {
                    "channel": call.params.get("channel"),
                    "thread_ts": call.params.get("thread_ts"),
                    "ts": ts,
                    "text": call.params.get("text"),
                    "updates": 0,
                }
            elif call.method == "chat.update" and call.params.get("ts") in shown:
                shown[call.params["ts"]]["text"] = call.params.get("text")
                shown[call.params["ts"]]["updates"] += 1
        return list(shown.values())

    def wait_for(self, check: Callable[[], Any], timeout: float = 15.0) -> Any:
        """Poll until `check()` is truthy; returns its value or fails the test."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"timed out after {timeout}s; calls: {[c.method for c in self.calls]}")
