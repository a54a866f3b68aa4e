"""A reply that grows in place: one placeholder message, then throttled chat.update calls.

Tokens arrive on the generation thread; an update runs on its own short thread so a
slow or rate-limited Web API call never stalls generation. At most one update is in
flight; the final text waits for it, so an older partial text can never overwrite the
finished reply.
"""

from __future__ import annotations

import logging
import threading
import time

from slack_sdk import WebClient

log = logging.getLogger(__name__)

PLACEHOLDER = "_thinking…_"
MAX_CHARS = 3900  # Slack truncates long text fields; keep each message readable


class StreamingReply:
    """Post a placeholder in a thread and update it as the reply streams in."""

    def __init__(
        self, client: WebClient, *, channel: str, thread_ts: str, interval_s: float
    ) -> None:
        self.client = client
        self.channel = channel
        self.thread_ts = thread_ts
        self.interval_s = interval_s
        self.ts: str | None = None
        self._text = ""
        self._last = 0.0
        self._lock = threading.Lock()
        self._inflight: threading.Thread | None = None
        self._shown = ""

    def start(self) -> None:
        """Post the placeholder (retried by the client's rate-limit handler)."""
        resp = self.client.chat_postMessage(
            channel=self.channel, thread_ts=self.thread_ts, text=PLACEHOLDER
        )
        self.ts = str(resp["ts"])
        self._last = time.monotonic()

    def on_token(self, piece: str) -> None:
        """Add a piece; start an update when the interval passed and none is in flight."""
        with self._lock:
            self._text += piece
            now = time.monotonic()
            busy = self._inflight is not None and self._inflight.is_alive()
            if busy or now - self._last < self.interval_s or not self._text.strip():
                return
            self._last = now
            text = _clip(self._text) + " …"
            self._inflight = threading.Thread(target=self._update, args=(text,), daemon=True)
            self._inflight.start()

    def _update(self, text: str) -> None:
        try:
            self.client.chat_update(channel=self.channel, ts=self.ts or "", text=text)
            self._shown = text
        except Exception as exc:  # a lost partial update is harmless; the final one is not
            log.warning("partial Slack update failed: %s", exc)

    def finish(self, text: str) -> None:
        """Replace the placeholder with the final text (after any in-flight update)."""
        with self._lock:
            inflight = self._inflight
        if inflight is not None:
            inflight.join()
        final = _clip(text.strip()) or "(no reply)"
        if final != self._shown:
            self.client.chat_update(channel=self.channel, ts=self.ts or "", text=final)
            self._shown = final


def _clip(text: str) -> str:
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…"
