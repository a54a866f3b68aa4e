"""A fake Slack Web API on 127.0.0.1 that records every call (for the digest post tests)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


class FakeSlack:
    """Answers chat.postMessage with ok (or a scripted error) and records the calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.errors: list[str] = []  # next chat.postMessage answers fail with these, in order
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - stdlib name
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                if "json" in (self.headers.get("Content-Type") or ""):
                    body = json.loads(raw or "{}")
                else:
                    body = {k: v[0] for k, v in parse_qs(raw).items()}
                method = self.path.rsplit("/", 1)[-1]
                fake.calls.append((method, body))
                if method == "auth.test":
                    answer: dict[str, Any] = {
                        "ok": True,
                        "user_id": "UBOT",
                        "bot_id": "BBOT",
                        "team_id": "T1",
                        "user": "assistant",
                        "team": "test",
                        "url": "https://test.slack.com/",
                    }
                elif method == "chat.postMessage" and fake.errors:
                    answer = {"ok": False, "error": fake.errors.pop(0)}
                else:
                    n = len(fake.posts)
                    answer = {
                        "ok": True,
                        "channel": body.get("channel", "C1"),
                        "ts": f"1700000000.{n:06d}",
                    }
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/"

    @property
    def posts(self) -> list[dict[str, Any]]:
        return [body for method, body in self.calls if method == "chat.postMessage"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
