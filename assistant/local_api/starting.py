"""The start-up window: `assistant run` says it is starting before its socket opens.

Loading the model and the store takes seconds (13 s on a loaded 2-core machine) after
the service has taken the data directory; a command run then used to open the store
itself and be told to stop the service. The service writes its pid here first and removes
the file once its local API answers (or it stops); a client that finds the file waits for
the socket, bounded, instead.
"""

from __future__ import annotations

import contextlib
import os

from assistant.paths import data_dir

STARTING_FILE = "service.starting"
WAIT_S = 120.0  # longest a command waits for a starting service (a first start converts the model)


def mark_starting() -> None:
    """Say that this process is starting the service in the data directory."""
    path = data_dir() / STARTING_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"{os.getpid()}\n", encoding="utf-8")
    tmp.replace(path)


def clear_starting() -> None:
    """The service is up (or gone): commands need not wait any more."""
    with contextlib.suppress(OSError):
        (data_dir() / STARTING_FILE).unlink()


def starting_pid() -> int | None:
    """The pid of a service starting in this data directory now, or None."""
    try:
        pid = int((data_dir() / STARTING_FILE).read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)  # a killed service leaves the file behind: only a live one counts
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, someone else's: still the service that owns this directory
    return pid
