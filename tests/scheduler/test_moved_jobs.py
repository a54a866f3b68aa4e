"""A job store written before the background modules moved still loads, jobs intact.

`data/jobs_before_move.sqlite` was written by `AssistantScheduler` when the job
functions lived at `assistant.jobs` (all five configured jobs, Slack on).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from assistant.background.scheduler import (
    AssistantScheduler,
    _importable,
    _stored_rows,
    configured_jobs,
    migrate_moved_refs,
)
from assistant.config import Settings

OLD_STORE = Path(__file__).parent / "data" / "jobs_before_move.sqlite"
OLD_MODULE = Path(__file__).parents[2] / "assistant" / "jobs.py"


def test_the_old_module_is_gone() -> None:
    assert not OLD_MODULE.exists()  # so only the rewrite keeps the old store's jobs


def _copy(home: Path) -> str:
    home.mkdir(parents=True, exist_ok=True)
    target = home / "jobs.sqlite"
    shutil.copyfile(OLD_STORE, target)
    return f"sqlite:///{target}"


def test_the_old_store_refers_to_the_old_module(home: Path) -> None:
    rows = _stored_rows(_copy(home))
    assert sorted(r[0] for r in rows) == [
        "digest",
        "nightly_probe",
        "pull_arxiv",
        "pull_slack",
        "summarise",
    ]
    assert all(state and str(state["func"]).startswith("assistant.jobs:") for _, _, state in rows)


def test_moved_refs_are_rewritten_and_next_runs_kept(home: Path) -> None:
    url = _copy(home)
    before = {job_id: nxt for job_id, nxt, _ in _stored_rows(url)}
    changed = migrate_moved_refs(url)
    assert len(changed) == 5
    after = _stored_rows(url)
    assert {job_id: nxt for job_id, nxt, _ in after} == before
    for _job_id, _nxt, state in after:
        assert state is not None
        assert str(state["func"]).startswith("assistant.background.jobs:")
        assert _importable(str(state["func"]))
    assert migrate_moved_refs(url) == []  # a second start changes nothing


def test_the_scheduler_loads_the_old_store_without_orphans(home: Path) -> None:
    url = _copy(home)
    settings = Settings()
    sched = AssistantScheduler(settings, specs=configured_jobs(settings, slack=True), url=url)
    sched.start()
    try:
        sched.scheduler.pause()
        assert sched.orphans == []
        jobs = {job.id: job.func_ref for job in sched.jobs()}
    finally:
        sched.shutdown(wait=True)
    assert jobs == {
        job_id: f"assistant.background.jobs:{job_id}"
        for job_id in ("pull_arxiv", "pull_slack", "summarise", "digest", "nightly_probe")
    }


def test_a_spec_that_names_the_old_module_gets_its_job(home: Path) -> None:
    # bench/faults.py's killed-job trials still named assistant.jobs:pull_arxiv after the
    # move: the service died at start, so no pull was cut off, resumed or reported
    from apscheduler.triggers.interval import IntervalTrigger

    from assistant.background.scheduler import JobSpec

    spec = JobSpec("pull_arxiv", "assistant.jobs:pull_arxiv", IntervalTrigger(hours=6), "pull")
    sched = AssistantScheduler(Settings(), specs=[spec], url=f"sqlite:///{home / 'jobs.sqlite'}")
    sched.start()
    try:
        assert [job.func_ref for job in sched.jobs()] == ["assistant.background.jobs:pull_arxiv"]
    finally:
        sched.shutdown(wait=True)


def test_a_spec_that_names_nothing_importable_is_one_clear_error(home: Path) -> None:
    from apscheduler.triggers.interval import IntervalTrigger

    from assistant.background.jobs import Runtime
    from assistant.background.scheduler import JobSpec
    from assistant.background.service import run_service
    from assistant.errors import SchedulerError
    from tests.memfake import FakeMemory

    spec = JobSpec("pull", "assistant.nowhere:pull_arxiv", IntervalTrigger(hours=6), "pull")
    store = FakeMemory()
    runtime = Runtime(Settings(), store_factory=lambda: store, llm_factory=lambda: None)
    lines: list[str] = []
    with pytest.raises(SchedulerError, match="assistant.nowhere:pull_arxiv, which does not import"):
        run_service(Settings(), echo=lines.append, runtime=runtime, specs=[spec],
                    install_signals=False, load_model=False)  # fmt: skip
    assert not any("stopped cleanly" in line for line in lines)
    # the job store is free again: a corrected start works at once
    good = JobSpec("pull", "assistant.background.jobs:pull_arxiv", IntervalTrigger(hours=6), "pull")
    sched = AssistantScheduler(Settings(), specs=[good])
    sched.start()
    sched.shutdown(wait=True)
