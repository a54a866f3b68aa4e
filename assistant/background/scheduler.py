"""The persistent job scheduler: APScheduler 3.x with an SQLAlchemy job store.

Facts that shape this module (see shared/design/RELIABILITY.md):
- jobs carry explicit ids and are re-added with ``replace_existing`` only when their
  definition changed, so restarts neither duplicate jobs nor forget a missed run
  (a stored job keeps its next run time; a run missed while we were down then fires
  once, coalesced, when it is within the misfire grace);
- APScheduler deletes stored jobs whose function no longer imports: before starting we
  look for such rows, copy them to an ``orphaned_jobs`` table and log a warning that
  names the reference, so a rename is noticed instead of silently dropped;
- a job store must never be shared by two schedulers: an OS lock file next to the
  SQLite store makes a second scheduler fail fast with a clear message.
"""

from __future__ import annotations

import logging
import os
import pickle
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from assistant.background.clock import zone
from assistant.config import Settings
from assistant.errors import ConfigError, SchedulerError
from assistant.paths import data_dir

log = logging.getLogger(__name__)

TABLE = "apscheduler_jobs"
ORPHAN_TABLE = "orphaned_jobs"
# Job modules that moved: a stored reference under an old prefix is rewritten to the new
# one before APScheduler loads the store (it would drop the job, and its next run time).
MOVED_REFS = {"assistant.jobs:": "assistant.background.jobs:"}


@dataclass(frozen=True)
class JobSpec:
    """One job as configuration describes it."""

    id: str
    func: str  # stable text reference "module:function"
    trigger: Any  # an APScheduler trigger
    description: str  # what a person reads in `assistant jobs`
    first_run_s: float | None = None  # a new job first runs this soon, not one interval later


@dataclass(frozen=True)
class JobRow:
    """One line of `assistant jobs`."""

    id: str
    description: str
    func: str
    next_run: datetime | None
    scheduled: bool  # present in the job store (False: configured, store not started yet)
    last_run: dict[str, Any] | None


def jobstore_url(settings: Settings) -> str:
    """The SQLAlchemy URL of the job store (SQLite in the data directory by default)."""
    if settings.schedule.jobstore_url:
        return settings.schedule.jobstore_url
    return f"sqlite:///{data_dir() / 'jobs.sqlite'}"


def _hh_mm(text: str, key: str) -> tuple[int, int]:
    hour, minute = (int(part) for part in text.split(":"))
    if not (0 <= hour < 24 and 0 <= minute < 60):
        raise ConfigError(f"schedule.{key} '{text}' is not a time of day; use HH:MM, e.g. 07:30")
    return hour, minute


def configured_jobs(settings: Settings, *, slack: bool | None = None) -> list[JobSpec]:
    """The jobs the configuration asks for; pull_slack only when Slack is configured."""
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    sched = settings.schedule
    tz = zone(settings)
    if slack is None:
        from assistant.app import read_secrets

        slack = read_secrets().slack_configured
    specs = [
        JobSpec(
            "pull_arxiv",
            "assistant.background.jobs:pull_arxiv",
            IntervalTrigger(minutes=sched.arxiv_every_minutes, timezone=tz),
            f"pull arXiv feeds every {sched.arxiv_every_minutes} min",
            first_run_s=30,
        )
    ]
    if slack:
        specs.append(
            JobSpec(
                "pull_slack",
                "assistant.background.jobs:pull_slack",
                IntervalTrigger(minutes=sched.slack_every_minutes, timezone=tz),
                f"pull Slack channels every {sched.slack_every_minutes} min",
                first_run_s=30,
            )
        )
    specs.append(
        JobSpec(
            "summarise",
            "assistant.background.jobs:summarise",
            IntervalTrigger(minutes=sched.summarise_every_minutes, timezone=tz),
            f"summarise new items every {sched.summarise_every_minutes} min",
            first_run_s=120,  # after the first pulls
        )
    )
    hour, minute = _hh_mm(sched.digest_time, "digest_time")
    specs.append(
        JobSpec(
            "digest",
            "assistant.background.jobs:digest",
            CronTrigger(hour=hour, minute=minute, timezone=tz),
            f"daily digest at {sched.digest_time} {sched.timezone}",
        )
    )
    hour, minute = _hh_mm(sched.probe_time, "probe_time")
    specs.append(
        JobSpec(
            "nightly_probe",
            "assistant.background.jobs:nightly_probe",
            CronTrigger(hour=hour, minute=minute, timezone=tz),
            f"nightly self-probe at {sched.probe_time} {sched.timezone}",
        )
    )
    return specs


