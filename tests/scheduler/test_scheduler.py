"""The real APScheduler on a real SQLite job store, with second-long intervals."""

from __future__ import annotations

import importlib
import logging
import sqlite3
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.triggers.interval import IntervalTrigger

from assistant.background.jobs import last_runs
from assistant.background.scheduler import AssistantScheduler, JobSpec, configured_jobs, list_jobs
from assistant.config import Settings
from assistant.errors import SchedulerError
from tests.scheduler import jobfuncs


def _wait_for(cond: Callable[[], bool], timeout: float = 15.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def _every(seconds: float, func: str, job_id: str) -> JobSpec:
    return JobSpec(job_id, func, IntervalTrigger(seconds=seconds), f"{job_id} every {seconds}s")


def _rows(url: str) -> list[tuple[str, float]]:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        return list(conn.execute("SELECT id, next_run_time FROM apscheduler_jobs ORDER BY id"))


@pytest.fixture(autouse=True)
def _reset() -> None:
    jobfuncs.reset()


@pytest.fixture
def url(home: Path) -> str:
    return f"sqlite:///{home / 'jobs.sqlite'}"


def test_jobs_fire_and_are_persisted(url: str) -> None:
    specs = [_every(1, "tests.scheduler.jobfuncs:tick", "tick")]
    with AssistantScheduler(Settings(), specs=specs, url=url):
        assert _wait_for(lambda: len(jobfuncs.CALLS) >= 2), "the job did not fire twice"
    rows = _rows(url)
    assert [r[0] for r in rows] == ["tick"]
    assert rows[0][1] > time.time() - 5  # the next run time is stored
    assert last_runs()["tick"]["ok"] is True


def test_ten_restarts_keep_one_copy_of_each_job(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    settings = Settings()
    expected = sorted(spec.id for spec in configured_jobs(settings))
    assert expected == ["digest", "nightly_probe", "pull_arxiv", "pull_slack", "summarise"]
    first: list[tuple[str, float]] = []
    for _ in range(10):
        with AssistantScheduler(settings, url=url) as sched:
            assert sorted(j.id for j in sched.jobs()) == expected
        rows = _rows(url)
        assert [r[0] for r in rows] == expected
        first = first or rows
        assert rows == first  # unchanged jobs keep their stored next run time
    # Slack token gone: its pull job leaves the store instead of lingering
    monkeypatch.delenv("SLACK_BOT_TOKEN")
    with AssistantScheduler(Settings(), url=url):
        pass
    assert "pull_slack" not in [r[0] for r in _rows(url)]


def test_runs_missed_while_down_are_coalesced_into_one(url: str) -> None:
    # a 3 s grid anchored at a known time, so the restart lands just after a grid point
    anchor = datetime.now(UTC) + timedelta(seconds=0.5)
    trigger = IntervalTrigger(seconds=3, start_date=anchor)
    specs = [JobSpec("tick", "tests.scheduler.jobfuncs:tick", trigger, "tick every 3 s")]
    with AssistantScheduler(Settings(), specs=specs, url=url):
        assert _wait_for(lambda: len(jobfuncs.CALLS) >= 1)
    # down while four runs fall due (anchor + 3, 6, 9, 12 s); back 0.2 s after the last
    time.sleep(max(0.0, (anchor + timedelta(seconds=12.2)).timestamp() - time.time()))
    jobfuncs.reset()
    with AssistantScheduler(Settings(), specs=specs, url=url):
        time.sleep(2.0)  # the next regular run is 2.8 s away
        runs = len(jobfuncs.CALLS)
    assert runs == 1, f"missed runs were not coalesced into one: {runs} runs after restart"


def test_a_failing_job_is_logged_and_the_scheduler_keeps_running(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    specs = [
        _every(1, "tests.scheduler.jobfuncs:boom", "boom"),
        _every(1, "tests.scheduler.jobfuncs:tick", "tick"),
    ]
    caplog.set_level(logging.ERROR, logger="assistant.background.jobs")
    with AssistantScheduler(Settings(), specs=specs, url=url) as sched:
        assert _wait_for(lambda: len(jobfuncs.BOOMS) >= 3 and len(jobfuncs.CALLS) >= 3)
        assert sched.scheduler.running
        assert {j.id for j in sched.jobs()} == {"boom", "tick"}
    assert "the feed server is on fire" in caplog.text
    outcome = last_runs()["boom"]
    assert outcome["ok"] is False and "RuntimeError" in outcome["detail"]


def test_a_renamed_job_function_is_noticed_not_silently_dropped(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    pkg = tmp_path / "modsrc"
    pkg.mkdir()
    module = pkg / "renamable_jobs.py"
    module.write_text("def old_name():\n    return 1\n")
    monkeypatch.syspath_prepend(str(pkg))
    with AssistantScheduler(
        Settings(), specs=[_every(3600, "renamable_jobs:old_name", "nightly")], url=url
    ):
        pass
    module.write_text("def new_name():\n    return 2\n")  # the function was renamed
    sys.modules.pop("renamable_jobs", None)
    importlib.invalidate_caches()
    caplog.set_level(logging.WARNING, logger="assistant.background.scheduler")
    specs = [_every(3600, "renamable_jobs:new_name", "nightly")]
    with AssistantScheduler(Settings(), specs=specs, url=url) as sched:
        assert sched.orphans == [("nightly", "renamable_jobs:old_name")]
        assert [j.func_ref for j in sched.jobs()] == ["renamable_jobs:new_name"]
    assert "renamable_jobs:old_name" in caplog.text and "no longer imports" in caplog.text
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        kept = list(conn.execute("SELECT id, func FROM orphaned_jobs"))
    assert kept == [("nightly", "renamable_jobs:old_name")]


def test_a_second_scheduler_on_the_same_store_fails_fast(url: str) -> None:
    specs = [_every(3600, "tests.scheduler.jobfuncs:tick", "tick")]
    with AssistantScheduler(Settings(), specs=specs, url=url):
        started = time.monotonic()
        with pytest.raises(SchedulerError, match="in use by pid"):
            AssistantScheduler(Settings(), specs=specs, url=url).start()
        assert time.monotonic() - started < 2


def test_list_jobs_shows_configured_and_stored_next_runs(home: Path) -> None:
    settings = Settings()
    before = list_jobs(settings)
    assert {r.id for r in before} == {"pull_arxiv", "summarise", "digest", "nightly_probe"}
    assert all(not r.scheduled and r.next_run is not None for r in before)
    with AssistantScheduler(settings):
        pass
    after = {r.id: r for r in list_jobs(settings)}
    assert all(r.scheduled for r in after.values())
    digest = after["digest"]
    assert (digest.next_run.hour, digest.next_run.minute) == (7, 30)
