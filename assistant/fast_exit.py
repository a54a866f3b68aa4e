"""End the process without the interpreter's teardown once a command has closed its parts.

After `assistant chat` says goodbye, Python spent about 2 s (2-core EPYC, quiet) tearing
down torch, transformers, spaCy and Chroma module by module and freeing memory the OS takes
back anyway, while the user waited for the shell prompt. A command that has closed what it
opened (the memory store, the checkpointer, the folder lock) calls `allow()`; the console
entry point then ends through `finish()`, which does everything a normal exit does that
anyone could notice, in the same order: join the non-daemon threads (and run the hooks that
shut down thread pools), run the atexit handlers (logging flushes and closes its files),
flush stdout and stderr; then `os._exit` with the command's code.

Only the console entry point uses it (`assistant.cli.main` without arguments): tests and
the service run commands in processes that go on afterwards.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from typing import NoReturn

_allowed = False


def allow() -> None:
    """The running command closed everything it opened: the process may end without teardown."""
    global _allowed
    _allowed = True


def allowed() -> bool:
    """Whether a command called `allow()` in this process."""
    return _allowed


def finish(code: int) -> NoReturn:
    """Do what a normal exit does that anyone could notice, then end the process with `code`."""
    # What the interpreter runs first at exit: thread pools' shutdown hooks, then a join of
    # every non-daemon thread. Without it (another Python), end the normal way.
    join_threads = getattr(threading, "_shutdown", None)
    if join_threads is None:
        sys.exit(code)
    join_threads()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        # a closed pipe or stream: nothing left to deliver
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
