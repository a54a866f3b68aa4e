"""A job whose process died mid-run (kill -9) runs again at the next start, not hours later."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from apscheduler.triggers.interval import IntervalTrigger
from click.testing import CliRunner

from assistant.background.jobs import Runtime, history_file, interrupted, last_runs
from assistant.background.scheduler import JobSpec
from assistant.background.service import run_service
from assistant.cli import cli
from assistant.config import Settings
from tests.memfake import FakeMemory
from tests.scheduler import jobfuncs


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _cut_off(*job_ids: str) -> None:
    """What runs killed with kill -9 leave in the run history."""
    path = history_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.time() - 60
    record = {"started": started, "seconds": 0, "ok": False, "detail": "started; did not finish",
              "running": True, "pid": _dead_pid()}
    path.write_text(json.dumps({job_id: record for job_id in job_ids}))


def test_a_running_job_is_recorded_and_cleared_when_it_ends(home: Path) -> None:
    seen: list[dict] = []

    @jobfuncs.job("peek")
    def peek() -> str:
        seen.append(dict(last_runs()["peek"]))
        return "fine"

    peek()
    assert seen[0]["running"] and seen[0]["detail"] == "started; did not finish"
    assert interrupted() == {}  # running in this very process: not cut off
    assert "running" not in last_runs()["peek"] and last_runs()["peek"]["ok"]


def test_cut_off_job_shows_in_jobs_and_runs_again_at_start(home: Path) -> None:
    _cut_off("tick", "pull_arxiv")
    assert sorted(interrupted()) == ["pull_arxiv", "tick"]
    listed = CliRunner().invoke(cli, ["jobs"], catch_exceptions=False, env={"COLUMNS": "200"})
    assert "CUT OFF" in listed.output

    jobfuncs.reset()
    stop = threading.Event()
    lines: list[str] = []
    spec = JobSpec("tick", "tests.scheduler.jobfuncs:tick", IntervalTrigger(hours=6), "tick")
    store = FakeMemory()
    runtime = Runtime(Settings(), store_factory=lambda: store, llm_factory=lambda: None)
    service = threading.Thread(
        target=run_service,
        kwargs=dict(settings=Settings(), echo=lines.append, stop=stop, runtime=runtime, specs=[spec],
                    install_signals=False, load_model=False),
    )
    service.start()
    try:
        deadline = time.monotonic() + 20
        while not jobfuncs.CALLS and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        service.join(timeout=30)
    assert jobfuncs.CALLS, "the cut-off job waited for its next 6-hour slot"
    assert any("tick" in line and "cut off" in line for line in lines)
    assert list(interrupted()) == ["pull_arxiv"]  # not scheduled in this service: left as it was


def test_a_digest_post_cut_off_midway_is_reported_once_at_start(home: Path) -> None:
    from assistant.background.digest_record import db as _db
    from assistant.background.digest_record import record as _record
    from assistant.background.service import warn_unfinished_posts

    with _db() as conn:  # what a kill -9 between "posting" and Slack's answer leaves behind
        conn.execute(
            "INSERT INTO digests (user_id, day, since, until, built_at, item_ids, post_state, channel) "
            "VALUES ('local', '2026-11-30', 0, 1, 1, '[]', 'posting', 'C42')"
        )
    lines: list[str] = []
    warn_unfinished_posts(lines.append)
    assert len(lines) == 1 and "2026-11-30" in lines[0] and "C42" in lines[0] and "cut off" in lines[0]
    from datetime import date

    assert _record("local", date(2026, 11, 30))["post_state"] == "unknown"  # never posted twice
    warn_unfinished_posts(lines.append)
    assert len(lines) == 1
