"""Slack channels as feed items, read with slack-sdk's WebClient.

`web_client` adds slack-sdk's rate-limit and server-error retry handlers (by default it only
retries dropped connections), so a 429 waits for Retry-After and a 500/503 is retried.
`SlackReader` resolves channel names, reads history and thread replies with cursor
pagination from a given timestamp, resolves user names once per reader, and marks messages
that mention the user and threads the user took part in. Auth and membership errors become
one `ConnectorError` line naming the channel and the fix; the caller goes on with the rest.
"""

from __future__ import annotations

import http.client
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from assistant.errors import ConnectorAuthError, ConnectorError, RateLimited
from memory.types import Item

log = logging.getLogger(__name__)

TOKEN_ENV = "SLACK_BOT_TOKEN"  # named in error messages; read by assistant.app only
_CHANNEL_ID_RE = re.compile(r"^[CGD][A-Z0-9]{6,}$")
# subtypes that are not conversation (joins, topic changes...) are not feed items
_KEPT_SUBTYPES = {None, "bot_message", "thread_broadcast", "file_share", "me_message"}
# what a Web API call can raise: API errors, and from urllib timeouts, resets, bad bodies
_FAILURES = (SlackApiError, SlackClientError, OSError, http.client.HTTPException, ValueError)
_AUTH_ERRORS = {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"}


class BoundedRateLimitHandler(RateLimitErrorRetryHandler):
    """slack-sdk's 429 handler (sleeps Retry-After), but gives up when Slack asks for longer
    than `max_wait_s`, so a pull never sleeps for an hour inside one call."""

    def __init__(self, max_retry_count: int, max_wait_s: float) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait_s = max_wait_s

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        for key, values in response.headers.items():
            if key.lower() == "retry-after":
                value = values[0] if isinstance(values, list) else values
                try:
                    return float(value) <= self.max_wait_s
                except (TypeError, ValueError):
                    return True
        return True


def web_client(
    token: str,
    base_url: str = "https://slack.com/api/",
    *,
    retries: int = 3,
    max_retry_after_s: float = 120.0,
    timeout_s: int = 30,
) -> WebClient:
    """A WebClient that honours Retry-After on 429 and retries 500/503 and dropped connections."""
    handlers = [
        ConnectionErrorRetryHandler(max_retry_count=retries),
        BoundedRateLimitHandler(max_retry_count=retries, max_wait_s=max_retry_after_s),
        ServerErrorRetryHandler(max_retry_count=retries),
    ]
    return WebClient(token=token, base_url=base_url, timeout=timeout_s, retry_handlers=handlers)


@dataclass(frozen=True)
class Channel:
    """A configured channel, resolved to its id."""

    id: str
    name: str  # without '#'; the id again when the name is unknown
    spec: str  # as written in config

    @property
    def label(self) -> str:
        return f"#{self.name} ({self.id})" if self.name != self.id else self.id


@dataclass
class ChannelRead:
    """Messages read from one channel and the newest top-level timestamp seen."""

    channel: Channel
    items: list[Item] = field(default_factory=list)
    latest_ts: str = ""
    truncated: bool = False  # stopped at slack_max_pages; older messages were skipped
    threads: dict[str, dict[str, Any]] = field(default_factory=dict)  # followed threads, to persist


def explain(error: Exception, what: str) -> ConnectorError:
    """One line naming `what` failed and how to fix it."""
    if isinstance(error, SlackApiError):
        response = error.response
        code = str(response.get("error", "")) if response is not None else ""
        status = getattr(response, "status_code", 0)
        if status == 429 or code == "ratelimited":
            after = response.headers.get("Retry-After") if response is not None else None
            return RateLimited(
                f"Slack rate-limited {what} and retries ran out; the next pull continues from where this one stopped",
                retry_after=float(after) if after and str(after).isdigit() else None,
            )
        if code in _AUTH_ERRORS:
            return ConnectorAuthError(
                f"Slack rejected the token ({code}) reading {what}: set {TOKEN_ENV} to the app's "
                "current bot token (xoxb-...)"
            )
        if code == "missing_scope":
            needed = response.get("needed", "") if response is not None else ""
            return ConnectorAuthError(
                f"the bot token lacks scope {needed or '(unknown)'} for {what}: add it under OAuth & "
                "Permissions in the Slack app settings and reinstall the app"
            )
        if code == "not_in_channel":
            return ConnectorAuthError(
                f"the bot is not a member of {what}: invite it there with /invite @your-bot"
            )
        if code == "channel_not_found":
            return ConnectorError(
                f"{what} was not found: check feeds.slack_channels (a channel id like C0123 or the exact "
                "name) and that the bot can see the channel"
            )
        return ConnectorError(
            f"Slack API error '{code or status}' reading {what}; will retry on the next pull"
        )
    return ConnectorError(
        f"Slack could not be reached reading {what} ({error}); will retry on the next pull"
    )


class SlackReader:
    """Reads configured channels through a WebClient (point its base_url at a fake in tests)."""

    def __init__(
        self,
        client: WebClient,
        *,
        owner: str,
        me: str = "",
        page_limit: int = 200,
        max_pages: int = 50,
    ) -> None:
        self.client = client
        self.owner = owner
        self.me = me
        self.page_limit = page_limit
        self.max_pages = max_pages
        self._names: dict[str, str] = {}
        self._names_failed = False
        self._team_url: str | None = None

    # -- channels -------------------------------------------------------------------

    def resolve(self, specs: list[str]) -> tuple[list[Channel], list[tuple[str, ConnectorError]]]:
        """Configured names/ids -> channels; unresolved ones come back with their error line."""
        wanted = [s.strip() for s in specs if s.strip()]
        names = {s.lstrip("#") for s in wanted if not _CHANNEL_ID_RE.match(s.lstrip("#"))}
        by_name: dict[str, str] = {}
        by_id: dict[str, str] = {}
        list_error: ConnectorError | None = None
        if names:
            try:
                for page in self._pages(
                    "conversations_list",
                    types="public_channel,private_channel",
                    exclude_archived=True,
                ):
                    for ch in page.get("channels", []):
                        by_name[str(ch.get("name", ""))] = str(ch["id"])
                        by_id[str(ch["id"])] = str(ch.get("name", ""))
            except _FAILURES as exc:
                list_error = explain(exc, "the channel list (conversations.list)")
        channels: list[Channel] = []
        failed: list[tuple[str, ConnectorError]] = []
        for spec in wanted:
            bare = spec.lstrip("#")
            if _CHANNEL_ID_RE.match(bare):
                channels.append(Channel(bare, by_id.get(bare, bare), spec))
            elif bare in by_name:
                channels.append(Channel(by_name[bare], bare, spec))
            elif list_error is not None:
                failed.append(
                    (spec, ConnectorError(f"cannot resolve channel #{bare}: {list_error}"))
                )
            else:
                failed.append(
                    (
                        spec,
                        ConnectorError(
                            f"channel #{bare} was not found: check the name in feeds.slack_channels, or use "
                            "its id (C0123...); private channels need the bot invited and groups:read"
                        ),
                    )
                )
        return channels, failed

    # -- messages -------------------------------------------------------------------

    def read(
        self,
        channel: Channel,
        oldest: str,
        threads: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        follow_since: float = 0.0,
        follow_max: int = 50,
    ) -> ChannelRead:
        """Messages newer than `oldest` (a Slack ts) with their thread replies, plus new replies
        in the followed `threads` ({thread_ts: {"last": ts, "mine": bool}}) whose parents are
        older than `oldest`. Raises ConnectorError."""
        out = ChannelRead(channel)
        try:
            pages = 0
            for page in self._pages(
                "conversations_history", channel=channel.id, oldest=oldest, inclusive=False
            ):
                pages += 1
                for msg in page.get("messages", []):
                    if msg.get("subtype") not in _KEPT_SUBTYPES or not msg.get("ts"):
                        continue
                    if ts_key(msg["ts"]) > ts_key(out.latest_ts):
                        out.latest_ts = str(msg["ts"])
                    out.items.extend(self._message_and_thread(channel, msg, out.threads))
                if pages >= self.max_pages and page.get("has_more"):
                    out.truncated = True
                    log.warning(
                        "%s: stopped after %d pages; older messages were skipped (raise feeds.slack_max_pages)",
                        channel.label,
                        pages,
                    )
                    break
            if follow_max > 0:
                for thread_ts, seen in (threads or {}).items():
                    if thread_ts not in out.threads:
                        out.items.extend(self._follow(channel, thread_ts, seen, out.threads))
        except _FAILURES as exc:
            raise explain(exc, channel.label) from None
        recent = [(ts, t) for ts, t in out.threads.items() if float(t["last"]) >= follow_since]
        recent.sort(key=lambda pair: ts_key(str(pair[1]["last"])), reverse=True)
        out.threads = dict(recent[:follow_max])
        return out

    def _message_and_thread(
        self, channel: Channel, msg: dict[str, Any], threads: dict[str, dict[str, Any]]
    ) -> list[Item]:
        thread = [msg]
        if int(msg.get("reply_count") or 0) > 0 and msg.get("thread_ts", msg["ts"]) == msg["ts"]:
            for page in self._pages("conversations_replies", channel=channel.id, ts=msg["ts"]):
                thread.extend(m for m in page.get("messages", []) if m.get("ts") != msg["ts"])
        mine = bool(self.me) and (
            any(m.get("user") == self.me for m in thread)
            or self.me in (msg.get("reply_users") or [])
        )
        if len(thread) > 1:
            last = max((str(m["ts"]) for m in thread), key=ts_key)
            threads[str(msg["ts"])] = {"last": last, "mine": mine}
        return [
            self._item(channel, m, my_thread=mine and (len(thread) > 1 or "thread_ts" in m))
            for m in thread
        ]

    def _follow(
        self,
        channel: Channel,
        thread_ts: str,
        seen: Mapping[str, Any],
        threads: dict[str, dict[str, Any]],
    ) -> list[Item]:
        # history with `oldest` never returns an old parent, so replies to it come from here
        last = str(seen.get("last") or thread_ts)
        try:
            pages = list(
                self._pages(
                    "conversations_replies",
                    channel=channel.id,
                    ts=thread_ts,
                    oldest=last,
                    inclusive=False,
                )
            )
        except SlackApiError as exc:
            if exc.response is not None and exc.response.get("error") == "thread_not_found":
                return []  # the parent was deleted: stop following it
            raise
        messages = [m for page in pages for m in page.get("messages", []) if m.get("ts")]
        parent = next((m for m in messages if m["ts"] == thread_ts), None)
        fresh = [m for m in messages if m["ts"] != thread_ts and ts_key(m["ts"]) > ts_key(last)]
        was_mine = bool(seen.get("mine"))
        mine = was_mine or (bool(self.me) and any(m.get("user") == self.me for m in fresh))
        threads[thread_ts] = {
            "last": max([last, *(str(m["ts"]) for m in fresh)], key=ts_key),
            "mine": mine,
        }
        items = [self._item(channel, m, my_thread=mine) for m in fresh]
        if mine and not was_mine and parent is not None:
            items.insert(
                0, self._item(channel, parent, my_thread=True)
            )  # the user joined the thread
        return items

    def _item(self, channel: Channel, msg: dict[str, Any], *, my_thread: bool) -> Item:
        ts = str(msg["ts"])
        text = str(msg.get("text") or "")
        if not text and msg.get("attachments"):
            text = str(msg["attachments"][0].get("fallback") or "")
        author = self.user_name(msg)
        first = text.strip().splitlines()[0] if text.strip() else "(no text)"
        edited = msg.get("edited") or {}
        meta = {
            "channel": channel.name,
            "channel_id": channel.id,
            "ts": ts,
            "user": str(msg.get("user", "")),
        }
        if msg.get("thread_ts"):
            meta["thread_ts"] = str(msg["thread_ts"])
        if msg.get("reply_count"):
            meta["reply_count"] = str(msg["reply_count"])
        return Item(
            id=f"slack:{channel.id}:{ts}",
            owner=self.owner,
            source="slack",
            title=f"#{channel.name} {author}: {first[:80]}",
            text=text,
            url=self.permalink(channel.id, ts, str(msg.get("thread_ts") or "")),
            author=author,
            published=float(ts),
            updated=float(edited.get("ts") or ts),
            feed=f"slack:#{channel.name}",
            mentions_me=bool(self.me) and f"<@{self.me}" in text,
            my_thread=my_thread,
            meta=meta,
        )

    # -- helpers --------------------------------------------------------------------

    def user_name(self, msg: dict[str, Any]) -> str:
        """Display name of the message's author, looked up once per user."""
        user = msg.get("user")
        if not user:
            profile = msg.get("bot_profile") or {}
            return str(msg.get("username") or profile.get("name") or msg.get("bot_id") or "unknown")
        if user in self._names:
            return self._names[user]
        name = str(user)
        if not self._names_failed:
            try:
                info = self.client.users_info(user=user).get("user") or {}
                profile = info.get("profile") or {}
                name = str(
                    profile.get("display_name")
                    or profile.get("real_name")
                    or info.get("name")
                    or user
                )
            except SlackApiError as exc:
                code = exc.response.get("error", "") if exc.response is not None else ""
                if code in ("missing_scope", *_AUTH_ERRORS):
                    # one line, then ids: every later lookup would fail the same way
                    self._names_failed = True
                    log.warning(
                        "user names unavailable (%s); showing user ids. Add the users:read scope",
                        code,
                    )
        self._names[user] = name
        return name

    def permalink(self, channel_id: str, ts: str, thread_ts: str = "") -> str:
        """A message link built from the workspace URL (auth.test, asked once)."""
        if self._team_url is None:
            try:
                self._team_url = str(self.client.auth_test().get("url") or "https://slack.com/")
            except _FAILURES:
                self._team_url = "https://slack.com/"
        base = self._team_url if self._team_url.endswith("/") else self._team_url + "/"
        link = f"{base}archives/{channel_id}/p{ts.replace('.', '')}"
        if thread_ts and thread_ts != ts:
            link += f"?thread_ts={thread_ts}&cid={channel_id}"
        return link

    def _pages(self, method: str, **params: Any) -> Iterator[dict[str, Any]]:
        cursor = ""
        for _ in range(10_000):  # a server that never stops paginating cannot loop us forever
            call = getattr(self.client, method)
            response = call(limit=self.page_limit, cursor=cursor or None, **params)
            data: dict[str, Any] = response.data if isinstance(response.data, dict) else {}
            yield data
            cursor = str((data.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                return


def ts_key(ts: str) -> tuple[int, int]:
    """Slack ts "1712345678.000100" as a sortable pair (no float rounding); "" sorts first."""
    if not ts:
        return (-1, -1)
    sec, _, frac = ts.partition(".")
    return (int(sec), int(frac.ljust(6, "0")[:6]))
