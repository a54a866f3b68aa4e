"""One owner process per embedded store: a non-blocking OS file lock that records its pid.

Chroma's persistent client is thread-safe but not process-safe; two processes writing
one folder can corrupt its index. The lock is released by the OS when the owner dies,
so a crashed owner never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path

from assistant.errors import StoreLockedError

LOCK_NAME = "assistant.lock"
WAIT_S = 0.5  # a closing owner gets this long to let go; the caller still hears within a second


class StoreLock:
    """An exclusive flock on `<store>/assistant.lock`; the file's text is the owner's pid."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise StoreLockedError naming the owner, within WAIT_S seconds."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    owner = _read_pid(fd)
                    os.close(fd)
                    who = f"process {owner}" if owner else "another process"
                    raise StoreLockedError(
                        f"the memory store in {self.path.parent} is in use by {who}; stop that "
                        "process (e.g. `assistant run`) first, or run a Chroma server and set "
                        'memory.backend = "http" so several processes can share it'
                    ) from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        """Let go of the lock (idempotent)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):  # the lock matters, not the pid text
            os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    @property
    def held(self) -> bool:
        return self._fd is not None


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None
