"""Standard streams per thread, so that CLI commands run inside the service at the same
time each print into their own buffers.

The service runs a forwarded command in a worker thread. Swapping `sys.stdout` for the
length of a command (what click's test runner does) lets one command capture another's
output, so commands had to run one at a time, and a long `probe run` held up `goals`.
Here `sys.stdin`, `sys.stdout` and `sys.stderr` are replaced once by streams that look
up the current thread's buffers and fall back to the process's own streams.

Output from threads a command starts itself goes to the process's streams (the service
log), not to the caller: a thread does not inherit its parent's buffers.
"""

from __future__ import annotations

import io
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_local = threading.local()
_install_lock = threading.Lock()
_NAMES = ("stdin", "stdout", "stderr")


class _PerThreadStream(io.TextIOBase):
    """Delegates to the current thread's stream for `name`, else to `fallback`."""

    def __init__(self, name: str, fallback: Any) -> None:
        super().__init__()
        self._name = name
        self.fallback = fallback

    def _target(self) -> Any:
        return getattr(_local, self._name, None) or self.fallback

    def write(self, text: str) -> int:
        return int(self._target().write(text))

    def flush(self) -> None:
        self._target().flush()

    def read(self, size: int | None = -1) -> str:
        return str(self._target().read(size))

    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
        return str(self._target().readline(size))

    def isatty(self) -> bool:
        return bool(self._target().isatty())

    def fileno(self) -> int:
        return int(self._target().fileno())  # a StringIO raises UnsupportedOperation

    def readable(self) -> bool:
        return self._name == "stdin"

    def writable(self) -> bool:
        return self._name != "stdin"

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self._target(), "encoding", None) or "utf-8")

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self._target(), "errors", None)


def _install() -> None:
    """Put a per-thread stream in place of each standard stream not already one (tests and
    embedding code may swap `sys.stdout` again after an earlier install)."""
    with _install_lock:
        for name in _NAMES:
            current = getattr(sys, name)
            if not isinstance(current, _PerThreadStream):
                setattr(sys, name, _PerThreadStream(name, current))


@contextmanager
def thread_streams(stdin: str = "") -> Iterator[tuple[io.StringIO, io.StringIO]]:
    """For the calling thread: stdin reads `stdin`, stdout and stderr go to the two
    buffers yielded. Other threads keep their own streams."""
    _install()
    out, err = io.StringIO(), io.StringIO()
    _local.stdin, _local.stdout, _local.stderr = io.StringIO(stdin), out, err
    try:
        yield out, err
    finally:
        for name in _NAMES:
            setattr(_local, name, None)