# ---- looking into the store without a scheduler ------------------------------------


def _stored_rows(url: str) -> list[tuple[str, float | None, dict[str, Any] | None]]:
    """(id, next_run_time, state) of every stored job; state None when it cannot be read."""
    from sqlalchemy import create_engine, inspect, text

    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).is_file():
        return []  # never started: reading must not create the file
    engine = create_engine(url)
    try:
        if not inspect(engine).has_table(TABLE):
            return []
        with engine.connect() as conn:
            rows = conn.execute(text(f"SELECT id, next_run_time, job_state FROM {TABLE}")).all()
    finally:
        engine.dispose()
    out: list[tuple[str, float | None, dict[str, Any] | None]] = []
    for job_id, next_run, blob in rows:
        try:
            state = pickle.loads(blob)  # the state dict refers to the function by text only
        except Exception:  # noqa: BLE001 - an unreadable row is reported, not fatal
            state = None
        out.append((job_id, next_run, state if isinstance(state, dict) else None))
    return out


def _importable(ref: str) -> bool:
    from apscheduler.util import ref_to_obj

    try:
        ref_to_obj(ref)
    except Exception:  # noqa: BLE001 - LookupError, ImportError, anything the import raises
        return False
    return True


def _moved(ref: str) -> str | None:
    for old, new in MOVED_REFS.items():
        if ref.startswith(old):
            return new + ref[len(old) :]
    return None


def _current_ref(spec: JobSpec) -> str:
    """The spec's function reference, pointed at the module's new home if it moved.

    A caller that still names a moved module (a bench or plugin written before the move)
    gets the job it meant, as a stored job does; one that names nothing importable gets a
    clear error instead of APScheduler's LookupError traceback.
    """
    func = _moved(spec.func) or spec.func
    if func != spec.func:
        log.info("job %s refers to %s, which moved; using %s", spec.id, spec.func, func)
    if not _importable(func):
        raise SchedulerError(
            f"job {spec.id} refers to {spec.func}, which does not import; point it at a "
            "function as 'package.module:function' (the job modules are in assistant.background.jobs)"
        )
    return func


def migrate_moved_refs(url: str) -> list[tuple[str, str]]:
    """Point stored jobs whose module moved at the new module; (job id, new ref) per job.

    Only the function reference changes: the trigger and the stored next run time stay,
    so a run missed across the upgrade still fires once.
    """
    from sqlalchemy import create_engine, text

    changed: list[tuple[str, bytes, str]] = []
    for job_id, _next, state in _stored_rows(url):
        new = _moved(str(state.get("func", ""))) if state else None
        if state is None or new is None:
            continue
        state["func"] = new
        changed.append((job_id, pickle.dumps(state, pickle.HIGHEST_PROTOCOL), new))
    if not changed:
        return []
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for job_id, blob, _new in changed:
                conn.execute(
                    text(f"UPDATE {TABLE} SET job_state = :state WHERE id = :id"),
                    {"state": blob, "id": job_id},
                )
    finally:
        engine.dispose()
    for job_id, _blob, new in changed:
        log.info("stored job '%s' now refers to %s (its module moved)", job_id, new)
    return [(job_id, new) for job_id, _blob, new in changed]


def preserve_orphans(url: str) -> list[tuple[str, str]]:
    """Copy stored jobs whose function no longer imports to ``orphaned_jobs``; warn for each.

    Returns (job id, function reference) per orphan. APScheduler then drops them from
    its own table on load; the copy keeps what they were for a person to look at.
    """
    from sqlalchemy import (
        Column,
        Float,
        LargeBinary,
        MetaData,
        Table,
        Text,
        Unicode,
        create_engine,
    )

    orphans: list[tuple[str, str, bytes]] = []
    rows = _stored_rows(url)
    if not rows:
        return []
    for job_id, _next, state in rows:
        ref = str(state.get("func", "?")) if state else "<unreadable job state>"
        if state is None or not _importable(ref):
            orphans.append((job_id, ref, pickle.dumps(state)))
    if not orphans:
        return []
    # a Table, not raw SQL, so the same code creates it on SQLite and on Postgres
    table = Table(
        ORPHAN_TABLE,
        MetaData(),
        Column("id", Unicode(191)),
        Column("func", Text),
        Column("found_at", Float),
        Column("job_state", LargeBinary),
    )
    engine = create_engine(url)
    try:
        table.create(engine, checkfirst=True)
        with engine.begin() as conn:
            conn.execute(
                table.insert(),
                [
                    {"id": i, "func": r, "found_at": time.time(), "job_state": b}
                    for i, r, b in orphans
                ],
            )
    finally:
        engine.dispose()
    for job_id, ref, _blob in orphans:
        log.warning(
            "stored job '%s' refers to %s, which no longer imports (renamed or removed?); "
            "it was copied to the %s table and will be re-created from the configuration "
            "if it is still configured",
            job_id,
            ref,
            ORPHAN_TABLE,
        )
    return [(job_id, ref) for job_id, ref, _ in orphans]


