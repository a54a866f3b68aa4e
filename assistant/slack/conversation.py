"""What the bot talks to: one call per user message, scoped to one user and one thread.

The Slack side (acks, dedupe, streaming, access) only needs `Conversation.reply`;
`GraphConversation` is the real one (the goal graph with its checkpointer), and tests
may pass any object with the same method.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

from assistant.config import Settings
from assistant.llm.base import ChatModel
from memory.interface import Memory

OnToken = Callable[[str], None]
SESSIONS_KEPT = 32  # cached ChatSessions; a session rebuilds from the checkpointer when evicted


class Conversation(Protocol):
    """Answers one user's message in one thread."""

    def reply(self, *, user_id: str, thread_id: str, text: str, on_token: OnToken | None) -> str:
        """Return the full reply; call `on_token` with pieces as they are generated."""
        ...


class GraphConversation:
    """The goal graph behind Slack: one ChatSession per (user, thread), one checkpointer."""

    def __init__(
        self, settings: Settings, *, llm: ChatModel, store: Memory, checkpointer: Any
    ) -> None:
        self.settings = settings
        self.llm = llm
        self.store = store
        self._lock = threading.Lock()
        self._saver = checkpointer  # the app's: it opens and closes it
        self._sessions: OrderedDict[tuple[str, str], Any] = OrderedDict()

    def _session(self, user_id: str, thread_id: str) -> Any:
        from assistant.graph.session import ChatSession

        with self._lock:
            key = (user_id, thread_id)
            session = self._sessions.pop(key, None)
            if session is None:
                session = ChatSession(
                    self.settings, self.llm, self.store, self._saver, user_id, thread_id
                )
            self._sessions[key] = session
            while len(self._sessions) > SESSIONS_KEPT:
                self._sessions.popitem(last=False)
            return session

    def reply(self, *, user_id: str, thread_id: str, text: str, on_token: OnToken | None) -> str:
        return str(self._session(user_id, thread_id).send(text, on_token=on_token))

    def close(self) -> None:
        with self._lock:
            self._sessions.clear()
