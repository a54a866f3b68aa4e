"""The Events API listener: a threaded HTTP server that hands each POST to Bolt.

Bolt's own `App.start()` serves one request at a time on 0.0.0.0; we bind the configured
host, serve requests in parallel (a slow one must not delay another's 3-second ack),
cap the body size and answer malformed signature headers with 401 before Bolt sees them.

Given the signing secret, the server checks the signature and timestamp itself before
Bolt parses anything: Bolt parses the body first (an unsigned non-JSON body raised a
traceback) and logs rejected bodies verbatim at INFO (a forged body could write a fake
log line, and big ones rotated the log history away). Rejections are logged here as one
fixed line without the body, at most once a minute. Bolt still checks again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse

from assistant.safetext import for_log

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
MAX_BODY = 1_000_000  # Slack payloads are a few KB; refuse anything absurd
MAX_AGE_S = 300  # Slack's rule: refuse requests signed more than five minutes ago (replays)
REJECT_LOG_EVERY_S = 60.0  # forged requests are counted, and logged at most this often


class _Handler(BaseHTTPRequestHandler):
    server: SlackHTTPServer
    protocol_version = "HTTP/1.1"
    timeout = 15  # seconds per socket read: a stalled client cannot pin a thread forever

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        log.debug("%s %s", self.address_string(), for_log(format % args))

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        if self.path.partition("?")[0] == "/healthz":
            self._send(200, {}, "ok")
        else:
            self._send(404, {}, "")

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        path, _, query = self.path.partition("?")
        if path != EVENTS_PATH:
            self._send(404, {}, "")
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self._send(413, {}, "")
            self.close_connection = True
            return
        raw = self.rfile.read(length)
        timestamp = self.headers.get("X-Slack-Request-Timestamp", "")
        signature = self.headers.get("X-Slack-Signature", "")
        if not timestamp.isdigit() or not signature or not self.server.verified(raw, timestamp, signature):
            self.server.rejected()
            self._send(401, {}, json.dumps({"error": "invalid request"}))
            return
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            self._send(400, {}, "")
            return
        headers: dict[str, str | Sequence[str]] = {k.lower(): v for k, v in self.headers.items()}
        resp: BoltResponse = self.server.app.dispatch(BoltRequest(body=body, query=query, headers=headers))
        self._send(resp.status, resp.headers, resp.body)

    def _send(self, status: int, headers: dict[str, Any], body: str | dict[str, Any]) -> None:
        text = body if isinstance(body, str) else json.dumps(body)
        data = text.encode("utf-8")
        self.send_response(status)
        for key, values in headers.items():
            if key.lower() == "content-length":
                continue
            for value in values if isinstance(values, (list, tuple)) else [values]:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class SlackHTTPServer(ThreadingHTTPServer):
    """Serves `EVENTS_PATH` (events, slash commands) for one Bolt app."""

    daemon_threads = True

    def __init__(self, app: App, host: str, port: int, signing_secret: str | None = None) -> None:
        self.app = app
        self._secret = signing_secret.encode() if signing_secret else None
        self._rejects = 0
        self._rejects_logged_at = 0.0
        self._reject_lock = threading.Lock()
        super().__init__((host, port), _Handler)
        self._thread: threading.Thread | None = None

    def verified(self, body: bytes, timestamp: str, signature: str) -> bool:
        """Slack's signature and a fresh timestamp (True when no secret was given: Bolt checks)."""
        if self._secret is None:
            return True
        if abs(time.time() - int(timestamp)) > MAX_AGE_S:
            return False
        # Over the raw bytes: slack-sdk's verifier decodes first and raises on bad UTF-8.
        mac = hmac.new(self._secret, b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256)
        return hmac.compare_digest("v0=" + mac.hexdigest(), signature)

    def rejected(self) -> None:
        """Count a rejected request; log one fixed line (no body) at most once a minute."""
        with self._reject_lock:
            self._rejects += 1
            now = time.monotonic()
            if now - self._rejects_logged_at < REJECT_LOG_EVERY_S:
                return
            self._rejects_logged_at = now
            count, self._rejects = self._rejects, 0
        log.warning("rejected %d Slack request(s) with a missing or invalid signature", count)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}{EVENTS_PATH}"

    def start(self) -> None:
        """Serve on a background thread."""
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.2}, name="slack-http", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting requests and close the socket."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join(timeout=5)
        self.server_close()