# ---- one scheduler per job store ----------------------------------------------------


class _StoreLock:
    """An OS lock beside an SQLite job store: a second scheduler fails fast."""

    def __init__(self, url: str) -> None:
        self.path: Path | None = None
        self._fh: IO[str] | None = None
        if url.startswith("sqlite:///"):
            self.path = Path(url[len("sqlite:///") :] + ".lock")

    def acquire(self) -> None:
        if self.path is None:
            return  # a server database (Postgres): the operator runs one service per store
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks here; one service per data dir
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held for our lifetime
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise SchedulerError(
                f"the job store {self.path.with_suffix('')} is in use by {holder}; "
                "stop the other `assistant run` first (one scheduler per data directory)"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}")
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            self._fh.close()  # closing drops the flock
            self._fh = None


def _trigger_key(trigger: Any) -> tuple[Any, ...]:
    kind = type(trigger).__name__
    if hasattr(trigger, "interval_length"):
        return (kind, trigger.interval_length, str(trigger.timezone))
    return (kind, str(trigger), str(getattr(trigger, "timezone", "")))


def _event_logger(event: Any) -> None:
    from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED

    if event.code == EVENT_JOB_MISSED:
        log.warning(
            "job %s missed its run at %s (past the misfire grace); it runs at the next time",
            event.job_id,
            event.scheduled_run_time,
        )
    elif event.code == EVENT_JOB_MAX_INSTANCES:
        log.warning("job %s is still running; this run was skipped", event.job_id)
    else:  # EVENT_JOB_ERROR: only reachable for a job not wrapped by assistant.background.jobs.job
        log.error("job %s raised: %r", event.job_id, event.exception)


class AssistantScheduler:
    """A BackgroundScheduler on the persistent job store, with the configured jobs."""

    def __init__(
        self,
        settings: Settings,
        *,
        specs: Sequence[JobSpec] | None = None,
        url: str | None = None,
        workers: int = 4,
    ) -> None:
        self.settings = settings
        self.url = url or jobstore_url(settings)
        self.specs = list(specs) if specs is not None else configured_jobs(settings)
        self.workers = workers
        self.orphans: list[tuple[str, str]] = []
        self._lock = _StoreLock(self.url)
        self._scheduler: Any = None

    @property
    def scheduler(self) -> Any:
        """The underlying APScheduler scheduler (after `start`)."""
        if self._scheduler is None:
            raise SchedulerError("the scheduler is not started; call start() first")
        return self._scheduler

    def start(self) -> None:
        """Lock the store, keep or (re)define each configured job, then start processing."""
        from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
        from apscheduler.schedulers.background import BackgroundScheduler

        if self.url.startswith("sqlite:///"):
            Path(self.url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
        self._lock.acquire()
        try:
            migrate_moved_refs(self.url)
            self.orphans = preserve_orphans(self.url)
            grace = self.settings.schedule.misfire_grace_s
            sched = BackgroundScheduler(
                jobstores={"default": SQLAlchemyJobStore(url=self.url)},
                executors={"default": ThreadPoolExecutor(self.workers)},
                job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": grace},
                timezone=zone(self.settings),
            )
            sched.add_listener(
                _event_logger, EVENT_JOB_MISSED | EVENT_JOB_ERROR | EVENT_JOB_MAX_INSTANCES
            )
            sched.start(paused=True)  # nothing runs until the job list is reconciled
            self._scheduler = sched
            self._reconcile(grace)
            sched.resume()
        except Exception:
            if self._scheduler is not None:
                self._scheduler.shutdown(wait=False)
                self._scheduler = None
            self._lock.release()
            raise

    def _reconcile(self, grace: int) -> None:
        sched = self.scheduler
        stored = {job.id: job for job in sched.get_jobs()}
        for spec in self.specs:
            func = _current_ref(spec)
            old = stored.pop(spec.id, None)
            wanted = (func, _trigger_key(spec.trigger), grace, True, 1)
            if old is not None:
                have = (
                    old.func_ref,
                    _trigger_key(old.trigger),
                    old.misfire_grace_time,
                    old.coalesce,
                    old.max_instances,
                )
                if have == wanted:
                    continue  # unchanged: keep its stored next run time (missed runs coalesce)
                log.info("job %s changed in the configuration; redefining it", spec.id)
            extra: dict[str, Any] = {}
            if spec.first_run_s is not None:
                extra["next_run_time"] = datetime.now(zone(self.settings)) + timedelta(
                    seconds=spec.first_run_s
                )
            sched.add_job(
                func,
                trigger=spec.trigger,
                id=spec.id,
                name=spec.description,
                replace_existing=True,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=grace,
                **extra,
            )
        for job_id in stored:
            log.info("job %s is no longer configured; removing it from the job store", job_id)
            sched.remove_job(job_id)

    def jobs(self) -> list[Any]:
        """The scheduled APScheduler jobs."""
        return list(self.scheduler.get_jobs())

    def shutdown(self, wait: bool = True) -> None:
        """Stop scheduling; with wait, running jobs finish first. Releases the store lock."""
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=wait)
            self._scheduler = None
        self._lock.release()

    def __enter__(self) -> AssistantScheduler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown(wait=True)


