"""A job for the team scheduler tests: it appends the slot it ran for and its pid to the
file named by $TEAM_JOB_LOG (one short O_APPEND write per run, so lines never interleave)."""

from __future__ import annotations

import os
import time

from assistant.team.slots import current_slot


def record() -> None:
    slot = current_slot()
    line = f"{slot.timestamp() if slot else -1:.3f} {os.getpid()} {time.time():.3f}\n"
    time.sleep(0.2)  # a job takes a moment: a second scheduler would overlap it
    fd = os.open(os.environ["TEAM_JOB_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)
