"""The assistant in Slack: DMs and @mentions answered in threads, plus `/assistant`.

Modes: Socket Mode when SLACK_APP_TOKEN is set, else the HTTP Events API on
``settings.slack.http_host:http_port`` verified with SLACK_SIGNING_SECRET. Tokens come
only from the environment.

Slack's rules shape the flow. Bolt acknowledges an event as soon as a listener is
matched (``process_before_response=False``); our listener only claims the event id in
a persistent log (so retries and replays reply once), checks the allowlist, and hands
the work to one reply worker. The worker posts a placeholder in the thread and streams
the answer into it with throttled ``chat.update`` calls; the Web API client carries
slack-sdk's rate-limit and server-error retry handlers, so a 429 delays a reply but
never drops or doubles it.

Each Slack thread is one graph thread (``slack:<channel>:<thread_ts>``). The memory user
id comes from the app's identity map: the owner's Slack ids (``identity.owner_slack_ids``)
share the owner's one scope (profile, goals, feed items, digest); every other user's Slack
id is their own scope. ChatSession keys checkpoints by user and thread, so in a shared
channel one user's turns, memory and goals never enter another user's reply.
"""

from __future__ import annotations

import logging
import re
import threading
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App
from slack_bolt.error import BoltError
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)
from slack_sdk.webhook import WebhookClient

from assistant.config import Settings
from assistant.errors import AssistantError, ConfigError, ConnectorAuthError
from assistant.safetext import clean
from assistant.slack.client import (
    APP_TOKEN_ENV,
    BOT_TOKEN_ENV,
    SIGNING_SECRET_ENV,
    SlackTokens,
    post_alert,
    post_digest,
    read_tokens,
)
from assistant.slack.commands import CommandReply, digest_reply, quick, split
from assistant.slack.conversation import Conversation, GraphConversation
from assistant.slack.events import EventLog
from assistant.slack.streaming import StreamingReply
from memory.interface import Memory

if TYPE_CHECKING:
    from assistant.app import App as AssistantApp

log = logging.getLogger(__name__)

# The public face: the bot, its runner, and the client helpers digest and probe alerts use.
__all__ = [
    "SlackBot",
    "SlackHandle",
    "SlackTokens",
    "bot_for",
    "create_app",
    "post_alert",
    "post_digest",
    "read_tokens",
    "start_slack",
]

REFUSAL = "Sorry, I'm a personal assistant set up for specific people and channels, so I can't help here."
EVENTS_FILE = "slack_events.sqlite3"
STOPPING = "Sorry, I was restarting and could not answer this one; please ask again."
QUICK_DEADLINE_S = 2.0  # Slack wants the ack within 3 s; slower command answers go via response_url
MAX_INPUT_CHARS = 4000  # a pasted novel should not fill the model's whole context
_CHAT_SUBTYPES = {None, "file_share", "thread_broadcast"}  # edits, joins, bot posts are not questions

_bots: weakref.WeakKeyDictionary[App, SlackBot] = weakref.WeakKeyDictionary()


def thread_id_for(channel: str, thread_ts: str) -> str:
    """The graph thread for a Slack thread. ChatSession keys its checkpoints by user id
    and thread, so two users in one Slack thread never share graph state."""
    return f"slack:{channel}:{thread_ts}"


