"""One model, many callers: all model work runs on one thread, served by priority.

Interactive requests (a person is waiting) go before background work (summaries,
probes). Callers hand their work to the gate and wait for it; one model thread runs it.
A background generation calls `yield_to_interactive()` before every decoder layer
(a forward pre-hook) and between steps: queued interactive work then runs right there,
on the model thread, and the background work resumes after it. So a chat message that
arrives during a long batch waits for one layer of one step, not for the batch.

Why one thread and not a lock that callers take on their own threads: torch's CPU
thread pool (OpenMP) belongs to the thread that calls into torch. Two calling threads
mean two pools, more pool threads than cores, and libgomp then stops spin-waiting
between parallel regions and puts its threads to sleep instead (its "throttled" spin),
so every op of a chat that cuts into a batch paid a wake-up: time to first token was
2.15x the idle one on a quiet machine. One model thread keeps one pool, whatever thread
a request comes from, and `shared_gate()` makes that one thread per process: engines
and the embedding model (memory/embeddings.py) all queue there.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

from assistant.llm.base import Priority

RANK: dict[str, int] = {"interactive": 0, "background": 1}

T = TypeVar("T")


class _Task:
    """One unit of model work and the future its caller waits on."""

    __slots__ = ("fn", "future", "rank")

    def __init__(self, fn: Callable[[], object], rank: int) -> None:
        self.fn = fn
        self.rank = rank
        self.future: Future[object] = Future()


class ModelGate:
    """A priority queue of model work, run by one model thread (started on first use)."""

    def __init__(self, name: str = "model") -> None:
        self._name = name
        self._cond = threading.Condition()
        self._waiting: list[tuple[int, int, _Task]] = []  # heap of (rank, arrival, task)
        self._arrival = itertools.count()
        self._thread: threading.Thread | None = None
        self._ident: int | None = None  # the model thread's ident while it runs
        self._closing = False

    # ------------------------------------------------------------------ callers

    def submit(self, fn: Callable[[], T], priority: Priority = "interactive") -> Future[T]:
        """Queue `fn` for the model thread; on the model thread itself, run it at once."""
        task = _Task(fn, RANK[priority])
        if self.on_model_thread():
            self._execute(task)  # re-entrant: work that submits work would wait on itself
            return task.future  # type: ignore[return-value]
        with self._cond:
            heapq.heappush(self._waiting, (task.rank, next(self._arrival), task))
            self._closing = False
            # A forked child inherits the thread object but not the thread: start another.
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
                self._thread.start()
            self._cond.notify()
        return task.future  # type: ignore[return-value]

    def run(self, fn: Callable[[], T], priority: Priority = "interactive") -> T:
        """Run `fn` on the model thread and return its result (or raise its error)."""
        return self.submit(fn, priority).result()

    def on_model_thread(self) -> bool:
        return threading.get_ident() == self._ident

    def waiting_ahead_of(self, priority: Priority) -> bool:
        """Whether someone with a higher priority is queued (a cheap, lock-free peek)."""
        waiting = self._waiting
        return bool(waiting) and waiting[0][0] < RANK[priority]

    def yield_to_interactive(self, priority: Priority) -> None:
        """On the model thread: run queued higher-priority work now, then return."""
        if not self.waiting_ahead_of(priority) or not self.on_model_thread():
            return
        rank = RANK[priority]
        while True:
            with self._cond:
                if not self._waiting or self._waiting[0][0] >= rank:
                    return
                _, _, task = heapq.heappop(self._waiting)
            self._execute(task)

    def close(self) -> None:
        """Let the model thread end once the queue is empty (a later submit starts another)."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()

    # ------------------------------------------------------------------ the model thread

    def _serve(self) -> None:
        self._ident = threading.get_ident()
        while True:
            with self._cond:
                while not self._waiting and not self._closing:
                    self._cond.wait()
                if not self._waiting:
                    self._thread = self._ident = None
                    return
                _, _, task = heapq.heappop(self._waiting)
            self._execute(task)

    def _execute(self, task: _Task) -> None:
        if not task.future.set_running_or_notify_cancel():
            return  # the caller gave up before it started
        try:
            result = task.fn()
        except BaseException as error:  # the caller re-raises it; the model thread lives on
            task.future.set_exception(error)
        else:
            task.future.set_result(result)


_SHARED: ModelGate | None = None
_SHARED_LOCK = threading.Lock()


def shared_gate() -> ModelGate:
    """The process's one torch thread: every engine and the embedding model queue here.

    One thread for all torch work keeps one OpenMP pool in the process. A second pool,
    even parked, makes libgomp throttle its spin-waits for both (more pool threads than
    cores), and every op then pays a thread wake-up: measured on 2 cores, chat decode
    fell from 43 to 18 tokens/s once the main thread had run a single matmul.
    """
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = ModelGate("torch")
        return _SHARED
