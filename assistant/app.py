"""The composition root: the one place that opens the assistant's parts from settings.

    with App(settings) as app:
        app.llm          # the shared engine, loaded on first use
        app.memory       # the memory store, opened once, with the model for fact extraction
        app.checkpointer # the LangGraph checkpointer, opened once
        app.slack        # the Slack Web API client, or None when SLACK_BOT_TOKEN is not set
        app.identity     # who is who: the owner's one memory scope, Slack ids mapped to it

`assistant chat`, `assistant slack`, `assistant run`, the scheduled jobs and every
command get their parts from an `App`; nothing else builds the engine, the store or a
Slack client, and secrets are read from the environment here only (a test greps for it).
Each part opens on first use, so `assistant profile show` never loads the model.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from assistant.config import Settings
from assistant.errors import ConfigError
from assistant.llm.base import ChatModel, ChatResult, DriftControl, Message, Priority

if TYPE_CHECKING:
    from slack_sdk import WebClient

    from memory.interface import Memory

log = logging.getLogger(__name__)

BOT_TOKEN_ENV = "SLACK_BOT_TOKEN"
APP_TOKEN_ENV = "SLACK_APP_TOKEN"
SIGNING_SECRET_ENV = "SLACK_SIGNING_SECRET"
CHROMA_TOKEN_ENV = "ASSISTANT_CHROMA_TOKEN"


# ---- secrets (from the environment, read here only) ---------------------------------


@dataclass(frozen=True)
class Secrets:
    """What the environment holds for Slack; empty strings mean "not set"."""

    slack_bot_token: str = ""
    slack_app_token: str = ""
    slack_signing_secret: str = ""
    chroma_token: str = ""  # for a Chroma server (memory.backend = "http")

    @property
    def slack_configured(self) -> bool:
        """A bot token is set: Slack can be read and posted to."""
        return bool(self.slack_bot_token)

    def slack_bot_status(self) -> tuple[bool, str]:
        """Whether the Slack bot can start, and a line saying why (not)."""
        if not self.slack_bot_token:
            return False, f"Slack bot: off ({BOT_TOKEN_ENV} is not set)"
        if self.slack_app_token:
            return True, f"Slack bot: on (Socket Mode, {APP_TOKEN_ENV})"
        if self.slack_signing_secret:
            return True, "Slack bot: on (Events API over HTTP)"
        return (
            False,
            f"Slack bot: off (set {APP_TOKEN_ENV} for Socket Mode or {SIGNING_SECRET_ENV} for HTTP)",
        )


def read_secrets(environ: Mapping[str, str] | None = None) -> Secrets:
    """The secrets from the environment (never from config.toml)."""
    env = os.environ if environ is None else environ
    return Secrets(
        slack_bot_token=env.get(BOT_TOKEN_ENV, "").strip(),
        slack_app_token=env.get(APP_TOKEN_ENV, "").strip(),
        slack_signing_secret=env.get(SIGNING_SECRET_ENV, "").strip(),
        chroma_token=env.get(CHROMA_TOKEN_ENV, "").strip(),
    )


# ---- identity -----------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    """Who is who. The owner is one person with one memory scope (`owner`): the terminal
    user, the owner of pulled feed items and the digest, and the Slack ids config names.
    Every other allowed Slack user keeps a scope of their own (their Slack id)."""

    owner: str
    owner_slack_ids: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, settings: Settings) -> Identity:
        if settings.feeds.owner != settings.persona.user_id:
            log.warning(
                "feeds.owner (%r) and persona.user_id (%r) differ: feed items and the digest "
                "belong to feeds.owner, chat memory to persona.user_id; set both to one id",
                settings.feeds.owner,
                settings.persona.user_id,
            )
        return cls(settings.feeds.owner, frozenset(settings.identity.owner_slack_ids))

    def for_slack(self, slack_user_id: str) -> str:
        """The memory scope of a Slack user: the owner's for the owner's ids, else their own."""
        return self.owner if slack_user_id in self.owner_slack_ids else slack_user_id


# ---- the model, lazily ----------------------------------------------------------------


class _ModelOnDemand:
    """A ChatModel that loads the shared engine on its first call.

    The memory store takes the model for fact extraction; handing it this instead of the
    engine means commands that never extract facts (profile show, feeds list) stay fast.
    """

    def __init__(self, load: Callable[[], ChatModel]) -> None:
        self._load = load

    def chat(
        self,
        messages: Sequence[Message],
        *,
        max_new_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        stop: Sequence[str] = (),
        control: DriftControl | None = None,
        priority: Priority = "interactive",
        conversation_id: str | None = None,
    ) -> ChatResult:
        return self._load().chat(
            messages, max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p,
            seed=seed, stop=stop, control=control, priority=priority,
            conversation_id=conversation_id,
        )  # fmt: skip

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_new_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        stop: Sequence[str] = (),
        control: DriftControl | None = None,
        priority: Priority = "interactive",
        conversation_id: str | None = None,
    ) -> Iterator[str]:
        return self._load().stream(
            messages, max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p,
            seed=seed, stop=stop, control=control, priority=priority,
            conversation_id=conversation_id,
        )  # fmt: skip

    def chat_batch(
        self,
        conversations: Sequence[Sequence[Message]],
        *,
        max_new_tokens: int | None = None,
        temperature: float | None = None,
        seed: int | None = None,
        control: DriftControl | None = None,
        priority: Priority = "background",
    ) -> list[ChatResult]:
        return self._load().chat_batch(
            conversations, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed,
            control=control, priority=priority,
        )  # fmt: skip


# ---- the real parts (tests replace these two through App's factories or monkeypatch) ----


def load_llm(settings: Settings) -> ChatModel:
    """The process-wide engine for `settings` (loaded once per process), or the Ray Serve
    deployment of it (model.serving = "ray_serve")."""
    if settings.model.serving == "ray_serve":
        from assistant.llm.served import served_model

        return served_model(settings)
    from assistant.llm.engine import shared_engine

    return shared_engine(settings)


def open_memory(settings: Settings, llm: ChatModel | None, chroma_token: str = "") -> Memory:
    """The memory store (embedded Chroma with its folder lock, or the configured server)."""
    from memory.store import open_store

    return open_store(settings, llm=llm, chroma_token=chroma_token)


def _load_on_one_thread(load: Callable[[], ChatModel]) -> ChatModel:
    """Run `load` with the torch thread on one OpenMP thread, then give back the count.

    For the chat model's load while the warm-up thread (spaCy, the embedder's import) keeps
    a core busy: with two OpenMP threads every conversion and packing op waited for the
    sibling that the warm-up had pushed off its core. A first start on 2 cores (load ~2):
    the model ready in 7.5 s on one thread, 44 s on two. The engine picks its thread count
    again at each request (runtime_env.request_threads), and `model.threads` still wins
    (the loader sets it).
    """
    import torch

    from assistant.llm.gate import shared_gate

    gate = shared_gate()
    before = gate.run(torch.get_num_threads)
    if before > 1:
        gate.run(lambda: torch.set_num_threads(1))
    try:
        return load()
    finally:
        if before > 1:
            gate.run(lambda: torch.set_num_threads(before))


# ---- the app --------------------------------------------------------------------------


class App:
    """The assistant's parts for one process, each opened once on first use.

    Factories are for tests and benches (a scripted model, a store in a temporary folder,
    a client pointed at a loopback Slack); by default the real parts are built here.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        secrets: Secrets | None = None,
        llm_factory: Callable[[], ChatModel] | None = None,
        store_factory: Callable[[], Memory] | None = None,
        slack_factory: Callable[[], WebClient | None] | None = None,
        extraction: bool = True,
    ) -> None:
        self.settings = settings
        self.secrets = secrets if secrets is not None else read_secrets()
        self.identity = Identity.from_settings(settings)
        self._llm_factory = llm_factory
        self._store_factory = store_factory
        self._slack_factory = slack_factory
        self._extraction = extraction
        self._llm: ChatModel | None = None
        self._store: Memory | None = None
        self._saver: Any = None
        self._slack: WebClient | None = None
        self._slack_made = False
        self._stack = ExitStack()
        self._lock = threading.RLock()
        self._closed = False
        self._warming: threading.Thread | None = None

    # -- parts --------------------------------------------------------------------

    @property
    def llm(self) -> ChatModel:
        """The shared chat model (one per process), loaded on first use."""
        with self._lock:
            if self._llm is None:
                if self._llm_factory is not None:
                    self._llm = self._llm_factory()
                elif (
                    self._warming is not None
                    and self._warming.is_alive()
                    and not self.settings.model.threads  # the user's count is kept as set
                ):
                    self._llm = _load_on_one_thread(lambda: load_llm(self.settings))
                else:
                    self._llm = load_llm(self.settings)
            return self._llm

    @property
    def memory(self) -> Memory:
        """The memory store, opened once; it extracts facts with the model when it needs to."""
        with self._lock:
            if self._store is None:
                if self._store_factory is not None:
                    self._store = self._store_factory()
                else:
                    llm = _ModelOnDemand(lambda: self.llm) if self._extraction else None
                    store = open_memory(self.settings, llm, self.secrets.chroma_token)
                    self._store = store
                    close = getattr(store, "close", None)
                    if close is not None:
                        self._stack.callback(close)
            return self._store

    def warm_up(self) -> threading.Thread | None:
        """Start loading, in a background thread, what the first reply needs besides the chat
        model: the spaCy pipeline and the embedding model. Join it before the first reply.

        On a 2-core machine this overlaps with the chat model's load, whose conversion and
        packing run torch ops that release the GIL (a first start spends seconds there);
        while it runs, the chat model loads on one torch thread (see `_load_on_one_thread`)
        and the embedder on this thread, also on one (queued on the torch thread it waited
        for the whole conversion).
        Only for the real parts: with a scripted model or store (tests, benches) it does
        nothing and returns None. A failure here is left for the first reply to report.
        """
        if self._llm_factory is not None or self._store_factory is not None:
            return None
        import torch

        # transformers' lazy top module cannot be imported from two threads at once (the
        # warm-up got "cannot import name 'AutoModel'" while this thread imported the
        # engine): finish importing it here, before the thread starts
        import transformers  # noqa: F401

        from assistant.llm.gate import shared_gate

        name = self.settings.memory.embedding_model
        # torch.set_num_threads below also sets the count a thread takes at its first torch
        # op: the torch thread takes its own now, and the default goes back to it after
        threads = shared_gate().run(torch.get_num_threads)

        def load() -> None:
            torch.set_num_threads(1)  # the embedder's torch ops: no second pool of threads
            try:
                from memory import embeddings, understand

                understand.pipeline()
                # here, not queued behind the chat model's load on the torch thread
                embeddings.shared_encoder(name, here=True)
            except Exception as exc:  # the first reply loads them again and says what failed
                log.debug("warm-up failed (the first reply retries): %s", exc)
            finally:
                torch.set_num_threads(threads)

        thread = threading.Thread(target=load, name="warm-up", daemon=True)
        thread.start()
        self._warming = thread
        return thread

    @property
    def checkpointer(self) -> Any:
        """The LangGraph checkpointer (SQLite in the data directory, or Postgres), opened once."""
        with self._lock:
            if self._saver is None:
                from assistant.graph.session import open_checkpointer

                url = ""
                if self.settings.chat.checkpointer == "postgres":
                    url = self.database_url()
                self._saver = self._stack.enter_context(open_checkpointer(self.settings, url))
            return self._saver

    def database_url(self) -> str:
        """The shared Postgres URL (a secret, from the variable chat.postgres_url_env names)."""
        return os.environ.get(self.settings.chat.postgres_url_env, "").strip()

    def require_database_url(self) -> str:
        """The Postgres URL, or a ConfigError that says which variable to set."""
        url = self.database_url()
        if not url:
            env = self.settings.chat.postgres_url_env
            raise ConfigError(
                f"deployment.profile = 'team' needs the shared Postgres: set ${env} to its URL"
            )
        return url

    @property
    def team(self) -> bool:
        """Replicas share Postgres and a Chroma server (deployment.profile = "team")."""
        return self.settings.deployment.profile == "team"

    @property
    def slack(self) -> WebClient | None:
        """The Slack Web API client (retrying 429s and 5xx), or None without a bot token."""
        with self._lock:
            if not self._slack_made:
                self._slack_made = True
                if self._slack_factory is not None:
                    self._slack = self._slack_factory()
                elif self.secrets.slack_bot_token:
                    self._slack = self.slack_client(self.secrets.slack_bot_token)
            return self._slack

    def slack_client(self, token: str) -> WebClient:
        """A Web API client for `token` at slack.base_url (the bot's, or Socket Mode's app token)."""
        from connectors.slack import web_client

        base = self.settings.slack.base_url
        feeds = self.settings.feeds
        return web_client(
            token,
            base if base.endswith("/") else base + "/",
            retries=feeds.slack_retries,
            max_retry_after_s=feeds.max_retry_after_s,
            timeout_s=feeds.slack_timeout_s,
        )

    def require_slack(self) -> WebClient:
        """The Slack client, or a ConfigError that says which variable to set."""
        client = self.slack
        if client is None:
            raise ConfigError(f"Slack is not configured: set {BOT_TOKEN_ENV} (the xoxb- bot token)")
        return client

    # -- wiring helpers -------------------------------------------------------------

    def alert(self) -> Callable[[str], None] | None:
        """Where a probe alert goes: a Slack post to digest.slack_target, when both are set."""
        target = self.settings.digest.slack_target
        if self.slack is None or not target:
            return None

        def post(text: str) -> None:
            from assistant.slack.client import post_alert

            try:
                post_alert(self.require_slack(), target, text)
            except Exception as exc:  # noqa: BLE001 - the record and its alerts are saved already
                log.warning("could not post the self-probe alert to Slack %s: %s", target, exc)

        return post

    def real_threads(self) -> list[list[Message]]:
        """The longest recent chat threads (read-only), for the nightly probe."""
        limit = self.settings.probes.real_threads
        if limit <= 0:
            return []
        from assistant.graph.session import longest_threads

        return [messages for _thread, messages in longest_threads(self.checkpointer, limit=limit)]

    # -- lifecycle --------------------------------------------------------------------

    def close(self) -> None:
        """Close what was opened here, newest first (idempotent; the shared engine stays)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._stack.close()
            self._store = None
            self._saver = None

    def __enter__(self) -> App:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# ---- commands run inside `assistant run` share its app --------------------------------

_serving: App | None = None


def serve_commands_with(app: App | None) -> None:
    """While the service runs, CLI commands it executes for a client use its `app` (its
    one memory store, model and Slack client) instead of opening their own."""
    global _serving
    _serving = app


def serving() -> App | None:
    """The service's app when this process is `assistant run`, else None."""
    return _serving


@contextmanager
def command_app(settings: Settings) -> Iterator[App]:
    """The app a command works with: the service's own when it runs the command for a
    client, else a fresh one, closed when the command ends."""
    shared = _serving
    if shared is not None:
        yield shared
        return
    with App(settings) as app:
        yield app