class SlackBot:
    """The Bolt app plus what it needs: event log, reply worker, conversation."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: Memory,
        client: WebClient,
        conversation: Conversation,
        own_conversation: bool = False,
        events: EventLog | None = None,
        signing_secret: str | None = None,
        socket_mode: bool = False,
        scope_of: Any = None,
        owner_ids: tuple[str, ...] = (),
    ) -> None:
        from assistant.paths import ensure_data_dir

        if not socket_mode and not signing_secret:
            raise ConfigError(f"HTTP mode needs {SIGNING_SECRET_ENV}; set it (or {APP_TOKEN_ENV} for Socket Mode)")
        self.settings = settings
        self.store = store
        self.client = client
        self.socket_mode = socket_mode
        # Slack user id -> memory user id (the owner's ids share the owner's scope)
        self.scope_of = scope_of or (lambda slack_user: slack_user)
        self.owner_ids = owner_ids
        self._own_conversation = own_conversation  # closed with the bot when it made it
        self.conversation = conversation
        self.events = events or EventLog(ensure_data_dir() / EVENTS_FILE)
        # One worker: one model answers one message at a time; Bolt's own pool stays free for acks.
        self.workers = ThreadPoolExecutor(max_workers=1, thread_name_prefix="slack-reply")
        self.commands = ThreadPoolExecutor(max_workers=2, thread_name_prefix="slack-command")
        self._pending: set[Future[Any]] = set()
        self._pending_lock = threading.Lock()
        self._closing = threading.Event()
        try:
            # App() calls auth.test once: a wrong token fails here, before we listen.
            self.app = App(
                client=client,
                signing_secret=signing_secret,
                request_verification_enabled=not socket_mode,
                process_before_response=False,
                name="assistant",
                logger=_bolt_logger(),
            )
        except BoltError as exc:
            self.workers.shutdown(wait=False)
            self.commands.shutdown(wait=False)
            self.events.close()
            raise ConnectorAuthError(
                f"Slack rejected {BOT_TOKEN_ENV} ({exc}); check the token and that the app is "
                "installed in the workspace"
            ) from None
        self.app.event("message")(self._on_message)
        self.app.event("app_mention")(self._on_mention)
        self.app.command(settings.slack.command)(self._on_command)
        self.app.event("reaction_added")(self._on_reaction)
        self.app.action(re.compile(r"^digest_feedback_(up|down)$"))(self._on_feedback)
        _bots[self.app] = self

    # -- access -----------------------------------------------------------------

    def allowed(self, user_id: str | None, channel: str, *, is_dm: bool) -> bool:
        """Allowlist check: users always; channels only outside DMs."""
        cfg = self.settings.slack
        if not user_id or (cfg.allowed_users and user_id not in cfg.allowed_users):
            return False
        return is_dm or not cfg.allowed_channels or channel in cfg.allowed_channels

    # -- events -----------------------------------------------------------------

    def _on_message(self, event: dict[str, Any], body: dict[str, Any], context: Any) -> None:
        if event.get("channel_type") != "im" or event.get("subtype") not in _CHAT_SUBTYPES:
            return  # channel chatter reaches us only via app_mention
        if event.get("bot_id"):
            return
        self._take(event, body, context)

    def _on_mention(self, event: dict[str, Any], body: dict[str, Any], context: Any) -> None:
        if event.get("bot_id") or event.get("subtype") not in _CHAT_SUBTYPES:
            return
        self._take(event, body, context)

    def _take(self, event: dict[str, Any], body: dict[str, Any], context: Any) -> None:
        channel = str(event.get("channel", ""))
        ts = str(event.get("ts", ""))
        user = event.get("user")
        if not channel or not ts:
            return
        # The message key also folds app_mention + message.im copies of one message.
        keys = [f"event:{body.get('event_id', '')}" if body.get("event_id") else "", f"msg:{channel}:{ts}"]
        if not self.events.claim(keys):
            log.info("Slack event %s already handled; ignoring the repeat", body.get("event_id"))
            return
        is_dm = event.get("channel_type") == "im" or channel.startswith("D")
        thread_ts = str(event.get("thread_ts") or ts)
        if not self.allowed(user, channel, is_dm=is_dm):
            self._refuse(keys, channel, thread_ts, user, is_dm)
            return
        text = _clean(str(event.get("text", "")), getattr(context, "bot_user_id", None))
        # The placeholder goes up now (this thread runs after the ack), so a message queued
        # behind another reply still shows at once that it was heard.
        reply = StreamingReply(
            self.client, channel=channel, thread_ts=thread_ts, interval_s=self.settings.slack.stream_interval_s
        )
        try:
            reply.start()
        except Exception as exc:
            log.error("could not post to Slack channel %s: %s", channel, exc)
            return  # left pending: a Slack retry reaching a fresh process may try again
        self._submit(self._answer, keys, reply, str(user), text)

    def _submit(self, fn: Any, *args: Any) -> None:
        future = self.workers.submit(fn, *args)
        with self._pending_lock:
            self._pending.add(future)
        future.add_done_callback(self._forget_future)

    def _forget_future(self, future: Future[Any]) -> None:
        with self._pending_lock:
            self._pending.discard(future)

    def _refuse(self, keys: list[str], channel: str, thread_ts: str, user: str | None, is_dm: bool) -> None:
        # No user id or text is logged or stored for people outside the allowlist.
        log.info("refused a Slack message from outside the allowlist")
        try:
            if is_dm or not user:
                self.client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=REFUSAL)
            else:
                self.client.chat_postEphemeral(channel=channel, user=user, text=REFUSAL)
        except Exception as exc:
            log.warning("could not send the allowlist refusal: %s", exc)
        self.events.done(keys)

    def _answer(self, keys: list[str], reply: StreamingReply, user: str, text: str) -> None:
        if self._closing.is_set():  # queued behind the reply that was running at shutdown
            self._finish(keys, reply, STOPPING)
            return
        try:
            answer = self.conversation.reply(
                user_id=self.scope_of(user),
                thread_id=thread_id_for(reply.channel, reply.thread_ts),
                text=text,
                on_token=reply.on_token,
            )
        except AssistantError as exc:
            log.warning("Slack reply failed: %s", exc)
            answer = f"Sorry, I could not answer: {exc}"
        except Exception:
            log.exception("Slack reply failed")
            answer = "Sorry, something went wrong on my side; the details are in the assistant's log."
        self._finish(keys, reply, answer)

    def _finish(self, keys: list[str], reply: StreamingReply, answer: str) -> None:
        try:
            reply.finish(answer)
        except Exception as exc:
            log.error("could not deliver the final Slack reply: %s", exc)
        finally:
            self.events.done(keys)

    # -- digest feedback ----------------------------------------------------------

    def _on_reaction(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        item = event.get("item") or {}
        user, channel, ts = event.get("user"), str(item.get("channel", "")), str(item.get("ts", ""))
        if item.get("type") != "message" or not self.allowed(user, channel, is_dm=channel.startswith("D")):
            return  # only people on the allowlist give feedback; nothing recorded for others
        keys = [f"event:{body['event_id']}"] if body.get("event_id") else []
        if not self.events.claim(keys):
            return
        from assistant.background.digest import handle_reaction

        try:
            touched = handle_reaction(
                self.store, user_id=self.scope_of(str(user)), channel=channel, ts=ts, reaction=str(event.get("reaction", "")),
                owner_ids=self.owner_ids,
            )
            if touched:
                log.info("digest feedback from a reaction on %d item(s)", len(touched))
        except AssistantError as exc:
            log.warning("digest reaction ignored: %s", exc)
        self.events.done(keys)

    def _on_feedback(self, ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        user = str((body.get("user") or {}).get("id", ""))
        channel = str((body.get("channel") or {}).get("id", ""))
        if not self.allowed(user, channel, is_dm=channel.startswith("D")):
            return
        from assistant.background.digest import handle_action

        try:
            text = handle_action(
                self.store, user_id=self.scope_of(user), value=str(action.get("value", "")), owner_ids=self.owner_ids
            )
        except AssistantError as exc:
            text = f"Sorry: {exc}"
        self._respond(str(body.get("response_url", "")), CommandReply(text), replace_original=False)

    def _respond(self, response_url: str, reply: CommandReply, **extra: Any) -> None:
        """Answer through a response_url (slash commands, buttons), retrying 429s."""
        if not response_url:
            return
        hook = WebhookClient(
            url=response_url,
            retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=2), RateLimitErrorRetryHandler(max_retry_count=5)],
        )
        kind = "ephemeral" if reply.ephemeral else "in_channel"
        hook.send(text=reply.text, blocks=reply.blocks, response_type=kind, **extra)

    # -- slash command ----------------------------------------------------------

    def _on_command(self, ack: Ack, command: dict[str, Any]) -> None:
        user = str(command.get("user_id", ""))
        channel = str(command.get("channel_id", ""))
        is_dm = channel.startswith("D") or command.get("channel_name") == "directmessage"
        if not self.allowed(user, channel, is_dm=is_dm):
            ack(text=REFUSAL, response_type="ephemeral")
            return
        verb, arg = split(str(command.get("text", "")))
        if verb == "digest":
            ack(text="Building your digest…", response_type="ephemeral")
            self._submit(self._digest, str(command.get("response_url", "")), self.scope_of(user))
            return
        future = self.commands.submit(self._quick, verb, arg, self.scope_of(user))
        try:
            reply = future.result(timeout=QUICK_DEADLINE_S)
        except FutureTimeout:
            # e.g. the embedding model loading on first use: ack now, answer when ready
            ack(text="Working on it…", response_type="ephemeral")
            url = str(command.get("response_url", ""))
            future.add_done_callback(lambda done: self._respond(url, done.result()))
            return
        ack(text=reply.text, blocks=reply.blocks, response_type="ephemeral" if reply.ephemeral else "in_channel")

    def _quick(self, verb: str, arg: str, user: str) -> CommandReply:
        try:
            return quick(verb, arg, user_id=user, store=self.store)
        except AssistantError as exc:
            return CommandReply(f"Sorry: {exc}")
        except Exception:
            log.exception("/assistant %s failed", verb)
            return CommandReply("Sorry, that failed on my side; the details are in the assistant's log.")

    def _digest(self, response_url: str, user: str) -> None:
        try:
            reply = digest_reply(self.settings, self.store, user)
        except AssistantError as exc:
            reply = CommandReply(f"Sorry, no digest: {exc}")
        except Exception:
            log.exception("/assistant digest failed")
            reply = CommandReply("Sorry, the digest failed on my side; the details are in the assistant's log.")
        self._respond(response_url, reply)

    # -- lifecycle --------------------------------------------------------------

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until every queued reply finished (tests, shutdown); False on timeout."""
        with self._pending_lock:
            pending = list(self._pending)
        for future in pending:
            try:
                future.result(timeout=timeout)
            except TimeoutError:
                return False
            except Exception:
                pass
        return True

    def close(self) -> None:
        """Finish the running reply, tell queued ones to ask again, release resources."""
        self._closing.set()
        self.workers.shutdown(wait=True, cancel_futures=False)
        self.commands.shutdown(wait=True, cancel_futures=False)
        close = getattr(self.conversation, "close", None)
        if self._own_conversation and close is not None:
            close()
        self.events.close()


