"""Job functions at stable module paths for the scheduler tests."""

from __future__ import annotations

import threading
import time

from assistant.background.jobs import job

CALLS: list[float] = []  # monotonic time of every tick
BOOMS: list[float] = []
_lock = threading.Lock()


@job("tick")
def tick() -> str:
    with _lock:
        CALLS.append(time.monotonic())
    return "tick"


@job("boom")
def boom() -> str:
    BOOMS.append(time.monotonic())
    raise RuntimeError("the feed server is on fire")


def reset() -> None:
    CALLS.clear()
    BOOMS.clear()