# ---- `assistant jobs` ----------------------------------------------------------------


def list_jobs(settings: Settings, *, url: str | None = None) -> list[JobRow]:
    """Configured and stored jobs with next run times, read without starting a scheduler."""
    from assistant.background.jobs import last_runs

    url = url or jobstore_url(settings)
    tz = zone(settings)
    stored = {job_id: (nxt, state) for job_id, nxt, state in _stored_rows(url)}
    history = last_runs()
    now = datetime.now(tz)
    rows: list[JobRow] = []
    for spec in configured_jobs(settings):
        if spec.id in stored:
            nxt, state = stored.pop(spec.id)
            next_run = datetime.fromtimestamp(nxt, tz) if nxt is not None else None
            func = str(state.get("func")) if state else spec.func
            rows.append(
                JobRow(spec.id, spec.description, func, next_run, True, history.get(spec.id))
            )
        else:
            if spec.first_run_s is not None:
                nxt_dt = now + timedelta(seconds=spec.first_run_s)
            else:
                nxt_dt = spec.trigger.get_next_fire_time(None, now)
            rows.append(
                JobRow(spec.id, spec.description, spec.func, nxt_dt, False, history.get(spec.id))
            )
    for job_id, (nxt, state) in stored.items():
        func = str(state.get("func")) if state else "<unreadable>"
        next_run = datetime.fromtimestamp(nxt, tz) if nxt is not None else None
        rows.append(
            JobRow(job_id, "not configured any more", func, next_run, True, history.get(job_id))
        )
    return rows


def run_job_now(settings: Settings, job_id: str) -> Any:
    """Run one configured job in this process (its failure is logged, as when scheduled)."""
    from apscheduler.util import ref_to_obj

    specs = {spec.id: spec for spec in configured_jobs(settings, slack=True)}
    spec = specs.get(job_id)
    if spec is None:
        raise SchedulerError(f"no job '{job_id}'; known jobs: {', '.join(sorted(specs))}")
    return ref_to_obj(spec.func)()


def describe_next(row: JobRow, now: datetime | None = None) -> str:
    """'in 5 min (2026-01-01 07:30 UTC)' for a table cell."""
    if row.next_run is None:
        return "paused"
    now = now or datetime.now(row.next_run.tzinfo)
    delta = row.next_run - now
    if delta < timedelta(0):
        when = "due now"
    elif delta < timedelta(hours=1):
        when = f"in {int(delta.total_seconds() // 60)} min"
    elif delta < timedelta(days=1):
        when = f"in {delta.total_seconds() / 3600:.1f} h"
    else:
        when = f"in {delta.days} d"
    return f"{when} ({row.next_run:%Y-%m-%d %H:%M %Z})"