class _QuietTokenNotice(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN itself and warns that our client's copy wins; it always does."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


def _bolt_logger() -> logging.Logger:
    logger = logging.getLogger("assistant.slack.bolt")
    if not any(isinstance(f, _QuietTokenNotice) for f in logger.filters):
        logger.addFilter(_QuietTokenNotice())
    return logger


def _clean(text: str, bot_user_id: str | None) -> str:
    """Drop the bot's own mention so the model sees the question only."""
    if bot_user_id:
        text = text.replace(f"<@{bot_user_id}>", " ")
    # newlines stay: pasted code and lists keep their shape; control bytes do not
    return clean(text, MAX_INPUT_CHARS).strip()


def create_app(
    parts: AssistantApp,
    *,
    conversation: Conversation | None = None,
    events_path: Path | None = None,
    tokens: SlackTokens | None = None,
) -> App:
    """Build the Bolt app from the assistant's parts (mode from its secrets); `bot_for(app)`
    gives its SlackBot. Without a `conversation`, replies come from the goal graph."""
    tokens = tokens or read_tokens(parts.secrets)
    own = conversation is None
    if conversation is None:
        conversation = GraphConversation(
            parts.settings, llm=parts.llm, store=parts.memory, checkpointer=parts.checkpointer
        )
    bot = SlackBot(
        parts.settings,
        store=parts.memory,
        client=parts.require_slack(),
        conversation=conversation,
        own_conversation=own,
        events=_event_log(parts, events_path),
        signing_secret=tokens.signing_secret,
        socket_mode=tokens.socket_mode,
        scope_of=parts.identity.for_slack,
        owner_ids=tuple(sorted(parts.identity.owner_slack_ids)),
    )
    return bot.app


def _event_log(parts: AssistantApp, path: Path | None) -> Any:
    """Where claims on Slack events live: one table every replica shares (team profile),
    else the data directory's own log."""
    if path is not None:
        return EventLog(path)
    if parts.team:
        from assistant.team.events import PgEventLog

        return PgEventLog(parts.require_database_url(), parts.settings.deployment.event_claim_s)
    return None


def bot_for(app: App) -> SlackBot:
    """The SlackBot behind an app made by `create_app`."""
    return _bots[app]


@dataclass
class SlackHandle:
    """A running bot; `stop()` ends listening, finishes queued replies, frees resources."""

    bot: SlackBot
    mode: str  # "socket" or "http"
    url: str = ""  # HTTP mode: the events URL being served
    _server: Any = None
    _socket: Any = None
    _stopped: bool = False

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._server is not None:
            self._server.stop()
        if self._socket is not None:
            self._socket.close()
        self.bot.close()


def start_slack(parts: AssistantApp, *, conversation: Conversation | None = None) -> SlackHandle:
    """Start the bot in the background (Socket Mode or HTTP) and return its handle."""
    from assistant.slack.server import SlackHTTPServer

    settings = parts.settings
    tokens = read_tokens(parts.secrets)
    app = create_app(parts, conversation=conversation, tokens=tokens)
    bot = bot_for(app)
    if tokens.socket_mode:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        assert tokens.app_token is not None
        socket_client = parts.slack_client(tokens.app_token)
        handler = SocketModeHandler(app, app_token=tokens.app_token, web_client=socket_client)
        try:
            # The handler only logs a failed connect; asking for a URL first fails loudly.
            socket_client.apps_connections_open(app_token=tokens.app_token)
            handler.connect()
        except Exception as exc:
            bot.close()
            raise AssistantError(
                f"cannot open the Slack Socket Mode connection: {exc}; check {APP_TOKEN_ENV} "
                "(an xapp- token with connections:write) and that Socket Mode is on"
            ) from None
        return SlackHandle(bot=bot, mode="socket", _socket=handler)
    try:
        server = SlackHTTPServer(
            app, settings.slack.http_host, settings.slack.http_port, tokens.signing_secret
        )
    except OSError as exc:
        bot.close()
        raise AssistantError(
            f"cannot listen on {settings.slack.http_host}:{settings.slack.http_port} ({exc.strerror}); "
            "free the port or set slack.http_port"
        ) from None
    server.start()
    return SlackHandle(bot=bot, mode="http", url=server.url, _server=server)
