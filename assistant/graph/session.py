"""One user's conversation on one thread: the stable entry point for the terminal and Slack.

    with open_checkpointer(settings) as saver:
        session = ChatSession(settings, llm, store, saver, user_id="local", thread_id="main")
        reply = session.send("Help me plan a trip to Lisbon", on_token=print)

Each graph step is saved before the next (durability="sync"), so a thread resumes in a
new process exactly where it stopped, and a cancelled reply leaves the thread usable.
A checkpointer shared by replicas (the team profile's) carries `thread_lock(key)`: a turn
holds it, so two processes never write the same thread at once (that forks the chain).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from langchain_core.runnables import RunnableConfig

from assistant.config import Settings
from assistant.errors import ConfigError
from assistant.graph import prompts
from assistant.graph.graph import build_graph
from assistant.graph.nodes import TOKEN_SINK
from assistant.graph.state import ChatState, thread_key
from assistant.llm.base import ChatModel, Message
from assistant.paths import ensure_data_dir
from assistant.safetext import clean
from memory.interface import Memory
from memory.types import Goal

log = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoints.sqlite"
MAX_MESSAGE_CHARS = 20_000  # longer messages are cut (about 5k tokens, past any context budget)


class ReplyCancelled(Exception):
    """The user interrupted a reply; `partial` holds what was produced (the thread is kept)."""

    def __init__(self, partial: str) -> None:
        super().__init__("reply cancelled")
        self.partial = partial


@contextmanager
def open_checkpointer(settings: Settings, postgres_url: str = "") -> Iterator[Any]:
    """The configured LangGraph checkpointer: SQLite in the data directory, or Postgres at
    `postgres_url` (a secret: the composition root reads it from the environment)."""
    if settings.chat.checkpointer == "postgres":
        yield from _postgres(settings, postgres_url)
        return
    from langgraph.checkpoint.sqlite import SqliteSaver

    path = ensure_data_dir() / CHECKPOINT_FILE
    # timeout: another process may hold the write lock briefly (SqliteSaver is per-process).
    conn = sqlite3.connect(str(path), check_same_thread=False, timeout=10.0)
    try:
        saver = SqliteSaver(conn)
        saver.setup()
        yield saver
    finally:
        conn.close()


def _postgres(settings: Settings, url: str) -> Iterator[Any]:
    try:
        from langgraph.checkpoint.postgres import PostgresSaver  # type: ignore[import-not-found]
    except ImportError:
        raise ConfigError(
            "chat.checkpointer = 'postgres' needs the langgraph-checkpoint-postgres package; "
            "install it (pip install langgraph-checkpoint-postgres 'psycopg[binary]') or set "
            "chat.checkpointer = 'sqlite'"
        ) from None
    if not url:
        env = settings.chat.postgres_url_env
        raise ConfigError(
            f"chat.checkpointer = 'postgres' but ${env} is not set; export the Postgres URL there"
        )
    if settings.deployment.profile == "team":
        from assistant.team.checkpoints import open_team_checkpointer

        with open_team_checkpointer(url, settings.deployment.turn_lock_timeout_s) as saver:
            yield saver
        return
    from assistant.team.locks import setup_serialised

    with PostgresSaver.from_conn_string(url) as saver:
        setup_serialised(saver)  # other processes may set up the same database now
        yield saver


class ChatSession:
    """Send messages on one (user, thread) and get replies; goals and profile persist in memory."""

    def __init__(
        self,
        settings: Settings,
        llm: ChatModel,
        store: Memory,
        checkpointer: Any | None,
        user_id: str,
        thread_id: str,
    ) -> None:
        self.settings = settings
        self.llm = llm
        self.store = store
        self.user_id = user_id
        self.thread_id = thread_id
        self.graph = build_graph(llm=llm, store=store, checkpointer=checkpointer, settings=settings)
        self._lock = threading.Lock()
        # across processes: None for a checkpointer only this process writes (SQLite)
        self._thread_lock: Callable[[str], AbstractContextManager[None]] | None = getattr(
            checkpointer, "thread_lock", None
        )

    @property
    def config(self) -> RunnableConfig:
        """LangGraph run config; the key carries the user id so users never share a thread."""
        return {"configurable": {"thread_id": thread_key(self.user_id, self.thread_id)}}

    def send(self, text: str, on_token: Callable[[str], None] | None = None) -> str:
        """One user turn; streams reply pieces to `on_token` and returns the whole reply."""
        # Typed, pasted or Slack text may hold control bytes or undecodable input; the
        # tokenizers refuse lone surrogates, and a pasted book would only be cut later.
        text = clean(text, MAX_MESSAGE_CHARS)
        turn: ChatState = {
            "messages": [Message(role="user", content=text)],
            "user_id": self.user_id,
            "thread_id": self.thread_id,
        }
        pieces: list[str] = []

        def sink(piece: str) -> None:
            pieces.append(piece)
            if on_token is not None:
                on_token(piece)

        shared = self._thread_lock
        key = thread_key(self.user_id, self.thread_id)
        with self._lock, (shared(key) if shared is not None else nullcontext()):
            token = TOKEN_SINK.set(sink)
            try:
                final = self.graph.invoke(turn, self.config, durability="sync")
            except KeyboardInterrupt:
                partial = "".join(pieces).strip()
                self._settle_cancelled(partial)
                raise ReplyCancelled(partial) from None
            finally:
                TOKEN_SINK.reset(token)
        return str(final.get("reply", "".join(pieces).strip()))

    def _settle_cancelled(self, partial: str) -> None:
        """Close the interrupted turn so the thread stays consistent for the next one."""
        state = self.graph.get_state(self.config)
        messages = state.values.get("messages", [])
        update: dict[str, Any] = {}
        if messages and messages[-1]["role"] == "user":
            update = {
                "messages": [Message(role="assistant", content=partial + prompts.CANCELLED_MARK)]
            }
        self.graph.update_state(self.config, update, as_node="fold")

    def history(self) -> list[Message]:
        """The verbatim turns of this thread (older ones are in `summary()`)."""
        return list(self.graph.get_state(self.config).values.get("messages", []))

    def summary(self) -> str:
        """The running summary of turns folded out of the history."""
        return str(self.graph.get_state(self.config).values.get("summary", ""))

    def goals(self) -> list[Goal]:
        """All of the user's goals (any thread), open ones first, newest first."""
        goals = list(self.store.goals.list(self.user_id))
        order = {"active": 0, "waiting": 0, "done": 1, "dropped": 2}
        return sorted(goals, key=lambda g: (order.get(g.status, 3), -g.updated))

    def switch(self, thread_id: str) -> None:
        """Continue on another thread (created on first message)."""
        self.thread_id = thread_id


def longest_threads(checkpointer: Any, limit: int = 3) -> list[tuple[str, list[Message]]]:
    """The `limit` longest threads as (user/thread key, verbatim turns), read-only.

    For the nightly probe, which replays real conversations; nothing is written.
    """
    latest: dict[str, list[Message]] = {}
    for saved in checkpointer.list(None):
        key = saved.config["configurable"]["thread_id"]
        if key in latest:
            continue  # list() yields newest first per thread; keep only the latest state
        values = saved.checkpoint.get("channel_values", {})
        latest[key] = list(values.get("messages", []))
    ranked = sorted(latest.items(), key=lambda kv: -len(kv[1]))
    return [(key, msgs) for key, msgs in ranked[:limit] if msgs]
