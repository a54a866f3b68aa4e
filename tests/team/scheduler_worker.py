"""One scheduler replica for the tests: `python -m tests.team.scheduler_worker URL LEASE_S`.

Runs a 1-second job (tests.team.jobfuncs:record) under the team scheduler until SIGTERM;
prints its lease holder id first so the test knows which process leads.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading


def main() -> None:
    from apscheduler.triggers.interval import IntervalTrigger

    from assistant.background.scheduler import JobSpec
    from assistant.config import Settings
    from assistant.team.scheduler import TeamScheduler

    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    url, lease_s = sys.argv[1], float(sys.argv[2])
    specs = [JobSpec("tick", "tests.team.jobfuncs:record", IntervalTrigger(seconds=1), "tick every second")]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    sched = TeamScheduler(Settings(), url, specs=specs, lease_s=lease_s)
    sched.start()
    assert sched._lease is not None
    print(f"holder {sched._lease.holder}", flush=True)
    stop.wait()
    sched.shutdown(wait=True)


if __name__ == "__main__":
    main()
