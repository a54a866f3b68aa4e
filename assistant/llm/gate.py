"""One model, many callers: a priority lock in front of the model.

Interactive requests (a person is waiting) go before background work (summaries,
probes). A background generation calls `yield_to_interactive()` before every decoder layer
(a forward pre-hook), so a chat message that arrives during a long batch waits for
one layer of one step, not for the batch.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import threading
from collections.abc import Iterator

from assistant.llm.base import Priority

RANK: dict[str, int] = {"interactive": 0, "background": 1}


class ModelGate:
    """A re-entrant lock whose waiters are served by priority, then arrival order."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._owner: int | None = None
        self._depth = 0
        self._waiting: list[tuple[int, int]] = []  # heap of (rank, arrival)
        self._arrival = itertools.count()

    def acquire(self, priority: Priority = "interactive") -> None:
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return
            ticket = (RANK[priority], next(self._arrival))
            heapq.heappush(self._waiting, ticket)
            while self._owner is not None or self._waiting[0] != ticket:
                self._cond.wait()
            heapq.heappop(self._waiting)
            self._owner, self._depth = me, 1

    def release(self) -> None:
        with self._cond:
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                self._cond.notify_all()

    @contextlib.contextmanager
    def hold(self, priority: Priority = "interactive") -> Iterator[None]:
        self.acquire(priority)
        try:
            yield
        finally:
            self.release()

    def waiting_ahead_of(self, priority: Priority) -> bool:
        """Whether someone with a higher priority is queued (a cheap, lock-free peek)."""
        waiting = self._waiting
        return bool(waiting) and waiting[0][0] < RANK[priority]

    def yield_to_interactive(self, priority: Priority) -> None:
        """Let queued higher-priority requests run, then take the model back."""
        if not self.waiting_ahead_of(priority):
            return
        with self._cond:
            depth = self._depth
            self._owner, self._depth = None, 0
            self._cond.notify_all()
        self.acquire(priority)
        with self._cond:
            self._depth = depth
